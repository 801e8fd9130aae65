/* gemm.c - rg_nn_matmul for large batches (prompt prefill): a block of
 * weight rows is converted to f32 into the calling thread's scratch and
 * multiplied with all activation rows by a single-threaded OpenBLAS
 * sgemm; the pool's threads take row blocks from a shared counter.
 *
 * Why: with hundreds of activation rows the conversion is paid once per
 * weight element for `batch` multiply-adds, and OpenBLAS's packed,
 * cache-blocked f32 kernel runs near the FMA peak, well above the
 * integer / F16C dot-product tiles of dot_*.c at this size (docs/llm.md,
 * "Prefill").  Activations stay f32 (not rounded to F16 / quantized to
 * Q8_0 as in the dot-product path), so results are closer to exact math
 * than llama.cpp's, well within the fixture tolerances.
 *
 * Invariants: OpenBLAS is single-threaded (rg_nn_new sets it), so
 * concurrent calls from the pool's threads do not contend for OpenBLAS's
 * own threads; each thread writes only its own scratch slice and its own
 * columns of Y. */
#include <cblas.h>
#include <stdatomic.h>

#include "nn/nn_int.h"

typedef struct {
    const rg__kernels *kt;
    rg_dtype wt;
    const char *w;
    size_t wrow;       /* bytes per weight row */
    int64_t k, n, batch;
    const float *x;
    float *y;
    float *scratch;    /* nth slices of rows * k floats */
    int64_t rows;      /* weight rows per block */
    atomic_llong next; /* first row of the next block to take */
} gemm_task;

static void gemm_run(void *ctx, int ith, int nth) {
    gemm_task *t = ctx;
    (void)nth;
    float *buf = t->scratch + (size_t)ith * (size_t)t->rows * (size_t)t->k;
    rg__deq_fn deq = t->kt->deq[t->wt];
    for (;;) {
        int64_t r0 = atomic_fetch_add_explicit(&t->next, t->rows, memory_order_relaxed);
        if (r0 >= t->n) break;
        int64_t nr = t->n - r0 < t->rows ? t->n - r0 : t->rows;
        const float *wf;
        if (t->wt == RG_DTYPE_F32) {
            wf = (const float *)(t->w + (size_t)r0 * t->wrow);
        } else {
            for (int64_t r = 0; r < nr; r++) {
                const char *src = t->w + (size_t)(r0 + r) * t->wrow;
                float *dst = buf + (size_t)r * (size_t)t->k;
                if (deq) deq(src, dst, t->k);
                else rg_nn_dequant_row(t->wt, src, dst, t->k);
            }
            wf = buf;
        }
        /* Y[:, r0:r0+nr] (batch,nr) = X (batch,k) @ Wblock^T, Wblock (nr,k) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)t->batch, (blasint)nr,
                    (blasint)t->k, 1.0f, t->x, (blasint)t->k, wf, (blasint)t->k, 0.0f,
                    t->y + r0, (blasint)t->n);
    }
}

size_t rg__gemm_scratch_bytes(int64_t k, int nth) {
    return (size_t)RG_NN_GEMM_ROWS * (size_t)k * sizeof(float) * (size_t)nth;
}

void rg__gemm(rg_pool *pool, int nth, float *scratch, rg_dtype wt, const void *w, size_t wrow, int64_t k,
              int64_t n, const float *x, int64_t batch, float *y) {
    gemm_task t = {.kt = rg__kernels_get(), .wt = wt, .w = w, .wrow = wrow, .k = k, .n = n,
                   .batch = batch, .x = x, .y = y, .scratch = scratch, .rows = RG_NN_GEMM_ROWS};
    /* blocks of at most ~4 MB of f32 weights; with few rows, smaller
     * blocks so that every thread gets work */
    while (t.rows > 16 && (t.rows * k > (1 << 20) || n < t.rows * 2 * nth)) t.rows /= 2;
    atomic_init(&t.next, 0);
    rg_pool_run_shared(pool, gemm_run, &t);
}
