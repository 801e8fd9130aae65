/* rag.c - a collection's BM25 index kept in step with the store, ranked
 * retrieval, reciprocal-rank fusion and the LLM prompt.
 *
 * Invariant: r->ix was built from the store at generation r->gen with
 * r->a; it is replaced (never mutated) under r->lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/file.h"
#include "core/limits.h"
#include "core/log.h"
#include "index/index.h"
#include "rag/rag.h"
#include "rag/rag_int.h"

struct rg_rag {
    rg_store *s;
    char *dir;
    int64_t cid;
    int64_t gen;
    rg_rag_opts o;
    rg_text_analyzer *a;
    rg_text_index *ix;
    pthread_rwlock_t lock;
    /* vector retrieval (rg_rag_use_vectors): vix built from the vectors at
     * generation vgen, replaced under lock; emb calls serialised by *emu
     * (emb_mu unless rg_rag_set_embed_lock gave a lock shared with others) */
    rg_embedder *emb;
    char *vmodel;
    rg_index *vix;
    size_t vunsaved; /* graph nodes changed since the graph file was written */
    int64_t vgen;
    rg_rag_mode_opts mo;
    pthread_mutex_t emb_mu;
    pthread_mutex_t *emu;
};

static rg_status vec_reload(rg_rag *r, size_t *n_embedded, rg_err *err);

typedef struct build_ctx {
    rg_text_builder *b;
    int headings;
    rg_buf tmp;
    rg_err *err;
    rg_status st;
} build_ctx;

static int build_chunk(void *ud, const rg_store_chunk *c) {
    build_ctx *bc = ud;
    const char *t = c->text;
    size_t n = c->text_len;
    if (bc->headings && c->heading && c->heading[0]) {
        rg_buf_reset(&bc->tmp);
        /* the heading is repeated: its words weigh like a boosted title field */
        rg_status s2 = RG_OK;
        for (int i = 0; i < bc->headings && s2 == RG_OK; i++) {
            s2 = rg_buf_puts(&bc->tmp, c->heading);
            if (s2 == RG_OK) s2 = rg_buf_putc(&bc->tmp, '\n');
        }
        if (s2 != RG_OK || rg_buf_append(&bc->tmp, c->text, c->text_len) != RG_OK) {
            bc->st = rg_failf(bc->err, RG_NOMEM, "rag: out of memory indexing chunk %lld",
                              (long long)c->id);
            return 1;
        }
        t = bc->tmp.data;
        n = bc->tmp.len;
    }
    bc->st = rg_text_builder_add(bc->b, c->id, t, n, bc->err);
    return bc->st != RG_OK;
}

static void index_path(const rg_rag *r, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/bm25-%lld.idx", r->dir, RG_RAG_INDEX_DIR, (long long)r->cid);
}

/* Builds from the store at its current generation; swaps it in. */
static rg_status rebuild(rg_rag *r, int64_t gen, rg_err *err) {
    rg_text_builder *b;
    rg_status st = rg_text_builder_new(r->a, &b, err);
    if (st != RG_OK) return st;
    int hw = r->o.heading_weight > 0 ? r->o.heading_weight : RG_RAG_HEADING_WEIGHT;
    build_ctx bc = {b, r->o.no_headings ? 0 : hw, {0}, err, RG_OK};
    rg_buf_init(&bc.tmp, 0);
    /* the generation is read before the scan: a concurrent write makes the
     * index look stale (rebuilt again), never fresh when it is not */
    st = rg_store_chunks_foreach(r->s, r->cid, 0, build_chunk, &bc, err);
    rg_buf_free(&bc.tmp);
    if (st == RG_OK) st = bc.st;
    if (st != RG_OK) {
        rg_text_builder_free(b);
        return st;
    }
    rg_text_index *ix;
    st = rg_text_builder_finish(b, &ix, err);
    if (st != RG_OK) return st;
    if (!r->o.no_persist) {
        char path[4096], d[4096];
        snprintf(d, sizeof d, "%s/%s", r->dir, RG_RAG_INDEX_DIR);
        index_path(r, path, sizeof path);
        rg_err e2;
        rg_err_clear(&e2);
        if (rg_mkdirs(d, &e2) != RG_OK || rg_text_index_save(ix, path, gen, &e2) != RG_OK)
            rg_warn("rag: cannot save the BM25 index (%s); it will be rebuilt next time",
                    rg_err_text(&e2));
    }
    pthread_rwlock_wrlock(&r->lock);
    rg_text_index *old = r->ix;
    r->ix = ix;
    r->gen = gen;
    pthread_rwlock_unlock(&r->lock);
    rg_text_index_free(old);
    return RG_OK;
}

rg_status rg_rag_refresh(rg_rag *r, int *rebuilt, rg_err *err) {
    if (rebuilt) *rebuilt = 0;
    int64_t gen;
    rg_status st = rg_store_generation(r->s, r->cid, &gen, err);
    if (st != RG_OK) return st;
    if (r->ix && gen == r->gen) return RG_OK;
    if (!r->ix && !r->o.no_persist) {
        char path[4096];
        index_path(r, path, sizeof path);
        rg_text_index *ix = NULL;
        int64_t fgen = -1;
        rg_err e2;
        rg_err_clear(&e2);
        if (rg_text_index_load(path, &ix, &fgen, &e2) == RG_OK) {
            if (fgen == gen && rg_text_index_signature(ix) == rg_text_analyzer_signature(r->a)) {
                r->ix = ix;
                r->gen = gen;
                return RG_OK;
            }
            rg_text_index_free(ix);
        } else if (e2.code != RG_NOTFOUND && e2.code != RG_IO) {
            rg_warn("rag: %s; rebuilding", rg_err_text(&e2));
        }
    }
    st = rebuild(r, gen, err);
    if (st == RG_OK && rebuilt) *rebuilt = 1;
    if (st == RG_OK && r->emb && r->vgen != gen) st = vec_reload(r, NULL, err);
    return st;
}

rg_status rg_rag_open(rg_store *s, const char *data_dir, const char *name, const rg_rag_opts *opts,
                      rg_rag **out, int *rebuilt, rg_err *err) {
    rg_store_collection c;
    rg_status st = rg_store_collection_get(s, name, &c, err);
    if (st != RG_OK) return st;
    rg_rag *r = calloc(1, sizeof *r);
    if (!r) {
        rg_store_collection_clear(&c);
        return rg_failf(err, RG_NOMEM, "rag: out of memory");
    }
    r->s = s;
    r->cid = c.id;
    r->gen = -1;
    rg_store_collection_clear(&c);
    if (opts) r->o = *opts;
    r->dir = strdup(data_dir ? data_dir : ".");
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->emb_mu, NULL);
    r->emu = &r->emb_mu;
    r->vgen = -1;
    if (!r->dir) {
        rg_rag_close(r);
        return rg_failf(err, RG_NOMEM, "rag: out of memory");
    }
    st = rg_text_analyzer_new(&r->o.text, &r->a, err);
    if (st == RG_OK) st = rg_rag_refresh(r, rebuilt, err);
    if (st != RG_OK) {
        rg_rag_close(r);
        return st;
    }
    *out = r;
    return RG_OK;
}

void rg_rag_close(rg_rag *r) {
    if (!r) return;
    rg_text_index_free(r->ix);
    rg_text_analyzer_free(r->a);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->emb_mu);
    /* nodes appended since the graph was last written: save them, so the
     * next open loads instead of replaying */
    if (r->vix && r->vunsaved && !r->o.no_persist) rg__rag_vec_index_save(r->dir, r->cid, r->vix);
    rg_index_free(r->vix);
    free(r->vmodel);
    free(r->dir);
    free(r);
}

int64_t rg_rag_collection_id(const rg_rag *r) { return r->cid; }
size_t rg_rag_chunks(const rg_rag *r) { return r->ix ? rg_text_index_docs(r->ix) : 0; }

/* internal: for answer.c */
const rg_text_index *rg__rag_index_rdlock(rg_rag *r, const rg_text_analyzer **a) {
    pthread_rwlock_rdlock(&r->lock);
    *a = r->a;
    return r->ix;
}
void rg__rag_unlock(rg_rag *r) { pthread_rwlock_unlock(&r->lock); }
rg_store *rg__rag_store(rg_rag *r) { return r->s; }

static void hit_clear(rg_rag_hit *h) {
    free(h->source);
    free(h->heading);
    free(h->text);
}

void rg_rag_results_clear(rg_rag_results *res) {
    for (size_t i = 0; i < res->n; i++) hit_clear(&res->hits[i]);
    free(res->hits);
    res->hits = NULL;
    res->n = 0;
}

static char *dup0(const char *s) { return strdup(s ? s : ""); }

static rg_status fetch_hit(rg_rag_hit *h, const rg_store_chunk *c, rg_err *err) {
    h->doc_id = c->doc_id;
    h->source = dup0(c->source);
    h->heading = dup0(c->heading);
    h->text = malloc(c->text_len + 1);
    if (h->text) {
        memcpy(h->text, c->text, c->text_len);
        h->text[c->text_len] = 0;
    }
    h->text_len = c->text_len;
    h->page = c->page;
    h->start = c->start;
    h->end = c->end;
    if (!h->source || !h->heading || !h->text) return rg_failf(err, RG_NOMEM, "rag: out of memory");
    return RG_OK;
}

/* Texts and provenance of all hits, in one store read transaction; on
 * failure the results are cleared. */
static rg_status fetch_hits(rg_store *s, rg_rag_results *out, rg_err *err) {
    if (out->n == 0) return RG_OK;
    int64_t *ids = malloc(out->n * sizeof *ids);
    rg_store_chunk *cs = malloc(out->n * sizeof *cs);
    rg_status st = ids && cs ? RG_OK : rg_failf(err, RG_NOMEM, "rag: out of memory");
    for (size_t i = 0; st == RG_OK && i < out->n; i++) ids[i] = out->hits[i].chunk_id;
    if (st == RG_OK) st = rg_store_chunks_get(s, ids, out->n, cs, err);
    if (st == RG_OK) {
        for (size_t i = 0; i < out->n; i++) {
            if (st == RG_OK) st = fetch_hit(&out->hits[i], &cs[i], err);
            rg_store_chunk_clear(&cs[i]);
        }
    }
    free(ids);
    free(cs);
    if (st != RG_OK) rg_rag_results_clear(out);
    return st;
}

static rg_status bm25_retrieve(rg_rag *r, const char *query, size_t k, int fetch,
                               rg_rag_results *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    if (k == 0) return RG_OK;
    if (k > RG_MAX_TOP_K) k = RG_MAX_TOP_K;
    rg_text_hit *th = malloc(k * sizeof *th);
    if (!th) return rg_failf(err, RG_NOMEM, "rag: out of memory");
    size_t n = 0;
    pthread_rwlock_rdlock(&r->lock);
    rg_status st = rg_text_search(r->ix, r->a, query, strlen(query), &r->o.bm25, k, th, &n, err);
    pthread_rwlock_unlock(&r->lock);
    if (st != RG_OK) {
        free(th);
        return st;
    }
    out->hits = calloc(n ? n : 1, sizeof *out->hits);
    if (!out->hits) {
        free(th);
        return rg_failf(err, RG_NOMEM, "rag: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        out->hits[i].chunk_id = th[i].key;
        out->hits[i].score = th[i].score;
    }
    out->n = n;
    free(th);
    return fetch ? fetch_hits(r->s, out, err) : RG_OK;
}

/* Syncs the collection's vectors (an append when documents were only
 * added) and brings their index up to date: an exact flat scan for small
 * collections, else the HNSW graph, caught up with the log in place
 * (searches keep running beside the inserts) or loaded/built when it
 * cannot be (see rg_rag_vec_index_update). */
static rg_status vec_reload(rg_rag *r, size_t *n_embedded, rg_err *err) {
    rg_rag_vectors v;
    pthread_mutex_lock(r->emu);
    rg_status st = rg_rag_vectors_sync(r->s, r->dir, r->cid, r->emb, r->vmodel, &v, n_embedded, err);
    pthread_mutex_unlock(r->emu);
    if (st != RG_OK) return st;
    rg_index *ix = r->vix;
    int how = 0;
    double t0 = rg_now_s();
    st = rg_rag_vec_index_update(r->dir, r->cid, &v, r->o.hnsw_min, r->o.no_persist,
                                 RG_RAG_HNSW_SAVE_MIN, &ix, &r->vunsaved, &how, err);
    if (st == RG_OK && how == RG_RAG_VIX_BUILT && v.n >= (r->o.hnsw_min ? r->o.hnsw_min : RG_RAG_HNSW_MIN))
        rg_info("rag: built the HNSW graph of %zu vectors in %.1f s", v.n, rg_now_s() - t0);
    int64_t gen = v.generation;
    rg_rag_vectors_clear(&v);
    if (st != RG_OK) return st;
    pthread_rwlock_wrlock(&r->lock);
    rg_index *old = r->vix;
    r->vix = ix;
    r->vgen = gen;
    pthread_rwlock_unlock(&r->lock);
    if (old != ix) rg_index_free(old);
    return RG_OK;
}

rg_status rg_rag_use_vectors(rg_rag *r, rg_embedder *e, const char *model,
                             const rg_rag_mode_opts *mo, size_t *n_embedded, rg_err *err) {
    if (n_embedded) *n_embedded = 0;
    rg_rag_mode_opts m = {0};
    if (mo) m = *mo;
    if (m.bm25_weight == 0 && m.vector_weight == 0) m.bm25_weight = m.vector_weight = 1;
    if (m.bm25_weight < 0 || m.vector_weight < 0)
        return rg_failf(err, RG_INVALID, "rag: fusion weights must be >= 0");
    if (!e) {
        if (m.mode != RG_RAG_BM25)
            return rg_failf(err, RG_INVALID, "rag: vector and hybrid search need an embedding model");
        r->mo = m;
        return RG_OK;
    }
    char *mc = strdup(model ? model : "");
    if (!mc) return rg_failf(err, RG_NOMEM, "rag: out of memory");
    free(r->vmodel);
    r->vmodel = mc;
    r->emb = e;
    r->mo = m;
    return vec_reload(r, n_embedded, err);
}

rg_rag_mode rg_rag_get_mode(const rg_rag *r) { return r->mo.mode; }
int rg_rag_has_vectors(const rg_rag *r) { return r->emb != NULL; }
void rg_rag_set_embed_lock(rg_rag *r, pthread_mutex_t *mu) { r->emu = mu ? mu : &r->emb_mu; }

static rg_status vector_retrieve(rg_rag *r, const char *query, size_t k, rg_rag_results *out,
                                 rg_err *err) {
    memset(out, 0, sizeof *out);
    int dim = rg_embed_dim(r->emb);
    float *q = malloc((size_t)dim * sizeof *q);
    rg_index_hit *h = malloc(k * sizeof *h);
    if (!q || !h) {
        free(q);
        free(h);
        return rg_failf(err, RG_NOMEM, "rag: out of memory");
    }
    size_t ql = strlen(query);
    pthread_mutex_lock(r->emu);
    rg_status st = rg_embed_texts(r->emb, &query, &ql, 1, 1, q, err);
    pthread_mutex_unlock(r->emu);
    int n = 0;
    if (st == RG_OK) {
        pthread_rwlock_rdlock(&r->lock);
        /* flat indexes scan exactly; HNSW walks with the retrieval beam */
        int ef = r->o.hnsw_ef > 0 ? r->o.hnsw_ef : RG_RAG_HNSW_EF;
        st = r->vix ? rg_index_search(r->vix, q, (int)k, ef, NULL, h, &n, err)
                    : rg_failf(err, RG_INVALID, "rag: no vector index");
        pthread_rwlock_unlock(&r->lock);
    }
    free(q);
    if (st == RG_OK) {
        out->hits = calloc(n ? (size_t)n : 1, sizeof *out->hits);
        if (!out->hits) st = rg_failf(err, RG_NOMEM, "rag: out of memory");
    }
    for (int i = 0; st == RG_OK && i < n; i++) {
        out->hits[i].chunk_id = (int64_t)h[i].id;
        out->hits[i].score = 1.0 - (double)h[i].dist; /* cosine similarity */
    }
    if (st == RG_OK) out->n = (size_t)n;
    free(h);
    return st;
}

rg_status rg_rag_retrieve(rg_rag *r, const char *query, size_t k, int fetch, rg_rag_results *out,
                          rg_err *err) {
    return rg_rag_retrieve_mode(r, query, k, fetch, r->emb ? r->mo.mode : RG_RAG_BM25, out, err);
}

rg_status rg_rag_retrieve_mode(rg_rag *r, const char *query, size_t k, int fetch, rg_rag_mode mode,
                               rg_rag_results *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    if (k == 0) return RG_OK;
    if (k > RG_MAX_TOP_K) k = RG_MAX_TOP_K;
    if (mode != RG_RAG_BM25 && !r->emb)
        return rg_failf(err, RG_INVALID, "rag: vector and hybrid search need an embedding model");
    if (mode == RG_RAG_BM25) return bm25_retrieve(r, query, k, fetch, out, err);
    rg_status st;
    if (mode == RG_RAG_VECTOR) {
        st = vector_retrieve(r, query, k, out, err);
    } else {
        /* hybrid: the top k of each list, fused by weighted RRF */
        rg_rag_results l[2];
        st = bm25_retrieve(r, query, k, 0, &l[0], err);
        if (st != RG_OK) return st;
        st = vector_retrieve(r, query, k, &l[1], err);
        if (st != RG_OK) {
            rg_rag_results_clear(&l[0]);
            return st;
        }
        double w[2] = {r->mo.bm25_weight, r->mo.vector_weight};
        st = rg_rag_fuse_rrf_weighted(l, w, 2, r->mo.rrf_k, k, out, err);
        rg_rag_results_clear(&l[0]);
        rg_rag_results_clear(&l[1]);
    }
    if (st != RG_OK) return st;
    return fetch ? fetch_hits(r->s, out, err) : RG_OK;
}


rg_status rg_rag_fuse_rrf(const rg_rag_results *lists, size_t nlists, double k_rrf, size_t k,
                          rg_rag_results *out, rg_err *err) {
    return rg_rag_fuse_rrf_weighted(lists, NULL, nlists, k_rrf, k, out, err);
}

rg_status rg_rag_prompt_build(const char *question, const rg_rag_results *ctx, rg_buf *out,
                              rg_err *err) {
    rg_status st = rg_buf_puts(out,
                               "Answer the question using only the numbered sources below. "
                               "Cite every statement with its source number in brackets, like [1]. "
                               "If the sources do not contain the answer, say that you do not "
                               "know.\n\n<sources>\n");
    for (size_t i = 0; st == RG_OK && i < ctx->n; i++) {
        const rg_rag_hit *h = &ctx->hits[i];
        st = rg_buf_printf(out, "[%zu] %s", i + 1, h->source ? h->source : "?");
        if (st == RG_OK && h->page > 0) st = rg_buf_printf(out, ", page %d", h->page);
        if (st == RG_OK && h->heading && h->heading[0]) st = rg_buf_printf(out, ", %s", h->heading);
        if (st == RG_OK) st = rg_buf_putc(out, '\n');
        if (st == RG_OK && h->text) st = rg_buf_append(out, h->text, h->text_len);
        if (st == RG_OK) st = rg_buf_puts(out, "\n\n");
    }
    if (st == RG_OK) st = rg_buf_printf(out, "</sources>\n\nQuestion: %s\nAnswer:", question);
    if (st != RG_OK) return rg_failf(err, st, "rag: prompt too large");
    return RG_OK;
}
