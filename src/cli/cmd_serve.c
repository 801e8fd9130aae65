/* cmd_serve.c - `ragd serve`: runs the HTTP server until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_llm.h"
#include "core/log.h"
#include "server/server.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void help(void) {
    printf("usage: ragd serve [options]\n\n"
           "HTTP server: OpenAI-compatible API (/v1/chat/completions, /v1/completions,\n"
           "/v1/embeddings, /v1/models), collections API, RAG chat with citations,\n"
           "/health and /metrics (Prometheus).  See docs/api.md.\n\n"
           "options:\n"
           "  --host H             address to listen on (default 127.0.0.1)\n"
           "  --port P             port (default 8080; 0 = any free port, printed)\n"
           "  --data DIR           data directory of the store (default ragd-data)\n"
           "  -m, --model F.gguf   local chat model\n"
           "  --embed-model F.gguf embedding model for /v1/embeddings\n"
           "  --upstream URL       OpenAI-compatible server to generate with (e.g.\n"
           "                       http://127.0.0.1:8000/v1)\n"
           "  --upstream-key K     bearer token for the upstream\n"
           "  --upstream-model M   model name to send upstream (default: the client's)\n"
           "  --api-key KEY[:TENANT]  require this key (repeatable); each key is its own\n"
           "                       tenant unless TENANT names a shared one\n"
           "  --api-keys FILE      keys from a file: 'KEY [TENANT] [tools=LIST]' per line,\n"
           "                       # comments; LIST: the built-in tools the server may run\n"
           "                       for the key (search_collection,sql_query,calculator|all);\n"
           "                       --api-key KEY[:TENANT][:tools=LIST] likewise\n"
           "  --sql-db NAME=PATH   SQLite file the sql_query tool may read (read-only;\n"
           "                       repeatable)\n"
           "  --tool-rounds N      \"tool_execution\":\"server\": model turns with tools at\n"
           "                       most before it must answer (default 4, max 16)\n"
           "  --open-tools LIST    built-in tools allowed on a server without API keys\n"
           "                       (default none)\n"
           "  --threads N          HTTP poll threads (default 2)\n"
           "  --workers N          generation worker threads (default 2; with -m at least\n"
           "                       --max-batch + 1)\n"
           "  --max-batch N        -m: sequences the continuous-batching engine decodes\n"
           "                       together (default 16); KV cache pages are shared\n"
           "  --kv-tokens N        -m: KV-cache pool in tokens over all sequences (default\n"
           "                       context x max-batch / 4; blocks of 32 positions are\n"
           "                       allocated on demand, shared by common prefixes)\n"
           "  --engine-threads N   -m: compute threads of the engine (default: all CPUs)\n"
           "  --kv f16|f32|q8_0    -m: KV cache type (default f16; q8_0 stores about twice\n"
           "                       the tokens in the same memory)\n"
           "  -c, --ctx-size N     -m: tokens per sequence (default: the model's, at most\n"
           "                       4096; may exceed the training context)\n"
           "  --max-queue N        queued generations before 503 (default 64)\n"
           "  --max-inflight N     requests in flight before 503 (default 512)\n"
           "  --max-per-key N      concurrent requests per API key before 429 (default 16)\n"
           "  --max-body BYTES     JSON body limit, 413 above (default 16 MiB)\n"
           "  --max-upload BYTES   multipart upload limit (default 64 MiB)\n"
           "  --timeout S          idle/slow-client timeout in seconds (default 30)\n"
           "  --request-timeout S  wall-clock limit of one request (default 300)\n"
           "  --cache N            response cache entries, 0 = off (default 256)\n"
           "  --cache-ttl S        cache entry lifetime (default 600)\n"
           "  --log-level L        debug|info|warn|error|off (default warn); every log line\n"
           "                       is PII-redacted\n\n"
           "compliance guard (docs/guard.md):\n"
           "  --upstream-redact on|off  PII in prompts sent to --upstream replaced by\n"
           "                       placeholders, restored in the answer (default on)\n"
           "  --upstream-policy F  guard policy for that (default: every type pseudonymised)\n"
           "  --filter FILE        output word/pattern list (block|mask|flag), reloaded\n"
           "                       when the file changes; streaming-safe\n"
           "  --redact-output      also redact PII in model output (default policy)\n"
           "  --drop-injected      leave retrieved chunks flagged as prompt injection out of\n"
           "                       the prompt (default: flag them in citations)\n"
           "  --injection-threshold X  flag at score >= X (default 0.5)\n"
           "  --audit FILE         hash-chained audit log, one line per request (HMAC key\n"
           "                       from $RAGD_AUDIT_KEY; check with 'ragd audit verify')\n"
           "  --audit-sync-ms N    flush audit lines to disk in groups every N ms (default\n"
           "                       100; 0 = fdatasync each line)\n\n"
           "Without --api-key/--api-keys the server is open to anyone who can reach it\n"
           "(it says so at start-up).  Stop it with Ctrl-C (SIGINT) or SIGTERM.\n");
}

int rg_cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    if (rg_cli_wants_help(argc, argv)) {
        help();
        return RG_EXIT_OK;
    }
    rg_server_config cfg;
    rg_server_config_default(&cfg);
    rg_server_key *keys = calloc((size_t)argc, sizeof *keys);
    rg_server_key *file_keys = NULL;
    char **keybufs = calloc((size_t)argc, sizeof *keybufs);
    const char **sqldbs = calloc((size_t)argc, sizeof *sqldbs);
    int nkeys = 0, nbufs = 0;
    int rc = RG_EXIT_OK;
    if (!keys || !keybufs || !sqldbs) {
        free(keys), free(keybufs), free(sqldbs);
        return rg_cli_usage(cmd, "out of memory");
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
#define NEED_VALUE()                                                                               \
    do {                                                                                           \
        if (!v) {                                                                                  \
            rc = rg_cli_usage(cmd, "%s needs a value", a);                                         \
            goto out;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
#define INT_OPT(field, lo, hi)                                                                     \
    do {                                                                                           \
        NEED_VALUE();                                                                              \
        if (rg_cli_int(v, lo, hi, &n)) {                                                           \
            rc = rg_cli_usage(cmd, "%s: expected an integer in [%ld, %ld], got '%s'", a,           \
                              (long)(lo), (long)(hi), v);                                          \
            goto out;                                                                              \
        }                                                                                          \
        cfg.field = n;                                                                             \
    } while (0)
        if (!strcmp(a, "--host")) {
            NEED_VALUE();
            cfg.host = v;
        } else if (!strcmp(a, "--log-level")) {
            NEED_VALUE();
            int l = rg_log_parse_level(v);
            if (l < 0) {
                rc = rg_cli_usage(cmd, "--log-level: expected debug|info|warn|error|off, got '%s'", v);
                goto out;
            }
            rg_log_set_level((rg_log_level)l);
        } else if (!strcmp(a, "--port")) {
            INT_OPT(port, 0, 65535);
        } else if (!strcmp(a, "--data")) {
            NEED_VALUE();
            cfg.data_dir = v;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEED_VALUE();
            cfg.model_path = v;
        } else if (!strcmp(a, "--embed-model")) {
            NEED_VALUE();
            cfg.embed_model_path = v;
        } else if (!strcmp(a, "--upstream")) {
            NEED_VALUE();
            if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
                rc = rg_cli_usage(cmd, "--upstream: expected an http:// or https:// URL, got '%s'",
                                  v);
                goto out;
            }
            cfg.upstream_url = v;
        } else if (!strcmp(a, "--upstream-redact")) {
            NEED_VALUE();
            if (strcmp(v, "on") && strcmp(v, "off")) {
                rc = rg_cli_usage(cmd, "--upstream-redact: expected on or off, got '%s'", v);
                goto out;
            }
            cfg.upstream_redact = !strcmp(v, "on");
        } else if (!strcmp(a, "--upstream-policy")) {
            NEED_VALUE();
            cfg.upstream_policy_path = v;
        } else if (!strcmp(a, "--filter")) {
            NEED_VALUE();
            cfg.filter_path = v;
        } else if (!strcmp(a, "--redact-output")) {
            cfg.redact_output = 1;
        } else if (!strcmp(a, "--drop-injected")) {
            cfg.drop_injected = 1;
        } else if (!strcmp(a, "--injection-threshold")) {
            NEED_VALUE();
            double d;
            if (rg_cli_double(v, &d) || d <= 0 || d > 1) {
                rc = rg_cli_usage(cmd, "--injection-threshold: expected a number in (0, 1], got '%s'", v);
                goto out;
            }
            cfg.injection_threshold = d;
        } else if (!strcmp(a, "--audit")) {
            NEED_VALUE();
            cfg.audit_path = v;
        } else if (!strcmp(a, "--audit-sync-ms")) {
            INT_OPT(audit_sync_ms, 0, 60000);
        } else if (!strcmp(a, "--upstream-key")) {
            NEED_VALUE();
            cfg.upstream_key = v;
        } else if (!strcmp(a, "--upstream-model")) {
            NEED_VALUE();
            cfg.upstream_model = v;
        } else if (!strcmp(a, "--api-key")) {
            NEED_VALUE();
            char *k = strdup(v);
            if (!k) {
                rc = rg_cli_usage(cmd, "out of memory");
                goto out;
            }
            keybufs[nbufs++] = k;
            char *tl = strstr(k, ":tools=");
            if (tl && tl != k) {
                *tl = 0;
                keys[nkeys].tools = tl + 7;
            }
            char *colon = strrchr(k, ':');
            if (colon && colon != k && colon[1]) {
                *colon = 0;
                keys[nkeys].tenant = colon + 1;
            }
            keys[nkeys++].key = k;
        } else if (!strcmp(a, "--api-keys")) {
            NEED_VALUE();
            if (file_keys) {
                rc = rg_cli_usage(cmd, "--api-keys given twice");
                goto out;
            }
            int nf;
            rg_err err;
            if (rg_server_keys_load(v, &file_keys, &nf, &err) != RG_OK) {
                rc = rg_cli_fail(cmd, &err);
                goto out;
            }
            rg_server_key *all = realloc(keys, (size_t)(argc + nf) * sizeof *keys);
            if (!all) {
                rc = rg_cli_usage(cmd, "out of memory");
                goto out;
            }
            keys = all;
            for (int j = 0; j < nf; j++) keys[nkeys++] = file_keys[j];
        } else if (!strcmp(a, "--threads")) {
            INT_OPT(threads, 1, 256);
        } else if (!strcmp(a, "--workers")) {
            INT_OPT(workers, 1, 256);
        } else if (!strcmp(a, "--max-batch")) {
            INT_OPT(max_batch, 1, 128);
        } else if (!strcmp(a, "--kv-tokens")) {
            INT_OPT(kv_tokens, 32, 1 << 24);
        } else if (!strcmp(a, "--kv")) {
            NEED_VALUE();
            rg_dtype kt;
            if (rg__cli_kv_type(v, &kt)) {
                rc = rg_cli_usage(cmd, "--kv: '%s' is not f16, f32 or q8_0", v);
                goto out;
            }
            cfg.kv_type = v;
        } else if (!strcmp(a, "--engine-threads")) {
            INT_OPT(engine_threads, 1, 256);
        } else if (!strcmp(a, "--sql-db")) {
            NEED_VALUE();
            sqldbs[cfg.n_sql_dbs++] = v;
            cfg.sql_dbs = sqldbs;
        } else if (!strcmp(a, "--tool-rounds")) {
            INT_OPT(tool_rounds, 1, 16);
        } else if (!strcmp(a, "--open-tools")) {
            NEED_VALUE();
            cfg.open_tools = v;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            INT_OPT(ctx_size, 16, 1 << 20);
        } else if (!strcmp(a, "--max-queue")) {
            INT_OPT(max_queue, 1, 1000000);
        } else if (!strcmp(a, "--max-inflight")) {
            INT_OPT(max_inflight, 1, 1000000);
        } else if (!strcmp(a, "--max-per-key")) {
            INT_OPT(max_per_key, 1, 1000000);
        } else if (!strcmp(a, "--max-body")) {
            INT_OPT(max_body, 1, 1L << 30);
        } else if (!strcmp(a, "--max-upload")) {
            INT_OPT(max_upload, 1, 1L << 31);
        } else if (!strcmp(a, "--timeout")) {
            INT_OPT(idle_timeout_s, 1, 86400);
        } else if (!strcmp(a, "--request-timeout")) {
            INT_OPT(request_timeout_s, 1, 86400);
        } else if (!strcmp(a, "--cache")) {
            INT_OPT(cache_entries, 0, 1000000);
        } else if (!strcmp(a, "--cache-ttl")) {
            INT_OPT(cache_ttl_s, 1, 86400 * 30);
        } else {
            rc = rg_cli_usage(cmd, "unknown option '%s'", a);
            goto out;
        }
#undef INT_OPT
#undef NEED_VALUE
    }
    cfg.keys = keys;
    cfg.n_keys = nkeys;
    const char *akey = getenv("RAGD_AUDIT_KEY"); /* as `ragd audit verify` reads it */
    if (cfg.audit_path && akey && *akey) {
        cfg.audit_key = akey;
        cfg.audit_keylen = strlen(akey);
    }

    rg_server *srv;
    rg_err err;
    if (rg_server_start(&cfg, &srv, &err) != RG_OK) {
        rc = rg_cli_fail(cmd, &err);
        goto out;
    }
    /* Start-up lines go to stderr so scripts can read the port. */
    fprintf(stderr, "ragd: serving on http://%s:%d (data %s, generator %s)\n", cfg.host,
            rg_server_port(srv), cfg.data_dir,
            cfg.model_path ? cfg.model_path : cfg.upstream_url ? cfg.upstream_url : "extractive");
    if (!nkeys)
        fprintf(stderr, "ragd: WARNING: no --api-key given: the server is open to anyone who can "
                        "reach %s:%d\n",
                cfg.host, rg_server_port(srv));
    else
        fprintf(stderr, "ragd: %d API key(s) configured; every route but /health needs one\n",
                nkeys);
    fflush(stderr);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!g_stop) usleep(100 * 1000);
    fprintf(stderr, "ragd: shutting down\n");
    rg_server_free(srv);
out:
    for (int i = 0; i < nbufs; i++) {
        memset(keybufs[i], 0, strlen(keybufs[i]));
        free(keybufs[i]);
    }
    free(keybufs);
    free(sqldbs);
    free(keys);
    free(file_keys);
    return rc;
}
