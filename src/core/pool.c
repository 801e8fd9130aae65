/* pool.c - see pool.h.
 *
 * One 64-bit state word announces runs and admits workers:
 *   bits 63..32  generation (bumped by each run)
 *   bit  31      closed: a shared run no longer admits late workers
 *   bits 30..0   workers that joined this generation
 * A worker joins with a CAS on the state it saw, and only then reads fn and
 * ctx, so it can never run a stale function; its thread index is its join
 * order (1..n-1), unique within a run.  `left` counts workers done.
 *
 * rg_pool_run (static split) waits until all n-1 workers have joined and
 * left.  rg_pool_run_shared closes the run when the caller's own fn
 * returns (the work came from a shared counter, so the caller has already
 * drained it) and waits only for workers that joined: a worker descheduled
 * on a loaded machine does not hold back the step.
 *
 * Idle workers spin briefly (back-to-back matmuls in a token are
 * microseconds apart), then sleep on a futex; the caller only issues the
 * wake syscall when someone sleeps. */
#include "core/pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/limits.h"

#define RG_POOL_SPIN 4000     /* pause iterations before a worker sleeps (~100-200 us) */
#define RG_POOL_WAIT_SPIN 256 /* pause iterations before the caller yields */
#define ST_CLOSED ((uint64_t)1 << 31)
#define ST_JOINED ((uint64_t)ST_CLOSED - 1)

struct rg_pool {
    int n;
    pthread_t *threads;
    _Atomic uint64_t state;
    atomic_uint wake;     /* futex word: bumped after each announcement */
    atomic_int sleepers;
    atomic_int left;
    atomic_int stop;
    rg_pool_fn fn;        /* written before the state is published */
    void *ctx;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void futex_wait(atomic_uint *w, unsigned val) {
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *w) {
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Waits until the generation differs from seen; returns the state seen. */
static uint64_t wait_gen(rg_pool *p, uint32_t seen) {
    for (int spins = 0;; spins++) {
        uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
        if ((uint32_t)(s >> 32) != seen) return s;
        if (spins < RG_POOL_SPIN) {
            cpu_relax();
            continue;
        }
        unsigned w = atomic_load(&p->wake);
        atomic_fetch_add(&p->sleepers, 1);
        /* seq_cst: either we see the new generation here or the announcer
         * sees sleepers > 0 and wakes us */
        if ((uint32_t)(atomic_load(&p->state) >> 32) == seen) futex_wait(&p->wake, w);
        atomic_fetch_sub(&p->sleepers, 1);
        spins = 0;
    }
}

static void *worker(void *arg) {
    rg_pool *p = arg;
    uint32_t seen = 0; /* generation at creation: no run can have started before */
    for (;;) {
        uint64_t s = wait_gen(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        for (;;) {
            seen = (uint32_t)(s >> 32);
            if (s & ST_CLOSED) break; /* too late: the caller did the work */
            if (atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acquire,
                                                      memory_order_acquire)) {
                int ith = (int)(s & ST_JOINED) + 1;
                p->fn(p->ctx, ith, p->n);
                atomic_fetch_add_explicit(&p->left, 1, memory_order_release);
                break;
            }
            /* s was reloaded: same run (another joiner), closed, or a newer run */
        }
    }
}

int rg_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

rg_pool *rg_pool_new(int n_threads) {
    if (n_threads <= 0) n_threads = rg_cpu_count();
    if (n_threads > RG_MAX_THREADS) n_threads = RG_MAX_THREADS;
    rg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    atomic_init(&p->state, 0);
    atomic_init(&p->wake, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->left, 0);
    atomic_init(&p->stop, 0);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    /* p->n counts threads actually started (the caller plus workers) */
    for (int i = 1; i < n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
        p->n = i + 1;
    }
    return p;
}

static void announce(rg_pool *p) {
    uint64_t s = atomic_load_explicit(&p->state, memory_order_relaxed);
    uint64_t gen = (s >> 32) + 1;
    atomic_store_explicit(&p->left, 0, memory_order_relaxed);
    atomic_store(&p->state, gen << 32); /* seq_cst: pairs with wait_gen */
    atomic_fetch_add(&p->wake, 1);
    if (atomic_load(&p->sleepers) > 0) futex_wake_all(&p->wake);
}

void rg_pool_free(rg_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    announce(p);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p);
}

int rg_pool_size(const rg_pool *p) { return p ? p->n : 1; }

static void wait_left(rg_pool *p, int want) {
    for (int spins = 0; atomic_load_explicit(&p->left, memory_order_acquire) < want; spins++) {
        if (spins < RG_POOL_WAIT_SPIN) cpu_relax();
        else sched_yield(); /* the worker we wait for may need this core */
    }
}

void rg_pool_run(rg_pool *p, rg_pool_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    announce(p);
    fn(ctx, 0, p->n);
    wait_left(p, p->n - 1);
}

void rg_pool_run_shared(rg_pool *p, rg_pool_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    announce(p);
    fn(ctx, 0, p->n);
    uint64_t s = atomic_fetch_or(&p->state, ST_CLOSED);
    wait_left(p, (int)(s & ST_JOINED));
}

void rg_pool_split(long n, int ith, int nth, long *lo, long *hi) {
    long base = n / nth, rem = n % nth;
    *lo = ith * base + (ith < rem ? ith : rem);
    *hi = *lo + base + (ith < rem ? 1 : 0);
}
