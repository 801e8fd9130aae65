/* filter.c - the output filter: user word and pattern lists (reloaded when
 * the file changes) with actions block / mask / flag, applied to a stream
 * of chunks (SSE) together with the PII guard.
 *
 * Streaming invariant: text is released only when no match can still
 * start in it.  For words that means holding back the longest word minus
 * one byte; for patterns PCRE2's hard partial matching says where a match
 * could still be in progress; for PII a fixed window (RG__PII_HOLD) plus
 * the token that straddles it.  The last RG__CTX_KEEP released bytes stay
 * in front of the pending text as context (keywords before a number) but
 * are never emitted twice. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/utf8.h"
#include "guard/guard_int.h"

#define RG__PII_HOLD 64
#define RG__CTX_KEEP 48

typedef struct fentry {
    rg_filter_action action;
    char *word; /* lower-cased (ASCII) word, or NULL for a pattern */
    size_t len;
    pcre2_code *re;
} fentry;

/* An immutable, reference-counted snapshot of a list file. */
typedef struct fdata {
    int refs;
    fentry *e;
    size_t n;
    size_t maxword;
} fdata;

struct rg_filter_list {
    pthread_mutex_t mu;
    fdata *cur;
    char *path;
    struct timespec mtime;
    off_t size;
};

static void fdata_unref(fdata *d) {
    if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    for (size_t k = 0; k < d->n; k++) {
        free(d->e[k].word);
        pcre2_code_free(d->e[k].re);
    }
    free(d->e);
    free(d);
}

static void lower_ascii(char *s, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (s[k] >= 'A' && s[k] <= 'Z') s[k] = (char)(s[k] | 0x20);
}

static rg_status parse_list(const char *path, const char *text, size_t len, fdata **out,
                            rg_err *err) {
    fdata *d = calloc(1, sizeof *d);
    if (!d) return rg_failf(err, RG_NOMEM, "filter list: out of memory");
    d->refs = 1;
    size_t cap = 0, lineno = 0;
    const char *p = text, *end = text + len;
    rg_status st = RG_OK;
    while (p < end && !st) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *a = p, *b = le;
        p = nl ? nl + 1 : end;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (a == b || *a == '#') continue;
        rg_filter_action act = RG_FILTER_FLAG;
        static const struct {
            const char *kw;
            rg_filter_action a;
        } acts[] = {{"block ", RG_FILTER_BLOCK}, {"mask ", RG_FILTER_MASK}, {"flag ", RG_FILTER_FLAG}};
        for (int k = 0; k < 3; k++) {
            size_t kl = strlen(acts[k].kw);
            if ((size_t)(b - a) > kl && !memcmp(a, acts[k].kw, kl)) {
                act = acts[k].a;
                a += kl;
                while (a < b && *a == ' ') a++;
                break;
            }
        }
        if (a == b) continue;
        if (!rg_utf8_valid(a, (size_t)(b - a))) {
            st = rg_failf(err, RG_FORMAT, "%s:%zu: not valid UTF-8", path, lineno);
            break;
        }
        if (d->n >= RG_GUARD_MAX_LIST_ENTRIES) {
            st = rg_failf(err, RG_LIMIT, "%s:%zu: more than %u entries", path, lineno,
                          RG_GUARD_MAX_LIST_ENTRIES);
            break;
        }
        if (d->n == cap) {
            cap = cap ? cap * 2 : 16;
            fentry *ne = realloc(d->e, cap * sizeof *ne);
            if (!ne) {
                st = rg_failf(err, RG_NOMEM, "filter list: out of memory");
                break;
            }
            d->e = ne;
        }
        fentry *e = &d->e[d->n];
        memset(e, 0, sizeof *e);
        e->action = act;
        if (b - a > 3 && !memcmp(a, "re:", 3)) {
            int ec;
            PCRE2_SIZE eo;
            e->re = pcre2_compile((PCRE2_SPTR)(a + 3), (PCRE2_SIZE)(b - a - 3), PCRE2_UTF, &ec, &eo, NULL);
            if (!e->re) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(ec, msg, sizeof msg);
                st = rg_failf(err, RG_FORMAT, "%s:%zu: pattern offset %zu: %s", path, lineno,
                              (size_t)eo, (const char *)msg);
                break;
            }
            pcre2_jit_compile(e->re, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
        } else {
            size_t wl = (size_t)(b - a);
            if (wl > RG_GUARD_MAX_WORD_BYTES) {
                st = rg_failf(err, RG_LIMIT, "%s:%zu: word longer than %u bytes", path, lineno,
                              RG_GUARD_MAX_WORD_BYTES);
                break;
            }
            e->word = malloc(wl + 1);
            if (!e->word) {
                st = rg_failf(err, RG_NOMEM, "filter list: out of memory");
                break;
            }
            memcpy(e->word, a, wl);
            e->word[wl] = 0;
            lower_ascii(e->word, wl);
            e->len = wl;
            if (wl > d->maxword) d->maxword = wl;
        }
        d->n++;
    }
    if (st) {
        fdata_unref(d);
        return st;
    }
    *out = d;
    return RG_OK;
}

static rg_status load(rg_filter_list *l, fdata **out, struct stat *sb, rg_err *err) {
    if (stat(l->path, sb) != 0) return rg_failf(err, RG_IO, "%s: cannot stat", l->path);
    char *text;
    size_t len;
    rg_status st = rg_file_read(l->path, RG_GUARD_MAX_LIST_BYTES, &text, &len, err);
    if (st) return st;
    st = parse_list(l->path, text, len, out, err);
    free(text);
    return st;
}

rg_status rg_filter_list_open(rg_filter_list **out, const char *path, rg_err *err) {
    *out = NULL;
    rg_filter_list *l = calloc(1, sizeof *l);
    if (!l) return rg_failf(err, RG_NOMEM, "filter list: out of memory");
    pthread_mutex_init(&l->mu, NULL);
    if (!path) {
        l->cur = calloc(1, sizeof(fdata));
        if (!l->cur) {
            free(l);
            return rg_failf(err, RG_NOMEM, "filter list: out of memory");
        }
        l->cur->refs = 1;
        *out = l;
        return RG_OK;
    }
    l->path = strdup(path);
    struct stat sb;
    rg_status st = l->path ? load(l, &l->cur, &sb, err) : RG_NOMEM;
    if (st) {
        free(l->path);
        free(l);
        return st;
    }
    l->mtime = sb.st_mtim;
    l->size = sb.st_size;
    *out = l;
    return RG_OK;
}

rg_status rg_filter_list_refresh(rg_filter_list *l, int *reloaded, rg_err *err) {
    if (reloaded) *reloaded = 0;
    if (!l->path) return RG_OK;
    struct stat sb;
    if (stat(l->path, &sb) != 0) return rg_failf(err, RG_IO, "%s: cannot stat", l->path);
    pthread_mutex_lock(&l->mu);
    int same = sb.st_mtim.tv_sec == l->mtime.tv_sec && sb.st_mtim.tv_nsec == l->mtime.tv_nsec &&
               sb.st_size == l->size;
    pthread_mutex_unlock(&l->mu);
    if (same) return RG_OK;
    fdata *d;
    rg_status st = load(l, &d, &sb, err);
    if (st) return st; /* the old list stays in force */
    pthread_mutex_lock(&l->mu);
    fdata *old = l->cur;
    l->cur = d;
    l->mtime = sb.st_mtim;
    l->size = sb.st_size;
    pthread_mutex_unlock(&l->mu);
    fdata_unref(old);
    if (reloaded) *reloaded = 1;
    return RG_OK;
}

void rg_filter_list_free(rg_filter_list *l) {
    if (!l) return;
    fdata_unref(l->cur);
    pthread_mutex_destroy(&l->mu);
    free(l->path);
    free(l);
}

size_t rg_filter_list_size(const rg_filter_list *l) {
    rg_filter_list *m = (rg_filter_list *)l;
    pthread_mutex_lock(&m->mu);
    size_t n = m->cur ? m->cur->n : 0;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* ---- the stream ------------------------------------------------------------ */

struct rg_filter {
    fdata *d;
    const rg_guard *g;
    pcre2_match_data *md;
    rg_buf pend;   /* [0, ctx) already released context, [ctx, len) pending */
    size_t ctx;
    int blocked;
    uint32_t counts[3];
    char *low;     /* lower-cased copy of pend for word matching */
    size_t lowcap;
};

rg_filter *rg_filter_new(rg_filter_list *l, const rg_guard *g) {
    rg_filter *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    if (l) {
        pthread_mutex_lock(&l->mu);
        f->d = l->cur;
        __atomic_add_fetch(&f->d->refs, 1, __ATOMIC_ACQ_REL);
        pthread_mutex_unlock(&l->mu);
    }
    f->g = g;
    f->md = pcre2_match_data_create(4, NULL);
    rg_buf_init(&f->pend, 0);
    if (!f->md) {
        rg_filter_free(f);
        return NULL;
    }
    return f;
}

void rg_filter_free(rg_filter *f) {
    if (!f) return;
    fdata_unref(f->d);
    pcre2_match_data_free(f->md);
    rg_buf_free(&f->pend);
    free(f->low);
    free(f);
}

void rg_filter_counts(const rg_filter *f, uint32_t counts[3]) { memcpy(counts, f->counts, sizeof f->counts); }

/* One edit of the pending text: [a, b) replaced per kind. */
typedef struct edit {
    size_t a, b;
    int kind; /* 0 mask (list), 1 pii finding, 2 block, 3 flag */
    rg_guard_finding f;
} edit;

typedef struct evec {
    edit *v;
    size_t n, cap;
} evec;

static int epush(evec *e, edit x) {
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 16;
        edit *nv = realloc(e->v, nc * sizeof *nv);
        if (!nv) return -1;
        e->v = nv;
        e->cap = nc;
    }
    e->v[e->n++] = x;
    return 0;
}

static int ecmp(const void *x, const void *y) {
    const edit *a = x, *b = y;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    if (a->b != b->b) return a->b > b->b ? -1 : 1; /* longer first */
    return a->kind > b->kind ? -1 : a->kind < b->kind; /* block before the rest */
}

static rg_status put_masked(rg_buf *out, const char *s, size_t n) {
    rg_status st = RG_OK;
    for (size_t p = 0; p < n && !st;) {
        int l = rg__u8len((unsigned char)s[p]);
        if (s[p] == ' ' || s[p] == '\n' || s[p] == '\t') st = rg_buf_putc(out, s[p]);
        else st = rg_buf_putc(out, '*');
        p += (size_t)l;
    }
    return st;
}

/* Processes the pending text; releases up to the safe point (all of it
 * when final). */
static rg_status process(rg_filter *f, int final, rg_buf *out) {
    if (f->blocked) return RG_DENIED;
    const char *s = f->pend.data ? f->pend.data : "";
    size_t len = f->pend.len, ctx = f->ctx;
    if (len == ctx) return RG_OK;
    size_t safe = len;
    if (!final) {
        size_t hold = 0;
        if (f->d && f->d->maxword > 1) hold = f->d->maxword - 1;
        if (f->g && hold < RG__PII_HOLD) hold = RG__PII_HOLD;
        safe = len - ctx > hold ? len - hold : ctx;
        /* never inside a token (PII spans whitespace-free runs mostly) */
        size_t lim = len > RG_GUARD_STREAM_HOLD ? len - RG_GUARD_STREAM_HOLD : 0;
        while (safe > ctx && safe > lim && f->g && s[safe - 1] != ' ' && s[safe - 1] != '\n' &&
               s[safe - 1] != '\t')
            safe--;
        if (safe <= lim && lim > ctx) safe = lim;
        safe = ctx + rg_utf8_floor(s + ctx, safe - ctx);
    }
    evec ev = {0};
    rg_status st = RG_OK;
    /* words (ASCII case-insensitive) */
    if (f->d && f->d->n) {
        if (f->lowcap < len + 1) {
            char *nl = realloc(f->low, len + 1);
            if (!nl) return RG_NOMEM;
            f->low = nl;
            f->lowcap = len + 1;
        }
        memcpy(f->low, s, len);
        lower_ascii(f->low, len);
        for (size_t k = 0; k < f->d->n && !st; k++) {
            const fentry *e = &f->d->e[k];
            if (e->word) {
                const char *p = f->low + (ctx > e->len ? ctx - e->len + 1 : 0), *endp = f->low + len;
                while (p < endp) {
                    const char *m = memmem(p, (size_t)(endp - p), e->word, e->len);
                    if (!m) break;
                    size_t a = (size_t)(m - f->low);
                    if (a >= ctx && epush(&ev, (edit){a, a + e->len, e->action == RG_FILTER_BLOCK ? 2 : e->action == RG_FILTER_MASK ? 0 : 3, {0}})) st = RG_NOMEM;
                    p = m + 1;
                }
            } else {
                PCRE2_SIZE off = 0;
                while (off <= len) {
                    int rc = pcre2_match(e->re, (PCRE2_SPTR)s, len, off,
                                         final ? 0 : PCRE2_PARTIAL_HARD, f->md, NULL);
                    if (rc == PCRE2_ERROR_PARTIAL) {
                        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(f->md);
                        size_t ps = ov[0];
                        size_t lim = len > RG_GUARD_STREAM_HOLD ? len - RG_GUARD_STREAM_HOLD : 0;
                        if (ps < safe && ps >= lim && ps >= ctx) safe = ps;
                        break;
                    }
                    if (rc < 0) break;
                    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(f->md);
                    size_t a = ov[0], b = ov[1];
                    if (a >= ctx && b > a &&
                        epush(&ev, (edit){a, b, e->action == RG_FILTER_BLOCK ? 2 : e->action == RG_FILTER_MASK ? 0 : 3, {0}}))
                        st = RG_NOMEM;
                    off = b > a ? b : a + 1;
                    while (off < len && ((unsigned char)s[off] & 0xC0) == 0x80) off++;
                }
            }
        }
    }
    /* PII */
    if (f->g && !st) {
        rg__fvec fv = {0};
        rg__guard_detect(s, len, f->g->enabled_mask, &fv);
        if (fv.oom) st = RG_NOMEM;
        for (size_t k = 0; k < fv.n && !st; k++) {
            rg_guard_finding *x = &fv.v[k];
            if (x->confidence < f->g->min_confidence || x->start < ctx) continue;
            if (!final && x->start < safe && x->end > safe) {
                /* a value straddling the release point: hold it whole,
                 * unless it ends before the buffer does (then it is
                 * complete) */
                if (x->end >= len) safe = x->start;
            }
            if (epush(&ev, (edit){x->start, x->end, 1, *x})) st = RG_NOMEM;
        }
        free(fv.v);
    }
    if (st) {
        free(ev.v);
        return st;
    }
    if (ev.n) qsort(ev.v, ev.n, sizeof *ev.v, ecmp);
    /* a flagged/masked/PII edit that straddles safe pushes safe back to its start */
    for (size_t k = 0; k < ev.n && !final; k++)
        if (ev.v[k].a < safe && ev.v[k].b > safe && ev.v[k].b >= len) safe = ev.v[k].a;
    size_t pos = ctx;
    for (size_t k = 0; k < ev.n && !st; k++) {
        edit *e = &ev.v[k];
        if (e->kind == 2) {
            /* block (complete match): release what came before, then nothing more */
            size_t upto = e->a < safe ? e->a : safe;
            if (upto > pos) st = rg_buf_append(out, s + pos, upto - pos);
            f->counts[RG_FILTER_BLOCK]++;
            f->blocked = 1;
            free(ev.v);
            return st ? st : RG_DENIED;
        }
        if (e->a >= safe) continue;
        if (e->kind == 3) {
            f->counts[RG_FILTER_FLAG]++; /* passes through */
            continue;
        }
        if (e->a < pos) continue; /* overlaps an earlier edit */
        st = rg_buf_append(out, s + pos, e->a - pos);
        if (st) break;
        if (e->kind == 0) {
            f->counts[RG_FILTER_MASK]++;
            st = put_masked(out, s + e->a, e->b - e->a);
        } else {
            st = rg__guard_apply(f->g, NULL, &e->f, s, out);
        }
        pos = e->b;
    }
    free(ev.v);
    if (st) return st;
    if (safe > pos) st = rg_buf_append(out, s + pos, safe - pos);
    else safe = pos > safe ? pos : safe;
    if (st) return st;
    /* keep the last RG__CTX_KEEP released bytes as context */
    size_t keep_from = safe > RG__CTX_KEEP ? safe - RG__CTX_KEEP : 0;
    while (keep_from > 0 && keep_from < len && ((unsigned char)s[keep_from] & 0xC0) == 0x80) keep_from--;
    memmove(f->pend.data, f->pend.data + keep_from, len - keep_from);
    f->pend.len = len - keep_from;
    f->pend.data[f->pend.len] = 0;
    f->ctx = safe - keep_from;
    return RG_OK;
}

rg_status rg_filter_feed(rg_filter *f, const char *chunk, size_t len, rg_buf *out) {
    if (f->blocked) return RG_DENIED;
    rg_status st = rg_buf_append(&f->pend, chunk, len);
    if (st) return st;
    return process(f, 0, out);
}

rg_status rg_filter_finish(rg_filter *f, rg_buf *out) {
    rg_status st = process(f, 1, out);
    if (!st) {
        rg_buf_reset(&f->pend);
        f->ctx = 0;
    }
    return st;
}

rg_status rg_filter_text(rg_filter_list *l, const rg_guard *g, const char *text, size_t len,
                         rg_buf *out, uint32_t counts[3]) {
    rg_filter *f = rg_filter_new(l, g);
    if (!f) return RG_NOMEM;
    rg_status st = rg_filter_feed(f, text, len, out);
    if (!st) st = rg_filter_finish(f, out);
    if (counts) rg_filter_counts(f, counts);
    rg_filter_free(f);
    return st;
}
