/* matmul.c - the kernel context (thread pool + activation scratch) and
 * rg_nn_matmul: activations are converted once to the weight type's
 * activation type, then tiles of up to RG_NN_TILE weight rows x
 * RG_NN_TILE activation rows are computed; threads take chunks of weight
 * row tiles from a shared counter, so each weight row is read from memory
 * once per call and reused for every activation row while it sits in L1.
 *
 * F32 weights with batch >= RG_NN_BLAS_MIN use OpenBLAS sgemm, one
 * single-threaded sgemm per chunk of weight rows on our own pool: with
 * OpenBLAS's threads as well, two pools spun on the same cores (its idle
 * threads sched_yield in a loop: a fifth of an embedding run's CPU time,
 * and "-t 1" used two cores).  Types with an x8 kernel (Q8_0) and batch
 * >= RG_NN_X8_MIN pack the activations eight columns per register first
 * (batch.c: the batched-decode path).  F16 / BF16 / Q4_0 / Q5_0 with
 * large batches (prefill) go to gemm.c: weights converted to f32 block by
 * block, then the same single-threaded sgemm, from batch
 * gemm_min_batch(type) on. */
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/limits.h"
#include "nn/nn_int.h"

#define RG_NN_BLAS_MIN 16
#define RG_NN_X8_MIN 8
#define RG_NN_ALIGN 64

struct rg_nn {
    rg_pool *pool;
    int n_threads;
    void *scratch;
    size_t scratch_cap;
    void *gemm_scratch; /* per-thread f32 weight blocks of the large-batch path */
    size_t gemm_cap;
};

static void blas_single_thread(void) { openblas_set_num_threads(1); }

rg_nn *rg_nn_new(int n_threads) {
    static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
    pthread_once(&blas_once, blas_single_thread);
    rg_nn *nn = calloc(1, sizeof *nn);
    if (!nn) return NULL;
    if (n_threads <= 0) n_threads = rg_cpu_count();
    if (n_threads > RG_MAX_THREADS) n_threads = RG_MAX_THREADS;
    nn->n_threads = n_threads;
    if (n_threads > 1) {
        nn->pool = rg_pool_new(n_threads);
        if (!nn->pool) {
            free(nn);
            return NULL;
        }
    }
    return nn;
}

void rg_nn_free(rg_nn *nn) {
    if (!nn) return;
    rg_pool_free(nn->pool);
    free(nn->scratch);
    free(nn->gemm_scratch);
    free(nn);
}

rg_pool *rg_nn_pool(rg_nn *nn) { return nn->pool; }
int rg_nn_threads(const rg_nn *nn) { return nn->n_threads; }

static void *buf_get(void **buf, size_t *bcap, size_t bytes) {
    if (bytes <= *bcap) return *buf;
    size_t cap = bytes + bytes / 4;
    cap = (cap + RG_NN_ALIGN - 1) & ~(size_t)(RG_NN_ALIGN - 1);
    void *p = aligned_alloc(RG_NN_ALIGN, cap);
    if (!p) return NULL;
    free(*buf);
    *buf = p;
    *bcap = cap;
    return p;
}

static void *scratch_get(rg_nn *nn, size_t bytes) {
    return buf_get(&nn->scratch, &nn->scratch_cap, bytes);
}

/* RAGD_GEMM_MIN=N (measurements): every type takes the large-batch path
 * from batch N on; 0 = never.  -1 when unset. */
static long long g_gemm_env = -1;
static pthread_once_t g_gemm_once = PTHREAD_ONCE_INIT;
static void gemm_env_read(void) {
    const char *e = getenv("RAGD_GEMM_MIN");
    if (e && *e) g_gemm_env = atoll(e) > 0 ? atoll(e) : 0;
}

/* Smallest batch that takes the large-batch path (gemm.c) for weight
 * type t; 0 = never (F32 has its own sgemm path below).  Measured on SmolLM2 / Qwen2.5 shapes (docs/llm.md). */
static int64_t gemm_min_batch(rg_dtype t) {
    pthread_once(&g_gemm_once, gemm_env_read);
    if (g_gemm_env >= 0) return g_gemm_env;
    switch (t) {
    case RG_DTYPE_F16:
    case RG_DTYPE_BF16:
    case RG_DTYPE_Q4_0:
    case RG_DTYPE_Q5_0: return 32;
    default: return 0;
    }
}

typedef struct {
    const rg__kernels *kt;
    rg_dtype wt, at;
    const void *w;
    size_t wrow;      /* bytes per weight row */
    const float *x;
    void *xa;         /* activations in the activation type */
    size_t arow;      /* bytes per activation row */
    int64_t k, n, batch;
    float *y;
    atomic_long next;  /* next chunk of row tiles to take */
    long chunk;        /* tiles per chunk */
    rg__x8_fn x8;      /* non-NULL: activations packed at xp, ng groups of 8 */
    const void *xp;
    int ng;
} mm_task;

static void act_task(void *ctx, int ith, int nth) {
    mm_task *t = ctx;
    (void)ith;
    (void)nth;
    for (;;) {
        long b = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (b >= (long)t->batch) break;
        t->kt->act[t->at](t->x + b * t->k, (char *)t->xa + (size_t)b * t->arow, t->k);
    }
}

static void mm_task_run(void *ctx, int ith, int nth) {
    mm_task *t = ctx;
    rg__tile_fn tile = t->kt->tile[t->wt];
    /* threads take chunks of whole row tiles from a shared counter, so a
     * thread that is descheduled on a busy machine does not hold back the
     * others (a static split would make everyone wait for it) */
    (void)ith;
    (void)nth;
    long ntiles = (long)((t->n + RG_NN_TILE - 1) / RG_NN_TILE);
    for (;;) {
        long lo = atomic_fetch_add_explicit(&t->next, t->chunk, memory_order_relaxed);
        if (lo >= ntiles) break;
        long hi = lo + t->chunk < ntiles ? lo + t->chunk : ntiles;
        for (long rt = lo; rt < hi; rt++) {
            int64_t r0 = rt * RG_NN_TILE;
            int nr = (int)(t->n - r0 < RG_NN_TILE ? t->n - r0 : RG_NN_TILE);
            const char *wr = (const char *)t->w + (size_t)r0 * t->wrow;
            if (t->x8) {
                t->x8(t->k, wr, t->wrow, nr, t->xp, t->ng, t->y + r0, (size_t)t->n, (int)t->batch);
                continue;
            }
            for (int64_t c0 = 0; c0 < t->batch; c0 += RG_NN_TILE) {
                int nc = (int)(t->batch - c0 < RG_NN_TILE ? t->batch - c0 : RG_NN_TILE);
                tile(t->k, wr, t->wrow, nr, (const char *)t->xa + (size_t)c0 * t->arow, t->arow,
                     nc, t->y + c0 * t->n + r0, (size_t)t->n);
            }
        }
    }
}

/* Y[:, lo:hi] = X @ W[lo:hi]^T for chunks of t->chunk weight rows.  Each
 * sgemm call packs all of X again, so chunks are few and large: two per
 * thread (one on a single thread), enough to even out a late thread. */
static void blas_task(void *ctx, int ith, int nth) {
    mm_task *t = ctx;
    (void)ith;
    (void)nth;
    for (;;) {
        long lo = atomic_fetch_add_explicit(&t->next, t->chunk, memory_order_relaxed);
        if (lo >= (long)t->n) break;
        long hi = lo + t->chunk < (long)t->n ? lo + t->chunk : (long)t->n;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)t->batch, (blasint)(hi - lo),
                    (blasint)t->k, 1.0f, t->x, (blasint)t->k, (const float *)t->w + lo * t->k,
                    (blasint)t->k, 0.0f, t->y + lo, (blasint)t->n);
    }
}

rg_status rg_nn_matmul(rg_nn *nn, rg_dtype wt, const void *w, int64_t k, int64_t n,
                       const float *x, int64_t batch, float *y) {
    if (!rg_nn_supports(wt)) return RG_UNSUPPORTED;
    if (k <= 0 || n <= 0 || batch <= 0) return RG_INVALID;
    rg_dtype at = rg__act_type(wt);
    uint64_t wrow, arow;
    if (rg_dtype_row_bytes(wt, (uint64_t)k, &wrow) || rg_dtype_row_bytes(at, (uint64_t)k, &arow))
        return RG_INVALID;
    mm_task t = {.kt = rg__kernels_get(), .wt = wt, .at = at, .w = w, .wrow = (size_t)wrow,
                 .x = x, .arow = (size_t)arow, .k = k, .n = n, .batch = batch, .y = y};
    int64_t gmin = gemm_min_batch(wt);
    if (gmin > 0 && batch >= gmin && wt != RG_DTYPE_F32) {
        int nth = nn->pool ? nn->n_threads : 1;
        size_t gb = rg__gemm_scratch_bytes(k, batch, (size_t)arow, nth);
        void *gs = gb ? buf_get(&nn->gemm_scratch, &nn->gemm_cap, gb) : NULL;
        if (!gs) return RG_NOMEM;
        rg__gemm(nn->pool, nth, gs, wt, w, (size_t)wrow, k, n, x, batch, y);
        return RG_OK;
    }
    if (wt == RG_DTYPE_F32) {
        if (batch >= RG_NN_BLAS_MIN) {
            /* Y (batch,n) = X (batch,k) @ W^T, W row-major (n,k) */
            int parts = nn->n_threads > 1 ? 2 * nn->n_threads : 1;
            t.chunk = (long)((n + parts - 1) / parts + 15) & ~15L;
            atomic_init(&t.next, 0);
            rg_pool_run_shared(nn->pool, blas_task, &t);
            return RG_OK;
        }
        t.xa = (void *)x; /* already the activation type */
    } else {
        if ((uint64_t)batch > SIZE_MAX / 2 / arow) return RG_NOMEM;
        const size_t xa_bytes = ((size_t)batch * (size_t)arow + RG_NN_ALIGN - 1) & ~(size_t)(RG_NN_ALIGN - 1);
        if (batch >= RG_NN_X8_MIN && t.kt->x8[wt]) t.x8 = t.kt->x8[wt];
        /* x8 groups are at most 9/8 of the activation bytes (+ padding) */
        const size_t x8_bytes = t.x8 ? rg__x8_bytes(k, batch) : 0;
        t.xa = scratch_get(nn, xa_bytes + x8_bytes);
        if (!t.xa) return RG_NOMEM;
        atomic_init(&t.next, 0);
        if (batch > 1) rg_pool_run_shared(nn->pool, act_task, &t);
        else act_task(&t, 0, 1);
        if (t.x8) {
            void *xp = (char *)t.xa + xa_bytes;
            rg__x8_pack(t.xa, t.arow, k, batch, xp);
            t.xp = xp;
            t.ng = (int)((batch + 7) / 8);
        }
    }
    long ntiles = (long)((n + RG_NN_TILE - 1) / RG_NN_TILE);
    t.chunk = ntiles / (8L * nn->n_threads);
    if (t.chunk < 1) t.chunk = 1;
    atomic_store(&t.next, 0);
    rg_pool_run_shared(nn->pool, mm_task_run, &t);
    return RG_OK;
}
