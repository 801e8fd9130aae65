/* index.h - the vector index: exact flat search and HNSW over float32 or
 * int8-quantised vectors, with inner-product/cosine or L2 distance,
 * metadata filters applied during the search, live inserts/deletes/updates
 * and crash-safe persistence.  Also the .fvecs/.ivecs readers used by the
 * benchmarks.
 *
 * Distances: every hit carries `dist`, smaller is better:
 *   RG_INDEX_IP      1 - <q, x>
 *   RG_INDEX_COSINE  1 - cos(q, x)   (vectors are normalised on the way in)
 *   RG_INDEX_L2      ||q - x||^2     (squared Euclidean)
 *
 * Locking (one writer, many readers): every search takes the index's
 * read lock and may run on any number of threads at once; rg_index_add,
 * rg_index_add_batch and rg_index_remove take the write lock (writer
 * preferred, so a steady stream of queries cannot starve an insert).  A
 * single insert holds the write lock for about as long as one search at
 * ef_construction, so serving continues with short pauses.  Inside
 * rg_index_add_batch the worker threads insert concurrently under per-node
 * locks.  rg_index_save takes the read lock: queries keep running while a
 * snapshot is written. */
#ifndef RG_INDEX_H
#define RG_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum rg_index_kind { RG_INDEX_FLAT = 0, RG_INDEX_HNSW = 1 } rg_index_kind;
typedef enum rg_index_metric { RG_INDEX_IP = 0, RG_INDEX_COSINE = 1, RG_INDEX_L2 = 2 } rg_index_metric;
typedef enum rg_index_storage { RG_INDEX_F32 = 0, RG_INDEX_I8 = 1 } rg_index_storage;

typedef struct rg_index_params {
    rg_index_kind kind;
    rg_index_metric metric;
    rg_index_storage storage;
    int dim;             /* 1 .. RG_INDEX_MAX_DIM */
    int M;               /* HNSW links per node on upper layers (2*M on layer 0); default 16 */
    int ef_construction; /* HNSW build beam width; default 200 */
    int ef_search;       /* default beam width for searches; default 64 */
    bool rerank;         /* int8 only: keep float copies, re-rank candidates exactly */
    uint64_t seed;       /* level generator seed (builds are reproducible single-threaded) */
    uint64_t tag;        /* caller's label, saved with the index (e.g. a hash of the data
                          * it was built from, to tell a stale file); not interpreted */
} rg_index_params;

/* Fills p with the defaults above (HNSW, IP, F32, dim 0: set it). */
void rg_index_params_default(rg_index_params *p);

typedef struct rg_index rg_index;

/* Creates an empty index. *out is owned by the caller: rg_index_free. */
rg_status rg_index_new(const rg_index_params *p, rg_index **out, rg_err *err);
void rg_index_free(rg_index *ix);

/* Inserts vec (dim floats, copied) under the external id.  If id already
 * exists its vector is replaced (update): the old node becomes a tombstone
 * that is never returned.  Takes the write lock. */
rg_status rg_index_add(rg_index *ix, uint64_t id, const float *vec, rg_err *err);
/* Inserts n vectors (row-major n x dim) with n_threads workers (<= 0: all
 * CPUs).  ids may repeat earlier ids (updates) but not each other. */
rg_status rg_index_add_batch(rg_index *ix, size_t n, const uint64_t *ids, const float *vecs,
                             int n_threads, rg_err *err);
/* Deletes id; it is never returned again.  RG_NOTFOUND when absent.  The
 * node stays in the graph as a routing point until the index is rebuilt. */
rg_status rg_index_remove(rg_index *ix, uint64_t id, rg_err *err);
bool rg_index_contains(rg_index *ix, uint64_t id);

/* Metadata filter, checked on every candidate while the graph is walked
 * (rejected nodes still route the search; they are just never results).
 * Set either or both; a hit must pass both. */
typedef bool (*rg_index_pred_fn)(uint64_t id, void *ud);
typedef struct rg_index_filter {
    rg_index_pred_fn pred; /* must be thread-safe and fast; NULL = none */
    void *ud;
    const uint64_t *allow; /* bitset over external ids: id allowed iff bit set */
    uint64_t allow_bits;   /* ids >= allow_bits are rejected */
} rg_index_filter;

typedef struct rg_index_hit {
    uint64_t id;
    float dist; /* see the top of this file; ascending */
} rg_index_hit;

/* Top-k search.  ef <= 0 uses params.ef_search (and is raised to k).
 * filter may be NULL.  Writes up to k hits, best first, into out (caller
 * array of k) and their number into *n_out.  Takes the read lock. */
rg_status rg_index_search(rg_index *ix, const float *query, int k, int ef,
                          const rg_index_filter *filter, rg_index_hit *out, int *n_out,
                          rg_err *err);
/* Exact search by scanning every live vector (SIMD), whatever the kind. */
rg_status rg_index_search_exact(rg_index *ix, const float *query, int k,
                                const rg_index_filter *filter, rg_index_hit *out, int *n_out,
                                rg_err *err);

/* Number of live (not deleted) vectors. */
size_t rg_index_count(rg_index *ix);
/* Number of deleted nodes still in the graph (tombstones). */
size_t rg_index_deleted(rg_index *ix);
/* Sets params.tag (saved with the index; see rg_index_params). */
void rg_index_set_tag(rg_index *ix, uint64_t tag);
/* Bytes held by vectors, graph and id map (allocated sizes). */
size_t rg_index_memory(rg_index *ix);
/* The parameters the index was made (or loaded) with. */
void rg_index_get_params(rg_index *ix, rg_index_params *p);

/* Writes the index to path: streamed to path.tmp.<pid>, fsynced, renamed
 * over path and the directory fsynced, so a crash leaves the old or the
 * new file.  Versioned header, 64-bit checksum trailer. */
rg_status rg_index_save(rg_index *ix, const char *path, rg_err *err);
/* Loads a file written by rg_index_save.  A truncated, corrupt or
 * foreign file fails with RG_FORMAT naming the offset; a newer version
 * with RG_UNSUPPORTED.  *out is owned by the caller. */
rg_status rg_index_load(const char *path, rg_index **out, rg_err *err);
/* Same, from memory (fuzzing); verify_checksum=false skips the trailer
 * check so a fuzzer can reach the structural checks. */
rg_status rg_index_load_mem(const void *data, size_t len, bool verify_checksum, rg_index **out,
                            rg_err *err);

/* ---- .fvecs / .ivecs (TEXMEX, ANN-benchmarks): per vector int32 d, then d
 * float32 (fvecs) or int32 (ivecs) values, little endian.  All vectors must
 * share d.  The readers allocate *data (n x d, caller frees). */
rg_status rg_fvecs_parse(const void *buf, size_t len, float **data, size_t *n, int *dim,
                         rg_err *err);
rg_status rg_ivecs_parse(const void *buf, size_t len, int32_t **data, size_t *n, int *dim,
                         rg_err *err);
rg_status rg_fvecs_read(const char *path, float **data, size_t *n, int *dim, rg_err *err);
rg_status rg_ivecs_read(const char *path, int32_t **data, size_t *n, int *dim, rg_err *err);
/* Writes n x d rows as .fvecs / .ivecs (atomic rename). */
rg_status rg_fvecs_write(const char *path, const float *data, size_t n, int dim, rg_err *err);
rg_status rg_ivecs_write(const char *path, const int32_t *data, size_t n, int dim, rg_err *err);

#endif
