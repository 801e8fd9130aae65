/* cmd_calibrate.c - `ragd calibrate`: measure this machine into a profile. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/pool.h"
#include "plan/plan.h"

static void help(void) {
    printf("usage: ragd calibrate [-t THREADS] [-o PROFILE.json]\n\n"
           "Measures memory bandwidth and matmul throughput per weight type (F32,\n"
           "F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) with ragd's own kernels,\n"
           "for 1..THREADS threads (default: all CPUs), and writes a hardware\n"
           "profile for `ragd predict --profile` (default profile.json).\n");
}

int rg_cmd_calibrate(int argc, char **argv) {
    long threads = rg_cpu_count();
    const char *out = "profile.json";
    int c;
    optind = 1;
    static const struct option opts[] = {{"threads", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "t:o:h", opts, NULL)) != -1) {
        if (c == 't') {
            if (rg_cli_int(optarg, 1, RG_PLAN_MAX_THREADS, &threads))
                return rg_cli_usage("calibrate", "-t expects 1..%d, got '%s'", RG_PLAN_MAX_THREADS, optarg);
        } else if (c == 'o') out = optarg;
        else if (c == 'h') return help(), RG_EXIT_OK;
        else return rg_cli_usage("calibrate", "unknown option");
    }
    rg_plan_profile prof[RG_PLAN_MAX_THREADS];
    char host[64] = "this machine";
    gethostname(host, sizeof host - 1);
    rg_err err;
    for (int t = 1; t <= threads; t++) {
        fprintf(stderr, "calibrate: measuring with %d thread(s)...\n", t);
        if (rg_plan_calibrate(t, &prof[t - 1], &err)) return rg_cli_fail("calibrate", &err);
        snprintf(prof[t - 1].name, sizeof prof[t - 1].name, "%s", host);
        rg_plan_profile *p = &prof[t - 1];
        printf("threads=%d bandwidth=%.1f GB/s attn=%.1f GFLOP/s\n", t, p->bandwidth_gbs, p->attn_gflops);
        for (int k = 0; k < RG_DTYPE_COUNT; k++)
            if (p->rate[k].decode_gbs > 0)
                printf("  %-5s decode %6.1f GB/s (%3.0f%% of bandwidth)  prefill %7.1f GFLOP/s\n",
                       rg_dtype_name((uint32_t)k), p->rate[k].decode_gbs,
                       100 * p->rate[k].decode_gbs / p->bandwidth_gbs, p->rate[k].prefill_gflops);
    }
    if (rg_plan_profile_save(out, prof, (int)threads, &err)) return rg_cli_fail("calibrate", &err);
    printf("wrote %s\n", out);
    return RG_EXIT_OK;
}
