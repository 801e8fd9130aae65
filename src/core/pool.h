/* pool.h - a fixed thread pool for data-parallel kernels.
 *
 * rg_pool_run calls fn(ctx, ith, nth) once on each of nth threads (the
 * caller is thread 0) and returns when all have finished.  Workers spin
 * briefly before sleeping, so back-to-back runs (one per matmul in the
 * decode loop) cost microseconds, not a wake-up each. */
#ifndef RG_CORE_POOL_H
#define RG_CORE_POOL_H

typedef struct rg_pool rg_pool;
typedef void (*rg_pool_fn)(void *ctx, int ith, int nth);

/* n_threads total, including the caller; <= 0 means the number of CPUs.
 * Returns NULL when threads cannot be created. Free with rg_pool_free. */
rg_pool *rg_pool_new(int n_threads);
void rg_pool_free(rg_pool *p);
int rg_pool_size(const rg_pool *p);
/* Not reentrant: one rg_pool_run at a time per pool. p may be NULL
 * (runs fn(ctx, 0, 1) on the caller). */
void rg_pool_run(rg_pool *p, rg_pool_fn fn, void *ctx);
/* Splits [0, n) into nth nearly equal ranges; range ith is [*lo, *hi). */
void rg_pool_split(long n, int ith, int nth, long *lo, long *hi);
/* Number of online CPUs (>= 1). */
int rg_cpu_count(void);

#endif
