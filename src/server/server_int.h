/* server_int.h - internals of the HTTP server shared by its files:
 * request context, jobs (work off the poll threads), metrics, cache,
 * request-JSON parsing, routes.
 *
 * Threads: MHD poll threads run the access handler and the SSE content
 * reader; worker threads run jobs.  A job is shared by both (refcounted,
 * its own mutex); the connection is suspended while the job has nothing to
 * send and resumed by the worker when it does. */
#ifndef RG_SERVER_INT_H
#define RG_SERVER_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "server/server.h"
#include "store/store.h"
#include "rag/rag.h"
#include "guard/guard.h"

/* ---- routes (also the metric label set) ---- */
#define RG__ROUTES(X)                                   \
    X(OTHER, "other")                                   \
    X(HEALTH, "/health")                                \
    X(METRICS, "/metrics")                              \
    X(MODELS, "/v1/models")                             \
    X(CHAT, "/v1/chat/completions")                     \
    X(COMPLETIONS, "/v1/completions")                   \
    X(EMBEDDINGS, "/v1/embeddings")                     \
    X(COLLECTIONS, "/v1/collections")                   \
    X(COLLECTION, "/v1/collections/{c}")                \
    X(DOCUMENTS, "/v1/collections/{c}/documents")       \
    X(DOCUMENT, "/v1/collections/{c}/documents/{id}")   \
    X(SEARCH, "/v1/collections/{c}/search")            \
    X(PLAN_PREDICT, "/v1/plan/predict")                 \
    X(PLAN_COST, "/v1/plan/cost")

typedef enum {
#define RG__ROUTE_ENUM(n, s) RG__R_##n,
    RG__ROUTES(RG__ROUTE_ENUM)
#undef RG__ROUTE_ENUM
        RG__R_COUNT
} rg__route;

const char *rg__route_name(rg__route r);

/* ---- metrics (lock-free counters; rendered as Prometheus text) ---- */
#define RG__NBUCKETS 17
typedef struct rg__hist {
    _Atomic uint64_t b[RG__NBUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
} rg__hist;

#define RG__NSTATUS 12 /* distinct status codes tracked per route */
typedef struct rg__metrics {
    rg__hist latency[RG__R_COUNT];
    _Atomic uint64_t requests[RG__R_COUNT][RG__NSTATUS];
    rg__hist ttft, itl, retrieval;
    _Atomic uint64_t tokens_in, tokens_out;
    _Atomic uint64_t cache_hits, cache_misses;
    _Atomic int64_t queue_depth, inflight, jobs_running;
    _Atomic uint64_t client_disconnects;
    _Atomic uint64_t tool_calls[3][2]; /* [RG__BT_*][0 run, 1 denied] */
    /* guard: PII values replaced, by stage and type; retrieved chunks
     * flagged as prompt injection [0 flagged and kept, 1 dropped]; output
     * filter actions [RG_FILTER_FLAG/MASK/BLOCK] */
    _Atomic uint64_t pii[2][RG_PII__COUNT];
    _Atomic uint64_t injection[2];
    _Atomic uint64_t filter[3];
} rg__metrics;

/* Stages at which the server replaces PII: documents added through the API
 * of a collection with "redact" on, prompts sent to --upstream. */
enum { RG__PII_INGEST = 0, RG__PII_UPSTREAM = 1 };
void rg__metrics_pii(rg__metrics *m, int stage, const rg_guard_stats *st);
void rg__metrics_injection(rg__metrics *m, int dropped, size_t n);
void rg__metrics_filter(rg__metrics *m, const uint32_t counts[3]);

void rg__hist_observe(rg__hist *h, double seconds);
void rg__metrics_request(rg__metrics *m, rg__route r, int status, double seconds);
/* Appends the Prometheus text exposition to out. */
void rg__metrics_render(rg__metrics *m, rg_buf *out);

/* ---- response cache: LRU + TTL, keyed by a 32-byte digest ---- */
typedef struct rg__cache rg__cache;
rg__cache *rg__cache_new(int entries, int ttl_s);
void rg__cache_free(rg__cache *c);
/* Returns a malloc'd copy of the value (caller frees) or NULL. */
char *rg__cache_get(rg__cache *c, const uint8_t key[32]);
void rg__cache_put(rg__cache *c, const uint8_t key[32], const char *value);

/* ---- auth ---- */
typedef struct rg__key {
    uint8_t hash[32];
    char tenant[48];
    char id[16]; /* "k" + 12 hex of the hash: names the key in the audit log */
    unsigned tools; /* allowlist of built-in tools (1 << RG__BT_*) */
    _Atomic int inflight;
} rg__key;

/* ---- the server ---- */
typedef struct rg__job rg__job;
typedef struct rg__local rg__local;
#define RG__MAX_CITED 32

typedef struct rg__backend rg__backend; /* models + store, server_backend.c */

struct rg_server {
    rg_server_config cfg;
    char *strs[10]; /* owned copies of cfg strings */
    const void *audit_key; /* start-up only (not kept after rg_server_start) */
    size_t audit_keylen;
    struct MHD_Daemon *daemon;
    int port;
    rg__key *keys;
    int n_keys;
    rg__metrics metrics;
    rg__cache *cache;
    rg__backend *be;
    struct rg_embedder *embedder; /* NULL without --embed-model */
    rg__local *local;             /* NULL without -m */
    struct rg__sqldb *sqldbs;     /* --sql-db databases (n_sqldbs) */
    int n_sqldbs;
    unsigned open_tools;          /* allowlist on a server without keys */
    pthread_mutex_t embed_mu;     /* one rg_embed_texts at a time */
    _Atomic uint64_t write_epoch; /* bumped on every document change (cache key) */
    int64_t started;

    /* guard hooks */
    rg_guard *up_guard;     /* prompts to the upstream (NULL: off) */
    rg_guard *pii_guard;    /* default policy: finding counts for the audit log */
    rg_guard *out_guard;    /* --redact-output */
    rg_filter_list *filter; /* --filter */
    _Atomic uint64_t filter_gen; /* bumped on every reload (cache key) */
    _Atomic uint64_t filter_checked_ns;
    rg_audit *audit;        /* --audit */
    pthread_t audit_thr;    /* group commit of the audit log (audit_sync_ms > 0) */
    int audit_thr_on, audit_stop;
    pthread_mutex_t audit_mu;
    pthread_cond_t audit_cv;

    /* worker pool */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    rg__job **queue;
    int qhead, qlen, qcap;
    pthread_t *workers;
    int n_workers;
    int stopping;
    /* every live job (to resume suspended connections at shutdown) */
    rg__job *jobs_head;
};

/* ---- request context (one per HTTP request) ---- */
typedef struct rg__part {
    char *name, *filename, *content_type;
    rg_buf data;
} rg__part;

typedef struct rg__req {
    rg_server *srv;
    struct MHD_Connection *conn;
    rg__route route;
    int method; /* 'G' GET, 'P' POST, 'D' DELETE, other 0 */
    char coll[128]; /* {c} as given (validated) */
    char docid[128];
    char url[256];
    uint64_t t0;
    rg__key *key; /* NULL on an open server */
    int counted;  /* holds an inflight slot (global + key) */
    int status;   /* status sent (metrics) */
    int responded;
    int early_status; /* response decided before the body was read */
    rg_buf body;
    int too_large;
    struct MHD_PostProcessor *pp;
    rg__part parts[8];
    int nparts;
    rg__job *job;
    /* audit: findings, documents cited (routes answered on the poll thread) */
    rg_guard_stats findings;
    int64_t cited[RG__MAX_CITED];
    int ncited;
} rg__req;

/* Queues a JSON response (takes ownership of j). */
void rg__respond_json(rg__req *r, int status, json_t *j);
void rg__respond_text(rg__req *r, int status, const char *ctype, const char *body, size_t len);
/* OpenAI-shaped error: {"error":{"message","type","param","code"}}. */
void rg__respond_error(rg__req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Direct JSON writing for hot responses (jsonw.c): the same bytes as
 * json_dumps(JSON_COMPACT) of the same values; invalid UTF-8 -> U+FFFD. */
rg_status rg__jw_str(rg_buf *b, const char *s, size_t n); /* "escaped" */
rg_status rg__jw_cstr(rg_buf *b, const char *s);          /* NULL -> "" */
rg_status rg__jw_int(rg_buf *b, long long v);
rg_status rg__jw_real(rg_buf *b, double v);
/* The store's name of collection `name` for this request's tenant. */
void rg__coll_fullname(const rg__req *r, const char *name, char *out, size_t cap);
/* Tenant prefix ("" on an open server). */
const char *rg__tenant(const rg__req *r);

/* ---- jobs ---- */
typedef void (*rg__job_fn)(rg__job *job);

struct rg__job {
    pthread_mutex_t mu;
    int refs;
    rg_server *srv;
    struct MHD_Connection *conn;
    rg__job *next, *prev; /* srv->jobs_head list */
    int suspended, done, streaming, conn_gone;
    _Atomic int cancelled;
    rg_buf out;       /* streaming: bytes not yet given to MHD */
    size_t out_pos;
    int status;       /* non-streaming result */
    char *body;
    size_t body_len;
    const char *ctype;
    rg__job_fn run;
    void *ctx;
    void (*ctx_free)(void *);
    uint64_t t0, deadline_ns;
    rg__route route;
    char tenant[48];
    /* for the audit record: guard findings (types and counts), the
     * collection asked and the documents cited */
    rg_guard_stats findings;
    char coll[128];
    int64_t cited[RG__MAX_CITED];
    int ncited;
    unsigned tools; /* the key's allowlist of built-in tools (1 << RG__BT_*) */
};

/* Records a cited document for the audit log (duplicates ignored). */
void rg__job_cite(rg__job *j, int64_t doc_id);
/* Re-reads the --filter list when its file changed (at most once a
 * second); returns the list or NULL. */
rg_filter_list *rg__filter_list(rg_server *s);

/* Adds counts to the job's findings (any thread). */
void rg__job_set_findings(rg__job *j, const rg_guard_stats *st);

/* Starts fn on a worker with the connection suspended.  streaming: a 200
 * text/event-stream response is queued now and fed by rg__job_emit.
 * Returns 0, or -1 after responding 503 (queue full). ctx is freed with
 * ctx_free when the job is freed (also on failure). */
int rg__job_start(rg__req *r, rg__job_fn fn, void *ctx, void (*ctx_free)(void *), int streaming);
/* Streaming: appends bytes for the client (wakes the connection). */
void rg__job_emit(rg__job *j, const char *data, size_t len);
/* Non-streaming: sets the response (takes ownership of j). */
void rg__job_finish_json(rg__job *job, int status, json_t *j);
/* Non-streaming: a JSON body already written (copied). */
void rg__job_finish_text(rg__job *job, int status, const char *body, size_t len);
void rg__job_finish_error(rg__job *job, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 1 when the client went away, the deadline passed or the server stops:
 * generation loops poll this between tokens. */
int rg__job_should_stop(rg__job *j);
json_t *rg__error_json(const char *code, const char *msg, const char *type);
const char *rg__error_type(int status);

/* ---- request JSON (fuzzed: fuzz/fuzz_request_json.c) ---- */
typedef struct rg__msg {
    char role[16];
    char *content; /* owned, NUL-terminated, valid UTF-8 */
    json_t *tool_calls;   /* assistant: validated tool_calls array or NULL (owned ref) */
    char tool_call_id[72]; /* role tool: the call it answers ("" when not given) */
    char name[72];         /* role tool: the function's name when given */
} rg__msg;

typedef struct rg__gen_req {
    char model[128];
    rg__msg *msgs; /* chat */
    int n_msgs;
    char *prompt; /* completions (owned) */
    double temperature, top_p;
    int has_temperature;
    int max_tokens; /* 0 = default */
    char *stop[4];
    int n_stop;
    uint64_t seed;
    int has_seed;
    int stream, include_usage;
    char collection[128]; /* RAG: "collection" or model "rag:<name>" */
    int k;
    /* structured output and tools (validated shapes; owned refs or NULL) */
    json_t *response_format; /* {"type":"json_object"} | {"type":"json_schema",...}; text -> NULL */
    json_t *tools;           /* [{"type":"function","function":{name,description,parameters}}] */
    json_t *tool_choice;     /* "auto" | "none" | "required" | {"type":"function",...} or NULL */
    int parallel_tool_calls; /* default 1 */
    int server_tools;        /* "tool_execution": "server" */
} rg__gen_req;

typedef struct rg__search_req {
    char *query; /* owned */
    int k;
    char mode[16];  /* bm25 | vector | hybrid, "" = the collection's default */
    json_t *filter; /* object or NULL (owned ref) */
} rg__search_req;

typedef struct rg__doc_req {
    char *text; /* owned */
    size_t text_len;
    char source[512];
    json_t *metadata; /* object or NULL (owned ref) */
} rg__doc_req;

typedef struct rg__embed_req {
    char model[128];
    char **inputs; /* owned */
    int n_inputs;
    int base64; /* encoding_format "base64": little-endian f32, base64 */
} rg__embed_req;

/* Each parses body[0..len) (any bytes) and validates shapes and ranges.
 * On failure returns RG_FORMAT/RG_INVALID/RG_LIMIT with err naming the
 * field; the out struct is then already freed. */
rg_status rg__parse_gen(const char *body, size_t len, int chat, rg__gen_req *out, rg_err *err);
void rg__gen_req_free(rg__gen_req *g);
rg_status rg__parse_search(const char *body, size_t len, rg__search_req *out, rg_err *err);
void rg__search_req_free(rg__search_req *s);
rg_status rg__parse_doc(const char *body, size_t len, rg__doc_req *out, rg_err *err);
void rg__doc_req_free(rg__doc_req *d);
rg_status rg__parse_embed(const char *body, size_t len, rg__embed_req *out, rg_err *err);
void rg__embed_req_free(rg__embed_req *e);
rg_status rg__parse_collection(const char *body, size_t len, char *name, size_t cap, rg_err *err);
/* {"redact": true, "redact_policy": {...}} of a collection-create body:
 * *settings the collection's settings JSON (malloc'd) or NULL. */
rg_status rg__parse_collection_settings(const char *body, size_t len, char **settings,
                                        rg_err *err);
/* Collection names: [A-Za-z0-9_.-]{1,64}, no "__", not starting with '.'. */
int rg__valid_name(const char *s);

/* ---- local model (local.c) ---- */
struct rg_grammar;
typedef struct rg__local_params {
    double temperature, top_p;
    int max_tokens;
    uint64_t seed;
    int has_seed;
    /* optional constraint (response_format, forced tool calls): every
     * token keeps the output a prefix of a sentence of the grammar, and
     * the sentence completes within max_tokens */
    const struct rg_grammar *grammar;
    int full_masks;    /* mask every step (no candidate checks): benchmarks */
    uint64_t *masks;   /* optional out: full masks computed */
} rg__local_params;
/* Called with each generated piece (bytes; may split a code point); a
 * nonzero return stops generation. */
typedef int (*rg__piece_fn)(void *ud, const char *s, size_t n);
rg_status rg__local_open(const char *path, int ctx_size, int max_batch, int kv_tokens, int n_threads,
                         const char *kv_type,
                         rg__local **out, rg_err *err);
/* The continuous-batching engine's gauges (running, waiting, KV blocks,
 * prefix-cache tokens). */
struct rg_sched_metrics;
void rg__local_metrics(rg__local *L, struct rg_sched_metrics *out);
void rg__local_close(rg__local *L);
/* Renders msgs (after an optional extra system message) with the model's
 * chat template, ending with the assistant turn's opening. */
rg_status rg__local_render(rg__local *L, const rg__msg *msgs, int n, const char *system_extra,
                           rg_buf *out, rg_err *err);
/* Tokenizes prompt and generates; *n_in / *n_out get token counts and
 * finish "stop" or "length".  Serialised on the model's mutex. */
rg_status rg__local_generate(rg__local *L, const char *prompt, const rg__local_params *p,
                             rg__piece_fn fn, void *ud, int *n_in, int *n_out, char finish[16],
                             rg_err *err);

/* The chat family of the local model (rg_llm_chat_family). */
int rg__local_family(rg__local *L);

/* ---- OpenAI tools with the local model (toolcall.c) ---- */
enum { RG__TF_HERMES = 0, RG__TF_LLAMA3 = 1, RG__TF_MISTRAL = 2 };
/* The tool-call format of a chat family (hermes is the generic one). */
int rg__tool_fmt_of(int chat_family);
/* The text that starts a call in format fmt. */
const char *rg__tool_marker(int fmt);
/* Appends the system-prompt text describing tools (validated array). */
rg_status rg__tools_system(int fmt, json_t *tools, rg_buf *out);
/* A copy of the conversation with assistant tool_calls and tool results
 * written out in format fmt (roles mapped: tool -> user / ipython).
 * *out: rg__tools_history_free(*out, n). */
rg_status rg__tools_history(int fmt, const rg__msg *in, int n, rg__msg **out, rg_err *err);
void rg__tools_history_free(rg__msg *m, int n);
struct rg_grammar;
/* A grammar whose sentences are exactly the calls of format fmt to the
 * tools (only the one named `only` when not NULL) with arguments valid
 * for each function's parameters schema; up to 4 calls when parallel.
 * *out owned by the caller (rg_grammar_free). */
rg_status rg__tools_grammar(int fmt, json_t *tools, const char *only, int parallel,
                            struct rg_grammar **out, rg_err *err);
/* Parses calls from model output s[0..n): an array of OpenAI tool calls
 * ({"id","type":"function","function":{"name","arguments": JSON text}})
 * or NULL when there is no valid call; *content_end = bytes of text
 * before the first call (n when none).  Caller owns the array. */
json_t *rg__tools_parse(int fmt, json_t *tools, const char *s, size_t n, size_t *content_end);

/* ---- built-in tools run by the server (builtin.c) ---- */
enum { RG__BT_SEARCH = 0, RG__BT_SQL = 1, RG__BT_CALC = 2, RG__BT_COUNT = 3 };
struct rg_sqltool;
typedef struct rg__sqldb {
    struct rg_sqltool *tool;
    pthread_mutex_t mu; /* one SQLite connection: one query at a time */
} rg__sqldb;
const char *rg__builtin_name(int which);
/* RG__BT_* of a name, or -1. */
int rg__builtin_find(const char *name);
/* "a,b,c" (or "all") -> a mask of 1 << RG__BT_*; RG_INVALID naming an unknown tool. */
rg_status rg__builtin_parse_list(const char *list, unsigned *mask, rg_err *err);
/* Opens the "NAME=PATH" databases read-only (rg__sqldbs_close frees). */
rg_status rg__sqldbs_open(rg_server *s, const char *const *specs, int n, rg_err *err);
void rg__sqldbs_close(rg_server *s);
/* The OpenAI tool definition of a built-in (new reference); tenant's
 * collections are search_collection's choices. */
json_t *rg__builtin_def(rg_server *s, int which, const char *tenant);
/* Runs a built-in for job's tenant with the parsed arguments; returns the
 * result object (new reference; {"error": ...} when it failed).
 * search_collection appends its chunks to citations (numbered on). The
 * caller has checked the allowlist. */
json_t *rg__builtin_run(rg__job *job, int which, json_t *args, json_t *citations);

/* ---- routes (server_routes.c) ---- */
void rg__route_dispatch(rg__req *r);

/* ---- backend: store, BM25 index cache, ingest (backend.c) ---- */
rg_status rg__backend_open(rg_server *s, rg_err *err);
void rg__backend_close(rg_server *s);
rg_store *rg__be_store(rg_server *s);

typedef struct rg__rag_ref {
    rg_rag *rag;
    void *priv;
} rg__rag_ref;

/* A retrieval handle for the collection (id, store name), refreshed to
 * `generation`; release with rg__be_rag_put. */
rg_status rg__be_rag_get(rg_server *s, int64_t coll_id, const char *fullname, int64_t generation,
                         rg__rag_ref *out, rg_err *err);
void rg__be_rag_put(rg_server *s, rg__rag_ref *ref);
/* Top-k chunks (fetched) for query by mode (an rg_rag_mode, or -1 for
 * the handle's default: hybrid when the collection has vectors), filtered
 * by metadata equality when filter is an object.  *out:
 * rg_rag_results_clear. */
rg_status rg__be_search(rg_server *s, rg_rag *rag, const char *query, int k, int mode,
                        json_t *filter, rg_rag_results *out, rg_err *err);
/* --embed-model: embeds the chunks of collection cid that have no vector
 * yet and records the model in its settings (*n_embedded).  A collection
 * recorded with another model is left alone (RG_OK, 0). */
rg_status rg__be_embed_collection(rg_server *s, int64_t cid, size_t *n_embedded, rg_err *err);
/* Id and generation of a collection by its store name (RG_NOTFOUND). */
rg_status rg__be_coll_lookup(rg_server *s, const char *fullname, int64_t *id, int64_t *gen,
                             rg_err *err);
/* Drops the cached index of a deleted collection. */
void rg__be_forget(rg_server *s, int64_t coll_id);
/* Parses and chunks a document and stores it (one transaction).  guard
 * (may be NULL): chunk text and headings are redacted first, counts added
 * to *stats (may be NULL). */
rg_status rg__be_ingest_file(rg_server *s, int64_t coll_id, const char *source, const char *mime,
                             const char *text, size_t len, const char *metadata_json,
                             const rg_guard *guard, rg_guard_stats *stats,
                             int64_t *doc_id, int64_t *n_chunks, int *changed, rg_err *err);

/* ---- documents POST (docs.c): ingest as a job (redaction, embeddings) ---- */
void rg__documents_post(rg__req *r, int64_t coll_id, const char *settings_json);
/* The collection's redaction guard from its settings ({"redact":true,
 * "redact_policy":{...}}); *out NULL when redaction is off.  rg_guard_free. */
rg_status rg__coll_guard(const char *settings_json, rg_guard **out, rg_err *err);

#endif
