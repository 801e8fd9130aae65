/* api.c - predict's options and answer as JSON, shared by `ragd predict`
 * and POST /v1/plan/predict so both give the same object.  Options arrive
 * from a client: every key is known, every number range-checked. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "plan/plan.h"

void rg_plan_predict_opts_init(rg_plan_predict_opts *o) {
    memset(o, 0, sizeof *o);
    o->type = -1;
    o->threads = rg_cpu_count();
    o->prompt = 512;
    o->gen = 128;
    o->concurrency = 1;
    o->p99_goal_ms = 10000;
}

/* a JSON number, or a string holding a finite decimal number */
static int get_num(const json_t *v, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out) ? 0 : -1;
    }
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

rg_status rg_plan_predict_opts_from_json(const json_t *j, rg_plan_predict_opts *o, rg_err *err) {
    if (!json_is_object(j)) return rg_failf(err, RG_INVALID, "predict: expected a JSON object");
    static const struct {
        const char *key;
        double lo, hi;
        int is_int;
    } keys[] = {{"params", 1, 1e15, 0},        {"threads", 1, RG_PLAN_MAX_THREADS, 1},
                {"prompt", 1, 1 << 20, 1},     {"gen", 1, 1 << 20, 1},
                {"concurrency", 1, 4096, 1},   {"qps", 0, 1e6, 0},
                {"p99_goal", 1e-3, 1e9, 0}};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
        if (!strcmp(k, "model") || !strcmp(k, "profile")) continue; /* the caller's */
        if (!strcmp(k, "type")) {
            int t = json_is_string(v) ? rg_dtype_parse(json_string_value(v)) : -1;
            if (t < 0)
                return rg_failf(err, RG_INVALID, "predict: \"type\" must be a weight type name "
                                                 "(f16, q8_0, q4_k, ...)");
            o->type = t;
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (!strcmp(k, keys[i].key)) break;
        if (i == sizeof keys / sizeof keys[0])
            return rg_failf(err, RG_INVALID,
                            "predict: unknown option \"%.64s\" (model, params, type, threads, "
                            "prompt, gen, concurrency, qps, p99_goal, profile)",
                            k);
        double d;
        if (get_num(v, &d) || d < keys[i].lo || d > keys[i].hi ||
            (keys[i].is_int && d != floor(d)))
            return rg_failf(err, RG_INVALID, "predict: \"%s\" must be a%s number in %g..%g", k,
                            keys[i].is_int ? "n integer" : "", keys[i].lo, keys[i].hi);
        switch (i) {
        case 0: o->params = d; break;
        case 1: o->threads = (int)d; break;
        case 2: o->prompt = (int)d; break;
        case 3: o->gen = (int)d; break;
        case 4: o->concurrency = (int)d; break;
        case 5: o->qps = d; break;
        default: o->p99_goal_ms = d; break;
        }
    }
    return RG_OK;
}

rg_status rg_plan_predict_run(const rg_plan_predict_opts *o, const rg_plan_profile *prof,
                              rg_plan_predict_result *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    rg_status rc;
    if (o->model) rc = rg_plan_model_from_gguf(o->model, &out->model, err);
    else if (o->params > 0 && o->type >= 0)
        rc = rg_plan_model_from_params(o->params, (rg_dtype)o->type, &out->model, err);
    else
        return rg_failf(err, RG_INVALID, "predict: need a model, or params and type");
    if (rc) return rc;
    rg_plan_request req = {o->prompt, o->gen, 2};
    rg_plan_predict(prof, &out->model, &req, &out->pr);
    out->threads = prof->threads;
    out->max_qps = -1;
    if (o->qps > 0) {
        rg_plan_simulate(prof, &out->model, &req, o->qps, o->concurrency, 2000, 7, &out->load);
        out->max_qps = rg_plan_max_qps(prof, &out->model, &req, o->concurrency, o->p99_goal_ms);
    }
    return RG_OK;
}

json_t *rg_plan_predict_json(const rg_plan_predict_opts *o, const rg_plan_predict_result *r) {
    json_t *j = json_object();
    const char *label = o->model_label ? o->model_label : o->model ? o->model : "(from --params)";
    json_object_set_new(j, "model", json_string(label));
    json_object_set_new(j, "arch", json_string(r->model.arch));
    json_object_set_new(j, "threads", json_integer(r->threads));
    json_object_set_new(j, "prompt", json_integer(o->prompt));
    json_object_set_new(j, "gen", json_integer(o->gen));
    json_object_set_new(j, "pp_tokens_per_s", json_real(r->pr.pp_tokens_per_s));
    json_object_set_new(j, "tg_tokens_per_s", json_real(r->pr.tg_tokens_per_s));
    json_object_set_new(j, "ttft_ms", json_real(r->pr.ttft_ms));
    json_object_set_new(j, "request_ms", json_real(r->pr.total_ms));
    json_object_set_new(j, "memory_bytes", json_integer((json_int_t)r->pr.memory_bytes));
    json_object_set_new(j, "kv_bytes_per_token", json_integer((json_int_t)r->pr.kv_bytes_per_token));
    if (o->qps > 0) {
        json_object_set_new(j, "qps", json_real(o->qps));
        json_object_set_new(j, "concurrency", json_integer(o->concurrency));
        json_object_set_new(j, "p50_ms", json_real(r->load.p50_ms));
        json_object_set_new(j, "p99_ms", json_real(r->load.p99_ms));
        json_object_set_new(j, "ttft_p99_ms", json_real(r->load.ttft_p99_ms));
        json_object_set_new(j, "max_qps_at_p99_goal", json_real(r->max_qps));
        json_object_set_new(j, "p99_goal_ms", json_real(o->p99_goal_ms));
    }
    return j;
}
