/* server.h - ragd's HTTP server: the OpenAI-compatible API (chat,
 * completions, embeddings, models), the collections API (documents,
 * search), RAG chat with citations, /health and /metrics.
 *
 * libmicrohttpd runs the sockets (internal epoll threads, a pool of them);
 * slow work (generation, embeddings, upstream calls) runs on a separate
 * pool of worker threads while the connection is suspended, so a long
 * generation never stalls /health or search on the same poll thread.
 *
 * Invariants: every response body is JSON (or SSE / Prometheus text);
 * every error has OpenAI's shape {"error":{"message","type","code"}};
 * with API keys configured every route but /health requires one, and a key
 * only ever sees its own tenant's collections. */
#ifndef RG_SERVER_H
#define RG_SERVER_H

#include <stddef.h>

#include "core/status.h"

typedef struct rg_server rg_server;

typedef struct rg_server_key {
    const char *key;    /* the secret as given; hashed at rg_server_new, never kept */
    const char *tenant; /* NULL: derived from the key's hash ("k" + 12 hex) */
    const char *tools;  /* built-in tools the server may run for this key, comma-separated
                           (search_collection, sql_query, calculator, all); NULL: none */
} rg_server_key;

typedef struct rg_server_config {
    const char *host;        /* "127.0.0.1" */
    int port;                /* 0 = any free port (see rg_server_port) */
    const char *data_dir;    /* store directory ("ragd-data") */
    const char *model_path;  /* local GGUF chat model or NULL */
    const char *embed_model_path; /* GGUF embedding model or NULL */
    const char *upstream_url;     /* OpenAI-compatible base URL (".../v1") or NULL */
    const char *upstream_key;     /* bearer token for the upstream or NULL */
    const char *upstream_model;   /* model name sent upstream (NULL: the client's) */
    const rg_server_key *keys;    /* n_keys API keys; 0 = open server */
    int n_keys;
    int threads;          /* MHD poll threads (default 2) */
    int workers;          /* generation / embedding worker threads (default 2) */
    int max_queue;        /* queued jobs before 503 (default 64) */
    int max_inflight;     /* requests in flight before 503 (default 512) */
    int max_per_key;      /* concurrent requests per key before 429 (default 16) */
    int max_connections;  /* sockets (default 1024) */
    size_t max_body;      /* JSON body bytes before 413 (default RG_MAX_JSON_BYTES) */
    size_t max_upload;    /* multipart upload bytes before 413 (RG_MAX_HTTP_BODY_BYTES) */
    size_t max_header;    /* per-connection header memory (default 32 KiB) */
    int idle_timeout_s;   /* idle / slow client timeout (default 30) */
    int request_timeout_s; /* wall-clock budget of one request (default 300) */
    int cache_entries;    /* response cache size, 0 disables (default 256) */
    int cache_ttl_s;      /* default 600 */
    int max_batch;        /* local model: sequences decoded together (default 16) */
    int ctx_size;         /* local model context (0 = model default, capped) */
    int kv_tokens;        /* local model: KV pool in tokens over all sequences (0 = the
                             context x max_batch / 4; env RAGD_KV_TOKENS) */
    int engine_threads;   /* local model: compute threads of the engine (0 = all CPUs) */
    const char *kv_type;  /* local model: KV cache type "f16" (NULL = default), "f32", "q8_0" */

    /* compliance guard (docs/guard.md) */
    int upstream_redact;  /* PII in prompts to --upstream replaced by placeholders
                             (pseudonym vault per request) and restored in the answer
                             (default 1) */
    const char *upstream_policy_path; /* guard policy for that (NULL: every type
                                         pseudonymised) */
    const char *filter_path;  /* output filter word/pattern list (reloaded on change) */
    int redact_output;        /* PII in model output redacted (default policy) */
    int drop_injected;        /* retrieved chunks flagged as prompt injection are
                                 left out of the prompt (default: flagged only) */
    double injection_threshold; /* <= 0: the guard's default (0.5) */
    const char *audit_path;   /* hash-chained audit log (one line per request) */
    const void *audit_key;    /* HMAC key for it (NULL: plain SHA-256 chain) */
    size_t audit_keylen;
    int audit_sync_ms;        /* audit lines are fdatasync'd in groups at most this
                                 often (default 100); 0: every line before the next */
    const char *const *sql_dbs; /* n_sql_dbs "NAME=PATH" SQLite files for sql_query (read-only) */
    int n_sql_dbs;
    int sql_max_rows;     /* rows one sql_query returns at most (default 100) */
    int sql_timeout_ms;   /* run time of one sql_query (default 2000) */
    int tool_rounds;      /* server-run tool loop: model turns with tools at most (default 4) */
    const char *open_tools; /* built-in tools allowed on a server without API keys (NULL: none) */
} rg_server_config;

/* Fills c with the defaults above. */
void rg_server_config_default(rg_server_config *c);

/* Loads models, opens the store under data_dir and binds the socket (port 0
 * picks a free one).  The config's strings are copied.  On success *out is
 * a running server; free it with rg_server_free. */
rg_status rg_server_start(const rg_server_config *cfg, rg_server **out, rg_err *err);
/* The bound port. */
int rg_server_port(const rg_server *s);
/* Stops accepting, cancels running generations, joins threads, frees. */
void rg_server_free(rg_server *s);

/* Reads an API-key file: one key per line, optionally followed by
 * whitespace and a tenant name and/or `tools=LIST` (the key's allowlist
 * of built-in tools, comma-separated); '#' starts a comment.  *keys is a malloc'd
 * array whose strings live in the same block (free(*keys) once). */
rg_status rg_server_keys_load(const char *path, rg_server_key **keys, int *n, rg_err *err);

#endif
