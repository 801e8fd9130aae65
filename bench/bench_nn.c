/* bench_nn.c - memory bandwidth (STREAM-like triad) and rg_nn_matmul
 * throughput per weight type on SmolLM2-135M / Qwen2.5-0.5B shapes.
 *
 * Decode (batch 1) rotates through enough copies of the matrix to exceed
 * the last-level cache, so weights really stream from DRAM; the result is
 * GB/s of weights read and its fraction of the triad bandwidth measured in
 * the same run.  Prefill (batch 512) reports GFLOP/s (2*k*n*batch / time).
 *
 * usage: bench_nn [-q] [-t THREADS_LIST e.g. 1,2] [-l scalar|avx2|avx512] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/cpu.h"
#include "core/pool.h"
#include "nn/nn.h"

typedef struct {
    float *a, *b, *c;
    long n;
} triad_ctx;

static void triad_task(void *vctx, int ith, int nth) {
    triad_ctx *t = vctx;
    long lo, hi;
    rg_pool_split(t->n, ith, nth, &lo, &hi);
    float *a = t->a, *b = t->b, *c = t->c;
    for (long i = lo; i < hi; i++) a[i] = b[i] + 3.0f * c[i];
}

/* best-of-reps triad GB/s (3 arrays x n floats moved per pass) */
static double triad(int threads, long n, int reps) {
    triad_ctx t = {malloc(n * 4), malloc(n * 4), malloc(n * 4), n};
    if (!t.a || !t.b || !t.c) return 0;
    rg_pool *p = threads > 1 ? rg_pool_new(threads) : NULL;
    for (long i = 0; i < n; i++) t.a[i] = 0, t.b[i] = 1, t.c[i] = 2;
    rg_pool_run(p, triad_task, &t); /* first touch everything */
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = rg_now_s();
        rg_pool_run(p, triad_task, &t);
        double dt = rg_now_s() - t0;
        double gbs = 3.0 * 4 * n / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    rg_pool_free(p);
    free(t.a);
    free(t.b);
    free(t.c);
    return best;
}

typedef struct {
    const char *model;
    int64_t k, n;
} shape;

static const shape k_shapes[] = {
    {"smollm2-135m ffn_up", 576, 1536},
    {"smollm2-135m ffn_down", 1536, 576},
    {"qwen2.5-0.5b ffn_up", 896, 4864},
    {"qwen2.5-0.5b ffn_down", 4864, 896},
};

static const rg_dtype k_types[] = {RG_DTYPE_F32,  RG_DTYPE_F16,  RG_DTYPE_BF16, RG_DTYPE_Q8_0,
                                   RG_DTYPE_Q4_0, RG_DTYPE_Q5_0, RG_DTYPE_Q4_K, RG_DTYPE_Q5_K,
                                   RG_DTYPE_Q6_K};

/* one thread, weights in L2 (~256 KB), CPU time: GB/s of weights and GFLOP/s */
static void in_cache(rg_dtype t, int64_t batch, int quick) {
    const int64_t k = 1024, n = 256;
    uint64_t rb;
    if (rg_dtype_row_bytes(t, (uint64_t)k, &rb)) return;
    char *w = malloc(rb * n);
    float *row = malloc(k * 4), *x = malloc(k * batch * 4), *y = malloc(n * batch * 4);
    for (int64_t r = 0; r < n; r++) {
        for (int64_t i = 0; i < k; i++) row[i] = 0.02f * sinf((float)(r * 7 + i));
        rg_nn_quant_row(t, row, w + r * rb, k);
    }
    for (int64_t i = 0; i < k * batch; i++) x[i] = cosf((float)i);
    rg_nn *nn = rg_nn_new(1);
    rg_nn_matmul(nn, t, w, k, n, x, batch, y);
    int reps = (int)((quick ? 2e8 : 6e8) / (2.0 * k * n * batch)) + 1;
    double best = 1e30;
    for (int trial = 0; trial < 3; trial++) {
        double t0 = rg_thread_cpu_s();
        for (int r = 0; r < reps; r++) rg_nn_matmul(nn, t, w, k, n, x, batch, y);
        double dt = (rg_thread_cpu_s() - t0) / reps;
        if (dt < best) best = dt;
    }
    printf("%-5s %6lld %10.1f %9.1f %9.1f\n", rg_dtype_name(t), (long long)batch, best * 1e6,
           rb * n / best / 1e9, 2.0 * k * n * batch / best / 1e9);
    rg_nn_free(nn);
    free(w);
    free(row);
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    int quick = 0, tlist[8] = {1, 2}, nt = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q")) quick = 1;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            nt = 0;
            for (char *s = strtok(argv[++i], ","); s && nt < 8; s = strtok(NULL, ","))
                tlist[nt++] = atoi(s);
        } else if (!strcmp(argv[i], "-l") && i + 1 < argc) {
            const char *l = argv[++i];
            rg_cpu_level_force(!strcmp(l, "scalar") ? 0 : !strcmp(l, "avx2") ? 1 : 2);
        } else {
            fprintf(stderr, "usage: bench_nn [-q] [-t 1,2] [-l scalar|avx2|avx512]\n");
            return 2;
        }
    }
    const char *level = rg_cpu_level_name(rg_cpu_level_get());
    printf("cpu: %s; kernels: %s%s\n", rg_cpu_describe(), level, quick ? " (quick)" : "");
    long tn = quick ? (64l << 20) / 4 : (256l << 20) / 4; /* floats per triad array */
    double bw[8];
    printf("\nmemory bandwidth, triad over 3 x %ld MB (llama.cpp machine: ~24 GB/s t1, ~33 GB/s t2)\n",
           tn * 4 >> 20);
    for (int ti = 0; ti < nt; ti++) {
        bw[ti] = triad(tlist[ti], tn, quick ? 3 : 5);
        printf("  threads %d: %.1f GB/s\n", tlist[ti], bw[ti]);
    }

    printf("\nin-cache compute ceiling, 1 thread, k=1024 n=256, thread CPU time\n");
    printf("%-5s %6s %10s %9s %9s\n", "type", "batch", "us/call", "GB/s", "GFLOP/s");
    for (size_t ty = 0; ty < sizeof k_types / sizeof k_types[0]; ty++) in_cache(k_types[ty], 1, quick);
    for (size_t ty = 0; ty < sizeof k_types / sizeof k_types[0]; ty++) in_cache(k_types[ty], 16, quick);

    size_t stream_bytes = quick ? (96u << 20) : (256u << 20);
    printf("\ndecode (batch 1): weights streamed from DRAM, >= %zu MB rotated per pass\n",
           stream_bytes >> 20);
    printf("%-24s %-5s %3s %9s %8s %8s\n", "shape", "type", "thr", "us/call", "GB/s", "of bw");
    for (size_t si = 0; si < sizeof k_shapes / sizeof k_shapes[0]; si++) {
        const shape *sh = &k_shapes[si];
        if (quick && si % 2) continue;
        for (size_t ty = 0; ty < sizeof k_types / sizeof k_types[0]; ty++) {
            rg_dtype t = k_types[ty];
            uint64_t rb;
            if (rg_dtype_row_bytes(t, (uint64_t)sh->k, &rb)) continue; /* k % 256 for K-quants */
            size_t mbytes = (size_t)rb * (size_t)sh->n;
            int copies = (int)((stream_bytes + mbytes - 1) / mbytes);
            char *w = malloc(mbytes * copies);
            float *row = malloc(sh->k * 4), *x = malloc(sh->k * 4), *y = malloc(sh->n * 4);
            unsigned s = 1;
            for (int64_t r = 0; r < sh->n; r++) {
                for (int64_t i = 0; i < sh->k; i++) {
                    s = s * 1103515245u + 12345u;
                    row[i] = ((float)(s >> 8) / (1 << 24) - 0.5f) * 0.1f;
                }
                rg_nn_quant_row(t, row, w + r * rb, sh->k);
            }
            for (int c = 1; c < copies; c++) memcpy(w + c * mbytes, w, mbytes);
            for (int64_t i = 0; i < sh->k; i++) x[i] = sinf((float)i);
            for (int ti = 0; ti < nt; ti++) {
                rg_nn *nn = rg_nn_new(tlist[ti]);
                for (int c = 0; c < copies; c++) rg_nn_matmul(nn, t, w + c * mbytes, sh->k, sh->n, x, 1, y);
                double best = 1e30;
                for (int rep = 0; rep < (quick ? 3 : 5); rep++) {
                    double t0 = rg_now_s();
                    for (int c = 0; c < copies; c++)
                        rg_nn_matmul(nn, t, w + c * mbytes, sh->k, sh->n, x, 1, y);
                    double dt = (rg_now_s() - t0) / copies;
                    if (dt < best) best = dt;
                }
                double gbs = mbytes / best / 1e9;
                printf("%-24s %-5s %3d %9.1f %8.1f %7.0f%%\n", sh->model, rg_dtype_name(t), tlist[ti],
                       best * 1e6, gbs, 100 * gbs / bw[ti]);
                rg_nn_free(nn);
            }
            free(w);
            free(row);
            free(x);
            free(y);
        }
    }

    const int64_t batch = quick ? 128 : 512;
    printf("\nprefill (batch %lld): GFLOP/s = 2*k*n*batch / time\n", (long long)batch);
    printf("%-24s %-5s %3s %9s %8s\n", "shape", "type", "thr", "ms/call", "GFLOP/s");
    for (size_t si = 2; si < 3; si++) {
        const shape *sh = &k_shapes[si];
        for (size_t ty = 0; ty < sizeof k_types / sizeof k_types[0]; ty++) {
            rg_dtype t = k_types[ty];
            uint64_t rb;
            if (rg_dtype_row_bytes(t, (uint64_t)sh->k, &rb)) continue;
            char *w = malloc(rb * sh->n);
            float *row = malloc(sh->k * 4), *x = malloc(sh->k * batch * 4),
                  *y = malloc(sh->n * batch * 4);
            for (int64_t r = 0; r < sh->n; r++) {
                for (int64_t i = 0; i < sh->k; i++) row[i] = 0.02f * sinf((float)(r * 7 + i));
                rg_nn_quant_row(t, row, w + r * rb, sh->k);
            }
            for (int64_t i = 0; i < sh->k * batch; i++) x[i] = cosf((float)i);
            for (int ti = 0; ti < nt; ti++) {
                rg_nn *nn = rg_nn_new(tlist[ti]);
                rg_nn_matmul(nn, t, w, sh->k, sh->n, x, batch, y);
                double best = 1e30;
                for (int rep = 0; rep < 2; rep++) {
                    double t0 = rg_now_s();
                    rg_nn_matmul(nn, t, w, sh->k, sh->n, x, batch, y);
                    double dt = rg_now_s() - t0;
                    if (dt < best) best = dt;
                }
                printf("%-24s %-5s %3d %9.2f %8.1f\n", sh->model, rg_dtype_name(t), tlist[ti],
                       best * 1e3, 2.0 * sh->k * sh->n * batch / best / 1e9);
                rg_nn_free(nn);
            }
            free(w);
            free(row);
            free(x);
            free(y);
        }
    }
    return 0;
}
