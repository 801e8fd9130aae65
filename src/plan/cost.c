/* cost.c - self-hosted vs API cost arithmetic (30-day months). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plan/plan.h"

rg_status rg_plan_cost(const rg_plan_cost_input *in, rg_plan_cost_result *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    if (!(in->gen_tokens_per_s > 0) || !(in->prompt_tokens_per_s > 0))
        return rg_failf(err, RG_INVALID, "cost: throughput must be > 0 (gen %g, prompt %g tokens/s)",
                        in->gen_tokens_per_s, in->prompt_tokens_per_s);
    if (!(in->utilization > 0) || in->utilization > 1)
        return rg_failf(err, RG_INVALID, "cost: utilization %g is not in (0, 1]", in->utilization);
    if (in->hw_price_per_hour < 0 || in->tokens_in < 0 || in->tokens_out < 0 ||
        in->requests_per_day < 0)
        return rg_failf(err, RG_INVALID, "cost: prices, tokens and volume must be >= 0");
    double spr = in->tokens_in / in->prompt_tokens_per_s + in->tokens_out / in->gen_tokens_per_s;
    out->seconds_per_request = spr;
    out->capacity_requests_per_day = spr > 0 ? 86400.0 * in->utilization / spr : INFINITY;
    double m = in->requests_per_day / out->capacity_requests_per_day;
    out->machines = m <= 1 ? 1 : (int)ceil(m);
    double machine_month = in->hw_price_per_hour * 24 * 30;
    out->self_per_month = out->machines * machine_month;
    double req_month = in->requests_per_day * 30;
    out->self_per_1k_requests = req_month > 0 ? out->self_per_month / req_month * 1000 : 0;
    for (int i = 0; i < in->n_api && i < RG_PLAN_MAX_APIS; i++) {
        const rg_plan_api_price *a = &in->api[i];
        double per_req = in->tokens_in / 1000 * a->in_per_1k + in->tokens_out / 1000 * a->out_per_1k;
        out->api[i].per_1k_requests = per_req * 1000;
        out->api[i].per_month = per_req * req_month;
        /* Self-hosting costs machine_month per machine-capacity of volume;
         * it wins once the API bill for that volume exceeds it, which
         * needs the API to cost more per request than a full machine. */
        double self_per_req_full = machine_month / (out->capacity_requests_per_day * 30);
        if (per_req <= 0 || per_req <= self_per_req_full) out->api[i].breakeven_requests_per_day = -1;
        else out->api[i].breakeven_requests_per_day = machine_month / (per_req * 30);
    }
    return RG_OK;
}

static double num(const json_t *o, const char *k, double def) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}

rg_status rg_plan_cost_from_json(const json_t *root, const char *path, rg_plan_cost_input *in,
                                 rg_err *err) {
    memset(in, 0, sizeof *in);
    if (!json_is_object(root))
        return rg_failf(err, RG_FORMAT, "%s: expected a JSON object at the top", path);
    json_t *hw = json_object_get(root, "hardware"), *wl = json_object_get(root, "workload"),
           *tp = json_object_get(root, "throughput"), *apis = json_object_get(root, "apis");
    if (!json_is_object(hw) || !json_is_object(wl) || !json_is_object(tp))
        return rg_failf(err, RG_FORMAT,
                        "%s: expected objects \"hardware\", \"throughput\" and \"workload\"", path);
    const char *cur = json_string_value(json_object_get(root, "currency"));
    snprintf(in->currency, sizeof in->currency, "%s", cur ? cur : "USD");
    in->hw_price_per_hour = num(hw, "price_per_hour", -1);
    in->utilization = num(hw, "utilization", 0.7);
    in->gen_tokens_per_s = num(tp, "gen_tokens_per_s", 0);
    in->prompt_tokens_per_s = num(tp, "prompt_tokens_per_s", 0);
    in->tokens_in = num(wl, "tokens_in", 0);
    in->tokens_out = num(wl, "tokens_out", 0);
    in->requests_per_day = num(wl, "requests_per_day", 0);
    if (json_is_array(apis)) {
        size_t i;
        json_t *a;
        json_array_foreach(apis, i, a) {
            if (in->n_api >= RG_PLAN_MAX_APIS) break;
            rg_plan_api_price *p = &in->api[in->n_api++];
            const char *nm = json_string_value(json_object_get(a, "name"));
            snprintf(p->name, sizeof p->name, "%s", nm ? nm : "api");
            p->in_per_1k = num(a, "in_per_1k", 0);
            p->out_per_1k = num(a, "out_per_1k", 0);
        }
    }
    if (in->hw_price_per_hour < 0)
        return rg_failf(err, RG_FORMAT, "%s: hardware.price_per_hour is missing", path);
    return RG_OK;
}

rg_status rg_plan_cost_load(const char *path, rg_plan_cost_input *in, rg_err *err) {
    memset(in, 0, sizeof *in);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rg_failf(err, RG_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    rg_status rc = rg_plan_cost_from_json(root, path, in, err);
    json_decref(root);
    return rc;
}

json_t *rg_plan_cost_json(const rg_plan_cost_input *in, const rg_plan_cost_result *r) {
    json_t *o = json_object(), *apis = json_array();
    json_object_set_new(o, "currency", json_string(in->currency));
    json_object_set_new(o, "seconds_per_request", json_real(r->seconds_per_request));
    json_object_set_new(o, "capacity_requests_per_day", json_real(r->capacity_requests_per_day));
    json_object_set_new(o, "machines", json_integer(r->machines));
    json_object_set_new(o, "self_per_month", json_real(r->self_per_month));
    json_object_set_new(o, "self_per_1k_requests", json_real(r->self_per_1k_requests));
    for (int i = 0; i < in->n_api; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "name", json_string(in->api[i].name));
        json_object_set_new(a, "per_1k_requests", json_real(r->api[i].per_1k_requests));
        json_object_set_new(a, "per_month", json_real(r->api[i].per_month));
        json_object_set_new(a, "breakeven_requests_per_day",
                            r->api[i].breakeven_requests_per_day < 0
                                ? json_null()
                                : json_real(r->api[i].breakeven_requests_per_day));
        json_array_append_new(apis, a);
    }
    json_object_set_new(o, "apis", apis);
    return o;
}
