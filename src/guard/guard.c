/* guard.c - policy (JSON), operators (mask, tag, keyed hash, pseudonym,
 * drop), the pseudonym vault, findings JSON and the log filter.
 *
 * A guard is immutable after rg_guard_open, so one guard serves every
 * thread.  Raw values only ever live in a vault (per request) and are
 * wiped when it is freed. */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/utf8.h"
#include "guard/guard_int.h"

static const char *const TYPE_NAMES[] = {
#define RG__PII_NAME(e, name, tag, ck) name,
    RG_PII_TYPES(RG__PII_NAME)
#undef RG__PII_NAME
};
static const char *const TYPE_TAGS[] = {
#define RG__PII_TAG(e, name, tag, ck) tag,
    RG_PII_TYPES(RG__PII_TAG)
#undef RG__PII_TAG
};
static const int TYPE_CK[] = {
#define RG__PII_CK(e, name, tag, ck) ck,
    RG_PII_TYPES(RG__PII_CK)
#undef RG__PII_CK
};

const char *rg_pii_type_name(rg_pii_type t) {
    return (unsigned)t < RG_PII__COUNT ? TYPE_NAMES[t] : "unknown";
}
int rg_pii_type_parse(const char *name) {
    for (int t = 0; t < RG_PII__COUNT; t++)
        if (!strcmp(name, TYPE_NAMES[t])) return t;
    return -1;
}
int rg_pii_type_checksummed(rg_pii_type t) { return (unsigned)t < RG_PII__COUNT && TYPE_CK[t]; }

/* ---- policy ------------------------------------------------------------ */

static void set_defaults(rg_guard *g) {
    memset(g, 0, sizeof *g);
    g->min_confidence = 0.5f;
    for (int t = 0; t < RG_PII__COUNT; t++) {
        rg__guard_type_cfg *c = &g->t[t];
        c->enabled = 1;
        c->op = RG_GUARD_OP_TAG;
        c->mask_char = '*';
        snprintf(c->tag, sizeof c->tag, "[%s]", TYPE_TAGS[t]);
    }
    /* masks as GB/T 35273 displays them: 110***********1234, 138****8000 */
    static const struct {
        rg_pii_type t;
        int f, l;
    } masks[] = {{RG_PII_CN_ID, 3, 4},     {RG_PII_CARD, 4, 4},        {RG_PII_CN_MOBILE, 3, 4},
                 {RG_PII_CN_LANDLINE, 4, 2}, {RG_PII_PHONE, 3, 2},     {RG_PII_IBAN, 4, 4},
                 {RG_PII_US_SSN, 0, 4},     {RG_PII_CN_NAME, 1, 0},     {RG_PII_CN_USCC, 4, 4},
                 {RG_PII_CN_PASSPORT, 1, 2}, {RG_PII_HKMO_PERMIT, 1, 2}, {RG_PII_CN_PLATE, 2, 1}};
    for (size_t k = 0; k < sizeof masks / sizeof masks[0]; k++) {
        g->t[masks[k].t].op = RG_GUARD_OP_MASK;
        g->t[masks[k].t].keep_first = masks[k].f;
        g->t[masks[k].t].keep_last = masks[k].l;
    }
}

static void fix_mask(rg_guard *g) {
    g->enabled_mask = 0;
    for (int t = 0; t < RG_PII__COUNT; t++)
        if (g->t[t].enabled) g->enabled_mask |= 1u << t;
}

static int parse_op(const char *s, rg_guard_op *op) {
    static const char *names[] = {"mask", "tag", "hash", "pseudonym", "drop", "keep"};
    for (int k = 0; k < 6; k++)
        if (!strcmp(s, names[k])) {
            *op = (rg_guard_op)k;
            return 0;
        }
    if (!strcmp(s, "replace")) {
        *op = RG_GUARD_OP_TAG;
        return 0;
    }
    return -1;
}

static rg_status apply_type_cfg(rg__guard_type_cfg *c, json_t *o, const char *where, rg_err *err) {
    if (!json_is_object(o))
        return rg_failf(err, RG_FORMAT, "guard policy: %s: expected an object", where);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "enabled")) {
            if (!json_is_boolean(v))
                return rg_failf(err, RG_FORMAT, "guard policy: %s.enabled: expected true/false", where);
            c->enabled = json_is_true(v);
        } else if (!strcmp(k, "op")) {
            if (!json_is_string(v) || parse_op(json_string_value(v), &c->op))
                return rg_failf(err, RG_FORMAT,
                                "guard policy: %s.op: expected mask|tag|hash|pseudonym|drop|keep",
                                where);
        } else if (!strcmp(k, "keep_first") || !strcmp(k, "keep_last")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 64)
                return rg_failf(err, RG_FORMAT, "guard policy: %s.%s: expected an integer 0..64",
                                where, k);
            *(k[5] == 'f' ? &c->keep_first : &c->keep_last) = (int)json_integer_value(v);
        } else if (!strcmp(k, "mask_char")) {
            const char *s = json_is_string(v) ? json_string_value(v) : NULL;
            if (!s || strlen(s) != 1 || (unsigned char)s[0] < 0x20 || (unsigned char)s[0] > 0x7e)
                return rg_failf(err, RG_FORMAT,
                                "guard policy: %s.mask_char: expected one printable ASCII char",
                                where);
            c->mask_char = s[0];
        } else if (!strcmp(k, "tag")) {
            const char *s = json_is_string(v) ? json_string_value(v) : NULL;
            if (!s || strlen(s) >= sizeof c->tag || !rg_utf8_valid(s, strlen(s)))
                return rg_failf(err, RG_FORMAT,
                                "guard policy: %s.tag: expected a UTF-8 string under %d bytes",
                                where, RG_GUARD_MAX_TAG_BYTES);
            snprintf(c->tag, sizeof c->tag, "%s", s);
        } else {
            return rg_failf(err, RG_FORMAT, "guard policy: %s: unknown key '%s'", where, k);
        }
    }
    return RG_OK;
}

static rg_status parse_policy(rg_guard *g, const char *text, size_t len, rg_err *err) {
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rg_failf(err, RG_FORMAT, "guard policy: line %d column %d: %s", je.line, je.column,
                        je.text);
    rg_status st = RG_OK;
    if (!json_is_object(root)) {
        st = rg_failf(err, RG_FORMAT, "guard policy: expected a JSON object at the top");
        goto out;
    }
    json_t *v;
    const char *k;
    /* "default" first so per-type entries override it */
    json_t *def = json_object_get(root, "default");
    if (def) {
        for (int t = 0; t < RG_PII__COUNT && !st; t++) {
            char where[48];
            snprintf(where, sizeof where, "default(%s)", TYPE_NAMES[t]);
            json_t *copy = json_deep_copy(def);
            if (json_is_object(copy)) json_object_del(copy, "tag");
            st = apply_type_cfg(&g->t[t], copy ? copy : def, where, err);
            json_decref(copy);
        }
        if (st) goto out;
    }
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "default")) continue;
        if (!strcmp(k, "version")) {
            if (!json_is_integer(v) || json_integer_value(v) != 1) {
                st = rg_failf(err, RG_UNSUPPORTED, "guard policy: version: only 1 is supported");
                goto out;
            }
        } else if (!strcmp(k, "min_confidence")) {
            if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
                st = rg_failf(err, RG_FORMAT, "guard policy: min_confidence: expected 0..1");
                goto out;
            }
            g->min_confidence = (float)json_number_value(v);
        } else if (!strcmp(k, "hash_key")) {
            const char *s = json_is_string(v) ? json_string_value(v) : NULL;
            size_t sl = s ? strlen(s) : 0;
            if (!s || sl == 0 || sl > sizeof g->key) {
                st = rg_failf(err, RG_FORMAT, "guard policy: hash_key: expected 1..%zu bytes",
                              sizeof g->key);
                goto out;
            }
            memcpy(g->key, s, sl);
            g->keylen = sl;
        } else if (!strcmp(k, "types")) {
            if (!json_is_object(v)) {
                st = rg_failf(err, RG_FORMAT, "guard policy: types: expected an object");
                goto out;
            }
            const char *tk;
            json_t *tv;
            json_object_foreach(v, tk, tv) {
                int t = rg_pii_type_parse(tk);
                if (t < 0) {
                    st = rg_failf(err, RG_FORMAT, "guard policy: types: unknown type '%s'", tk);
                    goto out;
                }
                char where[48];
                snprintf(where, sizeof where, "types.%s", tk);
                if ((st = apply_type_cfg(&g->t[t], tv, where, err))) goto out;
            }
        } else {
            st = rg_failf(err, RG_FORMAT, "guard policy: unknown key '%s'", k);
            goto out;
        }
    }
out:
    json_decref(root);
    return st;
}

rg_status rg_guard_open(rg_guard **out, const char *policy, size_t len, rg_err *err) {
    *out = NULL;
    if (len > RG_GUARD_MAX_POLICY_BYTES)
        return rg_failf(err, RG_LIMIT, "guard policy: %zu bytes (limit %u)", len,
                        RG_GUARD_MAX_POLICY_BYTES);
    rg_guard *g = malloc(sizeof *g);
    if (!g) return rg_failf(err, RG_NOMEM, "guard: out of memory");
    set_defaults(g);
    if (policy && len) {
        rg_status st = parse_policy(g, policy, len, err);
        if (st) {
            free(g);
            return st;
        }
    }
    if (g->keylen == 0) {
        /* no key configured: a random one, so hashes are stable for this
         * process only (documented) and never guessable from the value */
        if (RAND_bytes(g->key, 32) != 1) {
            free(g);
            return rg_failf(err, RG_ERR, "guard: no random source for the hash key");
        }
        g->keylen = 32;
    }
    fix_mask(g);
    *out = g;
    return RG_OK;
}

rg_status rg_guard_open_file(rg_guard **out, const char *path, rg_err *err) {
    char *data;
    size_t len;
    *out = NULL;
    rg_status st = rg_file_read(path, RG_GUARD_MAX_POLICY_BYTES, &data, &len, err);
    if (st) return st;
    st = rg_guard_open(out, data, len, err);
    if (st) rg_err_prefix(err, "%s", path);
    free(data);
    return st;
}

void rg_guard_free(rg_guard *g) {
    if (!g) return;
    memset(g->key, 0, sizeof g->key);
    free(g);
}

/* ---- scan ---------------------------------------------------------------- */

static rg_status scan_filtered(const rg_guard *g, const char *text, size_t len, rg__fvec *fv) {
    memset(fv, 0, sizeof *fv);
    rg__guard_detect(text, len, g->enabled_mask, fv);
    if (fv->oom) {
        free(fv->v);
        fv->v = NULL;
        fv->n = 0;
        return RG_NOMEM;
    }
    size_t w = 0;
    for (size_t k = 0; k < fv->n; k++)
        if (fv->v[k].confidence >= g->min_confidence) fv->v[w++] = fv->v[k];
    fv->n = w;
    return RG_OK;
}

rg_status rg_guard_scan(const rg_guard *g, const char *text, size_t len, rg_guard_finding **out,
                        size_t *n, rg_err *err) {
    rg__fvec fv;
    *out = NULL;
    *n = 0;
    if (scan_filtered(g, text, len, &fv)) return rg_failf(err, RG_NOMEM, "guard: out of memory");
    if (fv.n == 0) {
        free(fv.v);
        return RG_OK;
    }
    *out = fv.v;
    *n = fv.n;
    return RG_OK;
}

/* ---- operators ------------------------------------------------------------ */

static int sep_at(const unsigned char *s, size_t n, size_t p) {
    if (s[p] == ' ' || s[p] == '-' || s[p] == '@' || s[p] == '.' || s[p] == '(' || s[p] == ')')
        return 1;
    if (p + 2 < n && s[p] == 0xE3 && s[p + 1] == 0x80 && s[p + 2] == 0x80) return 3;
    if (p + 2 < n && s[p] == 0xEF && s[p + 1] == 0xBC && s[p + 2] == 0x8D) return 3;
    return 0;
}

static rg_status op_mask(const rg__guard_type_cfg *c, const char *v, size_t n, rg_buf *out) {
    const unsigned char *s = (const unsigned char *)v;
    size_t count = 0;
    for (size_t p = 0; p < n;) {
        int sl = sep_at(s, n, p);
        if (sl) {
            p += (size_t)sl;
            continue;
        }
        count++;
        p += (size_t)rg__u8len(s[p]);
    }
    size_t kf = (size_t)c->keep_first, kl = (size_t)c->keep_last;
    if (kf + kl >= count) kf = kl = 0; /* nothing would be hidden: hide it all */
    size_t idx = 0;
    rg_status st = RG_OK;
    for (size_t p = 0; p < n && !st;) {
        int sl = sep_at(s, n, p);
        if (sl) {
            st = rg_buf_append(out, s + p, (size_t)sl);
            p += (size_t)sl;
            continue;
        }
        size_t cl = (size_t)rg__u8len(s[p]);
        if (p + cl > n) cl = n - p;
        if (idx < kf || idx >= count - kl) st = rg_buf_append(out, s + p, cl);
        else st = rg_buf_putc(out, c->mask_char);
        idx++;
        p += cl;
    }
    return st;
}

/* Canonical form of a value for hashing / vault lookup: full-width digits
 * and letters to ASCII, separators dropped, ASCII letters upper-cased. */
static size_t normalize(const char *v, size_t n, char *out, size_t cap) {
    const unsigned char *s = (const unsigned char *)v;
    size_t w = 0;
    for (size_t p = 0; p < n && w + 4 < cap;) {
        if (p + 2 < n && s[p] == 0xEF && (s[p + 1] == 0xBC || s[p + 1] == 0xBD)) {
            unsigned cp = ((s[p] & 0x0Fu) << 12) | ((s[p + 1] & 0x3Fu) << 6) | (s[p + 2] & 0x3Fu);
            if (cp >= 0xFF01 && cp <= 0xFF5E) {
                char c = (char)(cp - 0xFF01 + 0x21);
                if (c != '-') out[w++] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
                p += 3;
                continue;
            }
        }
        int sl = sep_at(s, n, p);
        if (sl && s[p] != '@' && s[p] != '.') {
            p += (size_t)sl;
            continue;
        }
        char c = (char)s[p++];
        out[w++] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    return w;
}

typedef struct vent {
    rg_pii_type type;
    unsigned n;
    char *norm, *raw, *ph; /* owned */
    size_t normlen, rawlen;
} vent;

struct rg_guard_vault {
    vent *e;
    size_t n, cap;
    unsigned next[RG_PII__COUNT];
};

rg_guard_vault *rg_guard_vault_new(void) { return calloc(1, sizeof(rg_guard_vault)); }

void rg_guard_vault_free(rg_guard_vault *v) {
    if (!v) return;
    for (size_t k = 0; k < v->n; k++) {
        memset(v->e[k].raw, 0, v->e[k].rawlen);
        memset(v->e[k].norm, 0, v->e[k].normlen);
        free(v->e[k].raw);
        free(v->e[k].norm);
        free(v->e[k].ph);
    }
    free(v->e);
    free(v);
}

size_t rg_guard_vault_count(const rg_guard_vault *v) { return v ? v->n : 0; }

static const char *vault_put(rg_guard_vault *v, const rg__guard_type_cfg *c, rg_pii_type t,
                             const char *raw, size_t rawlen) {
    char norm[512];
    size_t nl = normalize(raw, rawlen, norm, sizeof norm);
    for (size_t k = 0; k < v->n; k++)
        if (v->e[k].type == t && v->e[k].normlen == nl && !memcmp(v->e[k].norm, norm, nl))
            return v->e[k].ph;
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 8;
        vent *e = realloc(v->e, nc * sizeof *e);
        if (!e) return NULL;
        v->e = e;
        v->cap = nc;
    }
    vent *e = &v->e[v->n];
    e->type = t;
    e->n = ++v->next[t];
    e->norm = malloc(nl + 1);
    e->raw = malloc(rawlen + 1);
    /* placeholder: the tag without its closing bracket + "_n]"; tags that
     * are not bracketed get "_n" appended */
    char ph[RG_GUARD_MAX_TAG_BYTES + 16];
    size_t tl = strlen(c->tag);
    if (tl >= 2 && c->tag[tl - 1] == ']')
        snprintf(ph, sizeof ph, "%.*s_%u]", (int)(tl - 1), c->tag, e->n);
    else
        snprintf(ph, sizeof ph, "%s_%u", c->tag, e->n);
    e->ph = strdup(ph);
    if (!e->norm || !e->raw || !e->ph) {
        free(e->norm);
        free(e->raw);
        free(e->ph);
        return NULL;
    }
    memcpy(e->norm, norm, nl);
    e->norm[nl] = 0;
    e->normlen = nl;
    memcpy(e->raw, raw, rawlen);
    e->raw[rawlen] = 0;
    e->rawlen = rawlen;
    v->n++;
    return e->ph;
}

rg_status rg_guard_vault_restore(const rg_guard_vault *v, const char *text, size_t len,
                                 rg_buf *out) {
    size_t p = 0, flushed = 0;
    rg_status st = RG_OK;
    while (p < len && !st) {
        const char *o = v && v->n ? memchr(text + p, '[', len - p) : NULL;
        if (!o) break;
        size_t a = (size_t)(o - text);
        const char *cl = memchr(o, ']', len - a < 96 ? len - a : 96);
        if (!cl) {
            p = a + 1;
            continue;
        }
        size_t pl = (size_t)(cl - o) + 1;
        const vent *hit = NULL;
        for (size_t k = 0; k < v->n && !hit; k++)
            if (strlen(v->e[k].ph) == pl && !memcmp(v->e[k].ph, o, pl)) hit = &v->e[k];
        if (!hit) {
            p = a + 1;
            continue;
        }
        st = rg_buf_append(out, text + flushed, a - flushed);
        if (!st) st = rg_buf_append(out, hit->raw, hit->rawlen);
        p = flushed = a + pl;
    }
    if (!st) st = rg_buf_append(out, text + flushed, len - flushed);
    return st;
}

rg_status rg__guard_apply(const rg_guard *g, rg_guard_vault *vault, const rg_guard_finding *f,
                          const char *text, rg_buf *out) {
    const rg__guard_type_cfg *c = &g->t[f->type];
    const char *v = text + f->start;
    size_t n = f->end - f->start;
    switch (c->op) {
    case RG_GUARD_OP_MASK:
        return op_mask(c, v, n, out);
    case RG_GUARD_OP_TAG:
        return rg_buf_puts(out, c->tag);
    case RG_GUARD_OP_HASH: {
        char norm[512], hex[65];
        uint8_t h[32];
        size_t nl = normalize(v, n, norm, sizeof norm);
        rg_hmac_sha256(g->key, g->keylen, norm, nl, h);
        rg_hex(h, 8, hex);
        size_t tl = strlen(c->tag);
        if (tl >= 2 && c->tag[tl - 1] == ']')
            return rg_buf_printf(out, "%.*s:%s]", (int)(tl - 1), c->tag, hex);
        return rg_buf_printf(out, "%s:%s", c->tag, hex);
    }
    case RG_GUARD_OP_PSEUDO: {
        if (!vault) return rg_buf_puts(out, c->tag);
        const char *ph = vault_put(vault, c, f->type, v, n);
        return ph ? rg_buf_puts(out, ph) : RG_NOMEM;
    }
    case RG_GUARD_OP_DROP:
        return RG_OK;
    case RG_GUARD_OP_KEEP:
        return rg_buf_append(out, v, n);
    }
    return RG_OK;
}

rg_status rg_guard_redact_vault(const rg_guard *g, rg_guard_vault *vault, const char *text,
                                size_t len, rg_buf *out, rg_guard_stats *stats) {
    rg__fvec fv;
    if (stats) memset(stats, 0, sizeof *stats);
    rg_status st = scan_filtered(g, text, len, &fv);
    if (st) return st;
    size_t prev = 0;
    for (size_t k = 0; k < fv.n && !st; k++) {
        const rg_guard_finding *f = &fv.v[k];
        st = rg_buf_append(out, text + prev, f->start - prev);
        if (!st) st = rg__guard_apply(g, vault, f, text, out);
        prev = f->end;
        if (stats) {
            stats->count[f->type]++;
            stats->total++;
        }
    }
    if (!st) st = rg_buf_append(out, text + prev, len - prev);
    free(fv.v);
    return st;
}

rg_status rg_guard_redact(const rg_guard *g, const char *text, size_t len, rg_buf *out,
                          rg_guard_stats *stats) {
    return rg_guard_redact_vault(g, NULL, text, len, out, stats);
}

/* ---- JSON ----------------------------------------------------------------- */

rg_status rg_guard_stats_json(const rg_guard_stats *s, rg_buf *out) {
    rg_status st = rg_buf_putc(out, '{');
    int first = 1;
    for (int t = 0; t < RG_PII__COUNT && !st; t++) {
        if (!s->count[t]) continue;
        st = rg_buf_printf(out, "%s\"%s\":%u", first ? "" : ",", TYPE_NAMES[t], s->count[t]);
        first = 0;
    }
    if (!st) st = rg_buf_putc(out, '}');
    return st;
}

rg_status rg_guard_findings_json(const rg_guard_finding *f, size_t n, rg_buf *out) {
    rg_guard_stats s;
    memset(&s, 0, sizeof s);
    rg_status st = rg_buf_puts(out, "{\"findings\":[");
    for (size_t k = 0; k < n && !st; k++) {
        st = rg_buf_printf(out, "%s{\"type\":\"%s\",\"start\":%zu,\"end\":%zu,\"confidence\":%.2f}",
                           k ? "," : "", rg_pii_type_name(f[k].type), f[k].start, f[k].end,
                           (double)f[k].confidence);
        if ((unsigned)f[k].type < RG_PII__COUNT) s.count[f[k].type]++, s.total++;
    }
    if (!st) st = rg_buf_puts(out, "],\"counts\":");
    if (!st) st = rg_guard_stats_json(&s, out);
    if (!st) st = rg_buf_putc(out, '}');
    return st;
}

/* ---- log filter ------------------------------------------------------------ */

void rg_guard_log_filter(const char *line, char *out, size_t cap, void *ud) {
    if (cap == 0) return;
    const rg_guard *g = ud;
    size_t n = strlen(line);
    rg_buf b;
    rg_buf_init(&b, 0);
    if (!g || rg_guard_redact(g, line, n, &b, NULL) != RG_OK) {
        /* fail closed: a line we could not redact is not written as is */
        snprintf(out, cap, "[log line withheld: redaction failed]");
        rg_buf_free(&b);
        return;
    }
    size_t m = b.len < cap - 1 ? b.len : rg_utf8_floor(b.data, cap - 1);
    memcpy(out, b.data ? b.data : "", m);
    out[m] = '\0';
    rg_buf_free(&b);
}
