/* plan.c - GET/POST /v1/plan/predict and /v1/plan/cost: the planner over
 * HTTP.  A POST body is the JSON the CLI takes (predict: its option names;
 * cost: the cost config); a GET takes the same keys as query arguments
 * (cost: flat names, see docs/plan.md).  Answers are the CLI's --json
 * objects, built by plan/api.c.
 *
 * Only the server's own model (-m) can be named: a client never makes the
 * server open a path of its choosing.  Profiles come inline ("profile":
 * {...}), from DATA_DIR/profile.json, or are measured once per thread
 * count (a job, off the poll threads) and kept. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/plan.h"
#include "server/server_int.h"

void rg__plan_predict_route(rg__req *r);
void rg__plan_cost_route(rg__req *r);

static pthread_mutex_t prof_mu = PTHREAD_MUTEX_INITIALIZER;
static rg_plan_profile prof_cache[RG_PLAN_MAX_THREADS + 1];
static int prof_have[RG_PLAN_MAX_THREADS + 1];

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
    (void)kind;
    if (key && value) json_object_set_new((json_t *)cls, key, json_string(value));
    return MHD_YES;
}

/* The request's options as a JSON object (new reference), or NULL after
 * responding 400. */
static json_t *request_object(rg__req *r) {
    if (r->method == 'G') {
        json_t *o = json_object();
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, o);
        return o;
    }
    json_error_t je;
    json_t *o = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        rg__respond_error(r, 400, "invalid_request",
                          o ? "the body must be a JSON object" : "body: line %d column %d: %s",
                          je.line, je.column, je.text);
        return NULL;
    }
    return o;
}

typedef struct {
    rg_plan_predict_opts o;
    char label[256];
    json_t *profile; /* inline profile or NULL */
    char data_dir[512];
} predict_job;

static void predict_free(void *p) {
    predict_job *pj = p;
    json_decref(pj->profile);
    free(pj);
}

static rg_status server_profile(const predict_job *pj, rg_plan_profile *prof, rg_err *err) {
    int t = pj->o.threads;
    memset(prof, 0, sizeof *prof); /* the wall-clock entries */
    if (pj->profile) return rg_plan_profile_from_json(pj->profile, "profile", t, prof, err);
    char path[600];
    snprintf(path, sizeof path, "%s/profile.json", pj->data_dir);
    if (access(path, R_OK) == 0) return rg_plan_profile_load(path, t, prof, err);
    pthread_mutex_lock(&prof_mu); /* measure once per thread count, one at a time */
    rg_status rc = RG_OK;
    if (!prof_have[t]) {
        rc = rg_plan_calibrate(t, &prof_cache[t], err);
        prof_have[t] = rc == RG_OK;
    }
    if (rc == RG_OK) *prof = prof_cache[t];
    pthread_mutex_unlock(&prof_mu);
    return rc;
}

static void predict_run(rg__job *job) {
    predict_job *pj = job->ctx;
    rg_err err;
    rg_err_clear(&err);
    rg_plan_profile prof;
    rg_plan_predict_result res;
    rg_status rc = server_profile(pj, &prof, &err);
    if (rc) {
        rg__job_finish_error(job, pj->profile ? 400 : 500,
                             pj->profile ? "invalid_request" : "internal_error", "%s",
                             rg_err_text(&err));
        return;
    }
    if ((rc = rg_plan_predict_run(&pj->o, &prof, &res, &err))) {
        rg__job_finish_error(job, rc == RG_INVALID ? 400 : 500,
                             rc == RG_INVALID ? "invalid_request" : "internal_error", "%s",
                             rg_err_text(&err));
        return;
    }
    rg__job_finish_json(job, 200, rg_plan_predict_json(&pj->o, &res));
}

void rg__plan_predict_route(rg__req *r) {
    json_t *o = request_object(r);
    if (!o) return;
    predict_job *pj = calloc(1, sizeof *pj);
    if (!pj) {
        json_decref(o);
        rg__respond_error(r, 503, "overloaded", "out of memory");
        return;
    }
    rg_plan_predict_opts_init(&pj->o);
    rg_err err;
    rg_err_clear(&err);
    if (rg_plan_predict_opts_from_json(o, &pj->o, &err)) {
        json_decref(o);
        predict_free(pj);
        rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
        return;
    }
    json_t *m = json_object_get(o, "model"), *p = json_object_get(o, "profile");
    const char *mp = r->srv->cfg.model_path;
    if (m) {
        const char *name = json_string_value(m);
        const char *base = mp ? strrchr(mp, '/') : NULL;
        base = base ? base + 1 : mp;
        if (!name || !mp || (strcmp(name, mp) && strcmp(name, base))) {
            rg__respond_error(r, 404, "model_not_found",
                              "model '%.100s' is not served here (%s%s); give params and type "
                              "for another model",
                              name ? name : "?", mp ? "the server's model is " : "no model loaded",
                              mp ? base : "");
            json_decref(o);
            predict_free(pj);
            return;
        }
        pj->o.model = mp; /* the server's configuration outlives every job */
        snprintf(pj->label, sizeof pj->label, "%s", name);
        pj->o.model_label = pj->label;
    } else if (!(pj->o.params > 0 && pj->o.type >= 0)) {
        json_decref(o);
        predict_free(pj);
        rg__respond_error(r, 400, "invalid_request",
                          "give \"model\" (the served model) or \"params\" and \"type\"");
        return;
    }
    if (p && !json_is_object(p)) {
        json_decref(o);
        predict_free(pj);
        rg__respond_error(r, 400, "invalid_request", "\"profile\" must be a profile object");
        return;
    }
    if (p) pj->profile = json_incref(p);
    snprintf(pj->data_dir, sizeof pj->data_dir, "%s",
             r->srv->cfg.data_dir ? r->srv->cfg.data_dir : "ragd-data");
    json_decref(o);
    rg__job_start(r, predict_run, pj, predict_free, 0);
}

/* GET /v1/plan/cost?price_per_hour=..: flat query keys into the config shape */
static json_t *cost_from_query(json_t *q, rg__req *r) {
    static const struct {
        const char *key, *obj;
    } map[] = {{"price_per_hour", "hardware"},       {"utilization", "hardware"},
               {"gen_tokens_per_s", "throughput"},   {"prompt_tokens_per_s", "throughput"},
               {"tokens_in", "workload"},            {"tokens_out", "workload"},
               {"requests_per_day", "workload"}};
    json_t *c = json_pack("{s:{}, s:{}, s:{}}", "hardware", "throughput", "workload");
    json_t *api = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(q, k, v) {
        const char *s = json_string_value(v);
        if (!strcmp(k, "currency")) {
            json_object_set(c, "currency", v);
            continue;
        }
        if (!strcmp(k, "api")) {
            if (!api) api = json_object();
            json_object_set(api, "name", v);
            continue;
        }
        char *end;
        double d = strtod(s, &end);
        if (end == s || *end) {
            rg__respond_error(r, 400, "invalid_request", "\"%.64s\": '%.64s' is not a number", k, s);
            json_decref(c);
            json_decref(api);
            return NULL;
        }
        if (!strcmp(k, "api_in_per_1k") || !strcmp(k, "api_out_per_1k")) {
            if (!api) api = json_object();
            json_object_set_new(api, k + 4, json_real(d));
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(k, map[i].key)) break;
        if (i == sizeof map / sizeof map[0]) {
            rg__respond_error(r, 400, "invalid_request",
                              "unknown query key \"%.64s\" (price_per_hour, utilization, "
                              "gen_tokens_per_s, prompt_tokens_per_s, tokens_in, tokens_out, "
                              "requests_per_day, currency, api, api_in_per_1k, api_out_per_1k)",
                              k);
            json_decref(c);
            json_decref(api);
            return NULL;
        }
        json_object_set_new(json_object_get(c, map[i].obj), k, json_real(d));
    }
    if (api) json_object_set_new(c, "apis", json_pack("[o]", api));
    return c;
}

void rg__plan_cost_route(rg__req *r) {
    json_t *o = request_object(r);
    if (!o) return;
    if (r->method == 'G') {
        json_t *c = cost_from_query(o, r);
        json_decref(o);
        if (!c) return;
        o = c;
    }
    rg_plan_cost_input in;
    rg_plan_cost_result res;
    rg_err err;
    rg_err_clear(&err);
    rg_status rc = rg_plan_cost_from_json(o, "cost", &in, &err);
    json_decref(o);
    if (rc == RG_OK) rc = rg_plan_cost(&in, &res, &err);
    if (rc) {
        rg__respond_error(r, 400, "invalid_request", "%s", rg_err_text(&err));
        return;
    }
    rg__respond_json(r, 200, rg_plan_cost_json(&in, &res));
}
