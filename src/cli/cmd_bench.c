/* cmd_bench.c - `ragd bench`: prompt-processing and generation speed of a
 * model, measured and printed the way llama-bench does (ppN / tgN, tokens
 * per second, mean ± sd over -r runs after a warm-up). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_llm.h"
#include "core/clock.h"
#include "core/limits.h"
#include "core/pool.h"

static void help(void) {
    printf("usage: ragd bench -m MODEL.gguf [-p 512] [-n 128] [-t 1,2] [-r 3] [options]\n\n"
           "Measures prompt processing (ppN: N tokens in one batch from an empty cache) and\n"
           "text generation (tgN: N tokens one at a time) in tokens/s, like llama-bench.\n\n"
           "  -m, --model FILE     GGUF model\n"
           "  -p, --n-prompt N     prompt tokens (default 512; 0 = skip)\n"
           "  -n, --n-gen N        generated tokens (default 128; 0 = skip)\n"
           "  -t, --threads LIST   thread counts, comma separated (default: all CPUs)\n"
           "  -r, --repetitions N  runs per test (default 3)\n"
           "  --kv f16|f32|q8_0    KV cache type (default f16)\n"
           "  --csv                machine-readable lines: model,threads,test,mean,sd,\n"
           "                       decode_bytes_per_token,cpu_normalised_mean\n"
           "                       (tokens x threads / process CPU seconds: the speed with a\n"
           "                       full core per thread, for loaded machines)\n");
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int rg_cmd_bench(int argc, char **argv) {
    const char *cmd = "bench";
    if (rg_cli_wants_help(argc, argv)) {
        help();
        return RG_EXIT_OK;
    }
    const char *model = NULL, *threads_s = NULL;
    int n_prompt = 512, n_gen = 128, reps = 3, csv = 0;
    rg_dtype kv = RG_DTYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--csv")) {
            csv = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return rg_cli_usage(cmd, "unknown option '%s' (or it needs a value)", a);
        long n = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) threads_s = v;
        else if (!strcmp(a, "--kv")) {
            if (rg__cli_kv_type(v, &kv))
                return rg_cli_usage(cmd, "--kv: '%s' is not f16, f32 or q8_0", v);
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt") || !strcmp(a, "-n") ||
                   !strcmp(a, "--n-gen") || !strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            int is_r = a[1] == 'r' || !strcmp(a, "--repetitions");
            if (rg_cli_int(v, is_r ? 1 : 0, is_r ? 1000 : RG_LLM_MAX_BATCH, &n))
                return rg_cli_usage(cmd, "%s: '%s' is out of range", a, v);
            if (is_r) reps = (int)n;
            else if (a[1] == 'p' || !strcmp(a, "--n-prompt")) n_prompt = (int)n;
            else n_gen = (int)n;
        } else {
            return rg_cli_usage(cmd, "unknown option '%s'", a);
        }
        i++;
    }
    if (!model) return rg_cli_usage(cmd, "-m MODEL.gguf is required");
    int threads[16], n_thr = 0;
    if (threads_s) {
        const char *p = threads_s;
        while (*p) {
            char *end;
            long t = strtol(p, &end, 10);
            if (end == p || t < 1 || t > RG_MAX_THREADS || n_thr == 16 || (*end && *end != ','))
                return rg_cli_usage(cmd, "-t: '%s' is not a list of thread counts", threads_s);
            threads[n_thr++] = (int)t;
            p = *end ? end + 1 : end;
        }
    } else {
        threads[n_thr++] = rg_cpu_count();
    }
    if (n_thr == 0) return rg_cli_usage(cmd, "-t: empty list");

    rg_err err;
    rg_err_clear(&err);
    rg_llm_model *m;
    if (rg_llm_model_open(model, &m, &err)) return rg_cli_fail(cmd, &err);
    const rg_llm_hparams *hp = rg_llm_model_hparams(m);
    const int n_tok = n_prompt > n_gen ? n_prompt : n_gen;
    int32_t *toks = malloc((size_t)(n_tok > 0 ? n_tok : 1) * sizeof *toks);
    double *ts = malloc((size_t)reps * sizeof *ts), *tc = malloc((size_t)reps * sizeof *tc);
    if (!toks || !ts || !tc) {
        free(tc);
        free(toks);
        free(ts);
        rg_llm_model_close(m);
        return RG_EXIT_RUNTIME;
    }
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n_tok; i++) toks[i] = (int32_t)(rng_next(&seed) % (uint64_t)hp->n_vocab);
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    double params = (double)rg_llm_model_n_params(m);
    char desc[128];
    snprintf(desc, sizeof desc, "%s %.0fM %s", hp->arch_name, params / 1e6, rg_dtype_name(hp->ftype));
    if (!csv) {
        printf("| %-28s | %10s | %8s | %-7s | %7s | %8s | %20s |\n", "model", "size", "params",
               "backend", "threads", "test", "t/s");
        printf("| %.28s | ---------: | -------: | ------- | ------: | -------: | -------------------: |\n",
               "----------------------------------------");
    }
    int rc = RG_EXIT_OK;
    for (int ti = 0; ti < n_thr && !rc; ti++) {
        rg_llm_ctx_params cp;
        rg_llm_ctx_params_init(&cp);
        cp.n_ctx = (n_prompt > n_gen ? n_prompt : n_gen) + 1;
        cp.n_batch = n_prompt > 0 ? n_prompt : 1;
        cp.n_threads = threads[ti];
        cp.kv_type = kv;
        rg_llm_ctx *c;
        if (rg_llm_ctx_new(m, &cp, &c, &err)) {
            rc = rg_cli_fail(cmd, &err);
            break;
        }
        for (int test = 0; test < 2 && !rc; test++) {
            int n = test == 0 ? n_prompt : n_gen;
            if (n == 0) continue;
            for (int r = -1; r < reps && !rc; r++) { /* r = -1: warm-up */
                rg_llm_seq_rm(c, 0, 0);
                /* llama-bench warms tg up with one token only */
                int nn = r < 0 && test == 1 ? 1 : n;
                uint64_t t0 = rg_now_ns();
                double c0 = rg_cpu_s();
                if (test == 0) {
                    if (rg_llm_eval(c, 0, toks, nn, &err)) rc = rg_cli_fail(cmd, &err);
                } else {
                    for (int i = 0; i < nn && !rc; i++)
                        if (rg_llm_eval(c, 0, &toks[i], 1, &err)) rc = rg_cli_fail(cmd, &err);
                }
                double dt = (double)(rg_now_ns() - t0) / 1e9;
                double dc = rg_cpu_s() - c0;
                if (r >= 0) {
                    ts[r] = nn / dt;
                    tc[r] = nn * threads[ti] / (dc > 0 ? dc : dt);
                }
            }
            if (rc) break;
            double mean = 0, sd = 0, cmean = 0;
            for (int r = 0; r < reps; r++) cmean += tc[r] / reps;
            for (int r = 0; r < reps; r++) mean += ts[r];
            mean /= reps;
            for (int r = 0; r < reps; r++) sd += (ts[r] - mean) * (ts[r] - mean);
            sd = reps > 1 ? sqrt(sd / (reps - 1)) : 0;
            char tname[32];
            snprintf(tname, sizeof tname, "%s%d", test == 0 ? "pp" : "tg", n);
            if (csv)
                printf("%s,%d,%s,%.3f,%.3f,%llu,%.3f\n", base, threads[ti], tname, mean, sd,
                       (unsigned long long)rg_llm_model_decode_bytes(m), cmean);
            else
                printf("| %-28s | %6.2f MiB | %6.2f M | %-7s | %7d | %8s | %12.2f ± %5.2f |\n",
                       desc, (double)rg_llm_model_weight_bytes(m) / (1024.0 * 1024.0),
                       params / 1e6, "CPU", threads[ti], tname, mean, sd);
            fflush(stdout);
        }
        rg_llm_ctx_free(c);
    }
    free(toks);
    free(ts);
    free(tc);
    rg_llm_model_close(m);
    return rc;
}
