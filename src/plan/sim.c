/* sim.c - discrete-event simulation of the continuous-batching engine
 * under Poisson arrivals, for latency percentiles under load. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/stats.h"
#include "plan/plan.h"

typedef struct {
    double arrive, first, done;
    int prefilled, generated;
} sim_req;

static double rnd(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return ((*s >> 11) + 0.5) * 0x1.0p-53;
}

void rg_plan_simulate(const rg_plan_profile *p, const rg_plan_model *m, const rg_plan_request *r,
                      double qps, int max_batch, int n, uint64_t seed, rg_plan_load_result *out) {
    memset(out, 0, sizeof *out);
    out->qps = qps;
    if (n <= 0 || !(qps > 0)) return;
    if (max_batch < 1) max_batch = 1;
    const int chunk = 256; /* prefill tokens per step, as the scheduler chunks them */
    sim_req *q = calloc((size_t)n, sizeof *q);
    double *lat = malloc(sizeof(double) * (size_t)n), *ttft = malloc(sizeof(double) * (size_t)n);
    if (!q || !lat || !ttft) goto out;
    double t = 0;
    for (int i = 0; i < n; i++) {
        t += -log(rnd(&seed)) / qps;
        q[i].arrive = t;
    }
    int next = 0, head = 0, done = 0; /* [head, next) admitted and unfinished (FIFO) */
    double now = 0, busy_batch = 0;
    long steps = 0;
    int P = r->prompt_tokens, G = r->gen_tokens > 0 ? r->gen_tokens : 1;
    while (done < n) {
        while (next < n && q[next].arrive <= now && next - head < max_batch) next++;
        if (head == next) { /* idle: jump to the next arrival */
            now = q[next].arrive;
            continue;
        }
        int decoding = 0, prefill = 0, ctx = 0, budget = chunk;
        for (int i = head; i < next; i++) {
            if (q[i].done > 0) continue;
            if (q[i].prefilled < P) {
                int take = P - q[i].prefilled < budget ? P - q[i].prefilled : budget;
                budget -= take;
                prefill += take;
            } else {
                decoding++;
                ctx += P + q[i].generated;
            }
        }
        double dt = rg_plan_step_seconds(p, m, decoding, prefill, decoding ? ctx / decoding : P);
        now += dt;
        steps++;
        busy_batch += decoding;
        budget = chunk;
        for (int i = head; i < next; i++) {
            sim_req *s = &q[i];
            if (s->done > 0) continue;
            if (s->prefilled < P) {
                int take = P - s->prefilled < budget ? P - s->prefilled : budget;
                budget -= take;
                s->prefilled += take;
                if (s->prefilled == P && s->generated == 0) { /* last prompt logits give token 1 */
                    s->first = now;
                    s->generated = 1;
                }
            } else {
                s->generated++;
            }
            if (s->prefilled == P && s->generated >= G) {
                if (s->first == 0) s->first = now;
                s->done = now;
                done++;
            }
        }
        while (head < next && q[head].done > 0) head++;
        /* finished sequences in the middle free their slot too */
        int active = 0;
        for (int i = head; i < next; i++) active += q[i].done == 0;
        while (next < n && q[next].arrive <= now && active < max_batch) next++, active++;
    }
    for (int i = 0; i < n; i++) {
        lat[i] = (q[i].done - q[i].arrive) * 1e3;
        ttft[i] = (q[i].first - q[i].arrive) * 1e3;
    }
    out->p50_ms = rg_percentile(lat, n, 0.5);
    out->p99_ms = rg_percentile(lat, n, 0.99);
    out->ttft_p50_ms = rg_percentile(ttft, n, 0.5);
    out->ttft_p99_ms = rg_percentile(ttft, n, 0.99);
    out->tokens_per_s = (double)n * G / now;
    out->mean_batch = steps ? busy_batch / steps : 0;
    out->completed = n;
out:
    free(q);
    free(lat);
    free(ttft);
}

double rg_plan_max_qps(const rg_plan_profile *p, const rg_plan_model *m, const rg_plan_request *r,
                       int max_batch, double goal_ms) {
    rg_plan_load_result res;
    /* upper bound: a full batch running flat out */
    int G = r->gen_tokens > 0 ? r->gen_tokens : 1;
    double step = rg_plan_step_seconds(p, m, max_batch, 0, r->prompt_tokens + G / 2);
    double hi = max_batch / (G * step) * 1.5, lo = 0;
    rg_plan_simulate(p, m, r, hi * 1e-3 + 1e-9, max_batch, 200, 1, &res);
    if (res.p99_ms > goal_ms) return 0;
    for (int it = 0; it < 18; it++) {
        double mid = (lo + hi) / 2;
        rg_plan_simulate(p, m, r, mid, max_batch, 1000, 42, &res);
        if (res.p99_ms <= goal_ms) lo = mid;
        else hi = mid;
    }
    return lo;
}
