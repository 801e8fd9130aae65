/* bench_mmbatch.c - rg_nn_matmul at the small batches of batched decode
 * (1..64 activation rows) on Qwen2.5-0.5B's matrix shapes, thread CPU
 * time (the fastest of many calls), so figures hold on a shared machine:
 *   bench_mmbatch [-t THREADS 1] [-T TYPE q8_0] [-b 1,4,16,64] [-l scalar|avx2]
 * prints us per call, GFLOP/s (2*k*n*batch / CPU time) and the CPU time
 * per activation row relative to batch 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/cpu.h"
#include "nn/nn.h"

typedef struct {
    const char *name;
    int64_t k, n;
} shape;

static const shape k_shapes[] = {
    {"attn_q/o 896x896", 896, 896},
    {"ffn_up 896x4864", 896, 4864},
    {"ffn_down 4864x896", 4864, 896},
    {"output 896x151936", 896, 151936},
};

int main(int argc, char **argv) {
    int threads = 1, batches[16] = {1, 2, 4, 8, 16, 32, 64}, nbatch = 7;
    rg_dtype t = RG_DTYPE_Q8_0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) {
            const char *n = argv[++i];
            t = RG_DTYPE_COUNT;
            for (int d = 0; d < RG_DTYPE_COUNT; d++)
                if (rg_dtype_name((rg_dtype)d) && !strcmp(rg_dtype_name((rg_dtype)d), n)) t = (rg_dtype)d;
            if (t == RG_DTYPE_COUNT || !rg_nn_supports(t)) {
                fprintf(stderr, "bench_mmbatch: unknown type %s\n", n);
                return 2;
            }
        } else if (!strcmp(argv[i], "-b") && i + 1 < argc) {
            nbatch = 0;
            for (char *s = strtok(argv[++i], ","); s && nbatch < 16; s = strtok(NULL, ",")) batches[nbatch++] = atoi(s);
        } else if (!strcmp(argv[i], "-l") && i + 1 < argc) {
            const char *l = argv[++i];
            rg_cpu_level_force(!strcmp(l, "scalar") ? 0 : !strcmp(l, "avx2") ? 1 : 2);
        } else {
            fprintf(stderr, "usage: bench_mmbatch [-t THREADS] [-T TYPE] [-b 1,4,16] [-l scalar|avx2|avx512]\n");
            return 2;
        }
    }
    printf("cpu: %s; kernels: %s; %s, %d thread(s), process CPU time\n", rg_cpu_describe(),
           rg_cpu_level_name(rg_cpu_level_get()), rg_dtype_name(t), threads);
    printf("%-20s %5s %10s %9s %12s\n", "shape", "batch", "us/call", "GFLOP/s", "CPU/row vs 1");
    rg_nn *nn = rg_nn_new(threads);
    for (size_t si = 0; si < sizeof k_shapes / sizeof k_shapes[0]; si++) {
        const shape *sh = &k_shapes[si];
        uint64_t rb;
        if (rg_dtype_row_bytes(t, (uint64_t)sh->k, &rb)) continue;
        char *w = malloc(rb * (size_t)sh->n);
        float *row = malloc((size_t)sh->k * 4);
        unsigned s = 1;
        for (int64_t r = 0; r < sh->n; r++) {
            for (int64_t i = 0; i < sh->k; i++) {
                s = s * 1103515245u + 12345u;
                row[i] = ((float)(s >> 8) / (1 << 24) - 0.5f) * 0.1f;
            }
            rg_nn_quant_row(t, row, w + r * rb, sh->k);
        }
        double base = 0;
        for (int bi = 0; bi < nbatch; bi++) {
            int64_t b = batches[bi];
            float *x = malloc((size_t)(sh->k * b) * 4), *y = malloc((size_t)(sh->n * b) * 4);
            for (int64_t i = 0; i < sh->k * b; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
            rg_nn_matmul(nn, t, w, sh->k, sh->n, x, b, y);
            double flop = 2.0 * (double)sh->k * (double)sh->n * (double)b;
            /* the fastest of many calls: other processes on a shared machine
             * only ever add time */
            int reps = (int)(3e9 / flop) + 3;
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = rg_cpu_s();
                rg_nn_matmul(nn, t, w, sh->k, sh->n, x, b, y);
                double dt = rg_cpu_s() - t0;
                if (dt < best) best = dt;
            }
            if (bi == 0) base = best / (double)b;
            printf("%-20s %5lld %10.1f %9.1f %12.3f\n", sh->name, (long long)b, best * 1e6, flop / best / 1e9,
                   best / (double)b / base);
            free(x);
            free(y);
        }
        free(w);
        free(row);
    }
    rg_nn_free(nn);
    return 0;
}
