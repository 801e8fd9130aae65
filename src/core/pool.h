/* pool.h - a fixed thread pool for data-parallel kernels.
 *
 * rg_pool_run calls fn(ctx, ith, nth) once on each of nth threads (the
 * caller is thread 0) and returns when all have finished.
 * rg_pool_run_shared is for fn that take work from a shared counter: the
 * caller runs fn, and workers that arrive before it returns run it too;
 * a worker that is late (descheduled on a busy machine) is skipped rather
 * than waited for.  Workers spin briefly before sleeping on a futex, so
 * back-to-back runs (one per matmul in the decode loop) cost
 * microseconds, not a wake-up each. */
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
/* Like rg_pool_run, but fn(ctx, ith, nth) runs on the caller (ith 0) and on
 * any subset of the workers (distinct ith in 1..nth-1): fn must take its
 * work dynamically (an atomic counter) and must not rely on every ith
 * running.  Returns when the caller's fn and every worker's that started
 * have returned. */
void rg_pool_run_shared(rg_pool *p, rg_pool_fn fn, void *ctx);
/* Splits [0, n) into nth nearly equal ranges; range ith is [*lo, *hi). */
void rg_pool_split(long n, int ith, int nth, long *lo, long *hi);
/* Number of online CPUs (>= 1). */
int rg_cpu_count(void);

#endif
