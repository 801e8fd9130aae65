/* index.c - flat and HNSW vector index (see index.h for the contract and
 * the locking rules).
 *
 * Layout: node i (0 <= i < n) owns one fixed-size, 64-byte aligned block
 * in l0: [vector][uint32 cnt][uint32 links[M0]] - the vector first so SIMD
 * loads start on a cache line, the layer-0 links right behind it so one
 * expansion touches few lines.  A float32 vector is dim floats; an int8
 * vector is [float scale][float norm2][int8 q[dim]] (x ~= scale*q, norm2 =
 * ||scale*q||^2 for L2).  Upper layers (level >= 1) live in upper[i]:
 * level x [uint32 cnt][uint32 links[M]].  Flat indexes have M0 = 0.
 *
 * Invariants: every link target is < n; a node's upper lists exist for
 * levels 1..levels[i]; entry has level max_level; the id map holds exactly
 * the live (not deleted) nodes.  Deleted nodes stay in the graph so the
 * graph stays connected; they are skipped as results. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/limits.h"
#include "core/pool.h"
#include "index/index.h"
#include "index/index_int.h"
#include "index/index_impl.h"

void rg_index_params_default(rg_index_params *p) {
    memset(p, 0, sizeof *p);
    p->kind = RG_INDEX_HNSW;
    p->metric = RG_INDEX_IP;
    p->storage = RG_INDEX_F32;
    p->M = 16;
    p->ef_construction = 200;
    p->ef_search = 64;
    p->seed = 42;
}

/* ---------------------------------------------------------------- id map */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static int map_grow(rg_index *ix, size_t want) {
    size_t cap = ix->map_cap ? ix->map_cap : 64;
    while (cap < want * 2) cap *= 2;
    if (cap == ix->map_cap) return 0;
    rg__map_slot *s = malloc(cap * sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < cap; i++) s[i].val = RG__NONE;
    for (size_t i = 0; i < ix->map_cap; i++) {
        if (ix->map[i].val == RG__NONE) continue;
        size_t h = (size_t)mix64(ix->map[i].key) & (cap - 1);
        while (s[h].val != RG__NONE) h = (h + 1) & (cap - 1);
        s[h] = ix->map[i];
    }
    free(ix->map);
    ix->map = s;
    ix->map_cap = cap;
    return 0;
}

uint32_t rg__map_get(const rg_index *ix, uint64_t key) {
    if (!ix->map_cap) return RG__NONE;
    size_t m = ix->map_cap - 1, h = (size_t)mix64(key) & m;
    while (ix->map[h].val != RG__NONE) {
        if (ix->map[h].key == key) return ix->map[h].val;
        h = (h + 1) & m;
    }
    return RG__NONE;
}

/* Sets key -> val (replacing).  The map must have room (map_grow). */
void rg__map_put(rg_index *ix, uint64_t key, uint32_t val) {
    size_t m = ix->map_cap - 1, h = (size_t)mix64(key) & m;
    while (ix->map[h].val != RG__NONE) {
        if (ix->map[h].key == key) {
            ix->map[h].val = val;
            return;
        }
        h = (h + 1) & m;
    }
    ix->map[h].key = key;
    ix->map[h].val = val;
    ix->map_n++;
}

static void map_del(rg_index *ix, uint64_t key) {
    size_t m = ix->map_cap - 1, h = (size_t)mix64(key) & m;
    while (ix->map[h].val != RG__NONE && ix->map[h].key != key) h = (h + 1) & m;
    if (ix->map[h].val == RG__NONE) return;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    size_t hole = h, j = h;
    for (;;) {
        j = (j + 1) & m;
        if (ix->map[j].val == RG__NONE) break;
        size_t home = (size_t)mix64(ix->map[j].key) & m;
        /* move j into hole unless its home lies cyclically in (hole, j] */
        bool in = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in) {
            ix->map[hole] = ix->map[j];
            hole = j;
        }
    }
    ix->map[hole].val = RG__NONE;
    ix->map_n--;
}

/* ----------------------------------------------------------- construction */

rg_status rg__index_alloc(const rg_index_params *p, rg_index **out, rg_err *err) {
    *out = NULL;
    if (p->dim < 1 || p->dim > RG_INDEX_MAX_DIM)
        return rg_failf(err, RG_INVALID, "index: dimension %d out of range 1..%d", p->dim,
                        RG_INDEX_MAX_DIM);
    if ((unsigned)p->kind > RG_INDEX_HNSW || (unsigned)p->metric > RG_INDEX_L2 ||
        (unsigned)p->storage > RG_INDEX_I8)
        return rg_failf(err, RG_INVALID, "index: unknown kind, metric or storage");
    if (p->kind == RG_INDEX_HNSW && (p->M < 2 || p->M > RG_INDEX_MAX_M))
        return rg_failf(err, RG_INVALID, "index: M %d out of range 2..%d", p->M, RG_INDEX_MAX_M);
    if (p->ef_construction < 1 || p->ef_construction > RG_INDEX_MAX_EF || p->ef_search < 1 ||
        p->ef_search > RG_INDEX_MAX_EF)
        return rg_failf(err, RG_INVALID, "index: ef out of range 1..%d", RG_INDEX_MAX_EF);
    rg_index *ix = calloc(1, sizeof *ix);
    if (!ix) return rg_failf(err, RG_NOMEM, "index: out of memory");
    ix->p = *p;
    if (p->storage != RG_INDEX_I8) ix->p.rerank = false;
    if (p->kind == RG_INDEX_FLAT) ix->p.M = 0;
    ix->d = p->dim;
    ix->k = rg__index_kernels_get();
    ix->M = ix->p.M;
    ix->M0 = 2 * ix->p.M;
    ix->vec_bytes = p->storage == RG_INDEX_F32 ? 4 * (size_t)p->dim
                                               : (8 + (size_t)p->dim + 3) & ~(size_t)3;
    ix->links_off = ix->vec_bytes;
    ix->blk = (ix->vec_bytes + 4 + 4 * (size_t)ix->M0 + 63) & ~(size_t)63;
    ix->l2 = p->metric == RG_INDEX_L2;
    ix->i8 = p->storage == RG_INDEX_I8;
    ix->level_mult = ix->M > 1 ? 1.0 / log((double)ix->M) : 1.0;
    ix->rng = p->seed ? p->seed : 42;
    ix->max_level = -1;
    pthread_mutex_init(&ix->ep_lock, NULL);
    pthread_mutex_init(&ix->sp_lock, NULL);
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ix->rw, &a);
    pthread_rwlockattr_destroy(&a);
    *out = ix;
    return RG_OK;
}

rg_status rg_index_new(const rg_index_params *p, rg_index **out, rg_err *err) {
    return rg__index_alloc(p, out, err);
}

static void searcher_free(rg__searcher *s) {
    if (!s) return;
    free(s->vis);
    free(s->cand);
    free(s->res);
    free(s->qbuf);
    free(s->tmp);
    free(s);
}

void rg_index_free(rg_index *ix) {
    if (!ix) return;
    if (ix->upper)
        for (size_t i = 0; i < ix->n; i++) free(ix->upper[i]);
    free(ix->upper);
    free(ix->l0);
    free(ix->ids);
    free(ix->levels);
    free(ix->deleted);
    free(ix->fvec);
    free((void *)ix->locks);
    free(ix->map);
    for (int i = 0; i < ix->n_free; i++) searcher_free(ix->free_list[i]);
    free(ix->free_list);
    pthread_mutex_destroy(&ix->ep_lock);
    pthread_mutex_destroy(&ix->sp_lock);
    pthread_rwlock_destroy(&ix->rw);
    free(ix);
}

/* Grows per-node arrays to hold at least want nodes.  Write lock held. */
rg_status rg__index_reserve(rg_index *ix, size_t want, rg_err *err) {
    if (want > RG_INDEX_MAX_NODES)
        return rg_failf(err, RG_LIMIT, "index: %zu vectors is over the limit of %llu", want,
                        (unsigned long long)RG_INDEX_MAX_NODES);
    if (want <= ix->cap) return RG_OK;
    size_t cap = ix->cap ? ix->cap : 1024;
    while (cap < want) cap = cap + cap / 2;
    if (cap > RG_INDEX_MAX_NODES) cap = RG_INDEX_MAX_NODES;
    /* blocks are 64-byte aligned: allocate fresh and copy (realloc would
     * lose the alignment) */
    unsigned char *l0 = NULL;
    size_t bytes = cap * ix->blk;
    /* Searches touch blocks at random: with 4 KiB pages nearly every
     * vector load is a TLB miss (a two-level walk under a hypervisor).
     * Big arrays get 2 MiB alignment and transparent huge pages. */
    size_t align = bytes >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    if (posix_memalign((void **)&l0, align, bytes) != 0)
        return rg_failf(err, RG_NOMEM, "index: cannot allocate %zu vectors (%zu bytes)", cap,
                        bytes);
#ifdef MADV_HUGEPAGE
    if (align > 64) (void)madvise(l0, bytes & ~(align - 1), MADV_HUGEPAGE);
#endif
    if (ix->n) memcpy(l0, ix->l0, ix->n * ix->blk);
    free(ix->l0);
    ix->l0 = l0;
#define GROW(field, elsz)                                                              \
    do {                                                                               \
        void *np_ = realloc((void *)ix->field, cap * (elsz));                          \
        if (!np_) return rg_failf(err, RG_NOMEM, "index: out of memory growing to %zu", cap); \
        ix->field = np_;                                                               \
    } while (0)
    GROW(ids, sizeof(uint64_t));
    GROW(levels, 1);
    GROW(deleted, 1);
    GROW(upper, sizeof(uint32_t *));
    GROW(locks, 1);
    if (ix->p.rerank) GROW(fvec, (size_t)ix->d * sizeof(float));
#undef GROW
    memset((void *)(ix->locks + ix->n), 0, cap - ix->n);
    ix->cap = cap;
    if (map_grow(ix, cap) != 0) return rg_failf(err, RG_NOMEM, "index: out of memory (id map)");
    return RG_OK;
}

/* ------------------------------------------------------------- distances */

/* Prepares a query: normalised (cosine) float copy and int8 version. */
void rg__query_prepare(const rg_index *ix, const float *x, float *fbuf, int8_t *qbuf,
                       rg__query *q) {
    int d = ix->d;
    const float *v = x;
    if (ix->p.metric == RG_INDEX_COSINE) {
        float n2 = ix->k->dot_f32(x, x, d);
        float inv = n2 > 0 ? 1.0f / sqrtf(n2) : 0.0f;
        for (int i = 0; i < d; i++) fbuf[i] = x[i] * inv;
        v = fbuf;
    }
    q->f = v;
    q->q = NULL;
    if (ix->i8) {
        q->scale = rg__quantize_i8(v, d, qbuf);
        q->q = qbuf;
        q->norm2 = q->scale * q->scale * (float)ix->k->dot_i8(qbuf, qbuf, d);
    }
}

/* The stored vector of node i as a query (node-to-node distances). */
static inline void query_of_node(const rg_index *ix, uint32_t i, rg__query *q) {
    const unsigned char *v = ix->l0 + (size_t)i * ix->blk;
    if (ix->i8) {
        memcpy(&q->scale, v, 4);
        memcpy(&q->norm2, v + 4, 4);
        q->q = (const int8_t *)(v + 8);
        q->f = NULL;
    } else {
        q->f = (const float *)v;
        q->q = NULL;
        q->scale = q->norm2 = 0;
    }
}

static inline float dist_q(const rg_index *ix, const rg__query *q, uint32_t i) {
    const unsigned char *v = ix->l0 + (size_t)i * ix->blk;
    if (ix->i8) {
        float s, n2;
        memcpy(&s, v, 4);
        memcpy(&n2, v + 4, 4);
        float dot = q->scale * s * (float)ix->k->dot_i8(q->q, (const int8_t *)(v + 8), ix->d);
        return ix->l2 ? q->norm2 + n2 - 2 * dot : 1.0f - dot;
    }
    const float *f = (const float *)v;
    return ix->l2 ? ix->k->l2_f32(q->f, f, ix->d) : 1.0f - ix->k->dot_f32(q->f, f, ix->d);
}

/* Exact float distance when float data exist (F32 storage or rerank). */
static inline float dist_exact(const rg_index *ix, const float *qf, uint32_t i) {
    const float *f = ix->i8 ? ix->fvec + (size_t)i * ix->d
                            : (const float *)(ix->l0 + (size_t)i * ix->blk);
    return ix->l2 ? ix->k->l2_f32(qf, f, ix->d) : 1.0f - ix->k->dot_f32(qf, f, ix->d);
}

static inline uint32_t *links0(const rg_index *ix, uint32_t i) {
    return (uint32_t *)(ix->l0 + (size_t)i * ix->blk + ix->links_off);
}
static inline uint32_t *links_at(const rg_index *ix, uint32_t i, int lev) {
    return lev == 0 ? links0(ix, i) : ix->upper[i] + (size_t)(lev - 1) * (ix->M + 1);
}

/* Prefetching (measured on 50k x 384 with a loaded 2-core VM; hnswlib
 * does much the same): when a node is expanded, the first line of every
 * fresh neighbour is requested at once; while the distance to one
 * neighbour is computed, the whole vector of the next one streams in.
 * Prefetching several lines of every neighbour up front overflowed the
 * miss buffers and stalled. */
static inline void prefetch_head(const rg_index *ix, uint32_t i) {
    __builtin_prefetch(ix->l0 + (size_t)i * ix->blk);
}

static inline void prefetch_vec(const rg_index *ix, uint32_t i) {
    const char *p = (const char *)(ix->l0 + (size_t)i * ix->blk);
    for (size_t o = 0; o < ix->vec_bytes; o += 64) __builtin_prefetch(p + o);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline void node_lock(rg_index *ix, uint32_t i) {
    while (atomic_exchange_explicit(&ix->locks[i], 1, memory_order_acquire))
        while (atomic_load_explicit(&ix->locks[i], memory_order_relaxed)) cpu_relax();
}
static inline void node_unlock(rg_index *ix, uint32_t i) {
    atomic_store_explicit(&ix->locks[i], 0, memory_order_release);
}

/* ---------------------------------------------------------------- heaps */

/* max-heap on d (results: worst on top) */
static inline void hmax_push(rg__pair *h, int *n, rg__pair x) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) >> 1;
        if (h[p].d >= x.d) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}
static inline void hmax_pop(rg__pair *h, int *n) {
    rg__pair x = h[--(*n)];
    int i = 0, m = *n;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1].d > h[c].d) c++;
        if (h[c].d <= x.d) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = x;
}
/* min-heap on d (candidates: closest on top) */
static inline void hmin_push(rg__pair *h, int *n, rg__pair x) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) >> 1;
        if (h[p].d <= x.d) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}
static inline void hmin_pop(rg__pair *h, int *n) {
    rg__pair x = h[--(*n)];
    int i = 0, m = *n;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1].d < h[c].d) c++;
        if (h[c].d >= x.d) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = x;
}

static int pair_cmp(const void *a, const void *b) {
    const rg__pair *x = a, *y = b;
    if (x->d < y->d) return -1;
    if (x->d > y->d) return 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* ------------------------------------------------------------- searchers */

/* Per-thread scratch: visited tags, heaps, query buffers.  Taken from a
 * free list under sp_lock; sized for the current n on acquire. */
static rg__searcher *searcher_get(rg_index *ix, int ef) {
    rg__searcher *s = NULL;
    pthread_mutex_lock(&ix->sp_lock);
    if (ix->n_free) s = ix->free_list[--ix->n_free];
    pthread_mutex_unlock(&ix->sp_lock);
    if (!s && !(s = calloc(1, sizeof *s))) return NULL;
    size_t need = ix->cap > ix->n ? ix->cap : ix->n;
    if (s->vis_cap < need) {
        free(s->vis);
        s->vis = calloc(need, sizeof *s->vis);
        s->vis_cap = s->vis ? need : 0;
        s->tag = 0;
        if (!s->vis) goto fail;
    }
    size_t rc = (size_t)ef + 2;
    if (s->res_cap < rc) {
        free(s->res);
        s->res = malloc(rc * sizeof *s->res);
        s->res_cap = s->res ? rc : 0;
        if (!s->res) goto fail;
    }
    size_t cc = (size_t)ef * (ix->M0 + 1) + 64;
    if (s->cand_cap < cc) {
        free(s->cand);
        s->cand = malloc(cc * sizeof *s->cand);
        s->cand_cap = s->cand ? cc : 0;
        if (!s->cand) goto fail;
    }
    size_t qb = (size_t)ix->d * 4 + 64;
    if (!s->qbuf) {
        s->qbuf = malloc(qb * 2);
        if (!s->qbuf) goto fail;
    }
    size_t tc = (size_t)(ix->M0 > ix->M ? ix->M0 : ix->M) + 2;
    if (!s->tmp || s->tmp_cap < tc) {
        free(s->tmp);
        s->tmp = malloc(tc * 2 * sizeof *s->tmp + tc * 2 * sizeof(rg__pair));
        s->tmp_cap = s->tmp ? tc : 0;
        if (!s->tmp) goto fail;
        s->cp = (rg__pair *)(s->tmp + 2 * tc);
        s->sel = s->cp + tc;
    }
    return s;
fail:
    searcher_free(s);
    return NULL;
}

static void searcher_put(rg_index *ix, rg__searcher *s) {
    pthread_mutex_lock(&ix->sp_lock);
    if (ix->n_free == ix->cap_free) {
        int nc = ix->cap_free ? ix->cap_free * 2 : 8;
        rg__searcher **f = realloc(ix->free_list, (size_t)nc * sizeof *f);
        if (!f) {
            pthread_mutex_unlock(&ix->sp_lock);
            searcher_free(s);
            return;
        }
        ix->free_list = f;
        ix->cap_free = nc;
    }
    ix->free_list[ix->n_free++] = s;
    pthread_mutex_unlock(&ix->sp_lock);
}

static inline uint16_t next_tag(rg__searcher *s) {
    if (++s->tag == 0) {
        memset(s->vis, 0, s->vis_cap * sizeof *s->vis);
        s->tag = 1;
    }
    return s->tag;
}

/* Grows the candidate heap when a search explores more than planned
 * (possible with filters).  Returns 0 or -1 on out of memory. */
static int cand_room(rg__searcher *s, int n, int extra) {
    if ((size_t)n + (size_t)extra <= s->cand_cap) return 0;
    size_t nc = s->cand_cap * 2 + (size_t)extra;
    rg__pair *c = realloc(s->cand, nc * sizeof *c);
    if (!c) return -1;
    s->cand = c;
    s->cand_cap = nc;
    return 0;
}

/* ------------------------------------------------------------ filtering */

static inline bool filter_ok(const rg_index_filter *f, uint64_t id) {
    if (!f) return true;
    if (f->allow && (id >= f->allow_bits || !((f->allow[id >> 6] >> (id & 63)) & 1))) return false;
    if (f->pred && !f->pred(id, f->ud)) return false;
    return true;
}

static inline bool node_ok(const rg_index *ix, const rg_index_filter *f, uint32_t i) {
    return !ix->deleted[i] && filter_ok(f, ix->ids[i]);
}

/* ---------------------------------------------------------- graph search */

/* Greedy walk on layer lev from *cur (distance *curd).  locked: take node
 * locks (build, concurrent writers); queries run without. */
static void greedy(rg_index *ix, const rg__query *q, int lev, uint32_t *cur, float *curd,
                   bool locked, uint32_t *buf) {
    bool changed = true;
    while (changed) {
        changed = false;
        uint32_t c = *cur, cnt;
        const uint32_t *l;
        if (locked) {
            node_lock(ix, c);
            l = links_at(ix, c, lev);
            cnt = l[0];
            memcpy(buf, l + 1, cnt * 4);
            node_unlock(ix, c);
            l = buf;
        } else {
            l = links_at(ix, c, lev);
            cnt = l[0];
            l++;
        }
        for (uint32_t j = 0; j < cnt; j++) {
            float d = dist_q(ix, q, l[j]);
            if (d < *curd) {
                *curd = d;
                *cur = l[j];
                changed = true;
            }
        }
    }
}

/* Beam search on layer lev from ep.  Results (up to ef, only nodes passing
 * filter/deletion when check is true) go to s->res as a max-heap of *nres.
 * Returns 0, or -1 on out of memory. */
/* dist_q with the storage/metric known at compile time (search_layer is
 * cloned per combination below, so the hot loop has no mode branches). */
static inline __attribute__((always_inline)) float dist_fixed(const rg_index *ix,
                                                              const rg__query *q, uint32_t i,
                                                              bool i8, bool l2) {
    const unsigned char *v = ix->l0 + (size_t)i * ix->blk;
    if (i8) {
        float sc, n2;
        memcpy(&sc, v, 4);
        memcpy(&n2, v + 4, 4);
        float dot = q->scale * sc * (float)ix->k->dot_i8(q->q, (const int8_t *)(v + 8), ix->d);
        return l2 ? q->norm2 + n2 - 2 * dot : 1.0f - dot;
    }
    const float *f = (const float *)v;
    return l2 ? ix->k->l2_f32(q->f, f, ix->d) : 1.0f - ix->k->dot_f32(q->f, f, ix->d);
}

static inline __attribute__((always_inline)) int
search_layer_impl(rg_index *ix, rg__searcher *s, const rg__query *q, uint32_t ep, float epd,
                  int lev, int ef, bool locked, bool check, const rg_index_filter *f, int *nres,
                  bool i8, bool l2) {
    uint16_t tag = next_tag(s);
    uint16_t *vis = s->vis;
    rg__pair *res = s->res, *cand = s->cand;
    int nr = 0, nc = 0;
    uint32_t *buf = s->tmp, *fresh = s->tmp + s->tmp_cap;
    vis[ep] = tag;
    hmin_push(cand, &nc, (rg__pair){epd, ep});
    float lower = INFINITY;
    if (!check || node_ok(ix, f, ep)) {
        hmax_push(res, &nr, (rg__pair){epd, ep});
        lower = epd;
    }
    while (nc) {
        rg__pair c = cand[0];
        if (c.d > lower && (nr >= ef || !check)) break;
        hmin_pop(cand, &nc);
        uint32_t cnt;
        const uint32_t *l;
        if (locked) {
            node_lock(ix, c.id);
            l = links_at(ix, c.id, lev);
            cnt = l[0];
            memcpy(buf, l + 1, cnt * 4);
            node_unlock(ix, c.id);
            l = buf;
        } else {
            l = links_at(ix, c.id, lev);
            cnt = l[0];
            l++;
        }
        /* first pass: pick unvisited neighbours and start their loads */
        uint32_t nf = 0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t nb = l[j];
            if (vis[nb] == tag) continue;
            vis[nb] = tag;
            fresh[nf++] = nb;
            prefetch_head(ix, nb);
        }
        if (cand_room(s, nc, (int)nf) != 0) return -1;
        cand = s->cand;
        for (uint32_t j = 0; j < nf; j++) {
            uint32_t nb = fresh[j];
            if (j + 1 < nf) prefetch_vec(ix, fresh[j + 1]);
            float d = dist_fixed(ix, q, nb, i8, l2);
            if (nr < ef || d < lower) {
                hmin_push(cand, &nc, (rg__pair){d, nb});
                if (!check || node_ok(ix, f, nb)) {
                    hmax_push(res, &nr, (rg__pair){d, nb});
                    if (nr > ef) hmax_pop(res, &nr);
                    lower = res[0].d;
                }
            }
        }
    }
    *nres = nr;
    return 0;
}

static int search_layer(rg_index *ix, rg__searcher *s, const rg__query *q, uint32_t ep, float epd,
                        int lev, int ef, bool locked, bool check, const rg_index_filter *f,
                        int *nres) {
#define SL(L, C, I8, L2) search_layer_impl(ix, s, q, ep, epd, lev, ef, L, C, f, nres, I8, L2)
    if (locked && !check) { /* build */
        if (ix->i8) return ix->l2 ? SL(true, false, true, true) : SL(true, false, true, false);
        return ix->l2 ? SL(true, false, false, true) : SL(true, false, false, false);
    }
    if (!locked && check) { /* query with a filter or deletions */
        if (ix->i8) return ix->l2 ? SL(false, true, true, true) : SL(false, true, true, false);
        return ix->l2 ? SL(false, true, false, true) : SL(false, true, false, false);
    }
    if (!locked && !check) { /* query: every node is a valid result */
        if (ix->i8) return ix->l2 ? SL(false, false, true, true) : SL(false, false, true, false);
        return ix->l2 ? SL(false, false, false, true) : SL(false, false, false, false);
    }
    return SL(locked, check, ix->i8, ix->l2);
#undef SL
}

/* hnswlib's getNeighborsByHeuristic2 (Malkov & Yashunin, alg. 4): keep a
 * candidate only if it is closer to the base than to every kept one, so
 * links spread in all directions.  c (n, sorted ascending) is reduced in
 * place to at most m entries; returns the new count. */
static int select_heuristic(rg_index *ix, rg__pair *c, int n, int m) {
    if (n <= m) return n;
    int kept = 0;
    for (int i = 0; i < n && kept < m; i++) {
        rg__query qi;
        query_of_node(ix, c[i].id, &qi);
        bool good = true;
        for (int j = 0; j < kept; j++) {
            if (dist_q(ix, &qi, c[j].id) < c[i].d) {
                good = false;
                break;
            }
        }
        if (good) c[kept++] = c[i];
    }
    return kept;
}

/* Links node nb (locked by caller) to node c at layer lev, shrinking nb's
 * list by the heuristic when it is full. */
static void add_link(rg_index *ix, rg__searcher *s, uint32_t nb, uint32_t c, int lev) {
    uint32_t *l = links_at(ix, nb, lev);
    uint32_t mmax = lev == 0 ? (uint32_t)ix->M0 : (uint32_t)ix->M;
    uint32_t cnt = l[0];
    for (uint32_t j = 0; j < cnt; j++)
        if (l[1 + j] == c) return;
    if (cnt < mmax) {
        l[1 + cnt] = c;
        l[0] = cnt + 1;
        return;
    }
    rg__pair *cp = s->cp;
    rg__query qn;
    query_of_node(ix, nb, &qn);
    for (uint32_t j = 0; j < cnt; j++) cp[j] = (rg__pair){dist_q(ix, &qn, l[1 + j]), l[1 + j]};
    cp[cnt] = (rg__pair){dist_q(ix, &qn, c), c};
    qsort(cp, cnt + 1, sizeof *cp, pair_cmp);
    int k = select_heuristic(ix, cp, (int)cnt + 1, (int)mmax);
    for (int j = 0; j < k; j++) l[1 + j] = cp[j].id;
    l[0] = (uint32_t)k;
}

/* Inserts node c (vector, level, id already stored) into the graph.
 * Safe to run on several threads at once (build). */
static int graph_insert(rg_index *ix, rg__searcher *s, uint32_t c) {
    int L = ix->levels[c];
    pthread_mutex_lock(&ix->ep_lock);
    if (ix->max_level < 0) {
        ix->entry = c;
        ix->max_level = L;
        pthread_mutex_unlock(&ix->ep_lock);
        return 0;
    }
    int maxl = ix->max_level;
    uint32_t ep = ix->entry;
    bool raise = L > maxl;
    if (!raise) pthread_mutex_unlock(&ix->ep_lock);

    rg__query q;
    query_of_node(ix, c, &q);
    float epd = dist_q(ix, &q, ep);
    for (int lev = maxl; lev > L; lev--) greedy(ix, &q, lev, &ep, &epd, true, s->tmp);
    rg__pair *sel = s->sel;
    for (int lev = L < maxl ? L : maxl; lev >= 0; lev--) {
        int nr;
        if (search_layer(ix, s, &q, ep, epd, lev, ix->p.ef_construction, true, false, NULL, &nr) !=
            0) {
            if (raise) pthread_mutex_unlock(&ix->ep_lock);
            return -1;
        }
        qsort(s->res, (size_t)nr, sizeof *s->res, pair_cmp);
        /* drop c itself (an update may find its own block via a link race) */
        int w = 0;
        for (int j = 0; j < nr; j++)
            if (s->res[j].id != c) s->res[w++] = s->res[j];
        nr = w;
        if (nr == 0) continue;
        ep = s->res[0].id;
        epd = s->res[0].d;
        int m = select_heuristic(ix, s->res, nr, ix->M);
        for (int j = 0; j < m; j++) sel[j] = s->res[j];
        node_lock(ix, c);
        uint32_t *l = links_at(ix, c, lev);
        for (int j = 0; j < m; j++) l[1 + j] = sel[j].id;
        l[0] = (uint32_t)m;
        node_unlock(ix, c);
        for (int j = 0; j < m; j++) {
            node_lock(ix, sel[j].id);
            add_link(ix, s, sel[j].id, c, lev);
            node_unlock(ix, sel[j].id);
        }
    }
    if (raise) {
        ix->entry = c;
        ix->max_level = L;
        pthread_mutex_unlock(&ix->ep_lock);
    }
    return 0;
}

/* ---------------------------------------------------------------- writes */

static int random_level(rg_index *ix) {
    ix->rng += 0x9e3779b97f4a7c15ull;
    uint64_t r = mix64(ix->rng);
    double u = ((double)(r >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    int l = (int)(-log(u) * ix->level_mult);
    return l < RG_INDEX_MAX_LEVEL - 1 ? l : RG_INDEX_MAX_LEVEL - 1;
}

/* Stores vector + id for a new node i (write lock held, capacity ok). */
static rg_status node_init(rg_index *ix, uint32_t i, uint64_t id, const float *x, rg_err *err) {
    unsigned char *b = ix->l0 + (size_t)i * ix->blk;
    memset(b, 0, ix->blk);
    int d = ix->d;
    const float *v = x;
    float *tmp = NULL;
    if (ix->p.metric == RG_INDEX_COSINE) {
        tmp = malloc((size_t)d * sizeof *tmp);
        if (!tmp) return rg_failf(err, RG_NOMEM, "index: out of memory");
        float n2 = ix->k->dot_f32(x, x, d);
        float inv = n2 > 0 ? 1.0f / sqrtf(n2) : 0.0f;
        for (int j = 0; j < d; j++) tmp[j] = x[j] * inv;
        v = tmp;
    }
    if (ix->i8) {
        int8_t *q = (int8_t *)(b + 8);
        float s = rg__quantize_i8(v, d, q);
        float n2 = s * s * (float)ix->k->dot_i8(q, q, d);
        memcpy(b, &s, 4);
        memcpy(b + 4, &n2, 4);
        if (ix->p.rerank) memcpy(ix->fvec + (size_t)i * d, v, (size_t)d * sizeof(float));
    } else {
        memcpy(b, v, (size_t)d * sizeof(float));
    }
    free(tmp);
    ix->ids[i] = id;
    ix->deleted[i] = 0;
    int L = ix->p.kind == RG_INDEX_HNSW ? random_level(ix) : 0;
    ix->levels[i] = (uint8_t)L;
    ix->upper[i] = NULL;
    if (L > 0) {
        ix->upper[i] = calloc((size_t)L * (ix->M + 1), sizeof(uint32_t));
        if (!ix->upper[i]) return rg_failf(err, RG_NOMEM, "index: out of memory");
    }
    return RG_OK;
}

typedef struct {
    rg_index *ix;
    size_t first, count;
    atomic_size_t next;
    atomic_int failed;
} build_ctx;

static void build_task(void *vctx, int ith, int nth) {
    build_ctx *b = vctx;
    rg__searcher *s = searcher_get(b->ix, b->ix->p.ef_construction);
    if (!s) {
        atomic_store(&b->failed, 1);
        return;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->count) break;
        if (graph_insert(b->ix, s, (uint32_t)(b->first + i)) != 0) atomic_store(&b->failed, 1);
    }
    searcher_put(b->ix, s);
}

rg_status rg_index_add_batch(rg_index *ix, size_t n, const uint64_t *ids, const float *vecs,
                             int n_threads, rg_err *err) {
    if (n == 0) return RG_OK;
    for (size_t i = 0; i < n * (size_t)ix->d; i++)
        if (!isfinite(vecs[i]))
            return rg_failf(err, RG_INVALID, "index: vector %zu has a non-finite value",
                            i / (size_t)ix->d);
    pthread_rwlock_wrlock(&ix->rw);
    rg_status st = rg__index_reserve(ix, ix->n + n, err);
    if (st != RG_OK) goto out;
    size_t first = ix->n;
    for (size_t i = 0; i < n; i++) {
        uint32_t node = (uint32_t)(first + i);
        st = node_init(ix, node, ids[i], vecs + i * (size_t)ix->d, err);
        if (st != RG_OK) {
            ix->n = first + i + (ix->upper[node] != NULL);
            goto out;
        }
        uint32_t old = rg__map_get(ix, ids[i]);
        if (old != RG__NONE) {
            ix->deleted[old] = 1;
            ix->n_deleted++;
        }
        rg__map_put(ix, ids[i], node);
        ix->n = first + i + 1;
    }
    if (ix->p.kind == RG_INDEX_HNSW) {
        build_ctx b = {.ix = ix, .first = first, .count = n};
        atomic_init(&b.next, 0);
        atomic_init(&b.failed, 0);
        int nt = n_threads > 0 ? n_threads : rg_cpu_count();
        if (nt > RG_MAX_THREADS) nt = RG_MAX_THREADS;
        if ((size_t)nt > n) nt = (int)n;
        rg_pool *pool = nt > 1 ? rg_pool_new(nt) : NULL;
        rg_pool_run(pool, build_task, &b);
        rg_pool_free(pool);
        if (atomic_load(&b.failed))
            st = rg_failf(err, RG_NOMEM, "index: out of memory while linking the graph");
    }
out:
    pthread_rwlock_unlock(&ix->rw);
    return st;
}

rg_status rg_index_add(rg_index *ix, uint64_t id, const float *vec, rg_err *err) {
    return rg_index_add_batch(ix, 1, &id, vec, 1, err);
}

rg_status rg_index_remove(rg_index *ix, uint64_t id, rg_err *err) {
    pthread_rwlock_wrlock(&ix->rw);
    uint32_t i = rg__map_get(ix, id);
    rg_status st = RG_OK;
    if (i == RG__NONE) {
        st = rg_failf(err, RG_NOTFOUND, "index: id %llu not found", (unsigned long long)id);
    } else {
        ix->deleted[i] = 1;
        ix->n_deleted++;
        map_del(ix, id);
    }
    pthread_rwlock_unlock(&ix->rw);
    return st;
}

bool rg_index_contains(rg_index *ix, uint64_t id) {
    pthread_rwlock_rdlock(&ix->rw);
    bool r = rg__map_get(ix, id) != RG__NONE;
    pthread_rwlock_unlock(&ix->rw);
    return r;
}

/* --------------------------------------------------------------- queries */

static int write_hits(rg_index *ix, rg__pair *p, int n, int k, rg_index_hit *out) {
    qsort(p, (size_t)n, sizeof *p, pair_cmp);
    int m = n < k ? n : k;
    for (int i = 0; i < m; i++) {
        out[i].id = ix->ids[p[i].id];
        out[i].dist = p[i].d;
    }
    return m;
}

/* Exact scan over all nodes (allowed == NULL) or over the ids set in a
 * sparse allow-bitset.  Uses float data when there are any. */
static int scan(rg_index *ix, rg__searcher *s, const rg__query *q, int k,
                const rg_index_filter *f, bool by_bitset, rg_index_hit *out) {
    bool exact = !ix->i8 || ix->p.rerank;
    rg__pair *res = s->res;
    int nr = 0;
    if (by_bitset) {
        size_t words = (size_t)((f->allow_bits + 63) / 64);
        for (size_t w = 0; w < words; w++) {
            uint64_t bits = f->allow[w];
            while (bits) {
                uint64_t id = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(bits);
                bits &= bits - 1;
                if (id >= f->allow_bits) break;
                uint32_t i = rg__map_get(ix, id);
                if (i == RG__NONE || !node_ok(ix, f, i)) continue;
                float d = exact ? dist_exact(ix, q->f, i) : dist_q(ix, q, i);
                if (nr < k || d < res[0].d) {
                    hmax_push(res, &nr, (rg__pair){d, i});
                    if (nr > k) hmax_pop(res, &nr);
                }
            }
        }
    } else {
        for (uint32_t i = 0; i < ix->n; i++) {
            if (!node_ok(ix, f, i)) continue;
            float d = exact ? dist_exact(ix, q->f, i) : dist_q(ix, q, i);
            if (nr < k || d < res[0].d) {
                hmax_push(res, &nr, (rg__pair){d, i});
                if (nr > k) hmax_pop(res, &nr);
            }
        }
    }
    return write_hits(ix, res, nr, k, out);
}

static size_t bitset_count(const rg_index_filter *f) {
    size_t words = (size_t)((f->allow_bits + 63) / 64), c = 0;
    for (size_t w = 0; w < words; w++) c += (size_t)__builtin_popcountll(f->allow[w]);
    return c;
}

static rg_status search_impl(rg_index *ix, const float *query, int k, int ef,
                             const rg_index_filter *filter, bool exact, rg_index_hit *out,
                             int *n_out, rg_err *err) {
    *n_out = 0;
    if (k < 1 || k > RG_MAX_TOP_K)
        return rg_failf(err, RG_INVALID, "index: k %d out of range 1..%d", k, RG_MAX_TOP_K);
    if (ef <= 0) ef = ix->p.ef_search;
    if (ef > RG_INDEX_MAX_EF) ef = RG_INDEX_MAX_EF;
    if (ef < k) ef = k;
    if (filter && !filter->pred && !filter->allow) filter = NULL;
    pthread_rwlock_rdlock(&ix->rw);
    rg_status st = RG_OK;
    rg__searcher *s = searcher_get(ix, ef > k ? ef : k);
    if (!s) {
        st = rg_failf(err, RG_NOMEM, "index: out of memory (search scratch)");
        goto out;
    }
    if (ix->n == 0) goto done;
    rg__query q;
    float *fbuf = (float *)s->qbuf;
    int8_t *qbuf = (int8_t *)(s->qbuf + (size_t)ix->d * 4 + 64);
    rg__query_prepare(ix, query, fbuf, qbuf, &q);
    /* a very selective allow-list is cheaper to scan than to reach through
     * the graph (most visited nodes would be rejected) */
    bool sparse = filter && filter->allow && bitset_count(filter) * 10 < ix->n;
    if (exact || ix->p.kind == RG_INDEX_FLAT || ix->max_level < 0 || sparse) {
        *n_out = scan(ix, s, &q, k, filter, sparse && !exact && ix->p.kind != RG_INDEX_FLAT, out);
        goto done;
    }
    uint32_t ep = ix->entry;
    float epd = dist_q(ix, &q, ep);
    for (int lev = ix->max_level; lev > 0; lev--) greedy(ix, &q, lev, &ep, &epd, false, NULL);
    int nr;
    /* without a filter or tombstones every node may be a result: the walk
     * then skips the per-node checks (two more cache misses per node) */
    bool check = filter != NULL || ix->n_deleted != 0;
    if (search_layer(ix, s, &q, ep, epd, 0, ef, false, check, filter, &nr) != 0) {
        st = rg_failf(err, RG_NOMEM, "index: out of memory (search)");
        goto done;
    }
    if (ix->p.rerank)
        for (int j = 0; j < nr; j++) s->res[j].d = dist_exact(ix, q.f, s->res[j].id);
    *n_out = write_hits(ix, s->res, nr, k, out);
done:
    searcher_put(ix, s);
out:
    pthread_rwlock_unlock(&ix->rw);
    return st;
}

rg_status rg_index_search(rg_index *ix, const float *query, int k, int ef,
                          const rg_index_filter *filter, rg_index_hit *out, int *n_out,
                          rg_err *err) {
    return search_impl(ix, query, k, ef, filter, false, out, n_out, err);
}

rg_status rg_index_search_exact(rg_index *ix, const float *query, int k,
                                const rg_index_filter *filter, rg_index_hit *out, int *n_out,
                                rg_err *err) {
    return search_impl(ix, query, k, k, filter, true, out, n_out, err);
}

size_t rg_index_count(rg_index *ix) {
    pthread_rwlock_rdlock(&ix->rw);
    size_t n = ix->n - ix->n_deleted;
    pthread_rwlock_unlock(&ix->rw);
    return n;
}

size_t rg_index_deleted(rg_index *ix) {
    pthread_rwlock_rdlock(&ix->rw);
    size_t n = ix->n_deleted;
    pthread_rwlock_unlock(&ix->rw);
    return n;
}

void rg_index_set_tag(rg_index *ix, uint64_t tag) {
    pthread_rwlock_wrlock(&ix->rw);
    ix->p.tag = tag;
    pthread_rwlock_unlock(&ix->rw);
}

size_t rg_index_memory(rg_index *ix) {
    pthread_rwlock_rdlock(&ix->rw);
    size_t m = sizeof *ix + ix->cap * (ix->blk + sizeof(uint64_t) + 2 + sizeof(uint32_t *) + 1);
    if (ix->p.rerank) m += ix->cap * (size_t)ix->d * sizeof(float);
    for (size_t i = 0; i < ix->n; i++)
        if (ix->levels[i]) m += (size_t)ix->levels[i] * (ix->M + 1) * sizeof(uint32_t);
    m += ix->map_cap * sizeof(rg__map_slot);
    pthread_rwlock_unlock(&ix->rw);
    return m;
}

void rg_index_get_params(rg_index *ix, rg_index_params *p) {
    pthread_rwlock_rdlock(&ix->rw);
    *p = ix->p;
    pthread_rwlock_unlock(&ix->rw);
}
