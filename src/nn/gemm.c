/* gemm.c - rg_nn_matmul for large batches (prompt prefill): a block of
 * weight rows is converted to f32 into the calling thread's scratch and
 * multiplied with all activation rows by a single-threaded OpenBLAS
 * sgemm; the pool's threads take row blocks from a shared counter.
 *
 * Why: with hundreds of activation rows the conversion is paid once per
 * weight element for `batch` multiply-adds, and OpenBLAS's packed,
 * cache-blocked f32 kernel runs near the FMA peak, well above the
 * integer / F16C dot-product tiles of dot_*.c at this size (docs/llm.md,
 * "Prefill").  The activations are first rounded through the weight
 * type's activation type (F16, BF16, Q8_0 or Q8_K blocks, as llama.cpp
 * and the dot-product path do), so a row's result does not depend on the
 * batch it came in, up to float summation order.
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
    rg_dtype wt, at;
    const char *w;
    size_t wrow;       /* bytes per weight row */
    size_t arow;       /* bytes per activation row in the activation type */
    int64_t k, n, batch;
    const float *x;    /* (batch,k) as given */
    float *xr;         /* (batch,k) rounded through the activation type */
    char *atmp;        /* nth rows of arow bytes */
    float *y;
    float *wbuf;       /* nth blocks of rmax * k floats */
    int64_t rows;      /* weight rows per block */
    int64_t rmax;      /* rows of a thread's slice of wbuf */
    atomic_llong next; /* next activation row / first weight row of the next block */
} gemm_task;

static void deq(const rg__kernels *kt, rg_dtype t, const void *src, float *dst, int64_t n) {
    if (kt->deq[t]) kt->deq[t](src, dst, n);
    else rg_nn_dequant_row(t, src, dst, n);
}

/* xr = dequant(act(x)) row by row: the values the dot-product path
 * multiplies (F16 / BF16 rounding, Q8_0 / Q8_K blocks) */
static void round_run(void *ctx, int ith, int nth) {
    gemm_task *t = ctx;
    (void)nth;
    char *tmp = t->atmp + (size_t)ith * t->arow;
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (b >= t->batch) break;
        t->kt->act[t->at](t->x + b * t->k, tmp, t->k);
        deq(t->kt, t->at, tmp, t->xr + b * t->k, t->k);
    }
}

static void gemm_run(void *ctx, int ith, int nth) {
    gemm_task *t = ctx;
    (void)nth;
    float *buf = t->wbuf + (size_t)ith * (size_t)t->rmax * (size_t)t->k;
    for (;;) {
        int64_t r0 = atomic_fetch_add_explicit(&t->next, t->rows, memory_order_relaxed);
        if (r0 >= t->n) break;
        int64_t nr = t->n - r0 < t->rows ? t->n - r0 : t->rows;
        for (int64_t r = 0; r < nr; r++)
            deq(t->kt, t->wt, t->w + (size_t)(r0 + r) * t->wrow, buf + (size_t)r * (size_t)t->k,
                t->k);
        /* Y[:, r0:r0+nr] (batch,nr) = Xr (batch,k) @ Wblock^T, Wblock (nr,k) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)t->batch, (blasint)nr,
                    (blasint)t->k, 1.0f, t->xr, (blasint)t->k, buf, (blasint)t->k, 0.0f,
                    t->y + r0, (blasint)t->n);
    }
}

/* rows of one thread's weight block */
static int64_t rows_max(int64_t k) {
    int64_t r = RG_NN_GEMM_FLOATS / k;
    if (r > RG_NN_GEMM_ROWS) r = RG_NN_GEMM_ROWS;
    return r < 16 ? 16 : r;
}

/* layout: [nth weight blocks][xr (batch,k)][nth activation rows], each
 * part 64-byte aligned */
static size_t up64(size_t v) { return (v + 63) & ~(size_t)63; }

size_t rg__gemm_scratch_bytes(int64_t k, int64_t batch, size_t arow, int nth) {
    size_t wb, xb, ab, s;
    const size_t rmax = (size_t)rows_max(k);
    if (__builtin_mul_overflow(rmax * sizeof(float), (size_t)k, &wb) ||
        __builtin_mul_overflow(wb, (size_t)nth, &wb) ||
        __builtin_mul_overflow((size_t)batch * sizeof(float), (size_t)k, &xb) ||
        __builtin_mul_overflow(arow + 64, (size_t)nth, &ab) || wb > SIZE_MAX / 4 ||
        xb > SIZE_MAX / 4 || ab > SIZE_MAX / 4)
        return 0;
    s = up64(wb) + up64(xb) + up64(ab);
    return s;
}

void rg__gemm(rg_pool *pool, int nth, void *scratch, rg_dtype wt, const void *w, size_t wrow,
              int64_t k, int64_t n, const float *x, int64_t batch, float *y) {
    rg_dtype at = rg__act_type(wt);
    uint64_t arow = 0;
    (void)rg_dtype_row_bytes(at, (uint64_t)k, &arow); /* checked by the caller */
    const int64_t rmax = rows_max(k);
    size_t wb = up64((size_t)rmax * sizeof(float) * (size_t)k * (size_t)nth);
    size_t xb = up64((size_t)batch * sizeof(float) * (size_t)k);
    gemm_task t = {.kt = rg__kernels_get(), .wt = wt, .at = at, .w = w, .wrow = wrow,
                   .arow = (size_t)arow, .k = k, .n = n, .batch = batch, .x = x,
                   .xr = (float *)((char *)scratch + wb), .atmp = (char *)scratch + wb + xb,
                   .y = y, .wbuf = scratch, .rows = rmax, .rmax = rmax};
    atomic_init(&t.next, 0);
    rg_pool_run_shared(pool, round_run, &t);
    /* Each sgemm call packs all of X again (OpenBLAS's copy of the X panel
     * was 12% of a Qwen2.5 Q4_0 prefill with 256-row blocks), so blocks
     * are as large as the scratch allows (RG_NN_GEMM_ROWS rows, at most
     * RG_NN_GEMM_FLOATS floats), their count a multiple of the thread
     * count (at least two per thread) so that threads finish together. */
    int64_t nblk = (n + rmax - 1) / rmax;
    if (nth > 1 && nblk < 2 * nth) nblk = 2 * nth;
    nblk = (nblk + nth - 1) / nth * nth;
    t.rows = ((n + nblk - 1) / nblk + 15) & ~(int64_t)15;
    if (t.rows > rmax) t.rows = rmax;
    atomic_store(&t.next, 0);
    rg_pool_run_shared(pool, gemm_run, &t);
}
