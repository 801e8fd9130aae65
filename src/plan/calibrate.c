/* calibrate.c - measures this machine with ragd's own kernels: memory
 * bandwidth (triad) and matmul rates per weight type, batch 1 (decode,
 * bandwidth-bound) and batch 64 (prefill, compute-bound). */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/pool.h"
#include "nn/nn.h"
#include "plan/plan.h"

typedef struct {
    float *a, *b, *c;
    long n;
} triad_ctx;

static void triad(void *vctx, int ith, int nth) {
    triad_ctx *t = vctx;
    long lo, hi;
    rg_pool_split(t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) t->a[i] = t->b[i] + 3.0f * t->c[i];
}

static double measure_bandwidth(rg_pool *pool) {
    long n = 32l << 20; /* 3 x 128 MiB: far beyond any cache */
    triad_ctx t = {malloc(sizeof(float) * n), malloc(sizeof(float) * n), malloc(sizeof(float) * n), n};
    double best = 0;
    if (t.a && t.b && t.c) {
        memset(t.a, 0, sizeof(float) * n);
        for (long i = 0; i < n; i++) t.b[i] = 1.0f, t.c[i] = 2.0f;
        for (int rep = 0; rep < 4; rep++) {
            double t0 = rg_now_s();
            rg_pool_run(pool, triad, &t);
            double dt = rg_now_s() - t0;
            double gbs = 3.0 * sizeof(float) * n / dt / 1e9;
            if (rep && gbs > best) best = gbs; /* first run faults pages in */
        }
    }
    free(t.a);
    free(t.b);
    free(t.c);
    return best;
}

static rg_status measure_type(rg_nn *nn, rg_dtype type, rg_plan_type_rate *out) {
    const int64_t k = 2048;
    uint64_t row;
    if (rg_dtype_row_bytes(type, k, &row)) return RG_UNSUPPORTED;
    int64_t n = (int64_t)((96ull << 20) / row); /* ~96 MiB of weights */
    unsigned char *w = malloc(row * (uint64_t)n);
    float *src = malloc(sizeof(float) * k);
    float *x = malloc(sizeof(float) * k * 64), *y = malloc(sizeof(float) * n * 64);
    rg_status rc = RG_NOMEM;
    if (!w || !src || !x || !y) goto out;
    uint64_t s = 12345;
    for (int64_t j = 0; j < n; j++) {
        for (int64_t i = 0; i < k; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            src[i] = ((float)(s >> 40) / (float)(1 << 24) - 0.5f) * 0.04f;
        }
        if ((rc = rg_nn_quant_row(type, src, w + row * (uint64_t)j, k))) goto out;
    }
    for (int64_t i = 0; i < k * 64; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = rg_now_s();
        if ((rc = rg_nn_matmul(nn, type, w, k, n, x, 1, y))) goto out;
        double dt = rg_now_s() - t0;
        if (dt < best) best = dt;
    }
    out->decode_gbs = (double)row * n / best / 1e9;
    int64_t nb = n < 1024 ? n : 1024; /* batched: a slice that stays compute-bound */
    best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = rg_now_s();
        if ((rc = rg_nn_matmul(nn, type, w, k, nb, x, 64, y))) goto out;
        double dt = rg_now_s() - t0;
        if (dt < best) best = dt;
    }
    out->prefill_gflops = 2.0 * k * nb * 64 / best / 1e9;
    rc = RG_OK;
out:
    free(w);
    free(src);
    free(x);
    free(y);
    return rc;
}

rg_status rg_plan_calibrate(int threads, rg_plan_profile *p, rg_err *err) {
    memset(p, 0, sizeof *p);
    rg_nn *nn = rg_nn_new(threads);
    if (!nn) return rg_failf(err, RG_NOMEM, "calibrate: cannot start %d threads", threads);
    p->threads = rg_nn_threads(nn);
    p->bandwidth_gbs = measure_bandwidth(rg_nn_pool(nn));
    static const rg_dtype types[] = {RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_BF16, RG_DTYPE_Q8_0,
                                     RG_DTYPE_Q4_0, RG_DTYPE_Q5_0, RG_DTYPE_Q4_K, RG_DTYPE_Q5_K,
                                     RG_DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (!rg_nn_supports(types[i])) continue;
        rg_status rc = measure_type(nn, types[i], &p->rate[types[i]]);
        if (rc == RG_NOMEM) {
            rg_nn_free(nn);
            return rg_failf(err, rc, "calibrate: out of memory measuring %s", rg_dtype_name(types[i]));
        }
    }
    /* attention math: f32 dot products over an in-cache KV block */
    float *a = calloc(64 * 1024, sizeof(float));
    if (a) {
        for (int i = 0; i < 64 * 1024; i++) a[i] = (float)(i % 17) * 0.01f;
        double t0 = rg_now_s();
        volatile float sink = 0;
        for (int rep = 0; rep < 400; rep++)
            for (int r = 0; r < 1024; r++) sink += rg_nn_dot_f32(a + r * 64, a, 64);
        double dt = rg_now_s() - t0;
        /* single-threaded measurement scaled by the threads the engine uses */
        p->attn_gflops = 2.0 * 400 * 1024 * 64 / dt / 1e9 * p->threads;
        free(a);
    }
    rg_nn_free(nn);
    return RG_OK;
}
