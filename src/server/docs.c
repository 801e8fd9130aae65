/* docs.c - POST /v1/collections/{c}/documents.  The body (JSON text or a
 * multipart file) is copied into a job; a worker then redacts (when the
 * collection's settings say so, as `ragd ingest --redact` does), parses,
 * chunks and stores the document, and with --embed-model embeds its new
 * chunks, before answering 201.  Parsing, redaction and embedding are
 * slow, so none of it runs on a poll thread.
 *
 * Invariant: with redaction on, no raw text of the request reaches the
 * store: chunk text, headings, the source name and every string value of
 * the metadata are redacted first (the document's sha256 is of the raw
 * bytes: a hash, not a value). */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/utf8.h"
#include "server/server_int.h"

typedef struct doc_job {
    int64_t coll_id;
    char *settings; /* the collection's settings JSON */
    char *source;
    const char *mime; /* static */
    char *data;
    size_t len;
    char *metadata; /* JSON object text or NULL */
} doc_job;

static void doc_job_free(void *p) {
    doc_job *d = p;
    if (!d) return;
    free(d->settings);
    free(d->source);
    free(d->data);
    free(d->metadata);
    free(d);
}

static const char *mime_for(const char *name, const char *given) {
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (dot) {
        if (!strcasecmp(dot, ".md") || !strcasecmp(dot, ".markdown")) return "text/markdown";
        if (!strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm")) return "text/html";
        if (!strcasecmp(dot, ".pdf")) return "application/pdf";
        if (!strcasecmp(dot, ".csv")) return "text/csv";
        if (!strcasecmp(dot, ".txt")) return "text/plain";
    }
    (void)given;
    return "text/plain";
}

/* The collection's redaction guard: NULL (and RG_OK) when redaction is off. */
rg_status rg__coll_guard(const char *settings_json, rg_guard **out, rg_err *err) {
    *out = NULL;
    json_t *set = json_loads(settings_json ? settings_json : "{}", 0, NULL);
    if (!json_is_true(json_object_get(set, "redact"))) {
        json_decref(set);
        return RG_OK;
    }
    json_t *pol = json_object_get(set, "redact_policy");
    char *pt = json_is_object(pol) ? json_dumps(pol, JSON_COMPACT) : NULL;
    json_decref(set);
    rg_status rc = rg_guard_open(out, pt, pt ? strlen(pt) : 0, err);
    free(pt);
    if (rc != RG_OK) rg_err_prefix(err, "collection redact_policy");
    return rc;
}

static void add_stats(rg_guard_stats *to, const rg_guard_stats *from) {
    for (int k = 0; k < RG_PII__COUNT; k++) to->count[k] += from->count[k];
    to->total += from->total;
}

/* Redacts s in place (a new malloc'd string); returns 0 or -1. */
static int redact_str(const rg_guard *g, char **s, rg_guard_stats *stats) {
    rg_buf b;
    rg_buf_init(&b, 0);
    rg_guard_stats st;
    if (rg_guard_redact(g, *s, strlen(*s), &b, &st) != RG_OK) {
        rg_buf_free(&b);
        return -1;
    }
    add_stats(stats, &st);
    size_t n;
    char *r = rg_buf_detach(&b, &n);
    if (!r) r = strdup("");
    if (!r) return -1;
    free(*s);
    *s = r;
    return 0;
}

/* Redacts every string value (at any depth) of a JSON value. */
static int redact_json(const rg_guard *g, json_t *v, rg_guard_stats *stats) {
    if (json_is_string(v)) {
        char *s = strdup(json_string_value(v));
        if (!s || redact_str(g, &s, stats)) {
            free(s);
            return -1;
        }
        int rc = json_string_set(v, s);
        free(s);
        return rc ? -1 : 0;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) if (redact_json(g, x, stats)) return -1;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (redact_json(g, x, stats)) return -1;
    }
    return 0;
}

static void doc_run(rg__job *job) {
    doc_job *d = job->ctx;
    rg_server *s = job->srv;
    rg_err err;
    rg_err_clear(&err);
    rg_guard *g = NULL;
    rg_guard_stats total;
    memset(&total, 0, sizeof total);
    rg_status rc = rg__coll_guard(d->settings, &g, &err);
    if (rc != RG_OK) {
        rg__job_finish_error(job, 500, "internal_error", "%s", rg_err_text(&err));
        return;
    }
    if (g) {
        int bad = redact_str(g, &d->source, &total);
        if (!bad && d->metadata) {
            json_t *m = json_loads(d->metadata, 0, NULL);
            bad = !m || redact_json(g, m, &total);
            char *ms = bad ? NULL : json_dumps(m, JSON_COMPACT);
            json_decref(m);
            if (!ms) bad = 1;
            /* wipe the raw copy before freeing it */
            memset(d->metadata, 0, strlen(d->metadata));
            free(d->metadata);
            d->metadata = ms;
        }
        if (bad) {
            rg_guard_free(g);
            rg__job_finish_error(job, 500, "internal_error", "redaction failed (out of memory)");
            return;
        }
    }
    int64_t doc_id = 0, n_chunks = 0;
    int changed = 0;
    rg_guard_stats st;
    rc = rg__be_ingest_file(s, d->coll_id, d->source, d->mime, d->data, d->len, d->metadata, g,
                            &st, &doc_id, &n_chunks, &changed, &err);
    rg_guard_free(g);
    if (rc == RG_OK) add_stats(&total, &st);
    /* the raw body is no longer needed: do not keep it in freed memory */
    memset(d->data, 0, d->len);
    if (rc != RG_OK) {
        int st_code = rc == RG_UNSUPPORTED || rc == RG_FORMAT || rc == RG_INVALID ? 400
                      : rc == RG_LIMIT ? 413 : rc == RG_BUSY ? 503 : 500;
        rg__job_finish_error(job, st_code, st_code == 400 ? "invalid_request"
                                           : st_code == 413 ? "request_too_large"
                                                            : "internal_error",
                             "%s", rg_err_text(&err));
        return;
    }
    atomic_fetch_add(&s->write_epoch, 1);
    json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "object", "document", "id", (json_int_t)doc_id,
                          "chunks", (json_int_t)n_chunks, "changed", changed);
    if (s->embedder) {
        size_t n_emb = 0;
        rc = rg__be_embed_collection(s, d->coll_id, &n_emb, &err);
        if (rc != RG_OK) {
            /* stored, but not embedded: the next search's refresh retries */
            rg_warn("server: document %lld stored but not embedded: %s", (long long)doc_id,
                    rg_err_text(&err));
            json_object_set_new(o, "embedding_error", json_string(rg_err_text(&err)));
        }
        json_object_set_new(o, "embedded", json_integer((json_int_t)n_emb));
    }
    if (total.total || d->settings) {
        rg_buf sj;
        rg_buf_init(&sj, 0);
        rg_guard_stats_json(&total, &sj);
        json_t *rj = json_loads(sj.data ? sj.data : "{}", 0, NULL);
        rg_buf_free(&sj);
        json_t *set = json_loads(d->settings ? d->settings : "{}", 0, NULL);
        if (json_is_true(json_object_get(set, "redact")))
            json_object_set_new(o, "redacted", rj ? rj : json_object());
        else
            json_decref(rj);
        json_decref(set);
    }
    rg__metrics_pii(&s->metrics, RG__PII_INGEST, &total);
    rg__job_set_findings(job, &total);
    rg__job_cite(job, doc_id);
    rg__job_finish_json(job, 201, o);
}

void rg__documents_post(rg__req *r, int64_t coll_id, const char *settings_json) {
    doc_job *d = calloc(1, sizeof *d);
    rg_err err;
    if (!d || !(d->settings = strdup(settings_json ? settings_json : "{}"))) {
        doc_job_free(d);
        rg__respond_error(r, 503, "overloaded", "out of memory");
        return;
    }
    d->coll_id = coll_id;
    if (r->pp) {
        rg__part *file = NULL, *src = NULL, *md = NULL;
        for (int i = 0; i < r->nparts; i++) {
            if (!strcmp(r->parts[i].name, "file")) file = &r->parts[i];
            if (!strcmp(r->parts[i].name, "source")) src = &r->parts[i];
            if (!strcmp(r->parts[i].name, "metadata")) md = &r->parts[i];
        }
        if (!file || !file->data.len) {
            doc_job_free(d);
            rg__respond_error(r, 400, "invalid_request",
                              "multipart body needs a non-empty 'file' field");
            return;
        }
        if (src && src->data.len && (memchr(src->data.data, 0, src->data.len) ||
                                     !rg_utf8_valid(src->data.data, src->data.len))) {
            doc_job_free(d);
            rg__respond_error(r, 400, "invalid_request", "'source' must be UTF-8 text");
            return;
        }
        const char *source = src && src->data.len ? src->data.data
                             : file->filename && *file->filename ? file->filename
                                                                 : "upload";
        if (md && md->data.len) {
            json_t *m = json_loadb(md->data.data, md->data.len, 0, NULL);
            if (!json_is_object(m)) {
                json_decref(m);
                doc_job_free(d);
                rg__respond_error(r, 400, "invalid_request", "'metadata' must be a JSON object");
                return;
            }
            d->metadata = json_dumps(m, JSON_COMPACT);
            json_decref(m);
        }
        d->source = strdup(source);
        d->mime = mime_for(file->filename, file->content_type);
        d->data = malloc(file->data.len + 1);
        if (d->data) {
            memcpy(d->data, file->data.data, file->data.len);
            d->data[file->data.len] = 0;
            d->len = file->data.len;
        }
    } else {
        rg__doc_req q;
        if (rg__parse_doc(r->body.data, r->body.len, &q, &err) != RG_OK) {
            doc_job_free(d);
            rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
            return;
        }
        d->metadata = q.metadata ? json_dumps(q.metadata, JSON_COMPACT) : NULL;
        if (q.source[0]) {
            d->source = strdup(q.source);
        } else {
            char hex[65], src[40];
            rg_sha256_hex(q.text, q.text_len, hex);
            snprintf(src, sizeof src, "text-%.16s", hex);
            d->source = strdup(src);
        }
        d->mime = mime_for(d->source, "text/plain");
        d->data = q.text; /* taken over */
        d->len = q.text_len;
        q.text = NULL;
        rg__doc_req_free(&q);
    }
    if (!d->source || !d->data) {
        doc_job_free(d);
        rg__respond_error(r, 503, "overloaded", "out of memory");
        return;
    }
    rg__job_start(r, doc_run, d, doc_job_free, 0);
}
