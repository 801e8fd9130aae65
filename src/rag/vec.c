/* vec.c - the vector retriever's index over a collection's chunk
 * embeddings (kept by veclog.c), collection settings for the embedding
 * model, and weighted reciprocal rank fusion.
 *
 * The index follows the embedding log: its params.tag is the log's chain
 * value at the record it covers (see veclog.c), so an index (in memory, or
 * the persisted DIR/index/hnsw-<cid>.idx) that covers an earlier record is
 * brought up to date by replaying the records after it - deletes become
 * tombstones, added rows are inserted into the graph as hnswlib inserts
 * them - instead of being rebuilt.  It is rebuilt when it covers no record
 * of the log (the log was rewritten, another model) or when tombstones
 * pass a fifth of the live nodes (as Qdrant's vacuum threshold).
 * Invariant: a chunk id's text never changes (replacements get new ids,
 * ids are never reused), so a vector once stored for an id stays right. */
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

/* ---- the vector index: flat, or HNSW persisted per collection ---- */

static void hnsw_path(const char *dir, int64_t cid, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/hnsw-%lld.idx", dir, RG_RAG_INDEX_DIR, (long long)cid);
}

/* What an index over vectors without a log (built in memory) was made
 * from: ids, vectors, dim and model name. */
static uint64_t vectors_hash(const rg_rag_vectors *v) {
    uint64_t h = rg_hash64(v->model ? v->model : "", v->model ? strlen(v->model) : 0, (uint64_t)v->dim);
    if (v->n) {
        h = rg_hash64(v->ids, v->n * sizeof *v->ids, h);
        h = rg_hash64(v->vecs, v->n * (size_t)v->dim * sizeof *v->vecs, h);
    }
    return h ? h : 1; /* 0 is "no tag" */
}

static uint64_t mark_tag(uint64_t chain) { return chain ? chain : 1; }

static uint64_t target_tag(const rg_rag_vectors *v) {
    return v->nmarks ? mark_tag(v->marks[v->nmarks - 1].chain) : vectors_hash(v);
}

/* The record of v's log an index tagged `tag` covers, or -1. */
static long find_mark(const rg_rag_vectors *v, uint64_t tag) {
    for (size_t k = v->nmarks; k-- > 0;)
        if (mark_tag(v->marks[k].chain) == tag) return (long)k;
    return -1;
}

/* Applies the log after record k to ix: the deletes logged since become
 * tombstones, the rows added since (ids above the record's max id) are
 * inserted.  *changed += nodes added and removed. */
static rg_status replay(rg_index *ix, const rg_rag_vectors *v, size_t k, size_t *changed,
                        rg_err *err) {
    const rg_rag_vec_mark *m = &v->marks[k];
    for (size_t i = m->ndel; i < v->ndels; i++) {
        rg_err e2;
        /* absent: added and deleted after the mark */
        if (rg_index_remove(ix, (uint64_t)v->dels[i], &e2) == RG_OK) (*changed)++;
    }
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->ids[mid] <= m->max_id) lo = mid + 1;
        else hi = mid;
    }
    size_t na = v->n - lo;
    if (!na) return RG_OK;
    uint64_t *ids = malloc(na * sizeof *ids);
    if (!ids) return rg_failf(err, RG_NOMEM, "rag: out of memory");
    for (size_t i = 0; i < na; i++) ids[i] = (uint64_t)v->ids[lo + i];
    /* a few nodes: the calling thread; a big batch: every CPU */
    rg_status st = rg_index_add_batch(ix, na, ids, v->vecs + lo * (size_t)v->dim,
                                      na >= 256 ? 0 : 1, err);
    free(ids);
    if (st == RG_OK) *changed += na;
    return st;
}

static int too_many_tombstones(rg_index *ix) {
    return rg_index_deleted(ix) > rg_index_count(ix) / 5;
}

static void save_graph(const char *data_dir, int64_t cid, rg_index *ix) {
    char path[4096], dir[4096];
    hnsw_path(data_dir, cid, path, sizeof path);
    snprintf(dir, sizeof dir, "%s/%s", data_dir, RG_RAG_INDEX_DIR);
    rg_err e2;
    rg_err_clear(&e2);
    /* derived data: a failed save costs a replay or rebuild next time, not the query */
    if (rg_mkdirs(dir, &e2) != RG_OK || rg_index_save(ix, path, &e2) != RG_OK)
        rg_warn("rag: %s", rg_err_text(&e2));
}

void rg__rag_vec_index_save(const char *data_dir, int64_t cid, rg_index *ix) {
    save_graph(data_dir, cid, ix);
}

/* Brings ix (covering record k of v's log) up to date; 0 when it must be
 * rebuilt instead. */
static int catch_up(rg_index *ix, const rg_rag_vectors *v, long k, size_t *changed) {
    rg_err e2;
    if (k < 0 || replay(ix, v, (size_t)k, changed, &e2) != RG_OK) return 0;
    rg_index_params p;
    rg_index_get_params(ix, &p);
    if (p.kind == RG_INDEX_HNSW && too_many_tombstones(ix)) return 0;
    rg_index_set_tag(ix, target_tag(v));
    return 1;
}

rg_status rg_rag_vec_index_update(const char *data_dir, int64_t cid, const rg_rag_vectors *v,
                                  size_t hnsw_min, int no_persist, size_t save_min, rg_index **ix,
                                  size_t *unsaved, int *how, rg_err *err) {
    int h = RG_RAG_VIX_KEPT;
    size_t uns = unsaved ? *unsaved : 0, changed = 0;
    if (!hnsw_min) hnsw_min = RG_RAG_HNSW_MIN;
    rg_index_params p;
    rg_index_params_default(&p);
    p.metric = RG_INDEX_IP; /* vectors are L2-normalised: IP = cosine */
    p.dim = v->dim;
    p.kind = v->n >= hnsw_min ? RG_INDEX_HNSW : RG_INDEX_FLAT;
    p.ef_search = RG_RAG_HNSW_EF;
    p.tag = target_tag(v);
    rg_index *cur = *ix, *nix = NULL;
    if (cur) {
        rg_index_params lp;
        rg_index_get_params(cur, &lp);
        if (lp.kind == p.kind && lp.dim == p.dim) {
            if (lp.tag == p.tag) goto done;
            if (catch_up(cur, v, find_mark(v, lp.tag), &changed)) {
                h = RG_RAG_VIX_APPENDED;
                uns += changed;
                goto done;
            }
        }
    }
    uns = 0;
    char path[4096];
    hnsw_path(data_dir, cid, path, sizeof path);
    if (p.kind == RG_INDEX_HNSW) {
        rg_err e2;
        rg_err_clear(&e2);
        if (rg_index_load(path, &nix, &e2) == RG_OK) {
            rg_index_params lp;
            rg_index_get_params(nix, &lp);
            h = RG_RAG_VIX_LOADED;
            if (lp.kind != RG_INDEX_HNSW || lp.dim != v->dim) {
                rg_index_free(nix);
                nix = NULL;
            } else if (lp.tag != p.tag) {
                if (catch_up(nix, v, find_mark(v, lp.tag), &changed)) {
                    h = RG_RAG_VIX_APPENDED;
                    uns = changed;
                } else {
                    rg_index_free(nix);
                    nix = NULL;
                }
            }
        } else if (e2.code != RG_NOTFOUND && e2.code != RG_IO) {
            rg_warn("rag: %s; rebuilding the vector graph", rg_err_text(&e2));
        }
    }
    if (!nix) {
        h = RG_RAG_VIX_BUILT;
        rg_status st = rg_index_new(&p, &nix, err);
        if (st == RG_OK && v->n) {
            uint64_t *ids = malloc(v->n * sizeof *ids);
            if (!ids) st = rg_failf(err, RG_NOMEM, "rag: out of memory");
            for (size_t i = 0; st == RG_OK && i < v->n; i++) ids[i] = (uint64_t)v->ids[i];
            /* flat: a copy, one thread is plenty; HNSW: every CPU */
            if (st == RG_OK)
                st = rg_index_add_batch(nix, v->n, ids, v->vecs, p.kind == RG_INDEX_HNSW ? 0 : 1, err);
            free(ids);
        }
        if (st != RG_OK) {
            rg_index_free(nix);
            return st;
        }
        if (p.kind == RG_INDEX_HNSW && !no_persist) save_graph(data_dir, cid, nix);
    }
    *ix = nix;
done:
    /* an appended graph is written back once enough has changed; until
     * then a load replays the log's tail (cheap: inserts, not a build) */
    if (h == RG_RAG_VIX_APPENDED && p.kind == RG_INDEX_HNSW && !no_persist && uns >= save_min && uns) {
        save_graph(data_dir, cid, *ix);
        uns = 0;
    }
    if (unsaved) *unsaved = p.kind == RG_INDEX_HNSW ? uns : 0;
    if (how) *how = h;
    return RG_OK;
}

rg_status rg_rag_vec_index(const char *data_dir, int64_t cid, const rg_rag_vectors *v,
                           size_t hnsw_min, int no_persist, rg_index **out, int *built,
                           rg_err *err) {
    *out = NULL;
    if (built) *built = 0;
    int how = 0;
    rg_status st = rg_rag_vec_index_update(data_dir, cid, v, hnsw_min, no_persist, 0, out, NULL,
                                           &how, err);
    if (built && st == RG_OK && how == RG_RAG_VIX_BUILT) {
        rg_index_params p;
        rg_index_get_params(*out, &p);
        *built = p.kind == RG_INDEX_HNSW; /* a flat index is a copy, not a build */
    }
    return st;
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
