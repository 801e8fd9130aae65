/* bench_mkmodel.c - benchmark helpers for bench/llm.sh:
 *   bench_mkmodel OUT.gguf SHAPE TYPE   writes a random-weight model of a real
 *       shape (smollm2-135m | qwen2.5-0.5b; tiny for engine-only measurements) in f32|f16|q8_0|q4_0|q4_k_m
 *   bench_mkmodel --bw THREADS          memory bandwidth in GB/s (STREAM-like
 *       triad a = b + s*c over three 256 MiB arrays, best of 5)
 * Shapes as in ../shared/BASELINES.md. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "gguf/dtype.h"
#include "llm/llm.h"

typedef struct {
    float *a, *b, *c;
    size_t lo, hi;
} bw_arg;

static void *triad(void *p) {
    bw_arg *t = p;
    for (size_t i = t->lo; i < t->hi; i++) t->a[i] = t->b[i] + 3.0f * t->c[i];
    return NULL;
}

static int bandwidth(int nth) {
    const size_t n = (256u << 20) / sizeof(float);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = 1;
        c[i] = 2;
    }
    if (nth < 1) nth = 1;
    if (nth > 64) nth = 64;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[64];
        bw_arg args[64];
        uint64_t t0 = rg_now_ns();
        for (int i = 0; i < nth; i++) {
            args[i] = (bw_arg){a, b, c, n * (size_t)i / (size_t)nth, n * (size_t)(i + 1) / (size_t)nth};
            if (i) pthread_create(&th[i], NULL, triad, &args[i]);
        }
        triad(&args[0]);
        for (int i = 1; i < nth; i++) pthread_join(th[i], NULL);
        double s = (double)(rg_now_ns() - t0) / 1e9;
        double gbs = 3.0 * (double)n * sizeof(float) / s / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("%.2f\n", best);
    free(a);
    free(b);
    free(c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--bw")) return bandwidth(atoi(argv[2]));
    if (argc != 4) {
        fprintf(stderr, "usage: bench_mkmodel OUT.gguf smollm2-135m|qwen2.5-0.5b|tiny "
                        "f32|f16|q8_0|q4_0|q4_k_m\n       bench_mkmodel --bw THREADS\n");
        return 2;
    }
    rg_llm_mk_params p;
    memset(&p, 0, sizeof p);
    if (!strcmp(argv[2], "smollm2-135m")) {
        p = (rg_llm_mk_params){RG_LLM_ARCH_LLAMA, 49152, 576, 30, 9, 3, 1536, 8192, 100000.0f,
                               RG_DTYPE_F16, false, true, 1};
    } else if (!strcmp(argv[2], "qwen2.5-0.5b")) {
        p = (rg_llm_mk_params){RG_LLM_ARCH_QWEN2, 151936, 896, 24, 14, 2, 4864, 32768, 1e6f,
                               RG_DTYPE_F16, false, true, 1};
    } else if (!strcmp(argv[2], "tiny")) { /* for engine-only measurements */
        p = (rg_llm_mk_params){RG_LLM_ARCH_QWEN2, 512, 64, 2, 4, 2, 128, 32768, 1e6f,
                               RG_DTYPE_F16, false, true, 1};
    } else {
        fprintf(stderr, "bench_mkmodel: unknown shape '%s'\n", argv[2]);
        return 2;
    }
    if (!strcmp(argv[3], "q4_k_m")) {
        p.q4_k_m = true;
    } else {
        int t = rg_dtype_parse(argv[3]);
        if (t < 0) {
            fprintf(stderr, "bench_mkmodel: unknown type '%s'\n", argv[3]);
            return 2;
        }
        p.type = (rg_dtype)t;
    }
    rg_err err;
    rg_err_clear(&err);
    if (rg_llm_make_random(argv[1], &p, &err)) {
        fprintf(stderr, "bench_mkmodel: %s\n", rg_err_text(&err));
        return 1;
    }
    return 0;
}
