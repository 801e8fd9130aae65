/* calibrate.c - measures this machine with ragd's own kernels (so the
 * predictor tracks them as they get faster): memory bandwidth (triad),
 * matmul rates per weight type at batch 1 (decode: bandwidth-bound) and
 * batch 128 (prefill: compute-bound), the fixed cost of one matmul call
 * (thread hand-off; it adds up over the ~7 calls per layer of a decode
 * step), and the attention kernel's rate.
 *
 * Weight matrices are a few quantized rows repeated: streaming speed does
 * not depend on the values, and quantizing 96 MiB of K-quants would take
 * longer than measuring them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/pool.h"
#include "llm/llm.h"
#include "nn/nn.h"
#include "nn/ops.h"
#include "plan/plan.h"

/* Every measurement keeps its best time by two clocks: wall (what a user
 * sees now) and process CPU time / threads (the speed with a full core per
 * thread, which is what survives on a machine shared with other work; the
 * `ragd bench` figure it compares with is its cpu-normalised column). */
typedef struct {
    double w0, c0;
    double wall, cpu; /* best so far */
    int threads;
} timer;

static void tm_init(timer *t, int threads) {
    t->wall = t->cpu = 1e30;
    t->threads = threads;
}

static void tm_start(timer *t) {
    t->w0 = rg_now_s();
    t->c0 = rg_cpu_s();
}

static void tm_stop(timer *t) {
    double w = rg_now_s() - t->w0, c = (rg_cpu_s() - t->c0) / t->threads;
    if (w < t->wall) t->wall = w;
    if (c <= 0) c = w;
    if (c < t->cpu) t->cpu = c;
}

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

static void measure_bandwidth(rg_pool *pool, int threads, double *wall, double *cpu) {
    long n = 32l << 20; /* 3 x 128 MiB: far beyond any cache */
    triad_ctx t = {malloc(sizeof(float) * n), malloc(sizeof(float) * n), malloc(sizeof(float) * n), n};
    timer tm;
    tm_init(&tm, threads);
    *wall = *cpu = 0;
    if (t.a && t.b && t.c) {
        memset(t.a, 0, sizeof(float) * n);
        for (long i = 0; i < n; i++) t.b[i] = 1.0f, t.c[i] = 2.0f;
        rg_pool_run(pool, triad, &t); /* the first run faults pages in */
        for (int rep = 0; rep < 3; rep++) {
            tm_start(&tm);
            rg_pool_run(pool, triad, &t);
            tm_stop(&tm);
        }
        *wall = 3.0 * sizeof(float) * n / tm.wall / 1e9;
        *cpu = 3.0 * sizeof(float) * n / tm.cpu / 1e9;
    }
    free(t.a);
    free(t.b);
    free(t.c);
}

#define DISTINCT_ROWS 64

/* n rows of k weights of type t: DISTINCT_ROWS quantized rows, repeated. */
static unsigned char *make_weights(rg_dtype type, int64_t k, int64_t n, uint64_t *row_out) {
    uint64_t row;
    if (rg_dtype_row_bytes(type, (uint64_t)k, &row)) return NULL;
    unsigned char *w = malloc(row * (uint64_t)n);
    float *src = malloc(sizeof(float) * (size_t)k);
    if (!w || !src) {
        free(w);
        free(src);
        return NULL;
    }
    uint64_t s = 12345;
    for (int64_t j = 0; j < n; j++) {
        if (j < DISTINCT_ROWS) {
            for (int64_t i = 0; i < k; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                src[i] = ((float)(s >> 40) / (float)(1 << 24) - 0.5f) * 0.04f;
            }
            if (rg_nn_quant_row(type, src, w + row * (uint64_t)j, k)) {
                free(w);
                free(src);
                return NULL;
            }
        } else {
            memcpy(w + row * (uint64_t)j, w + row * (uint64_t)(j % DISTINCT_ROWS), row);
        }
    }
    free(src);
    *row_out = row;
    return w;
}

/* Best time of a batch-1 matmul over n rows of k weights (both clocks). */
static rg_status time_decode(rg_nn *nn, rg_dtype type, int64_t k, uint64_t bytes, const float *x,
                             float *y, timer *tm, uint64_t *rows_out, uint64_t *bytes_out) {
    uint64_t row = 0;
    rg_dtype_row_bytes(type, (uint64_t)k, &row);
    if (!row) return RG_UNSUPPORTED;
    int64_t n = (int64_t)(bytes / row);
    unsigned char *w = make_weights(type, k, n, &row);
    if (!w) return RG_NOMEM;
    tm_init(tm, rg_nn_threads(nn));
    rg_status rc = RG_OK;
    for (int rep = 0; rep < 5 && !rc; rep++) {
        tm_start(tm);
        rc = rg_nn_matmul(nn, type, w, k, n, x, 1, y);
        tm_stop(tm);
    }
    free(w);
    *rows_out = (uint64_t)n;
    *bytes_out = row * (uint64_t)n;
    return rc;
}

/* Decode time of a matrix = rows x row_ns + bytes / decode_gbs: fitted
 * from long rows (k 2048, 96 MiB) and short ones (k 512, 48 MiB), since
 * real models have short rows (576 for a 135M model) whose per-row cost
 * (sums, stores, scheduling) is not hidden behind streaming. */
static void fit_decode(double t1, uint64_t r1, uint64_t b1, double t2, uint64_t r2, uint64_t b2,
                       double *gbs, double *row_ns) {
    /* t = r a + b / R: solve the 2 x 2 system */
    double det = (double)r1 * b2 - (double)r2 * b1;
    double a = det != 0 ? (t1 * b2 - t2 * b1) / det : 0;
    double inv_r = det != 0 ? ((double)r1 * t2 - (double)r2 * t1) / det : 0;
    if (!(a > 0) || !(inv_r > 0)) { /* noise: keep the long-row rate alone */
        a = 0;
        inv_r = t1 / b1;
    }
    *gbs = 1.0 / inv_r / 1e9;
    *row_ns = a * 1e9;
}

static rg_status measure_type(rg_nn *nn, rg_dtype type, rg_plan_type_rate *out,
                              rg_plan_type_rate *out_cpu) {
    const int64_t k = 2048, batch = 128;
    float *x = malloc(sizeof(float) * k * batch), *y = malloc(sizeof(float) * (200000 + 512 * batch));
    unsigned char *w = NULL;
    rg_status rc = RG_NOMEM;
    if (!x || !y) goto out;
    for (int64_t i = 0; i < k * batch; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    timer big, small;
    uint64_t r1, b1, r2, b2;
    if ((rc = time_decode(nn, type, 2048, 96ull << 20, x, y, &big, &r1, &b1)) ||
        (rc = time_decode(nn, type, 512, 48ull << 20, x, y, &small, &r2, &b2)))
        goto out;
    fit_decode(big.wall, r1, b1, small.wall, r2, b2, &out->decode_gbs, &out->row_ns);
    fit_decode(big.cpu, r1, b1, small.cpu, r2, b2, &out_cpu->decode_gbs, &out_cpu->row_ns);
    /* batched (compute-bound), 512 rows of k 2048 and of k 512: time =
     * flops / prefill_gflops + rows x batch x cell_ns (per output: tile
     * set-up and stores, which short rows do not amortise) */
    {
        const int64_t nb = 512;
        timer tl, ts;
        for (int pass = 0; pass < 2; pass++) {
            int64_t kk = pass ? 512 : k;
            timer *tm = pass ? &ts : &tl;
            uint64_t row;
            free(w);
            if (!(w = make_weights(type, kk, nb, &row))) {
                rc = RG_NOMEM;
                goto out;
            }
            tm_init(tm, rg_nn_threads(nn));
            for (int rep = 0; rep < 3; rep++) {
                tm_start(tm);
                if ((rc = rg_nn_matmul(nn, type, w, kk, nb, x, batch, y))) goto out;
                tm_stop(tm);
            }
        }
        double cells = (double)nb * batch;
        for (int c = 0; c < 2; c++) {
            double t1 = c ? tl.cpu : tl.wall, t2 = c ? ts.cpu : ts.wall;
            rg_plan_type_rate *o = c ? out_cpu : out;
            /* t1 = 2*k1*cells/R + cells*a, t2 = 2*k2*cells/R + cells*a */
            double inv_r = (t1 - t2) / (2.0 * (k - 512) * cells);
            double a = (t2 - 2.0 * 512 * cells * inv_r) / cells;
            if (!(inv_r > 0) || !(a > 0)) {
                a = 0;
                inv_r = t1 / (2.0 * k * cells);
            }
            o->prefill_gflops = 1.0 / inv_r / 1e9;
            o->cell_ns = a * 1e9;
        }
    }
    rc = RG_OK;
out:
    free(w);
    free(x);
    free(y);
    return rc;
}

/* Fixed cost of one small batch-1 matmul (Q8_0, 256 x 64: in cache, so
 * almost all of it is handing the work to the threads and back). */
static void measure_call_us(rg_nn *nn, double *wall, double *cpu) {
    const int64_t k = 256, n = 64;
    uint64_t row;
    unsigned char *w = make_weights(RG_DTYPE_Q8_0, k, n, &row);
    float x[256], y[64];
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 13) * 0.01f;
    const int calls = 400;
    timer tm;
    tm_init(&tm, rg_nn_threads(nn));
    *wall = *cpu = 0;
    if (w) {
        for (int rep = 0; rep < 5; rep++) {
            tm_start(&tm);
            for (int i = 0; i < calls; i++) rg_nn_matmul(nn, RG_DTYPE_Q8_0, w, k, n, x, 1, y);
            tm_stop(&tm);
        }
        *wall = tm.wall / calls * 1e6;
        *cpu = tm.cpu / calls * 1e6;
    }
    free(w);
}

/* The attention kernel as a prefill step uses it: 16 tokens x 4 query
 * heads per KV head (64 rows), head_dim 64, blocks of 32 keys. */
static void measure_attn_gflops(int threads, double *wall, double *cpu) {
    const int nq = 64, hd = 64, nk = 32, blocks = 64;
    float *q = malloc(sizeof(float) * nq * hd), *kT = malloc(sizeof(float) * hd * nk * blocks);
    float *v = malloc(sizeof(float) * nk * hd * blocks), *o = malloc(sizeof(float) * nq * hd);
    float m[64], l[64];
    int lim[64];
    timer tm;
    tm_init(&tm, 1);
    *wall = *cpu = 0;
    if (q && kT && v && o) {
        for (int i = 0; i < nq * hd; i++) q[i] = (float)(i % 17) * 0.01f;
        for (int i = 0; i < hd * nk * blocks; i++) kT[i] = (float)(i % 23) * 0.01f, v[i] = kT[i];
        for (int i = 0; i < nq; i++) lim[i] = nk;
        for (int rep = 0; rep < 5; rep++) {
            for (int i = 0; i < nq; i++) m[i] = -INFINITY, l[i] = 0;
            memset(o, 0, sizeof(float) * nq * hd);
            tm_start(&tm);
            for (int it = 0; it < 8; it++)
                for (int b = 0; b < blocks; b++)
                    rg_nn_attn_block(q, nq, hd, kT + (size_t)b * hd * nk, nk,
                                     v + (size_t)b * nk * hd, nk, lim, m, l, o);
            tm_stop(&tm);
        }
    }
    free(q);
    free(kT);
    free(v);
    free(o);
    /* QK^T and AV: 2 x 2 flops per (row, key, dim); single-threaded,
     * scaled by the threads (work items are independent) */
    double flops = 4.0 * nq * nk * hd * blocks * 8;
    if (tm.wall < 1e30) {
        *wall = flops / tm.wall / 1e9 * threads;
        *cpu = flops / tm.cpu / 1e9 * threads;
    }
}

static const rg_dtype all_types[] = {RG_DTYPE_F32,  RG_DTYPE_F16,  RG_DTYPE_BF16,
                                     RG_DTYPE_Q8_0, RG_DTYPE_Q4_0, RG_DTYPE_Q5_0,
                                     RG_DTYPE_Q4_K, RG_DTYPE_Q5_K, RG_DTYPE_Q6_K};

/* What the engine spends beyond matmuls and attention (norms, RoPE, the KV
 * store, activation quantization, SiLU, thread hand-offs): a small random
 * model (made with the GGUF writer) is run through the real forward pass
 * and the roofline's prediction for it is subtracted.  Prefill's residual
 * is charged per token, layer and hidden element (2 * n_embd + n_ff);
 * decode's per layer and step. */
static void measure_engine(const rg_plan_profile *p, rg_dtype type, double *elem_ns,
                           double *layer_us, int cpu) {
    *elem_ns = *layer_us = 0;
    char path[] = "/tmp/ragd-calibrate-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    close(fd);
    rg_llm_mk_params mp = {RG_LLM_ARCH_LLAMA, 512, 512, 4, 8, 2, 1536, 1024, 10000.0f,
                           type, false, false, 7};
    rg_err err;
    rg_llm_model *m = NULL;
    rg_llm_ctx *c = NULL;
    rg_plan_model pm;
    enum { PP = 256, TG = 32 };
    int32_t toks[PP];
    for (int i = 0; i < PP; i++) toks[i] = (i * 37 + 11) % 512;
    if (rg_llm_make_random(path, &mp, &err) || rg_plan_model_from_gguf(path, &pm, &err) ||
        rg_llm_model_open(path, &m, &err))
        goto out;
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = PP + TG;
    cp.n_batch = PP;
    cp.n_threads = p->threads;
    if (rg_llm_ctx_new(m, &cp, &c, &err)) goto out;
    timer pp, tg;
    tm_init(&pp, p->threads);
    tm_init(&tg, p->threads);
    for (int rep = 0; rep < 4; rep++) {
        rg_llm_seq_rm(c, 0, 0);
        tm_start(&pp);
        if (rg_llm_eval(c, 0, toks, PP, &err)) goto out;
        if (rep) tm_stop(&pp); /* the first run warms up */
        rg_llm_seq_rm(c, 0, 0);
        tm_start(&tg);
        for (int i = 0; i < TG; i++)
            if (rg_llm_eval(c, 0, &toks[i], 1, &err)) goto out;
        if (rep) tm_stop(&tg);
    }
    rg_plan_profile q = *p;
    q.elem_ns = q.layer_us = 0;
    double pred_pp = rg_plan_step_seconds(&q, &pm, 0, PP, 0), pred_tg = 0;
    for (int i = 0; i < TG; i++) pred_tg += rg_plan_step_seconds(&q, &pm, 1, 0, i);
    double got_pp = cpu ? pp.cpu : pp.wall, got_tg = cpu ? tg.cpu : tg.wall;
    double per = (double)PP * pm.n_layer * (2.0 * pm.n_embd + pm.n_ff);
    *elem_ns = got_pp > pred_pp ? (got_pp - pred_pp) / per * 1e9 : 0;
    *layer_us = got_tg > pred_tg ? (got_tg - pred_tg) / TG / pm.n_layer * 1e6 : 0;
out:
    if (c) rg_llm_ctx_free(c);
    if (m) rg_llm_model_close(m);
    unlink(path);
}

rg_status rg_plan_calibrate_types(int threads, const rg_dtype *types, int n_types,
                                  rg_plan_profile *p, rg_plan_profile *pcpu, rg_err *err) {
    rg_plan_profile scratch;
    if (!pcpu) pcpu = &scratch;
    memset(p, 0, sizeof *p);
    memset(pcpu, 0, sizeof *pcpu);
    if (!types) {
        types = all_types;
        n_types = (int)(sizeof all_types / sizeof all_types[0]);
    }
    rg_nn *nn = rg_nn_new(threads);
    if (!nn) return rg_failf(err, RG_NOMEM, "calibrate: cannot start %d threads", threads);
    p->threads = pcpu->threads = rg_nn_threads(nn);
    pcpu->cpu_clock = 1;
    measure_bandwidth(rg_nn_pool(nn), p->threads, &p->bandwidth_gbs, &pcpu->bandwidth_gbs);
    measure_call_us(nn, &p->call_us, &pcpu->call_us);
    for (int i = 0; i < n_types; i++) {
        if (!rg_nn_supports(types[i])) continue;
        rg_status rc = measure_type(nn, types[i], &p->rate[types[i]], &pcpu->rate[types[i]]);
        if (rc == RG_NOMEM) {
            rg_nn_free(nn);
            return rg_failf(err, rc, "calibrate: out of memory measuring %s", rg_dtype_name(types[i]));
        }
    }
    measure_attn_gflops(p->threads, &p->attn_gflops, &pcpu->attn_gflops);
    rg_nn_free(nn);
    /* the engine's residual, on the first measured type */
    if (n_types > 0 && rg_nn_supports(types[0]) && p->rate[types[0]].decode_gbs > 0) {
        measure_engine(p, types[0], &p->elem_ns, &p->layer_us, 0);
        measure_engine(pcpu, types[0], &pcpu->elem_ns, &pcpu->layer_us, 1);
    }
    return RG_OK;
}

rg_status rg_plan_calibrate(int threads, rg_plan_profile *p, rg_err *err) {
    return rg_plan_calibrate_types(threads, NULL, 0, p, NULL, err);
}
