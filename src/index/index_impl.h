/* index_impl.h - the rg_index struct, shared by index.c (search, build)
 * and index_file.c (persistence).  See index.c for the layout and its
 * invariants. */
#ifndef RG_INDEX_IMPL_H
#define RG_INDEX_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index/index.h"
#include "index/index_int.h"

#define RG__NONE 0xffffffffu

typedef struct rg__pair {
    float d;
    uint32_t id;
} rg__pair;

typedef struct rg__map_slot {
    uint64_t key;
    uint32_t val; /* RG__NONE = empty */
} rg__map_slot;

typedef struct rg__query {
    const float *f;   /* float query (normalised for cosine) */
    const int8_t *q;  /* int8 query (I8 storage) */
    float scale, norm2;
} rg__query;

typedef struct rg__searcher {
    uint16_t *vis; /* visited tags, one per node */
    size_t vis_cap;
    uint16_t tag;
    rg__pair *cand, *res;
    size_t cand_cap, res_cap;
    unsigned char *qbuf; /* float + int8 query copies */
    uint32_t *tmp;       /* link copy, fresh list (tmp_cap each) */
    rg__pair *cp, *sel;  /* pair scratch (tmp_cap each), inside tmp's block */
    size_t tmp_cap;
} rg__searcher;

struct rg_index {
    rg_index_params p;
    const rg__index_kernels *k;
    int d, M, M0;
    bool l2, i8;
    size_t vec_bytes, links_off, blk;
    size_t n, cap, n_deleted;
    unsigned char *l0;  /* cap x blk, 64-byte aligned */
    uint64_t *ids;      /* external id of each node */
    uint8_t *levels;    /* top layer of each node */
    uint8_t *deleted;   /* 1 = tombstone */
    uint32_t **upper;   /* layers 1..level: level x (1 + M) */
    float *fvec;        /* I8 + rerank: float copies, cap x d */
    _Atomic unsigned char *locks; /* per-node spinlocks (concurrent build) */
    rg__map_slot *map;  /* external id -> node, open addressing */
    size_t map_cap, map_n;
    int max_level;      /* -1 when the graph is empty */
    uint32_t entry;
    double level_mult;
    uint64_t rng;
    pthread_mutex_t ep_lock; /* entry point / max_level during build */
    pthread_rwlock_t rw;     /* readers: search/save; writer: add/remove */
    pthread_mutex_t sp_lock; /* searcher free list */
    rg__searcher **free_list;
    int n_free, cap_free;
};

rg_status rg__index_alloc(const rg_index_params *p, rg_index **out, rg_err *err);
rg_status rg__index_reserve(rg_index *ix, size_t want, rg_err *err);
uint32_t rg__map_get(const rg_index *ix, uint64_t key);
void rg__map_put(rg_index *ix, uint64_t key, uint32_t val);

#endif
