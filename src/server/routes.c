/* routes.c - the route handlers that answer on the poll thread: health,
 * models, metrics, collections, documents, search; and the dispatcher.
 * (Generation routes are in chat.c: they run as jobs.)
 *
 * Tenant isolation: every collection name from a URL or body goes through
 * rg__coll_fullname (tenant prefix) before it reaches the store, and a
 * document id is only served when its collection is the one in the URL. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "ragd.h"
#include "sched/sched.h"
#include "server/server_int.h"

void rg__chat_route(rg__req *r);        /* chat.c */
void rg__completions_route(rg__req *r); /* chat.c */
void rg__embeddings_route(rg__req *r);  /* chat.c */
void rg__models_extra(rg_server *s, json_t *data); /* chat.c */
void rg__plan_predict_route(rg__req *r);           /* plan.c */
void rg__plan_cost_route(rg__req *r);              /* plan.c */

static int status_for(rg_status rc) {
    switch (rc) {
    case RG_NOTFOUND: return 404;
    case RG_EXISTS: return 409;
    case RG_LIMIT: return 413;
    case RG_INVALID:
    case RG_FORMAT:
    case RG_UNSUPPORTED: return 400;
    case RG_BUSY: return 503;
    case RG_TIMEOUT: return 408;
    case RG_UPSTREAM: return 502;
    default: return 500;
    }
}

static void respond_rc(rg__req *r, rg_status rc, const rg_err *err) {
    int st = status_for(rc);
    const char *code = st == 404 ? "not_found" : st == 409 ? "already_exists"
                       : st == 413 ? "request_too_large" : st == 400 ? "invalid_request"
                                                                      : "internal_error";
    rg__respond_error(r, st, code, "%s", rg_err_text(err));
}

/* Looks the URL's collection up for this tenant; responds 404 when absent. */
static int get_coll(rg__req *r, rg_store_collection *c) {
    char full[200];
    rg_err err;
    rg__coll_fullname(r, r->coll, full, sizeof full);
    if (!rg__valid_name(r->coll)) {
        rg__respond_error(r, 404, "collection_not_found", "collection '%s' does not exist", r->coll);
        return -1;
    }
    rg_status rc = rg_store_collection_get(rg__be_store(r->srv), full, c, &err);
    if (rc == RG_NOTFOUND) {
        rg__respond_error(r, 404, "collection_not_found", "collection '%s' does not exist", r->coll);
        return -1;
    }
    if (rc != RG_OK) {
        respond_rc(r, rc, &err);
        return -1;
    }
    return 0;
}

static json_t *coll_json(const rg__req *r, const rg_store_collection *c) {
    const char *name = c->name;
    size_t tl = strlen(rg__tenant(r));
    if (tl) name += tl + 2;
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "object", "collection", "name", name,
                          "documents", (json_int_t)c->n_documents, "chunks",
                          (json_int_t)c->n_chunks, "bytes", (json_int_t)c->bytes, "created",
                          (json_int_t)c->created);
    /* settings a client may want to see: redaction, the embedding model */
    json_t *set = json_loads(c->settings_json ? c->settings_json : "{}", 0, NULL);
    const char *em = json_string_value(json_object_get(set, "embed_model"));
    const char *base = em ? strrchr(em, '/') : NULL;
    json_object_set_new(o, "redact", json_boolean(json_is_true(json_object_get(set, "redact"))));
    json_object_set_new(o, "embedding_model", em ? json_string(base ? base + 1 : em) : json_null());
    json_decref(set);
    return o;
}

static void h_health(rg__req *r) {
    rg_server *s = r->srv;
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:b, s:b}", "status", "ok", "version",
                          RAGD_VERSION, "uptime_s", (json_int_t)(rg_unix_time() - s->started),
                          "generator",
                          s->cfg.model_path ? "local" : s->cfg.upstream_url ? "upstream"
                                                                           : "extractive",
                          "embeddings", s->cfg.embed_model_path != NULL, "auth", s->n_keys > 0);
    rg__respond_json(r, 200, j);
}

static void h_metrics(rg__req *r) {
    rg_buf b;
    rg_buf_init(&b, 0);
    rg__metrics_render(&r->srv->metrics, &b);
    if (r->srv->local) {
        rg_sched_metrics m;
        rg__local_metrics(r->srv->local, &m);
        double hit = m.prompt_tokens ? (double)m.prompt_tokens_cached / (double)m.prompt_tokens : 0;
        rg_buf_printf(&b,
                      "# HELP ragd_engine_sequences Sequences in the continuous-batching engine.\n"
                      "# TYPE ragd_engine_sequences gauge\n"
                      "ragd_engine_sequences{state=\"running\"} %d\n"
                      "ragd_engine_sequences{state=\"waiting\"} %d\n"
                      "# HELP ragd_kv_blocks KV-cache blocks (%d positions each): used by running sequences, "
                      "cached (prefix cache only, evictable), free.\n"
                      "# TYPE ragd_kv_blocks gauge\n"
                      "ragd_kv_blocks{state=\"used\"} %d\n"
                      "ragd_kv_blocks{state=\"cached\"} %d\n"
                      "ragd_kv_blocks{state=\"free\"} %d\n"
                      "# HELP ragd_kv_blocks_shared Used KV blocks that two or more sequences share.\n"
                      "# TYPE ragd_kv_blocks_shared gauge\n"
                      "ragd_kv_blocks_shared %d\n"
                      "# HELP ragd_kv_tokens_stored Positions held by the running sequences.\n"
                      "# TYPE ragd_kv_tokens_stored gauge\n"
                      "ragd_kv_tokens_stored %lld\n"
                      "# HELP ragd_kv_held_per_stored KV memory held by running sequences / tokens they store.\n"
                      "# TYPE ragd_kv_held_per_stored gauge\n"
                      "ragd_kv_held_per_stored %.4f\n"
                      "# HELP ragd_kv_seq_refs Block-table references of all sequences (0 when idle).\n"
                      "# TYPE ragd_kv_seq_refs gauge\n"
                      "ragd_kv_seq_refs %lld\n"
                      "# HELP ragd_prefix_cache_hit_ratio Prompt tokens taken from the prefix cache / prompt tokens.\n"
                      "# TYPE ragd_prefix_cache_hit_ratio gauge\n"
                      "ragd_prefix_cache_hit_ratio %.6f\n"
                      "# HELP ragd_engine_preemptions_total Sequences preempted when the KV pool ran short.\n"
                      "# TYPE ragd_engine_preemptions_total counter\n"
                      "ragd_engine_preemptions_total %lld\n"
                      "# HELP ragd_generated_tokens_total Tokens generated by the engine.\n"
                      "# TYPE ragd_generated_tokens_total counter\n"
                      "ragd_generated_tokens_total %lld\n",
                      m.running, m.waiting, RG_LLM_KV_BLOCK, m.kv_blocks_used, m.kv_blocks_cached,
                      m.kv_blocks_free, m.kv_blocks_shared, (long long)m.kv_tokens_stored, m.kv_held_per_stored,
                      (long long)m.kv_seq_refs, hit, (long long)m.preemptions, (long long)m.generated_tokens);
    }
    rg__respond_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
                     b.len);
    rg_buf_free(&b);
}

static void h_models(rg__req *r) {
    json_t *data = json_array();
    rg__models_extra(r->srv, data);
    /* one rag:<collection> model per collection this tenant can see */
    rg_store_collection *cs = NULL;
    size_t n = 0;
    rg_err err;
    const char *t = rg__tenant(r);
    size_t tl = strlen(t);
    if (rg_store_collection_list(rg__be_store(r->srv), &cs, &n, &err) == RG_OK) {
        for (size_t i = 0; i < n; i++) {
            const char *name = cs[i].name;
            if (tl) {
                if (strncmp(name, t, tl) || strncmp(name + tl, "__", 2)) continue;
                name += tl + 2;
            } else if (strstr(name, "__")) {
                continue; /* another tenant's (open server shows only unprefixed) */
            }
            char id[200];
            snprintf(id, sizeof id, "rag:%s", name);
            json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object",
                                                  "model", "created",
                                                  (json_int_t)cs[i].created, "owned_by", "ragd"));
        }
        rg_store_collections_free(cs, n);
    }
    rg__respond_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void h_collections(rg__req *r) {
    rg_store *st = rg__be_store(r->srv);
    rg_err err;
    if (r->method == 'P') {
        char name[128], full[200];
        rg_status rc = rg__parse_collection(r->body.data, r->body.len, name, sizeof name, &err);
        if (rc != RG_OK) {
            rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
            return;
        }
        char *settings = NULL;
        rc = rg__parse_collection_settings(r->body.data, r->body.len, &settings, &err);
        if (rc != RG_OK) {
            rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
            return;
        }
        rg__coll_fullname(r, name, full, sizeof full);
        rc = rg_store_collection_create(st, full, settings, NULL, &err);
        free(settings);
        if (rc == RG_EXISTS) {
            rg__respond_error(r, 409, "collection_exists", "collection '%s' already exists", name);
            return;
        }
        if (rc != RG_OK) {
            respond_rc(r, rc, &err);
            return;
        }
        rg_store_collection c;
        if (rg_store_collection_get(st, full, &c, &err) != RG_OK) {
            respond_rc(r, err.code, &err);
            return;
        }
        rg__respond_json(r, 201, coll_json(r, &c));
        rg_store_collection_clear(&c);
        return;
    }
    if (r->method != 'G') {
        rg__respond_error(r, 405, "method_not_allowed", "use GET or POST on /v1/collections");
        return;
    }
    rg_store_collection *cs = NULL;
    size_t n = 0;
    rg_status rc = rg_store_collection_list(st, &cs, &n, &err);
    if (rc != RG_OK) {
        respond_rc(r, rc, &err);
        return;
    }
    json_t *data = json_array();
    const char *t = rg__tenant(r);
    size_t tl = strlen(t);
    for (size_t i = 0; i < n; i++) {
        if (tl ? (strncmp(cs[i].name, t, tl) || strncmp(cs[i].name + tl, "__", 2))
               : strstr(cs[i].name, "__") != NULL)
            continue;
        json_array_append_new(data, coll_json(r, &cs[i]));
    }
    rg_store_collections_free(cs, n);
    rg__respond_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void h_collection(rg__req *r) {
    rg_store_collection c;
    if (r->method != 'G' && r->method != 'D') {
        rg__respond_error(r, 405, "method_not_allowed", "use GET or DELETE on a collection");
        return;
    }
    if (get_coll(r, &c)) return;
    if (r->method == 'G') {
        rg__respond_json(r, 200, coll_json(r, &c));
        rg_store_collection_clear(&c);
        return;
    }
    rg_err err;
    rg_status rc = rg_store_collection_delete(rg__be_store(r->srv), c.name, &err);
    int64_t id = c.id;
    rg_store_collection_clear(&c);
    if (rc != RG_OK) {
        respond_rc(r, rc, &err);
        return;
    }
    rg__be_forget(r->srv, id);
    atomic_fetch_add(&r->srv->write_epoch, 1);
    rg__respond_json(r, 200, json_pack("{s:s, s:s, s:b}", "object", "collection.deleted", "name",
                                       r->coll, "deleted", 1));
}

static json_t *doc_json(const rg_store_doc *d) {
    json_t *md = d->metadata_json ? json_loads(d->metadata_json, 0, NULL) : NULL;
    return json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:o, s:I, s:I, s:s}", "object", "document",
                     "id", (json_int_t)d->id, "source", d->source ? d->source : "", "mime",
                     d->mime ? d->mime : "", "bytes", (json_int_t)d->bytes, "chunks",
                     (json_int_t)d->n_chunks, "metadata", md ? md : json_object(), "created",
                     (json_int_t)d->created, "updated", (json_int_t)d->updated, "sha256",
                     d->sha256 ? d->sha256 : "");
}

static int doc_list_cb(void *ud, const rg_store_doc *d) {
    json_array_append_new((json_t *)ud, doc_json(d));
    return json_array_size((json_t *)ud) >= 10000;
}

static void h_documents(rg__req *r) {
    rg_store_collection c;
    if (r->method != 'G' && r->method != 'P') {
        rg__respond_error(r, 405, "method_not_allowed", "use GET or POST on documents");
        return;
    }
    if (get_coll(r, &c)) return;
    rg_err err;
    rg_store *st = rg__be_store(r->srv);
    if (r->method == 'G') {
        json_t *data = json_array();
        rg_status rc = rg_store_docs_foreach(st, c.id, doc_list_cb, data, &err);
        rg_store_collection_clear(&c);
        if (rc != RG_OK) {
            json_decref(data);
            respond_rc(r, rc, &err);
            return;
        }
        rg__respond_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
        return;
    }
    rg__documents_post(r, c.id, c.settings_json);
    rg_store_collection_clear(&c);
}

static void h_document(rg__req *r) {
    rg_store_collection c;
    if (r->method != 'G' && r->method != 'D') {
        rg__respond_error(r, 405, "method_not_allowed", "use GET or DELETE on a document");
        return;
    }
    if (get_coll(r, &c)) return;
    char *end;
    long long id = strtoll(r->docid, &end, 10);
    rg_store *st = rg__be_store(r->srv);
    rg_store_doc d;
    rg_err err;
    if (*end || id <= 0 || rg_store_doc_get(st, id, &d, &err) != RG_OK) {
        rg_store_collection_clear(&c);
        rg__respond_error(r, 404, "document_not_found", "document '%s' does not exist in '%s'",
                          r->docid, r->coll);
        return;
    }
    if (d.collection_id != c.id) { /* another collection's (or tenant's) document */
        rg_store_doc_clear(&d);
        rg_store_collection_clear(&c);
        rg__respond_error(r, 404, "document_not_found", "document '%s' does not exist in '%s'",
                          r->docid, r->coll);
        return;
    }
    rg_store_collection_clear(&c);
    if (r->method == 'G') {
        rg__respond_json(r, 200, doc_json(&d));
        rg_store_doc_clear(&d);
        return;
    }
    rg_store_doc_clear(&d);
    rg_status rc = rg_store_doc_delete(st, id, &err);
    if (rc != RG_OK) {
        respond_rc(r, rc, &err);
        return;
    }
    atomic_fetch_add(&r->srv->write_epoch, 1);
    rg__respond_json(r, 200, json_pack("{s:s, s:I, s:b}", "object", "document.deleted", "id",
                                       (json_int_t)id, "deleted", 1));
}

json_t *rg__hit_json(const rg_rag_hit *h) {
    json_t *o = json_pack("{s:I, s:I, s:s, s:s%, s:f}", "document_id", (json_int_t)h->doc_id,
                          "chunk_id", (json_int_t)h->chunk_id, "source",
                          h->source ? h->source : "", "text", h->text ? h->text : "",
                          h->text ? h->text_len : 0, "score", h->score);
    if (!o) return NULL;
    json_object_set_new(o, "page", h->page > 0 ? json_integer(h->page) : json_null());
    json_object_set_new(o, "heading",
                        h->heading && *h->heading ? json_string(h->heading) : json_null());
    return o;
}

/* The search response, written directly (the same bytes json_dumps gives
 * for rg__hit_json): jansson's pack + dump of the chunk texts was a third
 * of the CPU.  Documents found are added to cited[] (the audit record). */
static rg_status write_results(const rg_rag_results *res, const char *mode, rg_buf *out,
                               int64_t *cited, int *ncited) {
    rg_status rc = rg_buf_puts(out, "{\"object\":\"search.results\",\"results\":[");
    for (size_t i = 0; rc == RG_OK && i < res->n; i++) {
        const rg_rag_hit *h = &res->hits[i];
        int dup = 0;
        for (int j = 0; j < *ncited; j++) dup |= cited[j] == h->doc_id;
        if (!dup && *ncited < RG__MAX_CITED) cited[(*ncited)++] = h->doc_id;
        if (i) rc = rg_buf_putc(out, ',');
        if (rc == RG_OK) rc = rg_buf_puts(out, "{\"document_id\":");
        if (rc == RG_OK) rc = rg__jw_int(out, (long long)h->doc_id);
        if (rc == RG_OK) rc = rg_buf_puts(out, ",\"chunk_id\":");
        if (rc == RG_OK) rc = rg__jw_int(out, (long long)h->chunk_id);
        if (rc == RG_OK) rc = rg_buf_puts(out, ",\"source\":");
        if (rc == RG_OK) rc = rg__jw_cstr(out, h->source);
        if (rc == RG_OK) rc = rg_buf_puts(out, ",\"text\":");
        if (rc == RG_OK) rc = rg__jw_str(out, h->text ? h->text : "", h->text ? h->text_len : 0);
        if (rc == RG_OK) rc = rg_buf_puts(out, ",\"score\":");
        if (rc == RG_OK) rc = rg__jw_real(out, h->score);
        if (rc == RG_OK) rc = rg_buf_puts(out, ",\"page\":");
        if (rc == RG_OK) rc = h->page > 0 ? rg__jw_int(out, h->page) : rg_buf_puts(out, "null");
        if (rc == RG_OK) rc = rg_buf_puts(out, ",\"heading\":");
        if (rc == RG_OK)
            rc = h->heading && *h->heading ? rg__jw_cstr(out, h->heading) : rg_buf_puts(out, "null");
        if (rc == RG_OK) rc = rg_buf_putc(out, '}');
    }
    if (rc == RG_OK) rc = rg_buf_puts(out, "],\"mode\":");
    if (rc == RG_OK) rc = rg__jw_cstr(out, mode);
    if (rc == RG_OK) rc = rg_buf_putc(out, '}');
    return rc;
}

/* Vector and hybrid searches run a model (the query's embedding, under
 * the server-wide embedder lock): they go to a worker so the poll threads
 * keep answering BM25 searches and /health meanwhile. */
typedef struct vsearch {
    rg__search_req q;
    rg__rag_ref ref;
    int mode;
    const char *mode_name; /* static */
} vsearch;

static void vsearch_free(void *p) {
    vsearch *v = p;
    if (!v) return;
    rg__search_req_free(&v->q);
    free(v);
}

static void vsearch_run(rg__job *job) {
    vsearch *v = job->ctx;
    rg_server *s = job->srv;
    rg_err err;
    rg_err_clear(&err);
    rg_rag_results res = {0};
    uint64_t t0 = rg_now_ns();
    rg_status rc = rg__be_search(s, v->ref.rag, v->q.query, v->q.k, v->mode, v->q.filter, &res, &err);
    rg__be_rag_put(s, &v->ref);
    rg__hist_observe(&s->metrics.retrieval, (double)(rg_now_ns() - t0) / 1e9);
    if (rc != RG_OK) {
        rg__job_finish_error(job, rc == RG_INVALID || rc == RG_FORMAT ? 400 : 500,
                             rc == RG_INVALID || rc == RG_FORMAT ? "invalid_request" : "internal_error",
                             "%s", rg_err_text(&err));
        return;
    }
    int64_t cited[RG__MAX_CITED];
    int ncited = 0;
    rg_buf out;
    rg_buf_init(&out, 0);
    rc = write_results(&res, v->mode_name, &out, cited, &ncited);
    rg_rag_results_clear(&res);
    for (int i = 0; i < ncited; i++) rg__job_cite(job, cited[i]);
    if (rc != RG_OK)
        rg__job_finish_error(job, 500, "internal_error", "out of memory writing the results");
    else
        rg__job_finish_text(job, 200, out.data, out.len);
    rg_buf_free(&out);
}

static void h_search(rg__req *r) {
    if (r->method != 'P') {
        rg__respond_error(r, 405, "method_not_allowed", "use POST on search");
        return;
    }
    rg__search_req q;
    rg_err err;
    rg_status rc = rg__parse_search(r->body.data, r->body.len, &q, &err);
    if (rc != RG_OK) {
        rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
        return;
    }
    char full[200];
    int64_t cid = 0, cgen = 0;
    rg__coll_fullname(r, r->coll, full, sizeof full);
    rc = rg__valid_name(r->coll) ? rg__be_coll_lookup(r->srv, full, &cid, &cgen, &err) : RG_NOTFOUND;
    if (rc == RG_NOTFOUND) {
        rg__search_req_free(&q);
        rg__respond_error(r, 404, "collection_not_found", "collection '%s' does not exist", r->coll);
        return;
    }
    uint64_t t0 = rg_now_ns();
    rg__rag_ref ref;
    rg_rag_results res = {0};
    const char *mode = q.mode;
    if (rc == RG_OK) rc = rg__be_rag_get(r->srv, cid, full, cgen, &ref, &err);
    if (rc == RG_OK) {
        int vec = rg_rag_has_vectors(ref.rag);
        if (!mode[0]) mode = vec ? "hybrid" : "bm25";
        if (strcmp(mode, "bm25") && !vec) {
            rg__be_rag_put(r->srv, &ref);
            rg__search_req_free(&q);
            if (!r->srv->embedder)
                rg__respond_error(r, 400, "vector_search_unavailable",
                                  "mode '%s' needs embeddings: start 'ragd serve' with "
                                  "--embed-model E.gguf (or use mode 'bm25')",
                                  !strcmp(mode, "vector") ? "vector" : "hybrid");
            else
                rg__respond_error(r, 400, "vector_search_unavailable",
                                  "mode '%s' needs embeddings: collection '%s' has none made "
                                  "with this server's model (add documents through the API, or "
                                  "'ragd ingest --embed-model'; or use mode 'bm25')",
                                  !strcmp(mode, "vector") ? "vector" : "hybrid", r->coll);
            return;
        }
        if (strcmp(mode, "bm25")) {
            vsearch *v = calloc(1, sizeof *v);
            if (!v) {
                rg__be_rag_put(r->srv, &ref);
                rg__search_req_free(&q);
                rg__respond_error(r, 503, "overloaded", "out of memory");
                return;
            }
            v->q = q; /* taken over */
            v->ref = ref;
            v->mode = !strcmp(mode, "vector") ? RG_RAG_VECTOR : RG_RAG_HYBRID;
            v->mode_name = v->mode == RG_RAG_VECTOR ? "vector" : "hybrid";
            if (rg__job_start(r, vsearch_run, v, vsearch_free, 0) != 0)
                rg__be_rag_put(r->srv, &ref); /* v was freed; the reference was not */
            return;
        }
        rc = rg__be_search(r->srv, ref.rag, q.query, q.k, RG_RAG_BM25, q.filter, &res, &err);
        rg__be_rag_put(r->srv, &ref);
    }
    rg__hist_observe(&r->srv->metrics.retrieval, (double)(rg_now_ns() - t0) / 1e9);
    if (rc != RG_OK) {
        rg__search_req_free(&q);
        respond_rc(r, rc, &err);
        return;
    }
    rg_buf out;
    rg_buf_init(&out, 0);
    rc = write_results(&res, mode, &out, r->cited, &r->ncited);
    rg_rag_results_clear(&res);
    rg__search_req_free(&q);
    if (rc != RG_OK)
        rg__respond_error(r, 500, "internal_error", "out of memory writing the results");
    else
        rg__respond_text(r, 200, "application/json", out.data, out.len);
    rg_buf_free(&out);
}

void rg__route_dispatch(rg__req *r) {
    switch (r->route) {
    case RG__R_HEALTH: h_health(r); return;
    case RG__R_METRICS:
        if (r->method != 'G') break;
        h_metrics(r);
        return;
    case RG__R_MODELS:
        if (r->method != 'G') break;
        h_models(r);
        return;
    case RG__R_CHAT:
        if (r->method != 'P') break;
        rg__chat_route(r);
        return;
    case RG__R_COMPLETIONS:
        if (r->method != 'P') break;
        rg__completions_route(r);
        return;
    case RG__R_EMBEDDINGS:
        if (r->method != 'P') break;
        rg__embeddings_route(r);
        return;
    case RG__R_COLLECTIONS: h_collections(r); return;
    case RG__R_COLLECTION: h_collection(r); return;
    case RG__R_DOCUMENTS: h_documents(r); return;
    case RG__R_DOCUMENT: h_document(r); return;
    case RG__R_SEARCH: h_search(r); return;
    case RG__R_PLAN_PREDICT:
        if (r->method != 'G' && r->method != 'P') break;
        rg__plan_predict_route(r);
        return;
    case RG__R_PLAN_COST:
        if (r->method != 'G' && r->method != 'P') break;
        rg__plan_cost_route(r);
        return;
    default:
        rg__respond_error(r, 404, "not_found", "no route for %s", r->url);
        return;
    }
    rg__respond_error(r, 405, "method_not_allowed", "method not allowed on %s",
                      rg__route_name(r->route));
}
