/* cmd_predict.c - `ragd predict`: memory, TTFT and tokens/s for a model on
 * a hardware profile, alone and under load. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/pool.h"
#include "plan/plan.h"

static void help(void) {
    printf("usage: ragd predict (-m MODEL.gguf | --params N --type TYPE) [--profile P.json]\n"
           "                    [-t THREADS] [--prompt 512] [--gen 128] [--concurrency N]\n"
           "                    [--qps X] [--p99-goal MS] [--clock wall|cpu] [--json]\n\n"
           "Predicts, from the model's tensor shapes and types and a hardware profile\n"
           "(`ragd calibrate`; measured now when P.json does not exist): memory\n"
           "(weights + KV cache), prompt-processing and generation tokens/s, TTFT.\n"
           "With --qps: P50/P99 latency under Poisson arrivals into the continuous\n"
           "batching engine (at most --concurrency sequences per step), and the\n"
           "highest QPS that keeps P99 under --p99-goal (default 10000 ms).\n"
           "--clock cpu uses the profile's CPU-time rates (the speed with a full core\n"
           "per thread; compare with `ragd bench --csv`'s cpu-normalised column).\n");
}

int rg_cmd_predict(int argc, char **argv) {
    const char *model = NULL, *profile = "profile.json", *type = NULL;
    double params = 0, qps = 0, goal = 10000;
    long threads = rg_cpu_count(), prompt = 512, gen = 128, conc = 1;
    int as_json = 0, c, cpu_clock = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"params", required_argument, 0, 'P'},
        {"type", required_argument, 0, 'T'},  {"profile", required_argument, 0, 'f'},
        {"threads", required_argument, 0, 't'}, {"prompt", required_argument, 0, 'p'},
        {"gen", required_argument, 0, 'n'},   {"concurrency", required_argument, 0, 'C'},
        {"qps", required_argument, 0, 'q'},   {"p99-goal", required_argument, 0, 'g'},
        {"json", no_argument, 0, 'j'},        {"clock", required_argument, 0, 'K'},        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
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
        case 'K':
            if (!strcmp(optarg, "cpu")) cpu_clock = 1;
            else if (!strcmp(optarg, "wall")) cpu_clock = 0;
            else bad = 1;
            break;
        case 'h': return help(), RG_EXIT_OK;
        default: return rg_cli_usage("predict", "unknown option");
        }
        if (bad) return rg_cli_usage("predict", "bad value '%s' for --%s", optarg, opts[0].name);
    }
    if (!model && !(params > 0 && type))
        return rg_cli_usage("predict", "need -m MODEL.gguf, or --params N and --type TYPE");
    rg_err err;
    rg_plan_predict_opts po;
    rg_plan_predict_opts_init(&po);
    po.model = model;
    po.params = model ? 0 : params;
    if (!model) {
        po.type = rg_dtype_parse(type);
        if (po.type < 0) return rg_cli_usage("predict", "unknown --type '%s' (f16, q8_0, q4_k, ...)", type);
    }
    po.threads = (int)threads;
    po.prompt = (int)prompt;
    po.gen = (int)gen;
    po.concurrency = (int)conc;
    po.qps = qps;
    po.p99_goal_ms = goal;
    rg_plan_profile prof = {0};
    prof.cpu_clock = cpu_clock;
    if (access(profile, R_OK) == 0) {
        if (rg_plan_profile_load(profile, (int)threads, &prof, &err)) return rg_cli_fail("predict", &err);
    } else {
        fprintf(stderr, "predict: %s not found; measuring this machine with %ld thread(s) "
                        "(save it with `ragd calibrate -o %s`)\n", profile, threads, profile);
        rg_plan_profile wall;
        if (rg_plan_calibrate_types((int)threads, NULL, 0, &wall, &prof, &err))
            return rg_cli_fail("predict", &err);
        if (!cpu_clock) prof = wall;
    }
    rg_plan_predict_result res;
    if (rg_plan_predict_run(&po, &prof, &res, &err)) return rg_cli_fail("predict", &err);
    const rg_plan_model *mp = &res.model;
    const rg_plan_prediction *prp = &res.pr;
    if (as_json) {
        json_t *o = rg_plan_predict_json(&po, &res);
        char *s = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return RG_EXIT_OK;
    }
    printf("model: %s (%s, %lld layers, d=%lld, main weight type %s)\n", model ? model : "estimated",
           mp->arch, (long long)mp->n_layer, (long long)mp->n_embd, rg_dtype_name(mp->main_type));
    printf("profile: %s, %d thread(s), bandwidth %.1f GB/s\n", prof.name, prof.threads, prof.bandwidth_gbs);
    printf("memory: %.1f MiB (weights %.1f MiB + KV %.1f KiB/token x %ld)\n",
           prp->memory_bytes / 1048576.0, mp->file_bytes / 1048576.0, prp->kv_bytes_per_token / 1024.0,
           prompt + gen);
    printf("pp%ld: %.1f tokens/s   tg%ld: %.1f tokens/s   TTFT %.1f ms   request %.1f ms\n", prompt,
           prp->pp_tokens_per_s, gen, prp->tg_tokens_per_s, prp->ttft_ms, prp->total_ms);
    if (qps > 0) {
        const rg_plan_load_result *load = &res.load;
        printf("under load: %.2f req/s, concurrency %ld: P50 %.0f ms, P99 %.0f ms, TTFT P99 %.0f ms, "
               "%.1f tokens/s, mean batch %.1f\n",
               qps, conc, load->p50_ms, load->p99_ms, load->ttft_p99_ms, load->tokens_per_s,
               load->mean_batch);
        printf("highest QPS with P99 < %.0f ms: %.2f\n", goal, res.max_qps);
    }
    return RG_EXIT_OK;
}
