/* backend.c - what the routes call below HTTP: the document store, one
 * retrieval handle (rag/, BM25) per collection kept open and refreshed
 * when the collection's generation moves, and ingest of a document body.
 *
 * Handle cache: one entry per collection id, refcounted.  Searches take a
 * reference under the cache mutex and search without it (rg_rag_retrieve
 * is safe beside a refresh); refreshes of one handle are serialised; a
 * deleted collection's handle is closed when its last user leaves. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/file.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/utf8.h"
#include "embed/embed.h"
#include "ingest/ingest.h"
#include "server/server_int.h"

typedef struct ixent {
    int64_t coll_id, generation; /* generation the handle was refreshed at */
    rg_rag *rag;
    int refs;
    int dead; /* collection deleted: close when the last user leaves */
    pthread_mutex_t refresh_mu;
    struct ixent *next;
} ixent;

typedef struct collent {
    char name[200];
    int64_t id;
    struct collent *next;
} collent;

struct rg__backend {
    rg_store *store;
    collent *colls; /* name -> id (hot path: no per-request collection scan) */
    pthread_mutex_t mu;
    pthread_mutex_t open_mu; /* one rg_rag_open at a time (they write the index file) */
    ixent *ix;
};

rg_status rg__backend_open(rg_server *s, rg_err *err) {
    rg__backend *be = calloc(1, sizeof *be);
    if (!be) return rg_failf(err, RG_NOMEM, "server: out of memory");
    pthread_mutex_init(&be->mu, NULL);
    pthread_mutex_init(&be->open_mu, NULL);
    s->be = be;
    rg_store_opts so = {0};
    rg_status rc = rg_store_open(s->cfg.data_dir, &so, &be->store, err);
    if (rc != RG_OK) return rg_err_prefix(err, "server: --data %s", s->cfg.data_dir);
    return RG_OK;
}

static void ixent_unref_locked(ixent *e) {
    if (--e->refs == 0) {
        rg_rag_close(e->rag);
        pthread_mutex_destroy(&e->refresh_mu);
        free(e);
    }
}

void rg__backend_close(rg_server *s) {
    rg__backend *be = s->be;
    if (!be) return;
    while (be->ix) {
        ixent *e = be->ix;
        be->ix = e->next;
        ixent_unref_locked(e);
    }
    while (be->colls) {
        collent *c = be->colls;
        be->colls = c->next;
        free(c);
    }
    rg_store_close(be->store);
    pthread_mutex_destroy(&be->mu);
    pthread_mutex_destroy(&be->open_mu);
    free(be);
    s->be = NULL;
}

rg_store *rg__be_store(rg_server *s) { return s->be->store; }

/* rg_store_collection_get counts documents and chunks (a scan); search and
 * chat only need the id and generation, so ids are remembered by name and
 * the generation read by id (one indexed row).  A remembered id whose row
 * is gone (deleted, maybe re-created by another process) is looked up
 * again. */
rg_status rg__be_coll_lookup(rg_server *s, const char *fullname, int64_t *id, int64_t *gen,
                             rg_err *err) {
    rg__backend *be = s->be;
    int64_t cid = 0;
    pthread_mutex_lock(&be->mu);
    for (collent *c = be->colls; c; c = c->next)
        if (!strcmp(c->name, fullname)) cid = c->id;
    pthread_mutex_unlock(&be->mu);
    if (cid) {
        rg_err e2;
        if (rg_store_generation(be->store, cid, gen, &e2) == RG_OK) {
            *id = cid;
            return RG_OK;
        }
        rg__be_forget(s, cid);
    }
    rg_store_collection c;
    rg_status rc = rg_store_collection_get(be->store, fullname, &c, err);
    if (rc != RG_OK) return rc;
    *id = c.id;
    *gen = c.generation;
    rg_store_collection_clear(&c);
    collent *n = calloc(1, sizeof *n);
    if (n && strlen(fullname) < sizeof n->name) {
        snprintf(n->name, sizeof n->name, "%s", fullname);
        n->id = *id;
        pthread_mutex_lock(&be->mu);
        n->next = be->colls;
        be->colls = n;
        pthread_mutex_unlock(&be->mu);
    } else {
        free(n);
    }
    return RG_OK;
}

/* Two embedding model paths name the same model: equal strings or the
 * same file (a relative and an absolute path). */
static int same_model(const char *a, const char *b) {
    if (!strcmp(a, b)) return 1;
    char ra[4096], rb[4096];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* The model name vectors of collection cid are kept under: the one its
 * settings record when that is the server's model, the server's path
 * when none is recorded (*recorded = 0), NULL when another model is
 * recorded (the server cannot embed queries for it).  malloc'd. */
static char *coll_model(rg_server *s, int64_t cid, int *recorded, rg_err *err) {
    *recorded = 0;
    rg_store_collection c;
    if (rg_store_collection_get_id(s->be->store, cid, &c, err) != RG_OK) return NULL;
    char *m = rg_rag_settings_embed_model(c.settings_json);
    rg_store_collection_clear(&c);
    if (!m) return strdup(s->cfg.embed_model_path);
    *recorded = 1;
    if (same_model(m, s->cfg.embed_model_path)) return m;
    rg_warn("server: collection %lld was embedded with %s, the server has %s: vector search is off "
            "for it",
            (long long)cid, m, s->cfg.embed_model_path);
    free(m);
    rg_err_clear(err);
    return NULL;
}

/* With --embed-model: a collection whose settings record the server's
 * model gets vector and hybrid retrieval (hybrid by default); its vectors
 * are brought up to date (chunks added by `ragd ingest` are embedded). */
static rg_status attach_vectors(rg_server *s, rg_rag *rag, int64_t cid, rg_err *err) {
    int recorded;
    rg_err_clear(err);
    char *model = coll_model(s, cid, &recorded, err);
    if (!model) return err->code ? err->code : RG_OK;
    if (!recorded) { /* the server's ingest records it; until then BM25 */
        free(model);
        return RG_OK;
    }
    rg_rag_set_embed_lock(rag, &s->embed_mu);
    rg_rag_mode_opts mo = {0};
    mo.mode = RG_RAG_HYBRID;
    size_t n = 0;
    rg_status rc = rg_rag_use_vectors(rag, s->embedder, model, &mo, &n, err);
    if (rc == RG_OK && n) rg_info("server: embedded %zu chunks of collection %lld", n, (long long)cid);
    free(model);
    return rc;
}

rg_status rg__be_embed_collection(rg_server *s, int64_t cid, size_t *n_embedded, rg_err *err) {
    *n_embedded = 0;
    if (!s->embedder) return RG_OK;
    int recorded;
    rg_err_clear(err);
    char *model = coll_model(s, cid, &recorded, err);
    if (!model) return err->code ? err->code : RG_OK;
    /* an append to the collection's vector log (nothing loaded): O(new chunks) */
    pthread_mutex_lock(&s->embed_mu);
    rg_status rc = rg_rag_vectors_sync(s->be->store, s->cfg.data_dir, cid, s->embedder, model, NULL,
                                       n_embedded, err);
    pthread_mutex_unlock(&s->embed_mu);
    if (rc == RG_OK) {
        if (!recorded) {
            rc = rg_rag_set_embed_model(s->be->store, cid, model, rg_embed_dim(s->embedder), err);
            /* a handle opened before the model was recorded has no vectors:
             * drop it, the next search opens one that has */
            if (rc == RG_OK) rg__be_forget(s, cid);
        }
    }
    free(model);
    return rc;
}

/* A referenced retrieval handle for the collection, refreshed to
 * `generation` (the caller read it from the store just before). */
rg_status rg__be_rag_get(rg_server *s, int64_t coll_id, const char *fullname, int64_t generation,
                         rg__rag_ref *out, rg_err *err) {
    rg__backend *be = s->be;
    out->priv = NULL;
    out->rag = NULL;
    ixent *e = NULL;
    pthread_mutex_lock(&be->mu);
    for (ixent *x = be->ix; x; x = x->next)
        if (x->coll_id == coll_id && !x->dead) {
            e = x;
            e->refs++;
            break;
        }
    pthread_mutex_unlock(&be->mu);
    int opening = 0;
    if (!e) {
        pthread_mutex_lock(&be->open_mu);
        opening = 1;
        pthread_mutex_lock(&be->mu); /* opened while we waited? */
        for (ixent *x = be->ix; x; x = x->next)
            if (x->coll_id == coll_id && !x->dead) {
                e = x;
                e->refs++;
                break;
            }
        pthread_mutex_unlock(&be->mu);
    }
    if (!e) {
        uint64_t t0 = rg_now_ns();
        rg_rag *rag;
        int rebuilt = 0;
        rg_status rc = rg_rag_open(be->store, s->cfg.data_dir, fullname, NULL, &rag, &rebuilt, err);
        if (rc == RG_OK && s->embedder) {
            rc = attach_vectors(s, rag, coll_id, err);
            if (rc != RG_OK) rg_rag_close(rag);
        }
        if (rc != RG_OK) {
            pthread_mutex_unlock(&be->open_mu);
            return rc;
        }
        if (rebuilt)
            rg_info("server: indexed collection '%s' (%zu chunks) in %.1f ms", fullname,
                    rg_rag_chunks(rag), (double)(rg_now_ns() - t0) / 1e6);
        ixent *n = calloc(1, sizeof *n);
        if (!n) {
            rg_rag_close(rag);
            pthread_mutex_unlock(&be->open_mu);
            return rg_failf(err, RG_NOMEM, "out of memory");
        }
        n->coll_id = coll_id;
        n->generation = generation;
        n->rag = rag;
        n->refs = 2; /* the cache's and ours */
        pthread_mutex_init(&n->refresh_mu, NULL);
        pthread_mutex_lock(&be->mu);
        n->next = be->ix;
        be->ix = n;
        e = n;
        pthread_mutex_unlock(&be->mu);
        pthread_mutex_unlock(&be->open_mu);
    } else if (opening) {
        pthread_mutex_unlock(&be->open_mu);
    }
    /* one refresh at a time per handle; others wait and then see it done */
    pthread_mutex_lock(&e->refresh_mu);
    rg_status rc = RG_OK;
    if (e->generation != generation) {
        int rebuilt = 0;
        uint64_t t0 = rg_now_ns();
        rc = rg_rag_refresh(e->rag, &rebuilt, err);
        if (rc == RG_OK) {
            e->generation = generation;
            if (rebuilt)
                rg_info("server: re-indexed collection '%s' (%zu chunks) in %.1f ms", fullname,
                        rg_rag_chunks(e->rag), (double)(rg_now_ns() - t0) / 1e6);
        }
    }
    pthread_mutex_unlock(&e->refresh_mu);
    if (rc != RG_OK) {
        pthread_mutex_lock(&be->mu);
        ixent_unref_locked(e);
        pthread_mutex_unlock(&be->mu);
        return rc;
    }
    out->priv = e;
    out->rag = e->rag;
    return RG_OK;
}

void rg__be_rag_put(rg_server *s, rg__rag_ref *ref) {
    if (!ref->priv) return;
    pthread_mutex_lock(&s->be->mu);
    ixent_unref_locked(ref->priv);
    pthread_mutex_unlock(&s->be->mu);
    ref->priv = NULL;
    ref->rag = NULL;
}

void rg__be_forget(rg_server *s, int64_t coll_id) {
    rg__backend *be = s->be;
    pthread_mutex_lock(&be->mu);
    for (collent **cp = &be->colls; *cp;) {
        if ((*cp)->id == coll_id) {
            collent *old = *cp;
            *cp = old->next;
            free(old);
        } else {
            cp = &(*cp)->next;
        }
    }
    for (ixent **pp = &be->ix; *pp;) {
        if ((*pp)->coll_id == coll_id) {
            ixent *old = *pp;
            *pp = old->next;
            old->dead = 1;
            ixent_unref_locked(old);
        } else {
            pp = &(*pp)->next;
        }
    }
    pthread_mutex_unlock(&be->mu);
}

/* Equality on metadata keys (and "source"). */
static int filter_match(json_t *filter, const char *source, const char *metadata_json) {
    if (!filter) return 1;
    json_t *md = metadata_json ? json_loads(metadata_json, 0, NULL) : NULL;
    int ok = 1;
    const char *key;
    json_t *want;
    json_object_foreach(filter, key, want) {
        if (!strcmp(key, "source")) {
            if (!json_is_string(want) || strcmp(json_string_value(want), source ? source : "")) ok = 0;
        } else {
            json_t *have = md ? json_object_get(md, key) : NULL;
            if (!have || !json_equal(have, want)) ok = 0;
        }
        if (!ok) break;
    }
    json_decref(md);
    return ok;
}

rg_status rg__be_search(rg_server *s, rg_rag *rag, const char *query, int k, int mode,
                        json_t *filter, rg_rag_results *out, rg_err *err) {
    size_t want = (size_t)k;
    if (filter) want = want * 8 > RG_MAX_TOP_K ? RG_MAX_TOP_K : want * 8;
    rg_status rc = mode < 0 ? rg_rag_retrieve(rag, query, want, 1, out, err)
                            : rg_rag_retrieve_mode(rag, query, want, 1, (rg_rag_mode)mode, out, err);
    if (rc != RG_OK || !filter) {
        if (rc == RG_OK && out->n > (size_t)k) {
            for (size_t i = (size_t)k; i < out->n; i++) {
                free(out->hits[i].source);
                free(out->hits[i].heading);
                free(out->hits[i].text);
            }
            out->n = (size_t)k;
        }
        return rc;
    }
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {
        rg_rag_hit *h = &out->hits[i];
        int keep = 0;
        if (kept < (size_t)k) {
            rg_store_doc d;
            rg_err e2;
            if (rg_store_doc_get(s->be->store, h->doc_id, &d, &e2) == RG_OK) {
                keep = filter_match(filter, d.source, d.metadata_json);
                rg_store_doc_clear(&d);
            }
        }
        if (keep) {
            out->hits[kept++] = *h;
        } else {
            free(h->source);
            free(h->heading);
            free(h->text);
        }
    }
    out->n = kept;
    return RG_OK;
}

/* ---- ingest ---- */

/* The ingest pipeline (parse -> chunk -> [redact] -> store) with the
 * request's metadata attached to the document.  With a guard, chunk text
 * and headings are redacted before they reach the store. */
rg_status rg__be_ingest_file(rg_server *s, int64_t coll_id, const char *source, const char *mime,
                             const char *data, size_t len, const char *metadata_json,
                             const rg_guard *guard, rg_guard_stats *stats, int64_t *doc_id,
                             int64_t *n_chunks, int *changed, rg_err *err) {
    (void)mime;
    if (stats) memset(stats, 0, sizeof *stats);
    rg_doc_type t = rg_ingest_detect(source, data, len);
    if (t == RG_DOC_UNKNOWN)
        return rg_failf(err, RG_UNSUPPORTED,
                        "%s: unsupported document type (expected text, Markdown, HTML, PDF, CSV "
                        "or TSV)",
                        source);
    rg_parsed p;
    rg_status rc = rg_ingest_parse(t, data, len, &p, err);
    if (rc != RG_OK) {
        rg_parsed_free(&p);
        return rg_err_prefix(err, "%s", source);
    }
    rg_chunks ch;
    rc = rg_ingest_chunk(&p, NULL, &ch, err);
    rg_store_chunk_in *in = NULL;
    rg_buf *red = NULL; /* with a guard: [2i] text, [2i+1] heading */
    if (rc == RG_OK && ch.n) {
        in = calloc(ch.n, sizeof *in);
        if (guard) red = calloc(2 * ch.n, sizeof *red);
        if (!in || (guard && !red)) rc = rg_failf(err, RG_NOMEM, "out of memory");
    }
    if (rc == RG_OK) {
        for (size_t i = 0; i < ch.n && rc == RG_OK; i++) {
            in[i].text = ch.items[i].text;
            in[i].text_len = ch.items[i].len;
            in[i].start = ch.items[i].start;
            in[i].end = ch.items[i].end;
            in[i].heading = ch.items[i].heading;
            in[i].page = ch.items[i].page;
            if (!guard) continue;
            rg_guard_stats st;
            rg_buf_init(&red[2 * i], 0);
            rg_buf_init(&red[2 * i + 1], 0);
            rc = rg_guard_redact(guard, in[i].text, in[i].text_len, &red[2 * i], &st);
            if (rc == RG_OK && stats) {
                for (int k = 0; k < RG_PII__COUNT; k++) stats->count[k] += st.count[k];
                stats->total += st.total;
            }
            if (rc == RG_OK && in[i].heading && *in[i].heading) {
                rc = rg_guard_redact(guard, in[i].heading, strlen(in[i].heading), &red[2 * i + 1],
                                     &st);
                if (rc == RG_OK && stats) {
                    for (int k = 0; k < RG_PII__COUNT; k++) stats->count[k] += st.count[k];
                    stats->total += st.total;
                }
                in[i].heading = red[2 * i + 1].data ? red[2 * i + 1].data : "";
            }
            if (rc != RG_OK) {
                rg_failf(err, rc, "%s: chunk %zu: redaction failed", source, i);
                break;
            }
            in[i].text = red[2 * i].data ? red[2 * i].data : "";
            in[i].text_len = red[2 * i].len;
        }
    }
    if (rc == RG_OK) {
        char sha[65];
        rg_sha256_hex(data, len, sha);
        rg_store_doc_in d = {source, sha, rg_doc_type_mime(t), metadata_json, (int64_t)len};
        rc = rg_store_doc_put(s->be->store, coll_id, &d, in, ch.n, doc_id, changed, err);
        if (rc == RG_OK) *n_chunks = (int64_t)ch.n;
    }
    if (red)
        for (size_t i = 0; i < 2 * ch.n; i++) rg_buf_free(&red[i]);
    free(red);
    free(in);
    rg_chunks_free(&ch);
    rg_parsed_free(&p);
    return rc;
}
