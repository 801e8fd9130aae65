/* cmd_predict.c - `ragd predict`: memory, TTFT and tokens/s for a model on
 * a hardware profile, alone and under load. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/pool.h"
#include "plan/plan.h"

static void help(void) {
    printf("usage: ragd predict (-m MODEL.gguf | --params N --type TYPE) [--profile P.json]\n"
           "                    [-t THREADS] [--prompt 512] [--gen 128] [--concurrency N]\n"
           "                    [--qps X] [--p99-goal MS] [--json]\n\n"
           "Predicts, from the model's tensor shapes and types and a hardware profile\n"
           "(`ragd calibrate`; measured now when P.json does not exist): memory\n"
           "(weights + KV cache), prompt-processing and generation tokens/s, TTFT.\n"
           "With --qps: P50/P99 latency under Poisson arrivals into the continuous\n"
           "batching engine (at most --concurrency sequences per step), and the\n"
           "highest QPS that keeps P99 under --p99-goal (default 10000 ms).\n");
}

int rg_cmd_predict(int argc, char **argv) {
    const char *model = NULL, *profile = "profile.json", *type = NULL;
    double params = 0, qps = 0, goal = 10000;
    long threads = rg_cpu_count(), prompt = 512, gen = 128, conc = 1;
    int as_json = 0, c;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"params", required_argument, 0, 'P'},
        {"type", required_argument, 0, 'T'},  {"profile", required_argument, 0, 'f'},
        {"threads", required_argument, 0, 't'}, {"prompt", required_argument, 0, 'p'},
        {"gen", required_argument, 0, 'n'},   {"concurrency", required_argument, 0, 'C'},
        {"qps", required_argument, 0, 'q'},   {"p99-goal", required_argument, 0, 'g'},
        {"json", no_argument, 0, 'j'},        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:p:n:hj", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'P': bad = rg_cli_double(optarg, &params) || params <= 0; break;
        case 'T': type = optarg; break;
        case 'f': profile = optarg; break;
        case 't': bad = rg_cli_int(optarg, 1, RG_PLAN_MAX_THREADS, &threads); break;
        case 'p': bad = rg_cli_int(optarg, 1, 1 << 20, &prompt); break;
        case 'n': bad = rg_cli_int(optarg, 1, 1 << 20, &gen); break;
        case 'C': bad = rg_cli_int(optarg, 1, 4096, &conc); break;
        case 'q': bad = rg_cli_double(optarg, &qps) || qps < 0; break;
        case 'g': bad = rg_cli_double(optarg, &goal) || goal <= 0; break;
        case 'j': as_json = 1; break;
        case 'h': return help(), RG_EXIT_OK;
        default: return rg_cli_usage("predict", "unknown option");
        }
        if (bad) return rg_cli_usage("predict", "bad value '%s' for --%s", optarg, opts[0].name);
    }
    if (!model && !(params > 0 && type))
        return rg_cli_usage("predict", "need -m MODEL.gguf, or --params N and --type TYPE");
    rg_err err;
    rg_plan_model m;
    if (model) {
        if (rg_plan_model_from_gguf(model, &m, &err)) return rg_cli_fail("predict", &err);
    } else {
        int t = rg_dtype_parse(type);
        if (t < 0) return rg_cli_usage("predict", "unknown --type '%s' (f16, q8_0, q4_k, ...)", type);
        if (rg_plan_model_from_params(params, (rg_dtype)t, &m, &err)) return rg_cli_fail("predict", &err);
    }
    rg_plan_profile prof;
    if (access(profile, R_OK) == 0) {
        if (rg_plan_profile_load(profile, (int)threads, &prof, &err)) return rg_cli_fail("predict", &err);
    } else {
        fprintf(stderr, "predict: %s not found; measuring this machine with %ld thread(s) "
                        "(save it with `ragd calibrate -o %s`)\n", profile, threads, profile);
        if (rg_plan_calibrate((int)threads, &prof, &err)) return rg_cli_fail("predict", &err);
    }
    rg_plan_request req = {(int)prompt, (int)gen, 2};
    rg_plan_prediction pr;
    rg_plan_predict(&prof, &m, &req, &pr);
    rg_plan_load_result load = {0};
    double maxq = -1;
    if (qps > 0) {
        rg_plan_simulate(&prof, &m, &req, qps, (int)conc, 2000, 7, &load);
        maxq = rg_plan_max_qps(&prof, &m, &req, (int)conc, goal);
    }
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "model", json_string(model ? model : "(from --params)"));
        json_object_set_new(o, "arch", json_string(m.arch));
        json_object_set_new(o, "threads", json_integer(prof.threads));
        json_object_set_new(o, "prompt", json_integer(prompt));
        json_object_set_new(o, "gen", json_integer(gen));
        json_object_set_new(o, "pp_tokens_per_s", json_real(pr.pp_tokens_per_s));
        json_object_set_new(o, "tg_tokens_per_s", json_real(pr.tg_tokens_per_s));
        json_object_set_new(o, "ttft_ms", json_real(pr.ttft_ms));
        json_object_set_new(o, "request_ms", json_real(pr.total_ms));
        json_object_set_new(o, "memory_bytes", json_integer((json_int_t)pr.memory_bytes));
        json_object_set_new(o, "kv_bytes_per_token", json_integer((json_int_t)pr.kv_bytes_per_token));
        if (qps > 0) {
            json_object_set_new(o, "qps", json_real(qps));
            json_object_set_new(o, "concurrency", json_integer(conc));
            json_object_set_new(o, "p50_ms", json_real(load.p50_ms));
            json_object_set_new(o, "p99_ms", json_real(load.p99_ms));
            json_object_set_new(o, "ttft_p99_ms", json_real(load.ttft_p99_ms));
            json_object_set_new(o, "max_qps_at_p99_goal", json_real(maxq));
            json_object_set_new(o, "p99_goal_ms", json_real(goal));
        }
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return RG_EXIT_OK;
    }
    printf("model: %s (%s, %lld layers, d=%lld, main weight type %s)\n", model ? model : "estimated",
           m.arch, (long long)m.n_layer, (long long)m.n_embd, rg_dtype_name(m.main_type));
    printf("profile: %s, %d thread(s), bandwidth %.1f GB/s\n", prof.name, prof.threads, prof.bandwidth_gbs);
    printf("memory: %.1f MiB (weights %.1f MiB + KV %.1f KiB/token x %ld)\n",
           pr.memory_bytes / 1048576.0, m.file_bytes / 1048576.0, pr.kv_bytes_per_token / 1024.0,
           prompt + gen);
    printf("pp%ld: %.1f tokens/s   tg%ld: %.1f tokens/s   TTFT %.1f ms   request %.1f ms\n", prompt,
           pr.pp_tokens_per_s, gen, pr.tg_tokens_per_s, pr.ttft_ms, pr.total_ms);
    if (qps > 0) {
        printf("under load: %.2f req/s, concurrency %ld: P50 %.0f ms, P99 %.0f ms, TTFT P99 %.0f ms, "
               "%.1f tokens/s, mean batch %.1f\n",
               qps, conc, load.p50_ms, load.p99_ms, load.ttft_p99_ms, load.tokens_per_s, load.mean_batch);
        printf("highest QPS with P99 < %.0f ms: %.2f\n", goal, maxq);
    }
    return RG_EXIT_OK;
}
