/* vec.c - chunk embeddings of a collection and the vector retriever.
 *
 * Embeddings live in DIR/index/vec-<collection id>.vec, written atomically:
 *   "RGVEC\0\0\1" u32 version u32 dim i64 generation u64 n u32 model_len
 *   model[model_len] i64 ids[n] f32 vecs[n*dim] u64 hash64(all before)
 * little endian (the host's; the file is local derived data).  The file
 * records the store generation and the embedding model it was built with.
 * Invariant: a chunk id's text never changes (replacements get new ids,
 * ids are never reused), so a sync keeps every stored vector whose chunk
 * still exists and embeds only chunks without one. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "rag/rag.h"
#include "rag/rag_int.h"

#define VEC_MAGIC "RGVEC\0\0\1"
#define VEC_VERSION 1u
#define VEC_MAX_FILE ((size_t)8 << 30)
#define VEC_BATCH 32

void rg__rag_vec_path(const char *dir, int64_t cid, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/vec-%lld.vec", dir, RG_RAG_INDEX_DIR, (long long)cid);
}

void rg_rag_vectors_clear(rg_rag_vectors *v) {
    free(v->ids);
    free(v->vecs);
    free(v->model);
    memset(v, 0, sizeof *v);
}

rg_status rg_rag_vectors_parse(const void *buf, size_t len, rg_rag_vectors *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *p = buf;
    size_t hdr = 8 + 4 + 4 + 8 + 8 + 4;
    if (len < hdr + 8) return rg_failf(err, RG_FORMAT, "vectors: file of %zu bytes is too short", len);
    if (memcmp(p, VEC_MAGIC, 8) != 0) return rg_failf(err, RG_FORMAT, "vectors: bad magic at offset 0");
    uint32_t ver, dim, mlen;
    int64_t gen;
    uint64_t n;
    memcpy(&ver, p + 8, 4);
    memcpy(&dim, p + 12, 4);
    memcpy(&gen, p + 16, 8);
    memcpy(&n, p + 24, 8);
    memcpy(&mlen, p + 32, 4);
    if (ver != VEC_VERSION)
        return rg_failf(err, RG_UNSUPPORTED, "vectors: version %u at offset 8 (expected %u)", ver, VEC_VERSION);
    if (dim == 0 || dim > RG_INDEX_MAX_DIM)
        return rg_failf(err, RG_FORMAT, "vectors: dim %u at offset 12 out of range", dim);
    if (mlen > 4096) return rg_failf(err, RG_FORMAT, "vectors: model name length %u at offset 32", mlen);
    size_t rest = len - hdr - 8;
    if (mlen > rest) return rg_failf(err, RG_FORMAT, "vectors: model name past end of file");
    rest -= mlen;
    size_t row = 8 + (size_t)dim * 4;
    if (n > rest / row || n * row != rest)
        return rg_failf(err, RG_FORMAT, "vectors: %llu rows of dim %u do not fit %zu bytes",
                        (unsigned long long)n, dim, rest);
    uint64_t h;
    memcpy(&h, p + len - 8, 8);
    if (h != rg_hash64(p, len - 8, 0))
        return rg_failf(err, RG_FORMAT, "vectors: checksum mismatch at offset %zu", len - 8);
    out->dim = (int)dim;
    out->generation = gen;
    out->n = (size_t)n;
    out->model = malloc(mlen + 1);
    out->ids = malloc(n ? n * 8 : 1);
    out->vecs = malloc(n ? n * dim * 4 : 1);
    if (!out->model || !out->ids || !out->vecs) {
        rg_rag_vectors_clear(out);
        return rg_failf(err, RG_NOMEM, "vectors: out of memory");
    }
    memcpy(out->model, p + hdr, mlen);
    out->model[mlen] = 0;
    memcpy(out->ids, p + hdr + mlen, n * 8);
    memcpy(out->vecs, p + hdr + mlen + n * 8, n * dim * 4);
    for (size_t i = 1; i < n; i++)
        if (out->ids[i] <= out->ids[i - 1]) {
            rg_rag_vectors_clear(out);
            return rg_failf(err, RG_FORMAT, "vectors: ids not ascending at row %zu", i);
        }
    return RG_OK;
}

rg_status rg_rag_vectors_load(const char *data_dir, int64_t cid, rg_rag_vectors *out, rg_err *err) {
    char path[4096];
    rg__rag_vec_path(data_dir, cid, path, sizeof path);
    char *d = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    rg_status st = rg_file_read(path, VEC_MAX_FILE, &d, &len, err);
    if (st != RG_OK) return st;
    st = rg_rag_vectors_parse(d, len, out, err);
    free(d);
    if (st != RG_OK) rg_err_prefix(err, "%s", path);
    return st;
}

static rg_status vec_save(const char *data_dir, int64_t cid, const rg_rag_vectors *v, rg_err *err) {
    char path[4096], dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, RG_RAG_INDEX_DIR);
    rg__rag_vec_path(data_dir, cid, path, sizeof path);
    rg_status st = rg_mkdirs(dir, err);
    if (st != RG_OK) return st;
    uint32_t mlen = (uint32_t)strlen(v->model), ver = VEC_VERSION, dim = (uint32_t)v->dim;
    uint64_t n = v->n;
    size_t len = 36 + mlen + v->n * 8 + v->n * (size_t)v->dim * 4 + 8;
    unsigned char *b = malloc(len), *p = b;
    if (!b) return rg_failf(err, RG_NOMEM, "vectors: out of memory");
    memcpy(p, VEC_MAGIC, 8);
    memcpy(p + 8, &ver, 4);
    memcpy(p + 12, &dim, 4);
    memcpy(p + 16, &v->generation, 8);
    memcpy(p + 24, &n, 8);
    memcpy(p + 32, &mlen, 4);
    p += 36;
    memcpy(p, v->model, mlen);
    p += mlen;
    if (v->n) {
        memcpy(p, v->ids, v->n * 8);
        p += v->n * 8;
        memcpy(p, v->vecs, v->n * (size_t)v->dim * 4);
        p += v->n * (size_t)v->dim * 4;
    }
    uint64_t h = rg_hash64(b, len - 8, 0);
    memcpy(p, &h, 8);
    st = rg_file_write_atomic(path, b, len, err);
    free(b);
    return st;
}

/* ---- the vector index: flat, or HNSW persisted per collection ---- */

static void hnsw_path(const char *dir, int64_t cid, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/hnsw-%lld.idx", dir, RG_RAG_INDEX_DIR, (long long)cid);
}

/* What a graph was built from: ids, vectors, dim and model name. */
static uint64_t vectors_hash(const rg_rag_vectors *v) {
    uint64_t h = rg_hash64(v->model ? v->model : "", v->model ? strlen(v->model) : 0, (uint64_t)v->dim);
    if (v->n) {
        h = rg_hash64(v->ids, v->n * sizeof *v->ids, h);
        h = rg_hash64(v->vecs, v->n * (size_t)v->dim * sizeof *v->vecs, h);
    }
    return h ? h : 1; /* 0 is "no tag" */
}

rg_status rg_rag_vec_index(const char *data_dir, int64_t cid, const rg_rag_vectors *v,
                           size_t hnsw_min, int no_persist, rg_index **out, int *built,
                           rg_err *err) {
    *out = NULL;
    if (built) *built = 0;
    if (!hnsw_min) hnsw_min = RG_RAG_HNSW_MIN;
    rg_index_params p;
    rg_index_params_default(&p);
    p.metric = RG_INDEX_IP; /* vectors are L2-normalised: IP = cosine */
    p.dim = v->dim;
    p.kind = v->n >= hnsw_min ? RG_INDEX_HNSW : RG_INDEX_FLAT;
    p.ef_search = RG_RAG_HNSW_EF;
    char path[4096];
    hnsw_path(data_dir, cid, path, sizeof path);
    if (p.kind == RG_INDEX_HNSW) {
        p.tag = vectors_hash(v);
        rg_index *ix = NULL;
        rg_err e2;
        rg_err_clear(&e2);
        if (rg_index_load(path, &ix, &e2) == RG_OK) {
            rg_index_params lp;
            rg_index_get_params(ix, &lp);
            if (lp.tag == p.tag && lp.kind == RG_INDEX_HNSW && lp.dim == v->dim &&
                rg_index_count(ix) == v->n) {
                *out = ix;
                return RG_OK;
            }
            rg_index_free(ix);
        } else if (e2.code != RG_NOTFOUND && e2.code != RG_IO) {
            rg_warn("rag: %s; rebuilding the vector graph", rg_err_text(&e2));
        }
    }
    rg_index *ix = NULL;
    rg_status st = rg_index_new(&p, &ix, err);
    if (st == RG_OK && v->n) {
        uint64_t *ids = malloc(v->n * sizeof *ids);
        if (!ids) st = rg_failf(err, RG_NOMEM, "rag: out of memory");
        for (size_t i = 0; st == RG_OK && i < v->n; i++) ids[i] = (uint64_t)v->ids[i];
        /* flat: a copy, one thread is plenty; HNSW: every CPU */
        if (st == RG_OK)
            st = rg_index_add_batch(ix, v->n, ids, v->vecs, p.kind == RG_INDEX_HNSW ? 0 : 1, err);
        free(ids);
    }
    if (st == RG_OK && p.kind == RG_INDEX_HNSW) {
        if (built) *built = 1;
        if (!no_persist) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/%s", data_dir, RG_RAG_INDEX_DIR);
            rg_err e2;
            rg_err_clear(&e2);
            /* derived data: a failed save costs a rebuild next time, not the query */
            if (rg_mkdirs(dir, &e2) != RG_OK || rg_index_save(ix, path, &e2) != RG_OK)
                rg_warn("rag: %s", rg_err_text(&e2));
        }
    }
    if (st != RG_OK) {
        rg_index_free(ix);
        return st;
    }
    *out = ix;
    return RG_OK;
}

typedef struct sync_ctx {
    const rg_rag_vectors *old;
    rg_rag_vectors *nv;
    size_t cap;
    /* chunks waiting to be embedded: rows of nv whose vector is pending */
    char **texts;
    size_t *lens, *rows;
    int npend;
    rg_embedder *e;
    size_t embedded;
    rg_err *err;
    rg_status st;
} sync_ctx;

static rg_status flush_pending(sync_ctx *c) {
    if (!c->npend) return RG_OK;
    int dim = c->nv->dim;
    float *tmp = malloc((size_t)c->npend * dim * sizeof *tmp);
    if (!tmp) return rg_failf(c->err, RG_NOMEM, "vectors: out of memory");
    rg_status st = rg_embed_texts(c->e, (const char *const *)c->texts, c->lens, c->npend, 1, tmp, c->err);
    if (st == RG_OK)
        for (int i = 0; i < c->npend; i++)
            memcpy(c->nv->vecs + c->rows[i] * dim, tmp + (size_t)i * dim, dim * sizeof *tmp);
    free(tmp);
    for (int i = 0; i < c->npend; i++) free(c->texts[i]);
    c->embedded += (size_t)c->npend;
    c->npend = 0;
    return st;
}

static int sync_chunk(void *ud, const rg_store_chunk *ch) {
    sync_ctx *c = ud;
    rg_rag_vectors *nv = c->nv;
    size_t dim = (size_t)nv->dim;
    if (nv->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        int64_t *ni = realloc(nv->ids, ncap * sizeof *ni);
        if (ni) nv->ids = ni;
        float *nf = ni ? realloc(nv->vecs, ncap * dim * sizeof *nf) : NULL;
        if (!nf) {
            c->st = rg_failf(c->err, RG_NOMEM, "vectors: out of memory");
            return 1;
        }
        nv->vecs = nf;
        c->cap = ncap;
    }
    size_t row = nv->n++;
    nv->ids[row] = ch->id;
    /* binary search in the old (ascending) ids */
    const rg_rag_vectors *o = c->old;
    size_t lo = 0, hi = o ? o->n : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o->ids[mid] < ch->id) lo = mid + 1;
        else hi = mid;
    }
    if (o && lo < o->n && o->ids[lo] == ch->id) {
        memcpy(nv->vecs + row * dim, o->vecs + lo * dim, dim * sizeof(float));
        return 0;
    }
    /* the heading gives short chunks their context, as BM25 indexing does */
    size_t hl = ch->heading && ch->heading[0] ? strlen(ch->heading) + 1 : 0;
    char *t = malloc(hl + ch->text_len + 1);
    if (!t) {
        c->st = rg_failf(c->err, RG_NOMEM, "vectors: out of memory");
        return 1;
    }
    if (hl) {
        memcpy(t, ch->heading, hl - 1);
        t[hl - 1] = '\n';
    }
    memcpy(t + hl, ch->text, ch->text_len);
    t[hl + ch->text_len] = 0;
    c->texts[c->npend] = t;
    c->lens[c->npend] = hl + ch->text_len;
    c->rows[c->npend] = row;
    c->npend++;
    if (c->npend == VEC_BATCH) {
        c->st = flush_pending(c);
        if (c->st != RG_OK) return 1;
    }
    return 0;
}

rg_status rg_rag_vectors_sync(rg_store *s, const char *data_dir, int64_t cid, rg_embedder *e,
                              const char *model, rg_rag_vectors *out, size_t *n_embedded,
                              rg_err *err) {
    if (n_embedded) *n_embedded = 0;
    memset(out, 0, sizeof *out);
    int64_t gen;
    rg_status st = rg_store_generation(s, cid, &gen, err);
    if (st != RG_OK) return st;
    int dim = rg_embed_dim(e);
    rg_rag_vectors old;
    rg_err e2;
    rg_err_clear(&e2);
    int have_old = rg_rag_vectors_load(data_dir, cid, &old, &e2) == RG_OK;
    if (!have_old && e2.code != RG_NOTFOUND && e2.code != RG_IO)
        rg_warn("rag: %s; re-embedding every chunk", rg_err_text(&e2));
    if (have_old && (old.dim != dim || strcmp(old.model, model) != 0)) {
        rg_rag_vectors_clear(&old);
        have_old = 0;
    }
    if (have_old && old.generation == gen) {
        *out = old;
        return RG_OK;
    }
    char *texts[VEC_BATCH];
    size_t lens[VEC_BATCH], rows[VEC_BATCH];
    out->dim = dim;
    out->generation = gen; /* read before the scan: a concurrent write makes it look stale */
    out->model = strdup(model);
    if (!out->model) st = rg_failf(err, RG_NOMEM, "vectors: out of memory");
    sync_ctx c = {have_old ? &old : NULL, out, 0, texts, lens, rows, 0, e, 0, err, RG_OK};
    if (st == RG_OK) st = rg_store_chunks_foreach(s, cid, 0, sync_chunk, &c, err);
    if (st == RG_OK) st = c.st;
    if (st == RG_OK) st = flush_pending(&c);
    for (int i = 0; i < c.npend; i++) free(texts[i]);
    if (have_old) rg_rag_vectors_clear(&old);
    if (st == RG_OK) st = vec_save(data_dir, cid, out, err);
    if (st != RG_OK) {
        rg_rag_vectors_clear(out);
        return st;
    }
    if (n_embedded) *n_embedded = c.embedded;
    return RG_OK;
}

/* ---- collection settings: the embedding model ---- */

char *rg_rag_settings_embed_model(const char *settings_json) {
    json_error_t je;
    json_t *j = json_loads(settings_json ? settings_json : "{}", 0, &je);
    const char *m = j ? json_string_value(json_object_get(j, "embed_model")) : NULL;
    char *r = m && m[0] ? strdup(m) : NULL;
    json_decref(j);
    return r;
}

rg_status rg_rag_set_embed_model(rg_store *s, int64_t cid, const char *model, int dim, rg_err *err) {
    rg_store_collection c;
    rg_status st = rg_store_collection_get_id(s, cid, &c, err);
    if (st != RG_OK) return st;
    json_error_t je;
    json_t *j = json_loads(c.settings_json, 0, &je);
    rg_store_collection_clear(&c);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    const char *cur = json_string_value(json_object_get(j, "embed_model"));
    json_int_t cd = json_integer_value(json_object_get(j, "embed_dim"));
    if (cur && !strcmp(cur, model) && cd == dim) {
        json_decref(j);
        return RG_OK;
    }
    json_object_set_new(j, "embed_model", json_string(model));
    json_object_set_new(j, "embed_dim", json_integer(dim));
    char *js = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!js) return rg_failf(err, RG_NOMEM, "vectors: out of memory");
    st = rg_store_collection_set_settings(s, cid, js, err);
    free(js);
    return st;
}

/* ---- weighted reciprocal rank fusion ---- */

static int cmp_fused(const void *x, const void *y) {
    const rg_rag_hit *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->chunk_id < b->chunk_id ? -1 : a->chunk_id > b->chunk_id;
}

rg_status rg_rag_fuse_rrf_weighted(const rg_rag_results *lists, const double *weights,
                                   size_t nlists, double k_rrf, size_t k, rg_rag_results *out,
                                   rg_err *err) {
    memset(out, 0, sizeof *out);
    if (k_rrf <= 0) k_rrf = 60;
    size_t total = 0;
    for (size_t l = 0; l < nlists; l++) total += lists[l].n;
    rg_rag_hit *all = calloc(total ? total : 1, sizeof *all);
    if (!all) return rg_failf(err, RG_NOMEM, "rag: out of memory");
    size_t n = 0;
    /* quadratic merge is fine at the sizes fused (k <= RG_MAX_TOP_K per list) */
    for (size_t l = 0; l < nlists; l++) {
        double w = weights ? weights[l] : 1.0;
        for (size_t i = 0; i < lists[l].n; i++) {
            const rg_rag_hit *h = &lists[l].hits[i];
            size_t j = 0;
            while (j < n && all[j].chunk_id != h->chunk_id) j++;
            if (j == n) all[n++].chunk_id = h->chunk_id;
            all[j].score += w / (k_rrf + (double)(i + 1));
            if (!all[j].text && h->text) {
                all[j].doc_id = h->doc_id;
                all[j].source = strdup(h->source ? h->source : "");
                all[j].heading = strdup(h->heading ? h->heading : "");
                all[j].text = malloc(h->text_len + 1);
                if (all[j].text) {
                    memcpy(all[j].text, h->text, h->text_len);
                    all[j].text[h->text_len] = 0;
                }
                all[j].text_len = h->text_len;
                all[j].page = h->page;
                all[j].start = h->start;
                all[j].end = h->end;
            }
        }
    }
    qsort(all, n, sizeof *all, cmp_fused);
    for (size_t i = k; i < n; i++) {
        free(all[i].source);
        free(all[i].heading);
        free(all[i].text);
    }
    out->hits = all;
    out->n = n < k ? n : k;
    for (size_t i = 0; i < out->n; i++)
        if (all[i].text && (!all[i].source || !all[i].heading)) {
            rg_rag_results_clear(out);
            return rg_failf(err, RG_NOMEM, "rag: out of memory");
        }
    return RG_OK;
}
