/* grammar.c - GBNF parser, pushdown recogniser and trie-based token masks.
 *
 * A grammar is a flat array of elements; rule r's alternatives start at
 * rule_start[r], separated by E_ALT and ended by E_END.  A recogniser
 * stack holds element positions (top = the next thing to match, always a
 * character set after expansion); positions are uint32 indices into the
 * element array.  Stacks and sets of stacks live in a `pool` addressed by
 * index, so it can grow by realloc and be rolled back (mark/release)
 * during the trie walk. */
#include "grammar/grammar.h"
#include "grammar/grammar_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "tok/tok.h"

enum { E_END, E_ALT, E_REF, E_CHAR, E_CHAR_NOT, E_RNG_UPPER, E_CHAR_ALT, E_ANY };

typedef struct {
    uint8_t type;
    uint32_t v;
} elem;

#define MAX_RULES 65536
#define MAX_ELEMS (1u << 22)
#define MAX_DEPTH 512   /* rule expansions in one chain (left recursion guard) */
#define MAX_STACKS 4096 /* stacks in one set (ambiguity guard) */
#define INF_LEN 1000000000

struct rg_grammar {
    elem *el;
    uint32_t n_el, cap_el;
    uint32_t *rule_start; /* UINT32_MAX: referenced but not defined */
    char **rule_name;
    uint32_t n_rules, cap_rules;
    uint32_t root;
    uint32_t *alts;      /* alternative starts of every rule, flat */
    uint32_t *alt_first; /* rule r's alternatives: alts[alt_first[r] .. alt_first[r+1]) */
    int *pos_min;        /* fewest code points to finish the sequence from a position */
    uint32_t root_elems[2]; /* the start stack: [REF root] */
};

/* ------------------------------------------------------------------ */
/* building                                                            */

typedef struct {
    elem *v;
    uint32_t n, cap;
} evec;

static int evec_push(evec *e, uint8_t type, uint32_t v) {
    if (e->n == e->cap) {
        uint32_t nc = e->cap ? e->cap * 2 : 16;
        if (nc > MAX_ELEMS) return -1;
        elem *p = realloc(e->v, nc * sizeof *p);
        if (!p) return -1;
        e->v = p;
        e->cap = nc;
    }
    e->v[e->n].type = type;
    e->v[e->n].v = v;
    e->n++;
    return 0;
}

static int evec_append(evec *e, const elem *src, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (evec_push(e, src[i].type, src[i].v)) return -1;
    return 0;
}

static int64_t symbol(rg_grammar *g, const char *name, size_t len, int create) {
    for (uint32_t i = 0; i < g->n_rules; i++)
        if (strlen(g->rule_name[i]) == len && !memcmp(g->rule_name[i], name, len)) return i;
    if (!create) return -1;
    if (g->n_rules >= MAX_RULES) return -1;
    if (g->n_rules == g->cap_rules) {
        uint32_t nc = g->cap_rules ? g->cap_rules * 2 : 32;
        uint32_t *rs = realloc(g->rule_start, nc * sizeof *rs);
        if (!rs) return -1;
        g->rule_start = rs;
        char **rn = realloc(g->rule_name, nc * sizeof *rn);
        if (!rn) return -1;
        g->rule_name = rn;
        g->cap_rules = nc;
    }
    char *s = malloc(len + 1);
    if (!s) return -1;
    memcpy(s, name, len);
    s[len] = '\0';
    g->rule_name[g->n_rules] = s;
    g->rule_start[g->n_rules] = UINT32_MAX;
    return g->n_rules++;
}

static uint32_t fresh_symbol(rg_grammar *g, const char *base) {
    char name[96];
    for (uint32_t k = g->n_rules;; k++) {
        snprintf(name, sizeof name, "%s-%u", base, k);
        if (symbol(g, name, strlen(name), 0) < 0) {
            int64_t s = symbol(g, name, strlen(name), 1);
            return s < 0 ? UINT32_MAX : (uint32_t)s;
        }
    }
}

/* Installs the elements of rule r (alternatives, terminated by E_END). */
static int add_rule(rg_grammar *g, uint32_t r, const evec *body) {
    if (g->n_el + body->n + 1 > MAX_ELEMS) return -1;
    if (g->n_el + body->n + 1 > g->cap_el) {
        uint32_t nc = g->cap_el ? g->cap_el : 256;
        while (nc < g->n_el + body->n + 1) nc *= 2;
        elem *p = realloc(g->el, nc * sizeof *p);
        if (!p) return -1;
        g->el = p;
        g->cap_el = nc;
    }
    g->rule_start[r] = g->n_el;
    if (body->n) memcpy(g->el + g->n_el, body->v, body->n * sizeof(elem));
    g->n_el += body->n;
    g->el[g->n_el].type = E_END;
    g->el[g->n_el].v = 0;
    g->n_el++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* GBNF parser                                                         */

typedef struct {
    rg_grammar *g;
    const char *s, *end;
    const char *p;
    rg_err *err;
    rg_status rc;
    int depth;
} parser;

static int perr(parser *ps, const char *what) {
    if (ps->rc) return -1;
    int line = 1, col = 1;
    for (const char *q = ps->s; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') line++, col = 1;
        else col++;
    }
    ps->rc = rg_failf(ps->err, RG_FORMAT, "grammar: line %d, column %d: %s", line, col, what);
    return -1;
}

static void skip_space(parser *ps, int newline_ok) {
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r' || (newline_ok && c == '\n')) ps->p++;
        else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n') ps->p++;
        } else break;
    }
}

static int is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One (possibly escaped) code point of a literal or class. */
static int parse_char(parser *ps, uint32_t *cp) {
    if (ps->p >= ps->end) return perr(ps, "unexpected end of input");
    if (*ps->p == '\\') {
        ps->p++;
        if (ps->p >= ps->end) return perr(ps, "unfinished escape");
        char c = *ps->p++;
        int digits = 0;
        switch (c) {
        case 'n': *cp = '\n'; return 0;
        case 'r': *cp = '\r'; return 0;
        case 't': *cp = '\t'; return 0;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '\'':
            *cp = (uint32_t)c;
            return 0;
        default: return perr(ps, "unknown escape");
        }
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            if (ps->p >= ps->end || hexval(*ps->p) < 0) return perr(ps, "bad hex escape");
            v = v * 16 + (uint32_t)hexval(*ps->p++);
        }
        if (v > 0x10FFFF) return perr(ps, "code point out of range");
        *cp = v;
        return 0;
    }
    int n = rg_utf8_decode(ps->p, (size_t)(ps->end - ps->p), cp);
    if (*cp == 0xFFFD && n == 1 && (unsigned char)*ps->p >= 0x80) return perr(ps, "invalid UTF-8");
    ps->p += n;
    return 0;
}

static int parse_alternates(parser *ps, uint32_t rule, int nested);

/* Repeats the symbol `sym` (elements) per op into out. */
static int repeat(parser *ps, evec *out, const elem *sym, uint32_t nsym, uint32_t min, uint32_t max,
                  int unbounded) {
    rg_grammar *g = ps->g;
    for (uint32_t i = 0; i < min; i++)
        if (evec_append(out, sym, nsym)) return perr(ps, "out of memory");
    if (unbounded) { /* R ::= sym R | ε */
        uint32_t r = fresh_symbol(g, "star");
        if (r == UINT32_MAX) return perr(ps, "too many rules");
        evec body = {0};
        int bad = evec_append(&body, sym, nsym) || evec_push(&body, E_REF, r) ||
                  evec_push(&body, E_ALT, 0) || add_rule(g, r, &body);
        free(body.v);
        if (bad) return perr(ps, "out of memory");
        return evec_push(out, E_REF, r) ? perr(ps, "out of memory") : 0;
    }
    /* up to (max-min) more, nested so the grammar stays unambiguous:
     * R1 ::= sym | ε ; Rk ::= sym R(k-1) | ε */
    uint32_t prev = UINT32_MAX;
    for (uint32_t k = min; k < max; k++) {
        uint32_t r = fresh_symbol(g, "opt");
        if (r == UINT32_MAX) return perr(ps, "too many rules");
        evec body = {0};
        int bad = evec_append(&body, sym, nsym) ||
                  (prev != UINT32_MAX && evec_push(&body, E_REF, prev)) ||
                  evec_push(&body, E_ALT, 0) || add_rule(g, r, &body);
        free(body.v);
        if (bad) return perr(ps, "out of memory");
        prev = r;
    }
    if (prev != UINT32_MAX && evec_push(out, E_REF, prev)) return perr(ps, "out of memory");
    return 0;
}

static int parse_number(parser *ps, uint32_t *v) {
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return perr(ps, "expected a number");
    uint64_t x = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        x = x * 10 + (uint64_t)(*ps->p++ - '0');
        if (x > 10000) return perr(ps, "repetition count over 10000");
    }
    *v = (uint32_t)x;
    return 0;
}

static int parse_sequence(parser *ps, evec *out, int nested) {
    uint32_t last_start = out->n;
    int have_last = 0;
    for (;;) {
        skip_space(ps, nested);
        if (ps->p >= ps->end) return 0;
        char c = *ps->p;
        uint32_t sym_start = out->n;
        if (c == '"') {
            ps->p++;
            while (ps->p < ps->end && *ps->p != '"') {
                uint32_t cp;
                if (parse_char(ps, &cp) || evec_push(out, E_CHAR, cp)) return perr(ps, "bad literal");
            }
            if (ps->p >= ps->end) return perr(ps, "unterminated string literal");
            ps->p++;
        } else if (c == '[') {
            ps->p++;
            uint8_t first = E_CHAR;
            if (ps->p < ps->end && *ps->p == '^') ps->p++, first = E_CHAR_NOT;
            int count = 0;
            while (ps->p < ps->end && *ps->p != ']') {
                uint32_t lo, hi;
                if (parse_char(ps, &lo)) return -1;
                if (evec_push(out, count ? E_CHAR_ALT : first, lo)) return perr(ps, "out of memory");
                if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
                    ps->p++;
                    if (parse_char(ps, &hi)) return -1;
                    if (hi < lo) return perr(ps, "character range upper bound below lower bound");
                    if (evec_push(out, E_RNG_UPPER, hi)) return perr(ps, "out of memory");
                }
                count++;
            }
            if (ps->p >= ps->end) return perr(ps, "unterminated character class");
            if (!count) return perr(ps, "empty character class");
            ps->p++;
        } else if (is_word(c)) {
            const char *st = ps->p;
            while (ps->p < ps->end && is_word(*ps->p)) ps->p++;
            int64_t r = symbol(ps->g, st, (size_t)(ps->p - st), 1);
            if (r < 0 || evec_push(out, E_REF, (uint32_t)r)) return perr(ps, "too many rules");
        } else if (c == '(') {
            ps->p++;
            uint32_t r = fresh_symbol(ps->g, "group");
            if (r == UINT32_MAX) return perr(ps, "too many rules");
            if (parse_alternates(ps, r, 1)) return -1;
            skip_space(ps, 1);
            if (ps->p >= ps->end || *ps->p != ')') return perr(ps, "expected ')'");
            ps->p++;
            if (evec_push(out, E_REF, r)) return perr(ps, "out of memory");
        } else if (c == '.') {
            ps->p++;
            if (evec_push(out, E_ANY, 0)) return perr(ps, "out of memory");
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (!have_last) return perr(ps, "repetition without a preceding symbol");
            ps->p++;
            uint32_t min = 0, max = 0;
            int unbounded = 0;
            if (c == '*') unbounded = 1;
            else if (c == '+') min = 1, unbounded = 1;
            else if (c == '?') max = 1;
            else {
                skip_space(ps, 0);
                if (parse_number(ps, &min)) return -1;
                skip_space(ps, 0);
                max = min;
                if (ps->p < ps->end && *ps->p == ',') {
                    ps->p++;
                    skip_space(ps, 0);
                    if (ps->p < ps->end && *ps->p == '}') unbounded = 1;
                    else if (parse_number(ps, &max)) return -1;
                    if (!unbounded && max < min) return perr(ps, "repetition {m,n} with n < m");
                }
                skip_space(ps, 0);
                if (ps->p >= ps->end || *ps->p != '}') return perr(ps, "expected '}'");
                ps->p++;
            }
            uint32_t nsym = out->n - last_start;
            elem *sym = malloc((nsym ? nsym : 1) * sizeof *sym);
            if (!sym) return perr(ps, "out of memory");
            memcpy(sym, out->v + last_start, nsym * sizeof *sym);
            out->n = last_start;
            int rc = repeat(ps, out, sym, nsym, min, max, unbounded);
            free(sym);
            if (rc) return -1;
            have_last = 0; /* x** is not allowed */
            continue;
        } else {
            return 0; /* '|', ')', newline or the end of the rule */
        }
        last_start = sym_start;
        have_last = 1;
    }
}

static int parse_alternates(parser *ps, uint32_t rule, int nested) {
    if (++ps->depth > 256) return perr(ps, "groups nested too deeply");
    evec body = {0};
    int rc = 0;
    for (;;) {
        if (parse_sequence(ps, &body, nested)) {
            rc = -1;
            break;
        }
        skip_space(ps, nested);
        if (ps->p < ps->end && *ps->p == '|') {
            ps->p++;
            skip_space(ps, 1);
            if (evec_push(&body, E_ALT, 0)) {
                rc = perr(ps, "out of memory");
                break;
            }
            continue;
        }
        break;
    }
    if (!rc && add_rule(ps->g, rule, &body)) rc = perr(ps, "out of memory");
    free(body.v);
    ps->depth--;
    return rc;
}

void rg_grammar_free(rg_grammar *g) {
    if (!g) return;
    for (uint32_t i = 0; i < g->n_rules; i++) free(g->rule_name[i]);
    free(g->rule_name);
    free(g->rule_start);
    free(g->el);
    free(g->alts);
    free(g->alt_first);
    free(g->pos_min);
    free(g);
}

static int sym_cost(const rg_grammar *g, uint32_t p, const int *rule_min, uint32_t *next) {
    uint8_t t = g->el[p].type;
    if (t == E_REF) {
        *next = p + 1;
        return rule_min[g->el[p].v];
    }
    if (t == E_ANY) {
        *next = p + 1;
        return 1;
    }
    /* a character set: CHAR/CHAR_NOT then ranges and CHAR_ALTs */
    p++;
    while (g->el[p].type == E_RNG_UPPER || g->el[p].type == E_CHAR_ALT) p++;
    *next = p;
    return 1;
}

static int seq_min(const rg_grammar *g, uint32_t p, const int *rule_min) {
    long sum = 0;
    while (g->el[p].type != E_END && g->el[p].type != E_ALT) {
        uint32_t nx;
        sum += sym_cost(g, p, rule_min, &nx);
        if (sum >= INF_LEN) return INF_LEN;
        p = nx;
    }
    return (int)sum;
}

/* Alternative tables, shortest completions, and a check that every
 * referenced rule is defined. */
static rg_status finish(rg_grammar *g, rg_err *err) {
    for (uint32_t r = 0; r < g->n_rules; r++)
        if (g->rule_start[r] == UINT32_MAX)
            return rg_failf(err, RG_FORMAT, "grammar: rule '%s' is used but not defined", g->rule_name[r]);
    uint32_t total = 0;
    for (uint32_t r = 0; r < g->n_rules; r++) {
        total++;
        for (uint32_t p = g->rule_start[r]; g->el[p].type != E_END; p++)
            if (g->el[p].type == E_ALT) total++;
    }
    g->alts = malloc(sizeof(uint32_t) * (total + 1));
    g->alt_first = malloc(sizeof(uint32_t) * (g->n_rules + 1));
    g->pos_min = malloc(sizeof(int) * (g->n_el + 1));
    int *rule_min = malloc(sizeof(int) * (g->n_rules + 1));
    if (!g->alts || !g->alt_first || !g->pos_min || !rule_min) {
        free(rule_min);
        return rg_failf(err, RG_NOMEM, "grammar: out of memory");
    }
    uint32_t k = 0;
    for (uint32_t r = 0; r < g->n_rules; r++) {
        g->alt_first[r] = k;
        g->alts[k++] = g->rule_start[r];
        for (uint32_t p = g->rule_start[r]; g->el[p].type != E_END; p++)
            if (g->el[p].type == E_ALT) g->alts[k++] = p + 1;
    }
    g->alt_first[g->n_rules] = k;
    for (uint32_t r = 0; r < g->n_rules; r++) rule_min[r] = INF_LEN;
    for (int changed = 1, it = 0; changed && it < (int)g->n_rules + 2; it++) {
        changed = 0;
        for (uint32_t r = 0; r < g->n_rules; r++)
            for (uint32_t a = g->alt_first[r]; a < g->alt_first[r + 1]; a++) {
                int m = seq_min(g, g->alts[a], rule_min);
                if (m < rule_min[r]) rule_min[r] = m, changed = 1;
            }
    }
    for (uint32_t p = 0; p < g->n_el; p++) g->pos_min[p] = INF_LEN;
    for (uint32_t r = 0; r < g->n_rules; r++)
        for (uint32_t a = g->alt_first[r]; a < g->alt_first[r + 1]; a++) {
            /* every symbol start inside the alternative gets its suffix cost */
            uint32_t p = g->alts[a];
            while (g->el[p].type != E_END && g->el[p].type != E_ALT) {
                uint32_t nx;
                sym_cost(g, p, rule_min, &nx);
                g->pos_min[p] = seq_min(g, p, rule_min);
                p = nx;
            }
            g->pos_min[p] = 0;
        }
    free(rule_min);
    return RG_OK;
}

rg_status rg_grammar_parse(const char *text, size_t len, const char *root, rg_grammar **out,
                           rg_err *err) {
    *out = NULL;
    rg_grammar *g = calloc(1, sizeof *g);
    if (!g) return rg_failf(err, RG_NOMEM, "grammar: out of memory");
    parser ps = {g, text, text + len, text, err, RG_OK, 0};
    for (;;) {
        skip_space(&ps, 1);
        if (ps.p >= ps.end) break;
        const char *st = ps.p;
        while (ps.p < ps.end && is_word(*ps.p)) ps.p++;
        if (ps.p == st) {
            perr(&ps, "expected a rule name");
            break;
        }
        int64_t r = symbol(g, st, (size_t)(ps.p - st), 1);
        if (r < 0) {
            perr(&ps, "too many rules");
            break;
        }
        if (g->rule_start[r] != UINT32_MAX) {
            perr(&ps, "rule defined twice");
            break;
        }
        skip_space(&ps, 0);
        if (ps.end - ps.p < 3 || memcmp(ps.p, "::=", 3) != 0) {
            perr(&ps, "expected '::='");
            break;
        }
        ps.p += 3;
        skip_space(&ps, 1);
        if (parse_alternates(&ps, (uint32_t)r, 0)) break;
        skip_space(&ps, 0);
        if (ps.p < ps.end && *ps.p != '\n') {
            perr(&ps, "unexpected character after rule");
            break;
        }
    }
    if (ps.rc) {
        rg_grammar_free(g);
        return ps.rc;
    }
    const char *rn = root ? root : "root";
    int64_t r = symbol(g, rn, strlen(rn), 0);
    if (r < 0) {
        rg_grammar_free(g);
        return rg_failf(err, RG_FORMAT, "grammar: no rule named '%s'", rn);
    }
    g->root = (uint32_t)r;
    rg_status rc = finish(g, err);
    if (rc) {
        rg_grammar_free(g);
        return rc;
    }
    rg_grammar_state *s = rg_grammar_state_new(g);
    if (!s) {
        rg_grammar_free(g);
        return rg_failf(err, RG_FORMAT, "grammar: left recursion or too ambiguous at the start of '%s'", rn);
    }
    rg_grammar_state_free(s);
    *out = g;
    return RG_OK;
}

/* ------------------------------------------------------------------ */
/* recogniser                                                          */

typedef struct {
    uint32_t *w; /* stack contents */
    size_t nw, capw;
    uint32_t *e; /* set entries: pairs (offset into w, length) */
    size_t ne, cape;
    int overflow;
} pool;

static int pool_w(pool *P, size_t add) {
    if (P->nw + add <= P->capw) return 0;
    size_t nc = P->capw ? P->capw * 2 : 256;
    while (nc < P->nw + add) nc *= 2;
    uint32_t *p = realloc(P->w, nc * sizeof *p);
    if (!p) return -1;
    P->w = p;
    P->capw = nc;
    return 0;
}

static int pool_e(pool *P) {
    if (P->ne + 2 <= P->cape) return 0;
    size_t nc = P->cape ? P->cape * 2 : 64;
    uint32_t *p = realloc(P->e, nc * sizeof *p);
    if (!p) return -1;
    P->e = p;
    P->cape = nc;
    return 0;
}

static int is_end(const rg_grammar *g, uint32_t p) { return g->el[p].type == E_END || g->el[p].type == E_ALT; }

/* Adds the stack (off,len) to the set starting at entry set_start unless
 * an equal one is there. */
static int add_stack(pool *P, size_t set_start, uint32_t off, uint32_t len) {
    for (size_t i = set_start; i < P->ne; i += 2) {
        if (P->e[i + 1] != len) continue;
        if (!memcmp(P->w + P->e[i], P->w + off, len * sizeof(uint32_t))) return 0;
    }
    if ((P->ne - set_start) / 2 >= MAX_STACKS) {
        P->overflow = 1;
        return -1;
    }
    if (pool_e(P)) return -1;
    P->e[P->ne++] = off;
    P->e[P->ne++] = len;
    return 0;
}

/* Expands rule references at the top of stack (off,len) until every
 * resulting stack has a character set on top (or is empty), adding each
 * to the set. */
static int advance(const rg_grammar *g, pool *P, uint32_t off, uint32_t len, size_t set_start, int depth) {
    if (len == 0) return add_stack(P, set_start, off, 0);
    uint32_t top = P->w[off + len - 1];
    const elem *e = &g->el[top];
    if (e->type != E_REF) return add_stack(P, set_start, off, len);
    if (depth > MAX_DEPTH) {
        P->overflow = 1;
        return -1;
    }
    uint32_t r = e->v;
    for (uint32_t a = g->alt_first[r]; a < g->alt_first[r + 1]; a++) {
        uint32_t start = g->alts[a];
        if (pool_w(P, len + 2)) return -1;
        uint32_t noff = (uint32_t)P->nw, n = len - 1;
        memmove(P->w + noff, P->w + off, (len - 1) * sizeof(uint32_t));
        if (!is_end(g, top + 1)) P->w[noff + n++] = top + 1;
        if (!is_end(g, start)) P->w[noff + n++] = start;
        P->nw = noff + n;
        if (advance(g, P, noff, n, set_start, depth + 1)) return -1;
    }
    return 0;
}

/* Whether the character set at p matches cp; *next = position after it. */
static int match_char(const rg_grammar *g, uint32_t p, uint32_t cp, uint32_t *next) {
    const elem *el = g->el;
    if (el[p].type == E_ANY) {
        *next = p + 1;
        return 1;
    }
    int neg = el[p].type == E_CHAR_NOT, found = 0;
    do {
        uint32_t lo = el[p].v, hi = lo;
        if (el[p + 1].type == E_RNG_UPPER) {
            hi = el[p + 1].v;
            p += 2;
        } else {
            p += 1;
        }
        if (cp >= lo && cp <= hi) found = 1;
    } while (el[p].type == E_CHAR_ALT);
    *next = p;
    return found != neg;
}

/* Whether some code point in [lo,hi] could match the set at p. */
static int match_range(const rg_grammar *g, uint32_t p, uint32_t plo, uint32_t phi) {
    const elem *el = g->el;
    if (el[p].type == E_ANY || el[p].type == E_CHAR_NOT) return 1; /* conservative for negated sets */
    do {
        uint32_t lo = el[p].v, hi = lo;
        if (el[p + 1].type == E_RNG_UPPER) hi = el[p + 1].v, p += 2;
        else p += 1;
        if (lo <= phi && hi >= plo) return 1;
    } while (el[p].type == E_CHAR_ALT);
    return 0;
}

/* Set (at entries [eoff, eoff+2n)) accepts cp -> new set appended; returns
 * its entry start, and its size in *n_out. */
static int accept_cp(const rg_grammar *g, pool *P, size_t eoff, size_t n, uint32_t cp,
                     size_t *new_start, size_t *n_out) {
    size_t ns = P->ne;
    for (size_t i = 0; i < n; i++) {
        uint32_t off = P->e[eoff + 2 * i], len = P->e[eoff + 2 * i + 1];
        if (len == 0) continue;
        uint32_t next;
        if (!match_char(g, P->w[off + len - 1], cp, &next)) continue;
        if (pool_w(P, len + 1)) return -1;
        uint32_t noff = (uint32_t)P->nw, m = len - 1;
        memmove(P->w + noff, P->w + off, (len - 1) * sizeof(uint32_t));
        if (!is_end(g, next)) P->w[noff + m++] = next;
        P->nw = noff + m;
        if (advance(g, P, noff, m, ns, 0)) return -1;
    }
    *new_start = ns;
    *n_out = (P->ne - ns) / 2;
    return 0;
}

/* Transitions from the current set, memoised.  What a set does with a
 * code point depends only on which of its stacks' top character sets
 * match it (the position after a set does not depend on the code point),
 * so the transition is keyed by that bit signature: inside a JSON string
 * every ordinary character has the same signature and leads to the same
 * next set.  The state's current set is node `root`; the others are the
 * sets reached from it, built on first use by token checks and mask
 * walks.  Accepting a token moves the root along the token's
 * transitions, so what was learnt under the new set is kept (inside a
 * JSON string the next step starts where the last one's checks went).
 * Capped: when full, callers compute new transitions directly, and the
 * next accepted token starts it afresh. */
#define DFA_MAX_STACKS 64        /* signature bits */
#define DFA_MAX_NODES 65536
#define DFA_MAX_WORDS (1u << 20) /* stack words in all its sets (4 MB) */

typedef struct {
    uint64_t sig;
    int32_t child; /* -1: no way on */
    int32_t next;  /* next transition of the same node */
} dfa_tr;

typedef struct {
    uint32_t off, n; /* the node's set: entries [off, off + 2n) of P */
    int32_t first_tr;
    int32_t dist;  /* distance to completion, -1 until computed */
    int32_t ascii; /* block of 128 in dfa.asc: each ASCII code point's step, or -1 */
    int32_t bound; /* rg_grammar_bound from this node, -1 until computed */
    int8_t worth;  /* rg_grammar_worth_checking from this node, -1 until computed */
} dfa_node;

typedef struct {
    pool P;
    dfa_node *node;
    int32_t n_node, cap_node;
    dfa_tr *tr;
    int32_t n_tr, cap_tr;
    int32_t *asc; /* per-node tables of ASCII steps (DFA_UNSET until known) */
    int32_t n_asc, cap_asc;
    int full;
} dfa;

struct rg_grammar_state {
    const rg_grammar *g;
    pool P;
    size_t set_off, set_n;
    uint8_t pend[4];
    int npend, need; /* a code point in progress: bytes so far / bytes it needs */
    dfa D;           /* transitions out of the current set (scratch, see dfa) */
    int32_t root;    /* D's node for the current set; -1: D not started */
    int dist;        /* rg_grammar_distance, -1 until computed */
};

rg_grammar_state *rg_grammar_state_new(const rg_grammar *g) {
    rg_grammar_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->g = g;
    s->root = -1;
    s->dist = -1;
    /* the start: one stack [REF root] expanded */
    if (pool_w(&s->P, 1)) goto fail;
    /* a synthetic position: el has no element "REF root", so expand the
     * root's alternatives directly */
    for (uint32_t a = g->alt_first[g->root]; a < g->alt_first[g->root + 1]; a++) {
        uint32_t start = g->alts[a];
        if (pool_w(&s->P, 1)) goto fail;
        uint32_t off = (uint32_t)s->P.nw, n = 0;
        if (!is_end(g, start)) s->P.w[off + n++] = start;
        s->P.nw = off + n;
        if (advance(g, &s->P, off, n, 0, 0)) goto fail;
    }
    s->set_off = 0;
    s->set_n = s->P.ne / 2;
    if (s->set_n == 0) goto fail;
    return s;
fail:
    rg_grammar_state_free(s);
    return NULL;
}

static void dfa_free(dfa *D) {
    free(D->P.w);
    free(D->P.e);
    free(D->node);
    free(D->tr);
    free(D->asc);
    memset(D, 0, sizeof *D);
}

/* Forgets every node (the state's set changed); keeps the buffers. */
static void dfa_reset(dfa *D) {
    D->P.nw = D->P.ne = 0;
    D->P.overflow = 0;
    D->n_node = D->n_tr = D->n_asc = 0;
    D->full = 0;
}

void rg_grammar_state_free(rg_grammar_state *s) {
    if (!s) return;
    free(s->P.w);
    free(s->P.e);
    dfa_free(&s->D);
    free(s);
}

/* A compact copy holding only the current set. */
rg_grammar_state *rg_grammar_state_clone(const rg_grammar_state *s) {
    rg_grammar_state *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->g = s->g;
    c->root = -1;
    c->dist = -1;
    memcpy(c->pend, s->pend, sizeof c->pend);
    c->npend = s->npend;
    c->need = s->need;
    for (size_t i = 0; i < s->set_n; i++) {
        uint32_t off = s->P.e[s->set_off + 2 * i], len = s->P.e[s->set_off + 2 * i + 1];
        if (pool_w(&c->P, len) || pool_e(&c->P)) {
            rg_grammar_state_free(c);
            return NULL;
        }
        if (len) memcpy(c->P.w + c->P.nw, s->P.w + off, len * sizeof(uint32_t));
        c->P.e[c->P.ne++] = (uint32_t)c->P.nw;
        c->P.e[c->P.ne++] = len;
        c->P.nw += len;
    }
    c->set_off = 0;
    c->set_n = c->P.ne / 2;
    return c;
}

/* UTF-8 byte feeder shared by accept and the trie walk.  Returns 1 when a
 * code point completed (*cp), 0 when more bytes are needed, -1 when the
 * byte cannot be part of valid UTF-8 here. */
static int feed_byte(uint8_t *pend, int *npend, int *need, uint8_t b, uint32_t *cp) {
    if (*npend == 0) {
        if (b < 0x80) {
            *cp = b;
            return 1;
        }
        int n = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (!n || b == 0xC0 || b == 0xC1 || b > 0xF4) return -1;
        pend[0] = b;
        *npend = 1;
        *need = n;
        return 0;
    }
    if ((b & 0xC0) != 0x80) return -1;
    pend[(*npend)++] = b;
    if (*npend < *need) return 0;
    int l = rg_utf8_decode((const char *)pend, (size_t)*npend, cp);
    *npend = 0;
    if (l != *need) return -1; /* overlong, surrogate or out of range */
    return 1;
}

/* Range of code points that a partial sequence can still become. */
static void partial_range(const uint8_t *pend, int npend, int need, uint32_t *lo, uint32_t *hi) {
    uint32_t v = pend[0] & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
    for (int i = 1; i < npend; i++) v = (v << 6) | (pend[i] & 0x3F);
    int rest = need - npend;
    *lo = v << (6 * rest);
    *hi = (v << (6 * rest)) | ((1u << (6 * rest)) - 1);
    /* only the shortest encoding is valid: overlongs can never complete */
    uint32_t min = need == 2 ? 0x80 : need == 3 ? 0x800 : 0x10000;
    if (*lo < min) *lo = min;
    if (*hi > 0x10FFFF) *hi = 0x10FFFF;
    /* a prefix that can only become a surrogate can never complete */
    if (*lo >= 0xD800 && *hi <= 0xDFFF) *lo = *hi + 1;
}

static int partial_ok(const rg_grammar *g, const pool *P, size_t eoff, size_t n, const uint8_t *pend,
                      int npend, int need) {
    uint32_t lo, hi;
    partial_range(pend, npend, need, &lo, &hi);
    if (lo > hi) return 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t off = P->e[eoff + 2 * i], len = P->e[eoff + 2 * i + 1];
        if (len && match_range(g, P->w[off + len - 1], lo, hi)) return 1;
    }
    return 0;
}

static void compact(rg_grammar_state *s) {
    rg_grammar_state *c = rg_grammar_state_clone(s);
    if (!c) return; /* keep the uncompacted (still correct) state */
    free(s->P.w);
    free(s->P.e);
    s->P = c->P;
    s->set_off = 0;
    s->set_n = c->set_n;
    free(c);
}


/* Where the recogniser stands: a set in the pool and a code point in
 * progress. */
typedef struct {
    size_t off, n; /* the set: entries [off, off + 2n) */
    uint8_t pend[4];
    int npend, need;
} cursor;

static cursor cursor_of(const rg_grammar_state *s) {
    cursor c = {s->set_off, s->set_n, {0}, s->npend, s->need};
    memcpy(c.pend, s->pend, 4);
    return c;
}

/* Moves c over bytes, appending the sets it passes through to P.
 * Returns 1 when they continue the grammar (c updated), 0 when not (c
 * unspecified); either way the caller rolls P back or keeps what it
 * needs. */
static int feed(const rg_grammar *g, pool *P, cursor *c, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t cp;
        int r = feed_byte(c->pend, &c->npend, &c->need, (uint8_t)bytes[i], &cp);
        if (r < 0) return 0;
        if (r == 0) continue;
        size_t ns, nn;
        if (accept_cp(g, P, c->off, c->n, cp, &ns, &nn) || nn == 0) return 0;
        c->off = ns;
        c->n = nn;
    }
    return !c->npend || partial_ok(g, P, c->off, c->n, c->pend, c->npend, c->need);
}

static void rollback(pool *P, size_t mark_w, size_t mark_e) {
    P->nw = mark_w;
    P->ne = mark_e;
    P->overflow = 0;
}

static int32_t dfa_step(const rg_grammar *g, dfa *D, int32_t d, uint32_t cp);

bool rg_grammar_accept(rg_grammar_state *s, const char *bytes, size_t n) {
    size_t mark_w = s->P.nw, mark_e = s->P.ne;
    cursor c = cursor_of(s), c0 = c;
    if (!feed(s->g, &s->P, &c, bytes, n)) {
        rollback(&s->P, mark_w, mark_e);
        return false;
    }
    s->set_off = c.off;
    s->set_n = c.n;
    memcpy(s->pend, c.pend, 4);
    s->npend = c.npend;
    s->need = c.need;
    compact(s);
    /* the automaton's root follows the bytes (the same steps as feed's) */
    int32_t r = s->D.full ? -1 : s->root;
    for (size_t i = 0; i < n && r >= 0; i++) {
        uint32_t cp;
        int fb = feed_byte(c0.pend, &c0.npend, &c0.need, (uint8_t)bytes[i], &cp);
        if (fb < 0) r = -1;
        else if (fb == 1) r = dfa_step(s->g, &s->D, r, cp);
    }
    s->root = r >= 0 ? r : -1;
    if (s->root < 0) dfa_reset(&s->D);
    s->dist = -1;
    return true;
}

static int cursor_done(const pool *P, const cursor *c) {
    if (c->npend) return 0;
    for (size_t i = 0; i < c->n; i++)
        if (P->e[c->off + 2 * i + 1] == 0) return 1;
    return 0;
}

bool rg_grammar_done(const rg_grammar_state *s) {
    cursor c = cursor_of(s);
    return cursor_done(&s->P, &c);
}

bool rg_grammar_finished(const rg_grammar_state *s) {
    if (s->npend) return false;
    for (size_t i = 0; i < s->set_n; i++)
        if (s->P.e[s->set_off + 2 * i + 1] != 0) return false;
    return s->set_n > 0;
}

static int cursor_distance(const rg_grammar *g, const pool *P, const cursor *c) {
    long best = INF_LEN;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t off = P->e[c->off + 2 * i], len = P->e[c->off + 2 * i + 1];
        long d = 0;
        for (uint32_t k = 0; k < len; k++) d += g->pos_min[P->w[off + k]];
        if (d < best) best = d;
    }
    /* a code point in progress may need one token per missing byte */
    return (int)(best + (c->npend ? c->need - c->npend : 0));
}

int rg_grammar_distance(const rg_grammar_state *s) {
    if (s->dist < 0) { /* a cache, like the automaton: asked once per candidate near the budget */
        cursor c = cursor_of(s);
        ((rg_grammar_state *)s)->dist = cursor_distance(s->g, &s->P, &c);
    }
    return s->dist;
}

/* Appends a node for the set at entries [eoff, eoff + 2n) of D->P.
 * Returns its id, or -1 when the automaton is full. */
static int32_t dfa_add(dfa *D, size_t eoff, size_t n) {
    if (D->n_node == D->cap_node) {
        int32_t nc = D->cap_node ? D->cap_node * 2 : 64;
        dfa_node *p = realloc(D->node, (size_t)nc * sizeof *p);
        if (!p) return -1;
        D->node = p;
        D->cap_node = nc;
    }
    D->node[D->n_node] = (dfa_node){(uint32_t)eoff, (uint32_t)n, -1, -1, -1, -1, -1};
    if (D->n_node + 1 >= DFA_MAX_NODES || D->P.nw >= DFA_MAX_WORDS) D->full = 1;
    return D->n_node++;
}

/* Makes sure the automaton has a root (a copy of the state's current
 * set).  0 on success. */
static int dfa_start(rg_grammar_state *s) {
    dfa *D = &s->D;
    if (s->root >= 0) return 0;
    dfa_reset(D);
    if (s->set_n > DFA_MAX_STACKS) return -1;
    for (size_t i = 0; i < s->set_n; i++) {
        uint32_t off = s->P.e[s->set_off + 2 * i], len = s->P.e[s->set_off + 2 * i + 1];
        if (pool_w(&D->P, len) || pool_e(&D->P)) return -1;
        if (len) memcpy(D->P.w + D->P.nw, s->P.w + off, len * sizeof(uint32_t));
        D->P.e[D->P.ne++] = (uint32_t)D->P.nw;
        D->P.e[D->P.ne++] = len;
        D->P.nw += len;
    }
    s->root = dfa_add(D, 0, s->set_n);
    return s->root == 0 ? 0 : -1;
}

enum { DFA_NONE = -1, DFA_UNKNOWN = -2, DFA_UNSET = -3 };

static int32_t dfa_step_sig(const rg_grammar *g, dfa *D, int32_t d, uint32_t cp);

/* Node reached from node d by code point cp: its id, DFA_NONE when cp
 * cannot come next, DFA_UNKNOWN when the automaton cannot tell (full, or
 * too many stacks): then the caller computes it directly.  ASCII steps
 * are also kept in a table per node (most of a vocabulary's bytes). */
static int32_t dfa_step(const rg_grammar *g, dfa *D, int32_t d, uint32_t cp) {
    if (cp >= 128) return dfa_step_sig(g, D, d, cp);
    int32_t a = D->node[d].ascii;
    if (a >= 0 && D->asc[a + (int32_t)cp] != DFA_UNSET) return D->asc[a + (int32_t)cp];
    int32_t r = dfa_step_sig(g, D, d, cp);
    if (r == DFA_UNKNOWN) return r;
    if (a < 0) {
        if (D->n_asc + 128 > D->cap_asc) {
            int32_t nc = D->cap_asc ? D->cap_asc * 2 : 1024;
            int32_t *p = realloc(D->asc, (size_t)nc * sizeof *p);
            if (!p) return r;
            D->asc = p;
            D->cap_asc = nc;
        }
        a = D->node[d].ascii = D->n_asc;
        D->n_asc += 128;
        for (int i = 0; i < 128; i++) D->asc[a + i] = DFA_UNSET;
    }
    D->asc[a + (int32_t)cp] = r;
    return r;
}

static int32_t dfa_step_sig(const rg_grammar *g, dfa *D, int32_t d, uint32_t cp) {
    dfa_node *nd = &D->node[d];
    if (nd->n > DFA_MAX_STACKS) return DFA_UNKNOWN;
    uint64_t sig = 0;
    for (uint32_t i = 0; i < nd->n; i++) {
        uint32_t off = D->P.e[nd->off + 2 * i], len = D->P.e[nd->off + 2 * i + 1], nx;
        if (len && match_char(g, D->P.w[off + len - 1], cp, &nx)) sig |= (uint64_t)1 << i;
    }
    if (!sig) return DFA_NONE;
    for (int32_t t = nd->first_tr; t >= 0; t = D->tr[t].next)
        if (D->tr[t].sig == sig) return D->tr[t].child;
    if (D->full) return DFA_UNKNOWN;
    if (D->n_tr == D->cap_tr) {
        int32_t nc = D->cap_tr ? D->cap_tr * 2 : 64;
        dfa_tr *p = realloc(D->tr, (size_t)nc * sizeof *p);
        if (!p) return DFA_UNKNOWN;
        D->tr = p;
        D->cap_tr = nc;
    }
    size_t ns, nn, mark_w = D->P.nw, mark_e = D->P.ne;
    if (accept_cp(g, &D->P, nd->off, nd->n, cp, &ns, &nn)) {
        rollback(&D->P, mark_w, mark_e);
        return DFA_UNKNOWN; /* out of memory or too ambiguous: the caller's direct step fails alike */
    }
    int32_t child = DFA_NONE;
    if (nn == 0) rollback(&D->P, mark_w, mark_e);
    else if ((child = dfa_add(D, ns, nn)) < 0) {
        rollback(&D->P, mark_w, mark_e);
        return DFA_UNKNOWN;
    }
    nd = &D->node[d]; /* dfa_add may have moved the nodes */
    D->tr[D->n_tr] = (dfa_tr){sig, child, nd->first_tr};
    nd->first_tr = D->n_tr++;
    return child;
}

/* Distance to completion from node d with a code point in progress
 * (npend of need bytes). */
static int dfa_distance(const rg_grammar *g, dfa *D, int32_t d, int npend, int need) {
    if (D->node[d].dist < 0) {
        cursor c = {D->node[d].off, D->node[d].n, {0}, 0, 0};
        D->node[d].dist = cursor_distance(g, &D->P, &c);
    }
    return D->node[d].dist + (npend ? need - npend : 0);
}

/* ------------------------------------------------------------------ */
/* vocabulary trie and masks                                           */

typedef struct {
    int32_t first_child, next_sibling, first_token;
    uint8_t byte;
} tnode;

#define GRAMMAR_MAX_PIECE 65536 /* bytes in one token; longer ones are never allowed */

typedef struct {
    uint32_t off, len;
} tokspan;

struct rg_grammar_vocab {
    int n_vocab;
    tnode *nodes; /* while building: children as sorted sibling lists */
    int32_t n_nodes, cap_nodes;
    /* then laid out in depth-first order, so a walk over the trie reads
     * memory front to back: node i's children start at i + 1, each
     * followed by its subtree; end[i] is one past i's subtree */
    uint8_t *byte;
    int32_t *end, *first_token;
    int32_t *sub_tokens; /* tokens ending in node i's subtree (i included) */
    int32_t *below;      /* bytes from node i to the deepest node of its subtree */
    int n_eog;
    int32_t *token_next; /* next token ending at the same node */
    uint8_t *is_eog;
    char *blob;   /* every token's bytes */
    tokspan *tok; /* token i: blob[off, off + len); len 0: never produced (eog: when done) */
};

static int32_t trie_child(rg_grammar_vocab *v, int32_t node, uint8_t b, int create) {
    int32_t c = v->nodes[node].first_child, prev = -1;
    while (c >= 0 && v->nodes[c].byte < b) prev = c, c = v->nodes[c].next_sibling;
    if (c >= 0 && v->nodes[c].byte == b) return c;
    if (!create) return -1;
    if (v->n_nodes == v->cap_nodes) {
        int32_t nc = v->cap_nodes * 2;
        tnode *p = realloc(v->nodes, (size_t)nc * sizeof *p);
        if (!p) return -1;
        v->nodes = p;
        v->cap_nodes = nc;
    }
    int32_t n = v->n_nodes++;
    v->nodes[n] = (tnode){-1, c, -1, b};
    if (prev < 0) v->nodes[node].first_child = n;
    else v->nodes[prev].next_sibling = n;
    return n;
}

/* Depth-first renumbering (see rg_grammar_vocab); depth <= the longest
 * token's length. */
static void layout(rg_grammar_vocab *v, int32_t node, int32_t *at) {
    int32_t i = (*at)++, n = 0, deep = 0;
    v->byte[i] = v->nodes[node].byte;
    v->first_token[i] = v->nodes[node].first_token;
    for (int32_t t = v->first_token[i]; t >= 0; t = v->token_next[t]) n++;
    for (int32_t c = v->nodes[node].first_child; c >= 0; c = v->nodes[c].next_sibling) {
        int32_t ci = *at;
        layout(v, c, at);
        n += v->sub_tokens[ci];
        if (v->below[ci] + 1 > deep) deep = v->below[ci] + 1;
    }
    v->sub_tokens[i] = n;
    v->below[i] = deep;
    v->end[i] = *at;
}

void rg_grammar_vocab_free(rg_grammar_vocab *v) {
    if (!v) return;
    free(v->blob);
    free(v->tok);
    free(v->nodes);
    free(v->byte);
    free(v->end);
    free(v->first_token);
    free(v->sub_tokens);
    free(v->below);
    free(v->token_next);
    free(v->is_eog);
    free(v);
}

rg_grammar_vocab *rg_grammar_vocab_new(const char *const *pieces, const size_t *lens, int n_vocab,
                                       const int32_t *eog, int n_eog) {
    rg_grammar_vocab *v = calloc(1, sizeof *v);
    if (!v || n_vocab <= 0) goto fail;
    v->n_vocab = n_vocab;
    v->cap_nodes = 1024;
    v->nodes = malloc((size_t)v->cap_nodes * sizeof *v->nodes);
    v->token_next = malloc((size_t)n_vocab * sizeof *v->token_next);
    v->is_eog = calloc((size_t)n_vocab, 1);
    v->tok = calloc((size_t)n_vocab, sizeof *v->tok);
    if (!v->nodes || !v->token_next || !v->is_eog || !v->tok) goto fail;
    v->nodes[0] = (tnode){-1, -1, -1, 0};
    v->n_nodes = 1;
    for (int i = 0; i < n_eog; i++)
        if (eog[i] >= 0 && eog[i] < n_vocab && !v->is_eog[eog[i]]) v->is_eog[eog[i]] = 1, v->n_eog++;
    /* every piece in one block: a check touches two cache lines, not four */
    size_t total = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (!pieces[i] || v->is_eog[i]) continue;
        size_t n = lens ? lens[i] : strlen(pieces[i]);
        if (n > GRAMMAR_MAX_PIECE) continue; /* never produced under a grammar */
        if (total + n > UINT32_MAX) goto fail;
        total += n;
    }
    v->blob = malloc(total ? total : 1);
    if (!v->blob) goto fail;
    total = 0;
    for (int i = 0; i < n_vocab; i++) {
        v->token_next[i] = -1;
        if (!pieces[i] || v->is_eog[i]) continue;
        size_t n = lens ? lens[i] : strlen(pieces[i]);
        if (n == 0 || n > GRAMMAR_MAX_PIECE) continue;
        memcpy(v->blob + total, pieces[i], n);
        v->tok[i] = (tokspan){(uint32_t)total, (uint32_t)n};
        total += n;
        int32_t node = 0;
        for (size_t k = 0; k < n; k++) {
            node = trie_child(v, node, (uint8_t)pieces[i][k], 1);
            if (node < 0) goto fail;
        }
        v->token_next[i] = v->nodes[node].first_token;
        v->nodes[node].first_token = i;
    }
    v->byte = malloc((size_t)v->n_nodes);
    v->end = malloc((size_t)v->n_nodes * sizeof *v->end);
    v->first_token = malloc((size_t)v->n_nodes * sizeof *v->first_token);
    v->sub_tokens = malloc((size_t)v->n_nodes * sizeof *v->sub_tokens);
    v->below = malloc((size_t)v->n_nodes * sizeof *v->below);
    if (!v->byte || !v->end || !v->first_token || !v->sub_tokens || !v->below) goto fail;
    int32_t at = 0;
    layout(v, 0, &at);
    free(v->nodes);
    v->nodes = NULL;
    return v;
fail:
    rg_grammar_vocab_free(v);
    return NULL;
}

typedef struct {
    const rg_grammar *g;
    const rg_grammar_vocab *v;
    pool P;
    uint8_t *allowed;
    int count;
    /* > 0: also the budget test (distance after the token <= budget - 1)
     * where the automaton knows distances: those tokens get 1, the rest
     * of the grammar's (walked directly) get 2, to be tested apart */
    int budget;
} walk;

static void mark_tokens(walk *W, int32_t node, uint8_t val) {
    for (int32_t t = W->v->first_token[node]; t >= 0; t = W->v->token_next[t]) {
        W->allowed[t] = val;
        W->count++;
    }
}

static void walk_node(walk *W, int32_t node, size_t eoff, size_t n, const uint8_t *pend0, int npend0,
                      int need0);

/* Trie child c of a node whose set is at entries [eoff, eoff + 2n) of
 * W->P, stepping through its byte directly (pend0..: the code point in
 * progress before it); then its subtree. */
static void plain_child(walk *W, int32_t c, size_t eoff, size_t n, const uint8_t *pend0, int npend0, int need0) {
    uint8_t pend[4];
    memcpy(pend, pend0, 4);
    int npend = npend0, need = need0;
    uint32_t cp;
    size_t mark_w = W->P.nw, mark_e = W->P.ne;
    size_t coff = eoff, cn = n;
    int r = feed_byte(pend, &npend, &need, W->v->byte[c], &cp);
    if (r < 0) return;
    if (r == 1) {
        if (accept_cp(W->g, &W->P, eoff, n, cp, &coff, &cn) || cn == 0) {
            rollback(&W->P, mark_w, mark_e);
            return;
        }
    } else if (!partial_ok(W->g, &W->P, eoff, n, pend, npend, need)) {
        return;
    }
    mark_tokens(W, c, W->budget > 0 ? 2 : 1);
    walk_node(W, c, coff, cn, pend, npend, need);
    rollback(&W->P, mark_w, mark_e);
}

static void walk_node(walk *W, int32_t node, size_t eoff, size_t n, const uint8_t *pend0, int npend0,
                      int need0) {
    for (int32_t c = node + 1; c < W->v->end[node]; c = W->v->end[c])
        plain_child(W, c, eoff, n, pend0, npend0, need0);
}

/* Copies the set at entries [eoff, eoff + 2n) of src to the end of dst;
 * its entries start at *out.  0 on success. */
static int copy_set(pool *dst, const pool *src, size_t eoff, size_t n, size_t *out) {
    *out = dst->ne;
    for (size_t i = 0; i < n; i++) {
        uint32_t off = src->e[eoff + 2 * i], len = src->e[eoff + 2 * i + 1];
        if (pool_w(dst, len) || pool_e(dst)) return -1;
        if (len) memcpy(dst->w + dst->nw, src->w + off, len * sizeof(uint32_t));
        dst->e[dst->ne++] = (uint32_t)dst->nw;
        dst->e[dst->ne++] = len;
        dst->nw += len;
    }
    return 0;
}

/* The walk over the automaton: trie node `node` reached in automaton
 * node d.  Where the automaton cannot tell, that child's subtree is
 * walked directly from a scratch copy of d's set. */
static void walk_dfa(walk *W, dfa *D, int32_t node, int32_t d, const uint8_t *pend0, int npend0, int need0) {
    for (int32_t c = node + 1; c < W->v->end[node]; c = W->v->end[c]) {
        uint8_t pend[4];
        memcpy(pend, pend0, 4);
        int npend = npend0, need = need0;
        uint32_t cp;
        int r = feed_byte(pend, &npend, &need, W->v->byte[c], &cp);
        if (r < 0) continue;
        int32_t nd = d;
        if (r == 1) {
            nd = dfa_step(W->g, D, d, cp);
            if (nd == DFA_NONE) continue;
            if (nd == DFA_UNKNOWN) {
                size_t mark_w = W->P.nw, mark_e = W->P.ne, eoff;
                if (!copy_set(&W->P, &D->P, D->node[d].off, D->node[d].n, &eoff))
                    plain_child(W, c, eoff, D->node[d].n, pend0, npend0, need0);
                rollback(&W->P, mark_w, mark_e);
                continue;
            }
        } else if (!partial_ok(W->g, &D->P, D->node[d].off, D->node[d].n, pend, npend, need)) {
            continue;
        }
        if (W->budget > 0) {
            /* each code point shortens the way home by at most one, so
             * nothing below c can fit once even its longest token cannot */
            int dn = dfa_distance(W->g, D, nd, 0, 0);
            if ((int64_t)dn - W->v->below[c] > W->budget - 1) continue;
            if (dn + (npend ? need - npend : 0) <= W->budget - 1) mark_tokens(W, c, 1);
        } else {
            mark_tokens(W, c, 1);
        }
        walk_dfa(W, D, c, nd, pend, npend, need);
    }
}

static int mask_walk(const rg_grammar_state *cs, const rg_grammar_vocab *v, uint8_t *allowed, int memo,
                     int budget) {
    memset(allowed, 0, (size_t)v->n_vocab);
    rg_grammar_state *s = (rg_grammar_state *)cs; /* the automaton is scratch (see dfa) */
    walk W = {s->g, v, {0}, allowed, 0, 0};
    if (memo && dfa_start(s) == 0) {
        W.budget = budget;
        walk_dfa(&W, &s->D, 0, s->root, s->pend, s->npend, s->need);
    } else {
        size_t eoff;
        if (copy_set(&W.P, &s->P, s->set_off, s->set_n, &eoff)) {
            free(W.P.w);
            free(W.P.e);
            return 0;
        }
        walk_node(&W, 0, eoff, s->set_n, s->pend, s->npend, s->need);
    }
    if (rg_grammar_done(s))
        for (int i = 0; i < v->n_vocab; i++)
            if (v->is_eog[i]) allowed[i] = 1, W.count++;
    free(W.P.w);
    free(W.P.e);
    return W.count;
}

int rg_grammar_mask(const rg_grammar_state *s, const rg_grammar_vocab *v, uint8_t *allowed) {
    return mask_walk(s, v, allowed, 1, 0);
}

int rg__grammar_mask_direct(const rg_grammar_state *s, const rg_grammar_vocab *v, uint8_t *allowed) {
    return mask_walk(s, v, allowed, 0, 0);
}

/* Tokens under trie node `node` (reached in automaton node d) that
 * survive their next `depth` bytes: the walk of walk_dfa cut short, each
 * subtree it does not enter counted whole; stops once `limit` is reached. */
static int64_t bound_walk(const rg_grammar *g, dfa *D, const rg_grammar_vocab *v, int32_t node, int32_t d,
                          const uint8_t *pend0, int npend0, int need0, int depth, int64_t limit) {
    int64_t n = 0;
    for (int32_t c = node + 1; c < v->end[node] && n < limit; c = v->end[c]) {
        uint8_t pend[4];
        memcpy(pend, pend0, 4);
        int npend = npend0, need = need0;
        uint32_t cp;
        int r = feed_byte(pend, &npend, &need, v->byte[c], &cp);
        if (r < 0) continue;
        int32_t nd = d;
        if (r == 1) {
            nd = dfa_step(g, D, d, cp);
            if (nd == DFA_NONE) continue;
            if (nd == DFA_UNKNOWN) {
                n += v->sub_tokens[c];
                continue;
            }
        } else if (!partial_ok(g, &D->P, D->node[d].off, D->node[d].n, pend, npend, need)) {
            continue;
        }
        if (depth <= 1) n += v->sub_tokens[c];
        else {
            for (int32_t t = v->first_token[c]; t >= 0; t = v->token_next[t]) n++;
            n += bound_walk(g, D, v, c, nd, pend, npend, need, depth - 1, limit - n);
        }
    }
    return n;
}

int rg_grammar_bound(const rg_grammar_state *cs, const rg_grammar_vocab *v) {
    rg_grammar_state *s = (rg_grammar_state *)cs; /* the automaton is scratch (see dfa) */
    if (s->npend || dfa_start(s) != 0) return v->n_vocab;
    dfa *D = &s->D;
    int32_t r = s->root;
    if (D->node[r].bound < 0) {
        int64_t n = bound_walk(s->g, D, v, 0, r, s->pend, 0, 0, 2, INT64_MAX) + (rg_grammar_done(s) ? v->n_eog : 0);
        D->node[r].bound = n > v->n_vocab ? v->n_vocab : (int32_t)n;
    }
    return D->node[r].bound;
}

bool rg_grammar_worth_checking(const rg_grammar_state *cs, const rg_grammar_vocab *v) {
    rg_grammar_state *s = (rg_grammar_state *)cs; /* the automaton is scratch (see dfa) */
    if (s->npend || dfa_start(s) != 0) return true;
    dfa *D = &s->D;
    int32_t r = s->root;
    if (D->node[r].worth < 0) { /* the bound's walk, stopped once the answer is yes */
        int64_t limit = v->n_vocab / 64 > 64 ? v->n_vocab / 64 : 64;
        int64_t n = (rg_grammar_done(s) ? v->n_eog : 0);
        n += bound_walk(s->g, D, v, 0, r, s->pend, 0, 0, 2, limit - n);
        D->node[r].worth = n >= limit;
    }
    return D->node[r].worth;
}

/* Feeds token id's bytes without committing, through the automaton when
 * it can tell (memo), else on the state's pool: its tail past the current
 * set is scratch, so a const state is only touched there and rolled
 * back.  Returns the distance to completion after the token (0 for an
 * eog token when done), or -1 when the token cannot come next. */
static int try_token(const rg_grammar_state *cs, const rg_grammar_vocab *v, int32_t id, int memo) {
    if (id < 0 || id >= v->n_vocab) return -1;
    tokspan ts = v->tok[id];
    if (!ts.len) return v->is_eog[id] && rg_grammar_done(cs) ? 0 : -1;
    const char *p = v->blob + ts.off;
    rg_grammar_state *s = (rg_grammar_state *)cs; /* scratch only, see above */
    if (memo && dfa_start(s) == 0) {
        dfa *D = &s->D;
        uint8_t pend[4];
        memcpy(pend, s->pend, 4);
        int npend = s->npend, need = s->need;
        int32_t d = s->root;
        size_t i;
        for (i = 0; i < ts.len; i++) {
            uint32_t cp;
            int r = feed_byte(pend, &npend, &need, (uint8_t)p[i], &cp);
            if (r < 0) return -1;
            if (r == 0) continue;
            int32_t nd = dfa_step(s->g, D, d, cp);
            if (nd == DFA_NONE) return -1;
            if (nd == DFA_UNKNOWN) break;
            d = nd;
        }
        if (i == ts.len) {
            if (npend && !partial_ok(s->g, &D->P, D->node[d].off, D->node[d].n, pend, npend, need)) return -1;
            return dfa_distance(s->g, D, d, npend, need);
        }
    }
    size_t mark_w = s->P.nw, mark_e = s->P.ne;
    cursor c = cursor_of(s);
    int d = feed(s->g, &s->P, &c, p, ts.len) ? cursor_distance(s->g, &s->P, &c) : -1;
    rollback(&s->P, mark_w, mark_e);
    return d;
}

int rg__grammar_distance_after_direct(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id) {
    return try_token(s, v, id, 0);
}

bool rg_grammar_allows(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id) {
    return try_token(s, v, id, 1) >= 0;
}

bool rg_grammar_accept_token(rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n_vocab) return false;
    if (!v->tok[id].len) return v->is_eog[id] && rg_grammar_done(s);
    return rg_grammar_accept(s, v->blob + v->tok[id].off, v->tok[id].len);
}

int rg_grammar_distance_after(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id) {
    return try_token(s, v, id, 1);
}

/* Near the end of the budget, keep only tokens that leave a way home; a
 * token spans at most its bytes in code points, so far from the end no
 * token can matter (+64 is slack for structure it opens). */
static int budget_applies(const rg_grammar_state *s, int budget) {
    return budget > 0 && budget <= rg_grammar_distance(s) + 64;
}

bool rg_grammar_allows_within(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id, int budget) {
    if (!budget_applies(s, budget)) return rg_grammar_allows(s, v, id);
    int d = try_token(s, v, id, 1);
    return d >= 0 && d <= budget - 1;
}

int rg_grammar_constrain(const rg_grammar_state *s, const rg_grammar_vocab *v, float *logits,
                         int budget, uint8_t *mask) {
    int check = budget_applies(s, budget);
    /* with the budget, the walk tests it where it can (mask 1) and leaves
     * the rest of the grammar's tokens (2) to the test here */
    mask_walk(s, v, mask, 1, check ? budget : 0);
    int left = 0;
    for (int i = 0; i < v->n_vocab; i++) {
        if (mask[i] == 2) {
            int d = rg_grammar_distance_after(s, v, i);
            if (d < 0 || d > budget - 1) mask[i] = 0;
        }
        if (!mask[i]) logits[i] = -INFINITY;
        else mask[i] = 1, left++;
    }
    if (left == 0 && check) { /* nothing fits: at least stay inside the grammar */
        rg_grammar_mask(s, v, mask);
        int best = -1, bd = INF_LEN;
        for (int i = 0; i < v->n_vocab; i++) {
            if (!mask[i]) continue;
            int d = rg_grammar_distance_after(s, v, i);
            if (d >= 0 && d < bd) bd = d, best = i;
        }
        if (best >= 0) {
            logits[best] = 0;
            left = 1;
        }
    }
    return left;
}

rg_grammar_vocab *rg_grammar_vocab_from_tok(const rg_tok *t) {
    int n = rg_tok_n_vocab(t);
    const char **pieces = calloc((size_t)n, sizeof *pieces);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    int32_t *eog = calloc((size_t)n, sizeof *eog);
    rg_grammar_vocab *v = NULL;
    if (pieces && lens && eog) {
        int ne = 0;
        for (int32_t i = 0; i < n; i++) {
            if (rg_tok_is_eog(t, i)) {
                eog[ne++] = i;
                continue;
            }
            if (rg_tok_is_control(t, i)) continue;
            pieces[i] = rg_tok_piece(t, i, &lens[i]);
        }
        v = rg_grammar_vocab_new(pieces, lens, n, eog, ne);
    }
    free(pieces);
    free(lens);
    free(eog);
    return v;
}
