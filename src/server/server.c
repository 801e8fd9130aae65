/* server.c - libmicrohttpd glue: daemon start/stop, the access handler
 * (auth, limits, body accumulation, dispatch), responses, and jobs that
 * run off the poll threads with the connection suspended.
 *
 * Order of checks on a request: route -> API key (401) -> in-flight limits
 * (503 global, 429 per key) -> declared body size (413) -> body -> handler.
 * Everything a client sends is bounded: headers by MHD's per-connection
 * memory, bodies by max_body/max_upload, time by the idle timeout (MHD)
 * and the request deadline (checked on every body chunk and in jobs). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "embed/embed.h"
#include "server/server_int.h"

static const char *route_names[] = {
#define RG__ROUTE_NAME(n, s) s,
    RG__ROUTES(RG__ROUTE_NAME)
#undef RG__ROUTE_NAME
};

const char *rg__route_name(rg__route r) {
    return (unsigned)r < RG__R_COUNT ? route_names[r] : "other";
}

void rg_server_config_default(rg_server_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->data_dir = "ragd-data";
    c->threads = 2;
    c->workers = 2;
    c->max_queue = 64;
    c->max_inflight = 512;
    c->max_per_key = 16;
    c->max_connections = 1024;
    c->max_body = RG_MAX_JSON_BYTES;
    c->max_upload = RG_MAX_HTTP_BODY_BYTES;
    c->max_header = 32 << 10;
    c->idle_timeout_s = 30;
    c->request_timeout_s = 300;
    c->cache_entries = 256;
    c->cache_ttl_s = 600;
    c->upstream_redact = 1;
    c->audit_sync_ms = 100;
    c->sql_max_rows = 100;
    c->sql_timeout_ms = 2000;
    c->tool_rounds = 4;
}

/* ------------------------------------------------------------------ */
/* responses */

const char *rg__error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 408: return "timeout_error";
    case 409: return "conflict_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 501: return "not_implemented_error";
    case 502: return "upstream_error";
    case 503: return "overloaded_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json_t *rg__error_json(const char *code, const char *msg, const char *type) {
    return json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", msg, "type", type, "param",
                     "code", code);
}

static void add_common_headers(struct MHD_Response *resp) {
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

void rg__respond_text(rg__req *r, int status, const char *ctype, const char *body, size_t len) {
    if (r->responded) return;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return;
    MHD_add_response_header(resp, "Content-Type", ctype);
    add_common_headers(resp);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 429 || status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    r->status = status;
}

void rg__respond_json(rg__req *r, int status, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
            "\"code\":\"internal_error\"}}";
        rg__respond_text(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    rg__respond_text(r, status, "application/json", s, strlen(s));
    free(s);
}

void rg__respond_error(rg__req *r, int status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rg__respond_json(r, status, rg__error_json(code, msg, rg__error_type(status)));
}

const char *rg__tenant(const rg__req *r) { return r->key ? r->key->tenant : ""; }

void rg__coll_fullname(const rg__req *r, const char *name, char *out, size_t cap) {
    if (r->key)
        snprintf(out, cap, "%s__%s", r->key->tenant, name);
    else
        snprintf(out, cap, "%s", name);
}

/* ------------------------------------------------------------------ */
/* jobs */

static void job_unref(rg__job *j) {
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    rg_server *s = j->srv;
    pthread_mutex_lock(&s->qmu);
    if (j->prev) j->prev->next = j->next;
    else if (s->jobs_head == j) s->jobs_head = j->next;
    if (j->next) j->next->prev = j->prev;
    pthread_mutex_unlock(&s->qmu);
    if (j->ctx_free) j->ctx_free(j->ctx);
    rg_buf_free(&j->out);
    free(j->body);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* Called with j->mu held: wakes the connection if it sleeps. */
static void job_wake_locked(rg__job *j) {
    if (j->suspended && !j->conn_gone) {
        j->suspended = 0;
        MHD_resume_connection(j->conn);
    }
}

void rg__job_emit(rg__job *j, const char *data, size_t len) {
    pthread_mutex_lock(&j->mu);
    if (!j->conn_gone && rg_buf_append(&j->out, data, len) != RG_OK) atomic_store(&j->cancelled, 1);
    job_wake_locked(j);
    pthread_mutex_unlock(&j->mu);
}

void rg__job_finish_json(rg__job *j, int status, json_t *body) {
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    pthread_mutex_lock(&j->mu);
    free(j->body);
    j->body = s;
    j->body_len = s ? strlen(s) : 0;
    j->status = s ? status : 500;
    j->ctype = "application/json";
    pthread_mutex_unlock(&j->mu);
}

void rg__job_finish_text(rg__job *j, int status, const char *body, size_t len) {
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, body, len);
        s[len] = 0;
    }
    pthread_mutex_lock(&j->mu);
    free(j->body);
    j->body = s;
    j->body_len = s ? len : 0;
    j->status = s ? status : 500;
    j->ctype = "application/json";
    pthread_mutex_unlock(&j->mu);
}

void rg__job_finish_error(rg__job *j, int status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rg__job_finish_json(j, status, rg__error_json(code, msg, rg__error_type(status)));
}

void rg__job_cite(rg__job *j, int64_t doc_id) {
    pthread_mutex_lock(&j->mu);
    int dup = 0;
    for (int i = 0; i < j->ncited; i++) dup |= j->cited[i] == doc_id;
    if (!dup && j->ncited < RG__MAX_CITED) j->cited[j->ncited++] = doc_id;
    pthread_mutex_unlock(&j->mu);
}

rg_filter_list *rg__filter_list(rg_server *s) {
    if (!s->filter) return NULL;
    uint64_t now = rg_now_ns(), last = atomic_load(&s->filter_checked_ns);
    if (now - last >= 1000000000ull &&
        atomic_compare_exchange_strong(&s->filter_checked_ns, &last, now)) {
        int reloaded = 0;
        rg_err err;
        rg_err_clear(&err);
        if (rg_filter_list_refresh(s->filter, &reloaded, &err) != RG_OK)
            rg_warn("server: --filter: %s (the previous list stays in force)", rg_err_text(&err));
        if (reloaded) {
            atomic_fetch_add(&s->filter_gen, 1);
            rg_info("server: --filter reloaded (%zu entries)", rg_filter_list_size(s->filter));
        }
    }
    return s->filter;
}

void rg__job_set_findings(rg__job *j, const rg_guard_stats *st) {
    pthread_mutex_lock(&j->mu);
    for (int k = 0; k < RG_PII__COUNT; k++) j->findings.count[k] += st->count[k];
    j->findings.total += st->total;
    pthread_mutex_unlock(&j->mu);
}

int rg__job_should_stop(rg__job *j) {
    if (atomic_load(&j->cancelled)) return 1;
    if (j->srv->stopping) return 1;
    if (j->deadline_ns && rg_now_ns() > j->deadline_ns) return 1;
    /* A suspended connection does not notice a hang-up: peek the socket. */
    int gone = 0;
    pthread_mutex_lock(&j->mu);
    if (j->conn_gone) {
        gone = 1;
    } else if (j->suspended) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(j->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
            char c;
            ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                gone = 1;
        }
    }
    pthread_mutex_unlock(&j->mu);
    if (gone) atomic_store(&j->cancelled, 1);
    return gone;
}

static void *worker_main(void *arg) {
    rg_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (!s->stopping && s->qlen == 0) pthread_cond_wait(&s->qcv, &s->qmu);
        if (s->qlen == 0) {
            pthread_mutex_unlock(&s->qmu);
            return NULL;
        }
        rg__job *j = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        pthread_mutex_unlock(&s->qmu);
        atomic_fetch_sub(&s->metrics.queue_depth, 1);
        atomic_fetch_add(&s->metrics.jobs_running, 1);
        if (!rg__job_should_stop(j)) {
            j->run(j);
        } else if (!j->streaming) {
            rg__job_finish_error(j, 503, "cancelled", "request cancelled before it ran");
        }
        atomic_fetch_sub(&s->metrics.jobs_running, 1);
        pthread_mutex_lock(&j->mu);
        j->done = 1;
        if (!j->streaming && !j->body) {
            j->body = strdup("{\"error\":{\"message\":\"internal error: job gave no response\","
                             "\"type\":\"server_error\",\"param\":null,\"code\":\"internal_error\"}}");
            j->body_len = j->body ? strlen(j->body) : 0;
            j->status = 500;
            j->ctype = "application/json";
        }
        job_wake_locked(j);
        pthread_mutex_unlock(&j->mu);
        job_unref(j);
    }
}

/* SSE content reader: hands over what the worker produced; sleeps the
 * connection (suspend) when there is nothing yet. */
static ssize_t job_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    rg__job *j = cls;
    pthread_mutex_lock(&j->mu);
    size_t avail = j->out.len - j->out_pos;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, j->out.data + j->out_pos, n);
        j->out_pos += n;
        if (j->out_pos == j->out.len) {
            rg_buf_reset(&j->out);
            j->out_pos = 0;
        }
        pthread_mutex_unlock(&j->mu);
        return (ssize_t)n;
    }
    if (j->done) {
        pthread_mutex_unlock(&j->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    j->suspended = 1;
    MHD_suspend_connection(j->conn);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

static void job_reader_free(void *cls) {
    rg__job *j = cls;
    /* The response is gone: MHD will not read more (client hung up or done). */
    atomic_store(&j->cancelled, 1);
    job_unref(j);
}

int rg__job_start(rg__req *r, rg__job_fn fn, void *ctx, void (*ctx_free)(void *), int streaming) {
    rg_server *s = r->srv;
    rg__job *j = calloc(1, sizeof *j);
    if (!j) {
        if (ctx_free) ctx_free(ctx);
        rg__respond_error(r, 503, "overloaded", "out of memory");
        return -1;
    }
    pthread_mutex_init(&j->mu, NULL);
    j->srv = s;
    j->conn = r->conn;
    j->run = fn;
    j->ctx = ctx;
    j->ctx_free = ctx_free;
    j->streaming = streaming;
    j->t0 = r->t0;
    j->route = r->route;
    j->deadline_ns = r->t0 + (uint64_t)s->cfg.request_timeout_s * 1000000000ull;
    snprintf(j->tenant, sizeof j->tenant, "%s", rg__tenant(r));
    j->tools = r->key ? r->key->tools : s->open_tools;
    rg_buf_init(&j->out, 0);
    j->refs = 2; /* request + worker */

    pthread_mutex_lock(&s->qmu);
    if (s->stopping || s->qlen >= s->qcap) {
        pthread_mutex_unlock(&s->qmu);
        j->refs = 1;
        job_unref(j);
        rg__respond_error(r, 503, "overloaded", "server overloaded: %d requests queued; retry later",
                          s->cfg.max_queue);
        return -1;
    }
    j->next = s->jobs_head;
    if (s->jobs_head) s->jobs_head->prev = j;
    s->jobs_head = j;
    r->job = j;
    if (streaming) {
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, job_reader, j, job_reader_free);
        if (!resp) {
            s->jobs_head = j->next;
            if (j->next) j->next->prev = NULL;
            pthread_mutex_unlock(&s->qmu);
            r->job = NULL;
            if (ctx_free) ctx_free(ctx);
            rg_buf_free(&j->out);
            pthread_mutex_destroy(&j->mu);
            free(j);
            rg__respond_error(r, 503, "overloaded", "out of memory");
            return -1;
        }
        j->refs++; /* the response's reference */
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        MHD_queue_response(r->conn, 200, resp);
        MHD_destroy_response(resp);
        r->responded = 1;
        r->status = 200;
    } else {
        /* Sleep the connection until the worker has the answer. */
        pthread_mutex_lock(&j->mu);
        j->suspended = 1;
        MHD_suspend_connection(r->conn);
        pthread_mutex_unlock(&j->mu);
    }
    s->queue[(s->qhead + s->qlen) % s->qcap] = j;
    s->qlen++;
    atomic_fetch_add(&s->metrics.queue_depth, 1);
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    return 0;
}

/* ------------------------------------------------------------------ */
/* auth and limits */

static rg__key *find_key(rg_server *s, struct MHD_Connection *c, int *present) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    *present = 0;
    if (!h) return NULL;
    while (*h == ' ') h++;
    if (strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    if (!n) return NULL;
    *present = 1;
    uint8_t d[32];
    rg_sha256(h, n, d);
    /* Compare against every key (no early exit): the time taken does not
     * depend on which key matched or how much of a hash did. */
    rg__key *found = NULL;
    for (int i = 0; i < s->n_keys; i++) {
        int eq = rg_ct_equal(d, s->keys[i].hash, 32);
        if (eq && !found) found = &s->keys[i];
    }
    return found;
}

static int valid_segment(const char *s, size_t n) {
    if (n == 0 || n > 120) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '%' || c == '?' || c == '#') return 0;
    }
    return 1;
}

/* Splits the path into the route and its {c}/{id} parameters. */
static rg__route match_route(const char *url, rg__req *r) {
    if (!strcmp(url, "/health") || !strcmp(url, "/healthz")) return RG__R_HEALTH;
    if (!strcmp(url, "/metrics")) return RG__R_METRICS;
    if (!strcmp(url, "/v1/models")) return RG__R_MODELS;
    if (!strcmp(url, "/v1/chat/completions")) return RG__R_CHAT;
    if (!strcmp(url, "/v1/completions")) return RG__R_COMPLETIONS;
    if (!strcmp(url, "/v1/embeddings")) return RG__R_EMBEDDINGS;
    if (!strcmp(url, "/v1/plan/predict")) return RG__R_PLAN_PREDICT;
    if (!strcmp(url, "/v1/plan/cost")) return RG__R_PLAN_COST;
    if (!strcmp(url, "/v1/collections") || !strcmp(url, "/v1/collections/"))
        return RG__R_COLLECTIONS;
    if (strncmp(url, "/v1/collections/", 16) != 0) return RG__R_OTHER;
    const char *p = url + 16;
    const char *slash = strchr(p, '/');
    size_t clen = slash ? (size_t)(slash - p) : strlen(p);
    if (!valid_segment(p, clen) || clen >= sizeof r->coll) return RG__R_OTHER;
    memcpy(r->coll, p, clen);
    r->coll[clen] = 0;
    if (!slash || !slash[1]) return RG__R_COLLECTION;
    p = slash + 1;
    if (!strcmp(p, "search")) return RG__R_SEARCH;
    if (!strcmp(p, "documents") || !strcmp(p, "documents/")) return RG__R_DOCUMENTS;
    if (strncmp(p, "documents/", 10) != 0) return RG__R_OTHER;
    p += 10;
    size_t dlen = strlen(p);
    if (!valid_segment(p, dlen) || dlen >= sizeof r->docid) return RG__R_OTHER;
    memcpy(r->docid, p, dlen + 1);
    return RG__R_DOCUMENT;
}

static int is_multipart(struct MHD_Connection *c) {
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    return ct && !strncasecmp(ct, "multipart/form-data", 19);
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size) {
    (void)kind;
    (void)transfer_encoding;
    (void)off;
    rg__req *r = cls;
    if (!key) return MHD_YES;
    rg__part *p = NULL;
    for (int i = 0; i < r->nparts; i++)
        if (!strcmp(r->parts[i].name, key)) p = &r->parts[i];
    if (!p) {
        if (r->nparts == (int)(sizeof r->parts / sizeof r->parts[0])) return MHD_YES; /* ignore */
        p = &r->parts[r->nparts++];
        p->name = strdup(key);
        p->filename = filename ? strdup(filename) : NULL;
        p->content_type = content_type ? strdup(content_type) : NULL;
        rg_buf_init(&p->data, !strcmp(key, "file") ? r->srv->cfg.max_upload : (1u << 20));
    }
    if (size && rg_buf_append(&p->data, data, size) != RG_OK) {
        r->too_large = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static void release_slot(rg__req *r) {
    if (!r->counted) return;
    r->counted = 0;
    atomic_fetch_sub(&r->srv->metrics.inflight, 1);
    if (r->key) atomic_fetch_sub(&r->key->inflight, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    rg_server *s = cls;
    rg__req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->srv = s;
        r->conn = conn;
        r->t0 = rg_now_ns();
        snprintf(r->url, sizeof r->url, "%s", url);
        r->method = !strcmp(method, "GET")      ? 'G'
                    : !strcmp(method, "HEAD")   ? 'G'
                    : !strcmp(method, "POST")   ? 'P'
                    : !strcmp(method, "DELETE") ? 'D'
                                                : 0;
        r->route = match_route(url, r);
        rg_buf_init(&r->body, s->cfg.max_body);
        if (r->route == RG__R_OTHER) {
            r->early_status = 404;
            return MHD_YES;
        }
        if (r->route != RG__R_HEALTH && s->n_keys) {
            int present;
            r->key = find_key(s, conn, &present);
            if (!r->key) {
                rg__respond_error(r, 401, present ? "invalid_api_key" : "missing_api_key",
                                  present ? "Incorrect API key provided"
                                          : "You didn't provide an API key: send "
                                            "'Authorization: Bearer KEY'");
                return MHD_YES;
            }
        }
        if (r->route != RG__R_HEALTH && r->route != RG__R_METRICS) {
            /* the client's own limit first (429), then the server's (503) */
            if (r->key && atomic_fetch_add(&r->key->inflight, 1) >= s->cfg.max_per_key) {
                atomic_fetch_sub(&r->key->inflight, 1);
                rg__respond_error(r, 429, "rate_limit_exceeded",
                                  "too many concurrent requests for this API key (limit %d)",
                                  s->cfg.max_per_key);
                return MHD_YES;
            }
            if (atomic_fetch_add(&s->metrics.inflight, 1) >= s->cfg.max_inflight) {
                atomic_fetch_sub(&s->metrics.inflight, 1);
                if (r->key) atomic_fetch_sub(&r->key->inflight, 1);
                rg__respond_error(r, 503, "overloaded",
                                  "server overloaded: %d requests in flight; retry later",
                                  s->cfg.max_inflight);
                return MHD_YES;
            }
            r->counted = 1;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        size_t limit = is_multipart(conn) ? s->cfg.max_upload : s->cfg.max_body;
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > limit) {
                rg__respond_error(r, 413, "request_too_large",
                                  "request body too large (limit %zu bytes)", limit);
                return MHD_YES;
            }
        }
        if (r->method == 'P' && is_multipart(conn)) {
            r->pp = MHD_create_post_processor(conn, 64 << 10, post_iter, r);
            if (!r->pp) {
                r->early_status = 400;
                return MHD_YES;
            }
        }
        return MHD_YES;
    }

    if (*upload_size) {
        /* Body bytes: keep them unless the answer is already decided. */
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->responded || r->early_status || r->too_large) return MHD_YES;
        if (rg_now_ns() - r->t0 > (uint64_t)s->cfg.request_timeout_s * 1000000000ull) {
            rg__respond_error(r, 408, "request_timeout", "request body took too long to arrive");
            return MHD_YES;
        }
        if (r->pp) {
            if (MHD_post_process(r->pp, upload, n) != MHD_YES && !r->too_large)
                r->early_status = 400;
        } else if (rg_buf_append(&r->body, upload, n) != RG_OK) {
            r->too_large = 1;
        }
        return MHD_YES;
    }

    /* Final call (the whole body is here), or a resumed job. */
    if (r->responded) return MHD_YES;
    if (r->job) {
        rg__job *j = r->job;
        pthread_mutex_lock(&j->mu);
        int done = j->done;
        pthread_mutex_unlock(&j->mu);
        if (!done) return MHD_YES; /* spurious wake */
        rg__respond_text(r, j->status, j->ctype ? j->ctype : "application/json",
                         j->body ? j->body : "", j->body_len);
        return MHD_YES;
    }
    if (r->too_large) {
        size_t limit = r->pp ? s->cfg.max_upload : s->cfg.max_body;
        rg__respond_error(r, 413, "request_too_large", "request body too large (limit %zu bytes)",
                          limit);
        return MHD_YES;
    }
    if (r->early_status == 404) {
        rg__respond_error(r, 404, "not_found", "no route for %s %s", method, r->url);
        return MHD_YES;
    }
    if (r->early_status == 400) {
        rg__respond_error(r, 400, "invalid_request", "malformed multipart/form-data body");
        return MHD_YES;
    }
    if (!r->method) {
        rg__respond_error(r, 405, "method_not_allowed", "method %s not allowed", method);
        return MHD_YES;
    }
    rg__route_dispatch(r);
    if (!r->responded && !r->job)
        rg__respond_error(r, 500, "internal_error", "handler gave no response");
    return MHD_YES;
}

/* One audit line per request (not /health, /metrics): key id, route
 * pattern, collection, documents cited, guard finding counts, status. */
static void audit_request(rg_server *s, rg__req *r, int status, const char *coll) {
    if (!s->audit || r->route == RG__R_HEALTH || r->route == RG__R_METRICS) return;
    char ids[RG__MAX_CITED][24];
    const char *docs[RG__MAX_CITED];
    int n = r->ncited < RG__MAX_CITED ? r->ncited : RG__MAX_CITED;
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%lld", (long long)r->cited[i]);
        docs[i] = ids[i];
    }
    rg_audit_record rec = {r->key ? r->key->id : NULL, rg__route_name(r->route),
                           coll && *coll ? coll : NULL, docs, (size_t)n, &r->findings, status};
    rg_err err;
    rg_err_clear(&err);
    if (rg_audit_append(s->audit, &rec, &err) != RG_OK)
        rg_error("server: audit log: %s", rg_err_text(&err));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    rg_server *s = cls;
    rg__req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double secs = (double)(rg_now_ns() - r->t0) / 1e9;
    int status = r->status ? r->status : 499;
    char coll[128];
    snprintf(coll, sizeof coll, "%s", r->coll);
    if (r->job) {
        rg__job *j = r->job;
        pthread_mutex_lock(&j->mu);
        j->conn_gone = 1;
        /* the job's part of the audit record */
        for (int k = 0; k < RG_PII__COUNT; k++) r->findings.count[k] += j->findings.count[k];
        r->findings.total += j->findings.total;
        for (int i = 0; i < j->ncited && r->ncited < RG__MAX_CITED; i++)
            r->cited[r->ncited++] = j->cited[i];
        if (j->coll[0]) snprintf(coll, sizeof coll, "%s", j->coll);
        pthread_mutex_unlock(&j->mu);
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
            atomic_store(&j->cancelled, 1);
            atomic_fetch_add(&s->metrics.client_disconnects, 1);
        }
        job_unref(j);
        r->job = NULL;
    }
    rg__metrics_request(&s->metrics, r->route, status, secs);
    /* the access log (every line passes the PII log filter) */
    rg_debug("http: %s %s -> %d in %.1f ms%s%s", r->method == 'G' ? "GET" : r->method == 'P' ? "POST"
                                                : r->method == 'D' ? "DELETE" : "?",
             r->url, status, secs * 1e3, r->key ? " key " : "", r->key ? r->key->id : "");
    audit_request(s, r, status, coll);
    release_slot(r);
    if (r->pp) MHD_destroy_post_processor(r->pp);
    for (int i = 0; i < r->nparts; i++) {
        free(r->parts[i].name);
        free(r->parts[i].filename);
        free(r->parts[i].content_type);
        rg_buf_free(&r->parts[i].data);
    }
    rg_buf_free(&r->body);
    free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    rg_debug("http: %s", line);
}

/* ------------------------------------------------------------------ */
/* lifecycle */

static char *dup_or_null(rg_server *s, int slot, const char *v) {
    if (!v) return NULL;
    s->strs[slot] = strdup(v);
    return s->strs[slot];
}

/* Group commit of the audit log: one fdatasync per audit_sync_ms for all
 * the lines written meanwhile (a line per request on the poll threads
 * would otherwise cost a disk flush each). */
static void *audit_flusher(void *arg) {
    rg_server *s = arg;
    pthread_mutex_lock(&s->audit_mu);
    while (!s->audit_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)s->cfg.audit_sync_ms * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&s->audit_cv, &s->audit_mu, &ts);
        pthread_mutex_unlock(&s->audit_mu);
        rg_err err;
        rg_err_clear(&err);
        if (rg_audit_sync(s->audit, &err) != RG_OK) rg_error("server: %s", rg_err_text(&err));
        pthread_mutex_lock(&s->audit_mu);
    }
    pthread_mutex_unlock(&s->audit_mu);
    return NULL;
}

/* The guard hooks: upstream prompt redaction, output filter, audit log. */
static rg_status guard_open(rg_server *s, rg_err *err) {
    const rg_server_config *c = &s->cfg;
    rg_status rc = rg_guard_open(&s->pii_guard, NULL, 0, err);
    if (rc == RG_OK && c->upstream_url && c->upstream_redact) {
        static const char all_pseudo[] = "{\"default\":{\"op\":\"pseudonym\"}}";
        rc = c->upstream_policy_path ? rg_guard_open_file(&s->up_guard, c->upstream_policy_path, err)
                                     : rg_guard_open(&s->up_guard, all_pseudo, sizeof all_pseudo - 1, err);
        if (rc != RG_OK && c->upstream_policy_path)
            rg_err_prefix(err, "server: --upstream-policy %s", c->upstream_policy_path);
    }
    if (rc == RG_OK && c->redact_output) rc = rg_guard_open(&s->out_guard, NULL, 0, err);
    if (rc == RG_OK && c->filter_path) {
        rc = rg_filter_list_open(&s->filter, c->filter_path, err);
        if (rc != RG_OK) rg_err_prefix(err, "server: --filter");
        atomic_store(&s->filter_checked_ns, rg_now_ns());
    }
    if (rc == RG_OK && c->audit_path) {
        rc = rg_audit_open(&s->audit, c->audit_path, s->audit_key, s->audit_key ? s->audit_keylen : 0,
                           err);
        s->audit_key = NULL;
        if (rc != RG_OK) rg_err_prefix(err, "server: --audit %s", c->audit_path);
    }
    if (rc == RG_OK && s->audit && c->audit_sync_ms > 0) {
        rg_audit_set_deferred_sync(s->audit, 1);
        if (pthread_create(&s->audit_thr, NULL, audit_flusher, s) == 0)
            s->audit_thr_on = 1;
        else
            rg_audit_set_deferred_sync(s->audit, 0);
    }
    return rc;
}

static void derive_tenant(const uint8_t hash[32], char out[48]) {
    char hex[65];
    rg_hex(hash, 32, hex);
    snprintf(out, 48, "k%.12s", hex);
}

rg_status rg_server_start(const rg_server_config *cfg, rg_server **out, rg_err *err) {
    *out = NULL;
    rg_server *s = calloc(1, sizeof *s);
    if (!s) return rg_failf(err, RG_NOMEM, "server: out of memory");
    s->cfg = *cfg;
    s->cfg.host = dup_or_null(s, 0, cfg->host ? cfg->host : "127.0.0.1");
    s->cfg.data_dir = dup_or_null(s, 1, cfg->data_dir ? cfg->data_dir : "ragd-data");
    s->cfg.model_path = dup_or_null(s, 2, cfg->model_path);
    s->cfg.embed_model_path = dup_or_null(s, 3, cfg->embed_model_path);
    s->cfg.upstream_url = dup_or_null(s, 4, cfg->upstream_url);
    s->cfg.upstream_key = dup_or_null(s, 5, cfg->upstream_key);
    s->cfg.upstream_model = dup_or_null(s, 6, cfg->upstream_model);
    s->cfg.upstream_policy_path = dup_or_null(s, 7, cfg->upstream_policy_path);
    s->cfg.filter_path = dup_or_null(s, 8, cfg->filter_path);
    s->cfg.audit_path = dup_or_null(s, 9, cfg->audit_path);
    s->cfg.audit_key = NULL; /* only used at start-up */
    s->audit_key = cfg->audit_key;
    s->audit_keylen = cfg->audit_keylen;
    s->cfg.keys = NULL;
    if (s->cfg.threads < 1) s->cfg.threads = 1;
    if (s->cfg.threads > RG_MAX_THREADS) s->cfg.threads = RG_MAX_THREADS;
    if (s->cfg.workers < 1) s->cfg.workers = 1;
    /* each generation holds a worker while the engine batches them: give
     * the engine enough workers to fill its batch */
    if (s->cfg.max_batch < 1) s->cfg.max_batch = 16;
    if (s->cfg.model_path && s->cfg.workers < s->cfg.max_batch + 1) s->cfg.workers = s->cfg.max_batch + 1;
    if (s->cfg.workers > RG_MAX_THREADS) s->cfg.workers = RG_MAX_THREADS;
    if (s->cfg.max_queue < 1) s->cfg.max_queue = 1;
    if (s->cfg.max_per_key < 1) s->cfg.max_per_key = 1;
    if (s->cfg.max_inflight < 1) s->cfg.max_inflight = 1;
    if (s->cfg.idle_timeout_s < 1) s->cfg.idle_timeout_s = 1;
    if (s->cfg.request_timeout_s < 1) s->cfg.request_timeout_s = 1;
    s->started = rg_unix_time();
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    pthread_mutex_init(&s->embed_mu, NULL);
    pthread_mutex_init(&s->audit_mu, NULL);
    pthread_cond_init(&s->audit_cv, NULL);

    if (cfg->n_keys > 0) {
        s->keys = calloc((size_t)cfg->n_keys, sizeof *s->keys);
        if (!s->keys) {
            rg_server_free(s);
            return rg_failf(err, RG_NOMEM, "server: out of memory");
        }
        for (int i = 0; i < cfg->n_keys; i++) {
            const char *k = cfg->keys[i].key;
            if (!k || !*k) {
                rg_server_free(s);
                return rg_failf(err, RG_INVALID, "server: API key %d is empty", i + 1);
            }
            rg_sha256(k, strlen(k), s->keys[i].hash);
            char hx[65];
            rg_hex(s->keys[i].hash, 32, hx);
            snprintf(s->keys[i].id, sizeof s->keys[i].id, "k%.12s", hx);
            const char *t = cfg->keys[i].tenant;
            if (t && *t) {
                if (!rg__valid_name(t) || strlen(t) >= sizeof s->keys[i].tenant) {
                    rg_server_free(s);
                    return rg_failf(err, RG_INVALID,
                                    "server: tenant '%s' (key %d): use 1-47 of [A-Za-z0-9_.-], "
                                    "no '__'",
                                    t, i + 1);
                }
                snprintf(s->keys[i].tenant, sizeof s->keys[i].tenant, "%s", t);
            } else {
                derive_tenant(s->keys[i].hash, s->keys[i].tenant);
            }
            if (rg__builtin_parse_list(cfg->keys[i].tools, &s->keys[i].tools, err) != RG_OK) {
                rg_server_free(s);
                return rg_err_prefix(err, "server: API key %d tools", i + 1);
            }
        }
        s->n_keys = cfg->n_keys;
    }

    if (guard_open(s, err) != RG_OK) {
        rg_server_free(s);
        return err->code;
    }
    if (s->cfg.embed_model_path) {
        rg_status erc = rg_embed_open(s->cfg.embed_model_path, 0, &s->embedder, err);
        if (erc != RG_OK) {
            rg_err_prefix(err, "server: --embed-model %s", s->cfg.embed_model_path);
            rg_server_free(s);
            return erc;
        }
    }
    if (s->cfg.model_path) {
        rg_status mrc = rg__local_open(s->cfg.model_path, s->cfg.ctx_size, s->cfg.max_batch, s->cfg.kv_tokens,
                                        s->cfg.engine_threads, s->cfg.kv_type, &s->local, err);
        if (mrc != RG_OK) {
            rg_server_free(s);
            return mrc;
        }
    }
    s->cfg.sql_dbs = NULL; /* opened below; the strings are not kept */
    if (s->cfg.tool_rounds < 1) s->cfg.tool_rounds = 1;
    if (s->cfg.tool_rounds > RG_MAX_TOOL_ROUNDS) s->cfg.tool_rounds = RG_MAX_TOOL_ROUNDS;
    if (s->cfg.sql_max_rows < 1) s->cfg.sql_max_rows = 100;
    if (s->cfg.sql_timeout_ms < 1) s->cfg.sql_timeout_ms = 2000;
    {
        rg_status trc = rg__sqldbs_open(s, cfg->sql_dbs, cfg->n_sql_dbs, err);
        if (trc == RG_OK) trc = rg__builtin_parse_list(cfg->open_tools, &s->open_tools, err);
        if (trc != RG_OK) {
            rg_server_free(s);
            return trc;
        }
        s->cfg.open_tools = NULL;
    }
    s->cache = s->cfg.cache_entries > 0 ? rg__cache_new(s->cfg.cache_entries, s->cfg.cache_ttl_s)
                                        : NULL;
    rg_status rc = rg__backend_open(s, err);
    if (rc != RG_OK) {
        rg_server_free(s);
        return rc;
    }

    s->qcap = s->cfg.max_queue;
    s->queue = calloc((size_t)s->qcap, sizeof *s->queue);
    s->workers = calloc((size_t)s->cfg.workers, sizeof *s->workers);
    if (!s->queue || !s->workers) {
        rg_server_free(s);
        return rg_failf(err, RG_NOMEM, "server: out of memory");
    }
    for (int i = 0; i < s->cfg.workers; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
            rg_server_free(s);
            return rg_failf(err, RG_ERR, "server: cannot start worker threads");
        }
        s->n_workers++;
    }

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->cfg.port);
    if (inet_pton(AF_INET, s->cfg.host, &sa.sin_addr) != 1) {
        rg_server_free(s);
        return rg_failf(err, RG_INVALID, "server: --host '%s' is not an IPv4 address", cfg->host);
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(s->cfg.max_connections > 0 ? s->cfg.max_connections : 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)s->cfg.max_header, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)1024, MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        rg_server_free(s);
        return rg_failf(err, RG_IO, "server: cannot listen on %s:%d: %s", cfg->host, cfg->port,
                        e ? strerror(e) : "libmicrohttpd refused the options");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    *out = s;
    return RG_OK;
}

int rg_server_port(const rg_server *s) { return s->port; }

void rg_server_free(rg_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->qmu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (int i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
    if (s->daemon) {
        /* MHD must not be stopped with suspended connections: wake them
         * all (every job is done or cancelled now). */
        MHD_quiesce_daemon(s->daemon);
        pthread_mutex_lock(&s->qmu);
        for (rg__job *j = s->jobs_head; j; j = j->next) {
            pthread_mutex_lock(&j->mu);
            j->done = 1;
            if (!j->streaming && !j->body) {
                j->status = 503;
                j->ctype = "application/json";
                j->body = strdup("{\"error\":{\"message\":\"server shutting down\",\"type\":"
                                 "\"overloaded_error\",\"param\":null,\"code\":\"shutdown\"}}");
                j->body_len = j->body ? strlen(j->body) : 0;
            }
            job_wake_locked(j);
            pthread_mutex_unlock(&j->mu);
        }
        pthread_mutex_unlock(&s->qmu);
        usleep(50 * 1000);
        MHD_stop_daemon(s->daemon);
    }
    /* Jobs still queued (never run) hold a worker reference. */
    while (s->qlen) {
        rg__job *j = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        job_unref(j);
    }
    rg__backend_close(s);
    rg_guard_free(s->up_guard);
    rg_guard_free(s->pii_guard);
    rg_guard_free(s->out_guard);
    rg_filter_list_free(s->filter);
    if (s->audit_thr_on) {
        pthread_mutex_lock(&s->audit_mu);
        s->audit_stop = 1;
        pthread_cond_signal(&s->audit_cv);
        pthread_mutex_unlock(&s->audit_mu);
        pthread_join(s->audit_thr, NULL);
    }
    rg_audit_close(s->audit); /* syncs what is left */
    pthread_mutex_destroy(&s->audit_mu);
    pthread_cond_destroy(&s->audit_cv);
    if (s->embedder) rg_embed_close(s->embedder);
    rg__local_close(s->local);
    rg__sqldbs_close(s);
    pthread_mutex_destroy(&s->embed_mu);
    if (s->cache) rg__cache_free(s->cache);
    free(s->queue);
    free(s->workers);
    free(s->keys);
    for (size_t i = 0; i < sizeof s->strs / sizeof s->strs[0]; i++) free(s->strs[i]);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    free(s);
}

rg_status rg_server_keys_load(const char *path, rg_server_key **keys, int *n, rg_err *err) {
    *keys = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return rg_failf(err, RG_IO, "%s: %s", path, strerror(errno));
    char line[1024];
    int cap = 0, cnt = 0, lineno = 0;
    struct {
        char key[512], tenant[64], tools[128];
    } *tmp = NULL;
    rg_status rc = RG_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t L = strlen(line);
        if (L == sizeof line - 1 && line[L - 1] != '\n') {
            rc = rg_failf(err, RG_FORMAT, "%s:%d: line too long (max %zu bytes)", path, lineno,
                          sizeof line - 2);
            break;
        }
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char k[1024] = "", f1[1024] = "", f2[1024] = "", extra[8] = "";
        int got = sscanf(line, "%1023s %1023s %1023s %7s", k, f1, f2, extra);
        if (got <= 0) continue;
        /* KEY [TENANT] [tools=LIST], the two optional fields in any order */
        const char *t = "", *tl = "";
        int bad = got == 4;
        const char *fs[2] = {f1, f2};
        for (int fi = 0; fi < got - 1 && fi < 2; fi++) {
            if (!strncmp(fs[fi], "tools=", 6)) bad |= *tl != 0, tl = fs[fi] + 6;
            else bad |= *t != 0, t = fs[fi];
        }
        if (bad || strlen(k) >= sizeof tmp->key || strlen(t) >= sizeof tmp->tenant ||
            strlen(tl) >= sizeof tmp->tools) {
            rc = rg_failf(err, RG_FORMAT, "%s:%d: expected 'KEY [TENANT] [tools=LIST]'", path, lineno);
            break;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            void *p = realloc(tmp, (size_t)cap * sizeof *tmp);
            if (!p) {
                rc = rg_failf(err, RG_NOMEM, "out of memory");
                break;
            }
            tmp = p;
        }
        snprintf(tmp[cnt].key, sizeof tmp[cnt].key, "%s", k);
        snprintf(tmp[cnt].tenant, sizeof tmp[cnt].tenant, "%s", t);
        snprintf(tmp[cnt].tools, sizeof tmp[cnt].tools, "%s", tl);
        cnt++;
    }
    fclose(f);
    if (rc == RG_OK && cnt == 0) rc = rg_failf(err, RG_FORMAT, "%s: no API keys in the file", path);
    if (rc != RG_OK) {
        free(tmp);
        return rc;
    }
    size_t per = sizeof(rg_server_key) + sizeof tmp->key + sizeof tmp->tenant + sizeof tmp->tools;
    char *blk = calloc((size_t)cnt, per);
    if (!blk) {
        free(tmp);
        return rg_failf(err, RG_NOMEM, "out of memory");
    }
    rg_server_key *ks = (rg_server_key *)blk;
    char *strs = blk + (size_t)cnt * sizeof(rg_server_key);
    for (int i = 0; i < cnt; i++) {
        char *kk = strs + (size_t)i * (sizeof tmp->key + sizeof tmp->tenant + sizeof tmp->tools);
        char *tt = kk + sizeof tmp->key;
        char *tl = tt + sizeof tmp->tenant;
        memcpy(kk, tmp[i].key, sizeof tmp->key);
        memcpy(tt, tmp[i].tenant, sizeof tmp->tenant);
        memcpy(tl, tmp[i].tools, sizeof tmp->tools);
        ks[i].key = kk;
        ks[i].tenant = *tt ? tt : NULL;
        ks[i].tools = *tl ? tl : NULL;
    }
    memset(tmp, 0, (size_t)cnt * sizeof *tmp);
    free(tmp);
    *keys = ks;
    *n = cnt;
    return RG_OK;
}
