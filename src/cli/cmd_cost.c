/* cmd_cost.c - `ragd cost`: self-hosted vs API cost per request volume. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "plan/plan.h"

static void help(void) {
    printf("usage: ragd cost [--config FILE] [--json]\n\n"
           "Compares self-hosting (hardware price per hour, utilisation, measured or\n"
           "predicted throughput) with API prices per 1,000 tokens in/out for a\n"
           "workload (tokens per request, requests per day): cost per 1,000 requests,\n"
           "per 30-day month, and the break-even volume.  No prices are built in:\n"
           "edit a copy of docs/examples/cost.json (the default --config).\n");
}

int rg_cmd_cost(int argc, char **argv) {
    const char *config = "docs/examples/cost.json";
    int as_json = 0;
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
        if (c == 'c') config = optarg;
        else if (c == 'j') as_json = 1;
        else if (c == 'h') return help(), RG_EXIT_OK;
        else return rg_cli_usage("cost", "unknown option");
    }
    if (optind < argc) return rg_cli_usage("cost", "unexpected argument '%s'", argv[optind]);
    rg_err err;
    rg_plan_cost_input in;
    rg_plan_cost_result r;
    if (rg_plan_cost_load(config, &in, &err) || rg_plan_cost(&in, &r, &err))
        return rg_cli_fail("cost", &err);
    if (as_json) {
        json_t *o = rg_plan_cost_json(&in, &r);
        char *s = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return RG_EXIT_OK;
    }
    printf("workload: %.0f requests/day, %.0f tokens in + %.0f out per request\n",
           in.requests_per_day, in.tokens_in, in.tokens_out);
    printf("self-hosted: %.2f s of machine time per request, one machine serves %.0f requests/day "
           "at %.0f%% utilisation\n",
           r.seconds_per_request, r.capacity_requests_per_day, in.utilization * 100);
    printf("  %d machine(s) x %.4f %s/h = %.2f %s/month, %.4f %s per 1,000 requests\n", r.machines,
           in.hw_price_per_hour, in.currency, r.self_per_month, in.currency,
           r.self_per_1k_requests, in.currency);
    for (int i = 0; i < in.n_api; i++) {
        printf("api %s: %.4f %s per 1,000 requests, %.2f %s/month; ", in.api[i].name,
               r.api[i].per_1k_requests, in.currency, r.api[i].per_month, in.currency);
        if (r.api[i].breakeven_requests_per_day < 0)
            printf("self-hosting is never cheaper on this hardware\n");
        else
            printf("self-hosting is cheaper above %.0f requests/day\n",
                   r.api[i].breakeven_requests_per_day);
    }
    return RG_EXIT_OK;
}
