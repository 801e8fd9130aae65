/* profile.c - hardware profiles as JSON (one entry per thread count). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "plan/plan.h"

rg_status rg_plan_profile_save(const char *path, const rg_plan_profile *p, int n, rg_err *err) {
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "name", json_string(n > 0 ? p[0].name : ""));
    for (int i = 0; i < n; i++) {
        json_t *e = json_object(), *types = json_object();
        json_object_set_new(e, "threads", json_integer(p[i].threads));
        if (p[i].cpu_clock) json_object_set_new(e, "clock", json_string("cpu"));
        json_object_set_new(e, "bandwidth_gbs", json_real(p[i].bandwidth_gbs));
        json_object_set_new(e, "attn_gflops", json_real(p[i].attn_gflops));
        json_object_set_new(e, "call_us", json_real(p[i].call_us));
        json_object_set_new(e, "elem_ns", json_real(p[i].elem_ns));
        json_object_set_new(e, "layer_us", json_real(p[i].layer_us));
        for (int t = 0; t < RG_DTYPE_COUNT; t++) {
            if (p[i].rate[t].decode_gbs <= 0 && p[i].rate[t].prefill_gflops <= 0) continue;
            json_t *r = json_object();
            json_object_set_new(r, "decode_gbs", json_real(p[i].rate[t].decode_gbs));
            json_object_set_new(r, "row_ns", json_real(p[i].rate[t].row_ns));
            json_object_set_new(r, "cell_ns", json_real(p[i].rate[t].cell_ns));
            json_object_set_new(r, "prefill_gflops", json_real(p[i].rate[t].prefill_gflops));
            json_object_set_new(types, rg_dtype_name((uint32_t)t), r);
        }
        json_object_set_new(e, "types", types);
        json_array_append_new(arr, e);
    }
    json_object_set_new(root, "profiles", arr);
    char *s = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!s) return rg_failf(err, RG_NOMEM, "profile: cannot serialise");
    rg_status rc = rg_file_write_atomic(path, s, strlen(s), err);
    free(s);
    return rc;
}

static double num(const json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

rg_status rg_plan_profile_from_json(const json_t *root, const char *name, int threads,
                                    rg_plan_profile *p, rg_err *err) {
    int want_cpu = p->cpu_clock;
    memset(p, 0, sizeof *p);
    json_t *arr = json_object_get(root, "profiles");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return rg_failf(err, RG_FORMAT, "%s: expected a non-empty \"profiles\" array", name);
    json_t *best = NULL;
    int best_t = 0;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (!json_is_object(e))
            return rg_failf(err, RG_FORMAT, "%s: profiles[%zu] is not an object", name, i);
        int t = (int)num(e, "threads");
        const char *clk = json_string_value(json_object_get(e, "clock"));
        if ((clk && !strcmp(clk, "cpu")) != want_cpu) continue;
        if (!best || (t <= threads && t > best_t) || (best_t > threads && t < best_t)) {
            best = e;
            best_t = t;
        }
    }
    if (!best)
        return rg_failf(err, RG_FORMAT, "%s: no %s-clock profile entry", name,
                        want_cpu ? "cpu" : "wall");
    p->cpu_clock = want_cpu;
    const char *nm = json_string_value(json_object_get(root, "name"));
    snprintf(p->name, sizeof p->name, "%s", nm ? nm : name);
    p->threads = best_t;
    p->bandwidth_gbs = num(best, "bandwidth_gbs");
    p->attn_gflops = num(best, "attn_gflops");
    p->call_us = num(best, "call_us");
    if (p->call_us < 0 || p->call_us > 1e6) p->call_us = 0;
    p->elem_ns = num(best, "elem_ns");
    if (p->elem_ns < 0 || p->elem_ns > 1e6) p->elem_ns = 0;
    p->layer_us = num(best, "layer_us");
    if (p->layer_us < 0 || p->layer_us > 1e6) p->layer_us = 0;
    json_t *types = json_object_get(best, "types");
    const char *key;
    json_t *r;
    json_object_foreach(types, key, r) {
        int t = rg_dtype_parse(key);
        if (t < 0) continue;
        p->rate[t].decode_gbs = num(r, "decode_gbs");
        p->rate[t].row_ns = num(r, "row_ns");
        if (p->rate[t].row_ns < 0 || p->rate[t].row_ns > 1e6) p->rate[t].row_ns = 0;
        p->rate[t].cell_ns = num(r, "cell_ns");
        if (p->rate[t].cell_ns < 0 || p->rate[t].cell_ns > 1e6) p->rate[t].cell_ns = 0;
        p->rate[t].prefill_gflops = num(r, "prefill_gflops");
    }
    if (!(p->bandwidth_gbs > 0) || p->bandwidth_gbs > 1e6 || !(p->threads >= 1))
        return rg_failf(err, RG_FORMAT,
                        "%s: profile for %d threads needs threads >= 1 and 0 < bandwidth_gbs <= 1e6",
                        name, best_t);
    return RG_OK;
}

rg_status rg_plan_profile_load(const char *path, int threads, rg_plan_profile *p, rg_err *err) {
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) return rg_failf(err, RG_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    rg_status rc = rg_plan_profile_from_json(root, path, threads, p, err);
    json_decref(root);
    return rc;
}
