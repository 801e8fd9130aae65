/* cmd_calibrate.c - `ragd calibrate`: measure this machine into a profile. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/pool.h"
#include "plan/plan.h"

static void help(void) {
    printf("usage: ragd calibrate [-t THREADS] [-o PROFILE.json] [--types f16,q8_0,...]\n\n"
           "Measures memory bandwidth, matmul throughput per weight type (F32, F16,\n"
           "BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, or the --types listed), the fixed\n"
           "cost of a matmul call and the attention kernel's rate with ragd's own\n"
           "kernels, for 1..THREADS threads (default: all CPUs), and writes a hardware\n"
           "profile for `ragd predict --profile` (default profile.json).\n");
}

int rg_cmd_calibrate(int argc, char **argv) {
    long threads = rg_cpu_count();
    const char *out = "profile.json";
    rg_dtype types[RG_DTYPE_COUNT];
    int n_types = 0;
    int c;
    optind = 1;
    static const struct option opts[] = {{"threads", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'},
                                         {"types", required_argument, 0, 'T'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "t:o:h", opts, NULL)) != -1) {
        if (c == 't') {
            if (rg_cli_int(optarg, 1, RG_PLAN_MAX_THREADS, &threads))
                return rg_cli_usage("calibrate", "-t expects 1..%d, got '%s'", RG_PLAN_MAX_THREADS, optarg);
        } else if (c == 'o') out = optarg;
        else if (c == 'T') {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", optarg);
            n_types = 0;
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                int t = rg_dtype_parse(tok);
                if (t < 0 || n_types == RG_DTYPE_COUNT)
                    return rg_cli_usage("calibrate", "--types: '%s' is not a weight type", tok);
                types[n_types++] = (rg_dtype)t;
            }
            if (!n_types) return rg_cli_usage("calibrate", "--types: empty list");
        }
        else if (c == 'h') return help(), RG_EXIT_OK;
        else return rg_cli_usage("calibrate", "unknown option");
    }
    /* wall-clock entries first, then the same measurements by CPU time */
    static rg_plan_profile prof[2 * RG_PLAN_MAX_THREADS];
    char host[64] = "this machine";
    gethostname(host, sizeof host - 1);
    rg_err err;
    for (int t = 1; t <= threads; t++) {
        fprintf(stderr, "calibrate: measuring with %d thread(s)...\n", t);
        rg_plan_profile *p = &prof[t - 1], *pc = &prof[threads + t - 1];
        if (rg_plan_calibrate_types(t, n_types ? types : NULL, n_types, p, pc, &err))
            return rg_cli_fail("calibrate", &err);
        snprintf(p->name, sizeof p->name, "%s", host);
        snprintf(pc->name, sizeof pc->name, "%s", host);
        printf("threads=%d bandwidth=%.1f GB/s (cpu-time %.1f) attn=%.1f GFLOP/s matmul call %.1f us\n",
               t, p->bandwidth_gbs, pc->bandwidth_gbs, p->attn_gflops, p->call_us);
        for (int k = 0; k < RG_DTYPE_COUNT; k++)
            if (p->rate[k].decode_gbs > 0)
                printf("  %-5s decode %6.1f GB/s (cpu-time %6.1f)  prefill %7.1f GFLOP/s (cpu-time %7.1f)\n",
                       rg_dtype_name((uint32_t)k), p->rate[k].decode_gbs, pc->rate[k].decode_gbs,
                       p->rate[k].prefill_gflops, pc->rate[k].prefill_gflops);
    }
    if (rg_plan_profile_save(out, prof, 2 * (int)threads, &err)) return rg_cli_fail("calibrate", &err);
    printf("wrote %s\n", out);
    return RG_EXIT_OK;
}
