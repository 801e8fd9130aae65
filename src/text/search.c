/* search.c - BM25 top-k over the inverted index, with phrases, +must, -not.
 *
 * Term-at-a-time: each query term's postings add its BM25 contribution
 *   idf(t) * qtf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)),
 *   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
 * into a per-document accumulator; required clauses are counted per
 * document and excluded ones flagged; a min-heap keeps the top k.
 * Phrases are checked on positions with a leapfrog intersection.
 *
 * Thread-safety: the index is only read; each search takes a scratch
 * block from the index's free list (under its mutex) and returns it
 * cleaned (only the touched entries are reset). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "text/text.h"
#include "text/text_index_int.h"
#include "text/text_int.h"

/* ---- scratch ---- */

static rg__text_scratch *scratch_get(rg_text_index *ix) {
    pthread_mutex_lock(&ix->mu);
    rg__text_scratch *s = ix->free_scratch;
    if (s) ix->free_scratch = s->next;
    pthread_mutex_unlock(&ix->mu);
    if (s) return s;
    size_t n = ix->ndocs ? ix->ndocs : 1;
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->acc = calloc(n, sizeof *s->acc);
    s->must = calloc(n, sizeof *s->must);
    s->flag = calloc(n, 1);
    s->touched = malloc(n * sizeof *s->touched);
    if (!s->acc || !s->must || !s->flag || !s->touched) {
        free(s->acc);
        free(s->must);
        free(s->flag);
        free(s->touched);
        free(s);
        return NULL;
    }
    return s;
}

static void scratch_put(rg_text_index *ix, rg__text_scratch *s) {
    for (size_t i = 0; i < s->ntouched; i++) {
        uint32_t d = s->touched[i];
        s->acc[d] = 0;
        s->must[d] = 0;
        s->flag[d] = 0;
    }
    s->ntouched = 0;
    pthread_mutex_lock(&ix->mu);
    s->next = ix->free_scratch;
    ix->free_scratch = s;
    pthread_mutex_unlock(&ix->mu);
}

void rg__text_scratch_free_all(rg_text_index *ix) {
    rg__text_scratch *s = ix->free_scratch;
    while (s) {
        rg__text_scratch *n = s->next;
        free(s->acc);
        free(s->must);
        free(s->flag);
        free(s->touched);
        free(s);
        s = n;
    }
    ix->free_scratch = NULL;
}

/* ---- postings cursor (for phrases) ---- */

typedef struct cursor {
    const uint8_t *dp, *dend, *pp, *pend;
    uint32_t doc, tf, ndocs;
    int pending; /* positions of the current doc not yet consumed */
    int done;
} cursor;

static void cur_init(cursor *c, const rg_text_index *ix, uint32_t t) {
    c->dp = ix->blob + ix->doc_off[t];
    c->dend = c->dp + ix->doc_len[t];
    c->pp = ix->blob + ix->pos_off[t];
    c->pend = c->pp + ix->pos_len[t];
    c->doc = 0;
    c->tf = 0;
    c->ndocs = ix->ndocs;
    c->pending = 0;
    c->done = 0;
}

static int cur_next(cursor *c, int first) {
    if (c->pending) {
        uint32_t v;
        for (uint32_t i = 0; i < c->tf; i++)
            if (!rg__varint_get(&c->pp, c->pend, &v)) break;
        c->pending = 0;
    }
    uint32_t delta, tf;
    if (!rg__varint_get(&c->dp, c->dend, &delta) || !rg__varint_get(&c->dp, c->dend, &tf)) {
        c->done = 1;
        return 0;
    }
    uint64_t d = first ? delta : (uint64_t)c->doc + delta;
    if (d >= c->ndocs || tf == 0) {
        c->done = 1;
        return 0;
    }
    c->doc = (uint32_t)d;
    c->tf = tf;
    c->pending = 1;
    return 1;
}

/* A term's documents without their positions: the scoring loops' walk. */
typedef struct {
    const uint8_t *p, *end;
    uint32_t doc, ndocs;
    int first;
} docwalk;

static void dw_init(docwalk *w, const rg_text_index *ix, uint32_t t) {
    w->p = ix->blob + ix->doc_off[t];
    w->end = w->p + ix->doc_len[t];
    w->doc = 0;
    w->ndocs = ix->ndocs;
    w->first = 1;
}

static inline int dw_next(docwalk *w, uint32_t *doc, uint32_t *tf) {
    uint32_t delta;
    if (!rg__varint_get(&w->p, w->end, &delta) || !rg__varint_get(&w->p, w->end, tf)) return 0;
    uint64_t d = w->first ? delta : (uint64_t)w->doc + delta;
    w->first = 0;
    if (d >= w->ndocs) return 0;
    *doc = w->doc = (uint32_t)d;
    return 1;
}

/* Reads the current doc's positions into *buf (grown as needed). */
static int cur_positions(cursor *c, uint32_t **buf, size_t *cap) {
    if (!c->pending) return 0;
    if (c->tf > *cap) {
        uint32_t *nb = realloc(*buf, c->tf * sizeof **buf);
        if (!nb) return -1;
        *buf = nb;
        *cap = c->tf;
    }
    uint32_t p = 0, v;
    for (uint32_t i = 0; i < c->tf; i++) {
        if (!rg__varint_get(&c->pp, c->pend, &v)) {
            c->pending = 0;
            return (int)i;
        }
        p += v;
        (*buf)[i] = p;
    }
    c->pending = 0;
    return (int)c->tf;
}

typedef struct phrase {
    uint32_t *terms; /* term ids */
    uint32_t *rel;   /* positions relative to the first term */
    size_t n;
    rg_text_occur occ;
} phrase;

static int has_pos(const uint32_t *p, int n, uint32_t want) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (p[mid] == want) return 1;
        if (p[mid] < want) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

/* Calls mark(s, doc) for each touched document containing the phrase. */
static rg_status phrase_docs(const rg_text_index *ix, const phrase *ph, rg__text_scratch *s,
                             int must, rg_err *err) {
    cursor *cs = calloc(ph->n, sizeof *cs);
    uint32_t **pos = calloc(ph->n, sizeof *pos);
    size_t *cap = calloc(ph->n, sizeof *cap);
    int *np = calloc(ph->n, sizeof *np);
    rg_status st = RG_OK;
    if (!cs || !pos || !cap || !np) {
        st = rg_failf(err, RG_NOMEM, "search: out of memory (phrase)");
        goto out;
    }
    for (size_t i = 0; i < ph->n; i++) {
        cur_init(&cs[i], ix, ph->terms[i]);
        if (!cur_next(&cs[i], 1)) goto out;
    }
    for (;;) {
        uint32_t target = 0;
        for (size_t i = 0; i < ph->n; i++)
            if (cs[i].doc > target) target = cs[i].doc;
        int all = 1;
        for (size_t i = 0; i < ph->n; i++) {
            while (cs[i].doc < target)
                if (!cur_next(&cs[i], 0)) goto out;
            if (cs[i].doc != target) all = 0;
        }
        if (!all) continue;
        uint32_t d = target;
        if (s->flag[d] & 1) {
            for (size_t i = 0; i < ph->n; i++) {
                np[i] = cur_positions(&cs[i], &pos[i], &cap[i]);
                if (np[i] < 0) {
                    st = rg_failf(err, RG_NOMEM, "search: out of memory (positions)");
                    goto out;
                }
            }
            int found = 0;
            for (int a = 0; a < np[0] && !found; a++) {
                uint32_t base = pos[0][a] - ph->rel[0];
                if (pos[0][a] < ph->rel[0]) continue;
                int ok = 1;
                for (size_t i = 1; i < ph->n && ok; i++)
                    ok = has_pos(pos[i], np[i], base + ph->rel[i]);
                found = ok;
            }
            if (found) {
                if (must) s->must[d]++;
                else s->flag[d] |= 2;
            }
        }
        if (!cur_next(&cs[0], 0)) goto out;
    }
out:
    if (pos)
        for (size_t i = 0; i < ph->n; i++) free(pos[i]);
    free(pos);
    free(cap);
    free(np);
    free(cs);
    return st;
}

/* Proximity: documents where b follows a within RG__PROX_WINDOW positions
 * get w * c (k1 + 1) / (c + k1 norm(d)) added, c = such occurrences of a. */
#define RG__PROX_WINDOW 3
static rg_status pair_score(const rg_text_index *ix, uint32_t ta, uint32_t tb, float w, float nk1,
                            float bk1, rg__text_scratch *s, rg_err *err) {
    cursor ca, cb;
    uint32_t *pa = NULL, *pb = NULL;
    size_t capa = 0, capb = 0;
    cur_init(&ca, ix, ta);
    cur_init(&cb, ix, tb);
    if (!cur_next(&ca, 1) || !cur_next(&cb, 1)) return RG_OK;
    rg_status st = RG_OK;
    for (;;) {
        if (ca.doc < cb.doc) {
            if (!cur_next(&ca, 0)) break;
            continue;
        }
        if (cb.doc < ca.doc) {
            if (!cur_next(&cb, 0)) break;
            continue;
        }
        uint32_t d = ca.doc;
        if (s->flag[d] & 1) {
            int na = cur_positions(&ca, &pa, &capa), nb = cur_positions(&cb, &pb, &capb);
            if (na < 0 || nb < 0) {
                st = rg_failf(err, RG_NOMEM, "search: out of memory (positions)");
                break;
            }
            int cnt = 0, j = 0;
            for (int i = 0; i < na; i++) {
                while (j < nb && pb[j] <= pa[i]) j++;
                if (j < nb && pb[j] - pa[i] <= RG__PROX_WINDOW) cnt++;
            }
            if (cnt) {
                float fc = (float)cnt;
                s->acc[d] += w * fc / (fc + nk1 + bk1 * (float)ix->dl[d]);
            }
        }
        if (!cur_next(&ca, 0) || !cur_next(&cb, 0)) break;
    }
    free(pa);
    free(pb);
    return st;
}

/* ---- query compilation ---- */

typedef struct qterm {
    uint32_t tid;
    float w;   /* query term frequency */
    int must;  /* a required single term */
    int not;   /* an excluded single term */
} qterm;

typedef struct compiled {
    qterm *t;
    size_t nt, cap;
    phrase *ph;
    size_t nph, phcap;
    int impossible; /* a required term is absent from the index */
    int nmust;
    /* tokens of the clause being analysed */
    struct tok {
        uint32_t tid, pos;
        int extra;
    } *tk;
    size_t ntk, tkcap;
    const rg_text_index *ix;
    int oom;
    /* positional terms of optional/required word clauses, in query order
     * (UINT32_MAX breaks the sequence): adjacent pairs get a proximity bonus */
    uint32_t *seq;
    size_t nseq, seqcap;
} compiled;

static int seq_push(compiled *c, uint32_t tid) {
    if (c->nseq >= RG_MAX_QUERY_TERMS * 4) return 1;
    if (c->nseq == c->seqcap) {
        size_t nc = c->seqcap ? c->seqcap * 2 : 32;
        uint32_t *ns = realloc(c->seq, nc * sizeof *ns);
        if (!ns) return 0;
        c->seq = ns;
        c->seqcap = nc;
    }
    c->seq[c->nseq++] = tid;
    return 1;
}

static int clause_tok(void *ud, const char *t, size_t n, uint32_t pos, int extra) {
    compiled *c = ud;
    if (c->ntk >= RG_MAX_QUERY_TERMS * 4) return 1;
    if (c->ntk == c->tkcap) {
        size_t nc = c->tkcap ? c->tkcap * 2 : 32;
        struct tok *nt = realloc(c->tk, nc * sizeof *nt);
        if (!nt) {
            c->oom = 1;
            return 1;
        }
        c->tk = nt;
        c->tkcap = nc;
    }
    c->tk[c->ntk++] = (struct tok){rg__text_index_find(c->ix, t, n), pos, extra};
    return 0;
}

static qterm *add_term(compiled *c, uint32_t tid) {
    for (size_t i = 0; i < c->nt; i++)
        if (c->t[i].tid == tid) return &c->t[i];
    if (c->nt == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        qterm *nt = realloc(c->t, nc * sizeof *nt);
        if (!nt) return NULL;
        c->t = nt;
        c->cap = nc;
    }
    c->t[c->nt] = (qterm){tid, 0, 0, 0};
    return &c->t[c->nt++];
}

static int add_phrase(compiled *c, rg_text_occur occ) {
    size_t n = 0;
    for (size_t i = 0; i < c->ntk; i++) n += !c->tk[i].extra;
    if (n == 0) return 1;
    if (c->nph == c->phcap) {
        size_t nc = c->phcap ? c->phcap * 2 : 4;
        phrase *np = realloc(c->ph, nc * sizeof *np);
        if (!np) return 0;
        c->ph = np;
        c->phcap = nc;
    }
    phrase *p = &c->ph[c->nph];
    p->terms = malloc(n * sizeof *p->terms);
    p->rel = malloc(n * sizeof *p->rel);
    if (!p->terms || !p->rel) {
        free(p->terms);
        free(p->rel);
        return 0;
    }
    p->n = 0;
    p->occ = occ;
    uint32_t base = 0;
    int first = 1;
    for (size_t i = 0; i < c->ntk; i++) {
        if (c->tk[i].extra) continue;
        if (first) base = c->tk[i].pos, first = 0;
        p->terms[p->n] = c->tk[i].tid;
        p->rel[p->n] = c->tk[i].pos - base;
        p->n++;
    }
    c->nph++;
    return 1;
}

static void compiled_free(compiled *c) {
    for (size_t i = 0; i < c->nph; i++) {
        free(c->ph[i].terms);
        free(c->ph[i].rel);
    }
    free(c->ph);
    free(c->t);
    free(c->tk);
    free(c->seq);
}

static rg_status compile(const rg_text_index *ix, const rg_text_analyzer *a, const rg_text_query *q,
                         compiled *c, rg_err *err) {
    memset(c, 0, sizeof *c);
    c->ix = ix;
    for (size_t ci = 0; ci < q->n; ci++) {
        const rg_text_clause *cl = &q->clauses[ci];
        c->ntk = 0;
        rg_status st = rg_text_analyze(a, cl->text, strlen(cl->text), clause_tok, c, NULL, err);
        if (st != RG_OK) return st;
        if (c->oom) return rg_failf(err, RG_NOMEM, "search: out of memory");
        size_t npos = 0, nmissing = 0;
        for (size_t i = 0; i < c->ntk; i++) {
            npos += !c->tk[i].extra;
            if (c->tk[i].tid == UINT32_MAX && !c->tk[i].extra) nmissing++;
        }
        if (npos == 0) continue; /* only stop words / punctuation */
        if (cl->occur == RG_TEXT_MUST_NOT) {
            if (nmissing) continue; /* cannot match anything */
            if (npos == 1 && !cl->phrase) {
                for (size_t i = 0; i < c->ntk; i++) {
                    if (c->tk[i].extra) continue;
                    qterm *t = add_term(c, c->tk[i].tid);
                    if (!t) return rg_failf(err, RG_NOMEM, "search: out of memory");
                    t->not = 1;
                }
            } else if (!add_phrase(c, RG_TEXT_MUST_NOT)) {
                return rg_failf(err, RG_NOMEM, "search: out of memory");
            }
            continue;
        }
        int required = cl->occur == RG_TEXT_MUST || cl->phrase;
        if (required && nmissing) {
            c->impossible = 1;
            continue;
        }
        for (size_t i = 0; i < c->ntk; i++) {
            if (!cl->phrase && !c->tk[i].extra && !seq_push(c, c->tk[i].tid))
                return rg_failf(err, RG_NOMEM, "search: out of memory");
            if (c->tk[i].tid == UINT32_MAX) continue;
            qterm *t = add_term(c, c->tk[i].tid);
            if (!t) return rg_failf(err, RG_NOMEM, "search: out of memory");
            t->w += 1.0f;
        }
        if (required) {
            if (npos == 1) {
                for (size_t i = 0; i < c->ntk; i++) {
                    if (c->tk[i].extra) continue;
                    qterm *t = add_term(c, c->tk[i].tid);
                    if (!t) return rg_failf(err, RG_NOMEM, "search: out of memory");
                    if (!t->must) {
                        t->must = 1;
                        c->nmust++;
                    }
                }
            } else {
                if (!add_phrase(c, RG_TEXT_MUST)) return rg_failf(err, RG_NOMEM, "search: out of memory");
                c->nmust++;
            }
        }
    }
    return RG_OK;
}

/* ---- top-k heap (min-heap on (score, -key)) ---- */

static int worse(const rg_text_hit *a, const rg_text_hit *b) {
    if (a->score != b->score) return a->score < b->score;
    return a->key > b->key;
}

static void heap_push(rg_text_hit *h, size_t *n, size_t k, rg_text_hit x) {
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = x;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!worse(&h[i], &h[p])) break;
            rg_text_hit t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
        return;
    }
    if (!worse(&h[0], &x)) return;
    h[0] = x;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && worse(&h[l], &h[m])) m = l;
        if (r < *n && worse(&h[r], &h[m])) m = r;
        if (m == i) break;
        rg_text_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int cmp_hit(const void *x, const void *y) {
    const rg_text_hit *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->key < b->key ? -1 : a->key > b->key;
}

double rg_text_index_idf(const rg_text_index *ix, const char *term, size_t len) {
    uint32_t t = rg__text_index_find(ix, term, len);
    if (t == UINT32_MAX) return 0;
    double N = ix->ndocs, df = ix->df[t];
    return log(1.0 + (N - df + 0.5) / (df + 0.5));
}

double rg_text_index_idf_max(const rg_text_index *ix) {
    double N = ix->ndocs;
    return log(1.0 + (N + 0.5) / 0.5);
}

rg_status rg_text_search(const rg_text_index *cix, const rg_text_analyzer *a, const char *query,
                         size_t qlen, const rg_text_params *params, size_t k, rg_text_hit *hits,
                         size_t *n, rg_err *err) {
    rg_text_index *ix = (rg_text_index *)cix; /* only the scratch list is written */
    *n = 0;
    if (k > RG_MAX_TOP_K) return rg_failf(err, RG_LIMIT, "search: k %zu above %d", k, RG_MAX_TOP_K);
    if (rg_text_analyzer_signature(a) != ix->sig)
        return rg_failf(err, RG_INVALID, "search: analyzer differs from the one the index was built with");
    double k1 = params && params->k1 > 0 ? params->k1 : RG_TEXT_DEFAULT_K1;
    double b = RG_TEXT_DEFAULT_B;
    if (params && (params->b_set || params->b > 0)) b = params->b;
    if (b < 0) b = 0;
    if (b > 1) b = 1;
    rg_text_query q;
    rg_status st = rg_text_query_parse(query, qlen, &q, err);
    if (st != RG_OK) return st;
    compiled c;
    st = compile(ix, a, &q, &c, err);
    rg_text_query_clear(&q);
    if (st != RG_OK || c.impossible || k == 0 || ix->ndocs == 0) {
        compiled_free(&c);
        return st;
    }
    int any = 0;
    for (size_t i = 0; i < c.nt; i++) any |= c.t[i].w > 0;
    if (!any) {
        compiled_free(&c);
        return RG_OK;
    }
    rg__text_scratch *s = scratch_get(ix);
    if (!s) {
        compiled_free(&c);
        return rg_failf(err, RG_NOMEM, "search: out of memory (%u documents)", ix->ndocs);
    }
    const double N = ix->ndocs, inv_avgdl = 1.0 / ix->avgdl;
    const float nk1 = (float)(k1 * (1 - b)), bk1 = (float)(k1 * b * inv_avgdl);
    /* scoring terms */
    for (size_t i = 0; i < c.nt; i++) {
        qterm *t = &c.t[i];
        if (t->w <= 0) continue;
        double df = ix->df[t->tid];
        float idf = (float)(log(1.0 + (N - df + 0.5) / (df + 0.5)) * t->w * (k1 + 1));
        docwalk w;
        dw_init(&w, ix, t->tid);
        uint32_t doc, tf;
        while (dw_next(&w, &doc, &tf)) {
            float ftf = (float)tf;
            s->acc[doc] += idf * ftf / (ftf + nk1 + bk1 * (float)ix->dl[doc]);
            if (!(s->flag[doc] & 1)) {
                s->flag[doc] |= 1;
                s->touched[s->ntouched++] = doc;
            }
            if (t->must) s->must[doc]++;
        }
    }
    /* excluded single terms */
    for (size_t i = 0; i < c.nt; i++) {
        qterm *t = &c.t[i];
        if (!t->not) continue;
        docwalk w;
        dw_init(&w, ix, t->tid);
        uint32_t doc, tf;
        while (dw_next(&w, &doc, &tf))
            if (s->flag[doc] & 1) s->flag[doc] |= 2;
    }
    /* proximity of adjacent query words (each pair once) */
    float prox = params && params->prox_set ? params->prox : 0.0f;
    for (size_t i = 0; prox > 0 && i + 1 < c.nseq && st == RG_OK; i++) {
        uint32_t ta = c.seq[i], tb = c.seq[i + 1];
        if (ta == UINT32_MAX || tb == UINT32_MAX || ta == tb) continue;
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++) dup = c.seq[j] == ta && c.seq[j + 1] == tb;
        if (dup) continue;
        double dfa = ix->df[ta], dfb = ix->df[tb];
        double idf = 0.5 * (log(1.0 + (N - dfa + 0.5) / (dfa + 0.5)) + log(1.0 + (N - dfb + 0.5) / (dfb + 0.5)));
        st = pair_score(ix, ta, tb, (float)(prox * idf * (k1 + 1)), nk1, bk1, s, err);
    }
    for (size_t i = 0; i < c.nph && st == RG_OK; i++)
        st = phrase_docs(ix, &c.ph[i], s, c.ph[i].occ == RG_TEXT_MUST, err);
    if (st == RG_OK) {
        size_t nh = 0;
        uint16_t need = (uint16_t)c.nmust;
        for (size_t i = 0; i < s->ntouched; i++) {
            uint32_t d = s->touched[i];
            if ((s->flag[d] & 2) || s->must[d] < need) continue;
            /* most documents lose to the heap's worst at once: skip the call
             * (ties still go through heap_push, which breaks them by key) */
            if (nh == k && s->acc[d] < hits[0].score) continue;
            heap_push(hits, &nh, k, (rg_text_hit){ix->keys[d], s->acc[d]});
        }
        qsort(hits, nh, sizeof *hits, cmp_hit);
        *n = nh;
    }
    scratch_put(ix, s);
    compiled_free(&c);
    return st;
}
