/* rag.h - retrieval over a stored collection, extractive answers with
 * citations, and the prompt for the LLM path.
 *
 * A rg_rag handle binds one collection of a store to its BM25 index.  The
 * index lives in DIR/index/bm25-<collection id>.idx; it records the
 * store's generation for the collection and the analyzer's signature, and
 * is rebuilt from the store's chunks when either differs (after an ingest,
 * or after an upgrade that changed analysis).  Each chunk is indexed as
 * its heading path (RG_RAG_HEADING_WEIGHT times) followed by its text, so
 * words in headings count more.
 *
 * Results are ranked lists of chunk ids with scores; vector results from
 * another retriever fuse with BM25 by reciprocal rank (rg_rag_fuse_rrf).
 *
 * Threads: rg_rag_retrieve / rg_rag_answer may run concurrently on one
 * handle; rg_rag_refresh swaps the index under a write lock.  The store
 * handle serialises its own calls. */
#ifndef RG_RAG_RAG_H
#define RG_RAG_RAG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"
#include "embed/embed.h"
#include "index/index.h"
#include "store/store.h"
#include "text/text.h"

#define RG_RAG_INDEX_DIR "index"
/* Heading (title) words count this many times: a title boost, as a
 * BM25F title field would give; 3 was best on the BEIR fixtures. */
#define RG_RAG_HEADING_WEIGHT 3
/* Below this many chunks an exact scan of the vectors is as fast as a
 * graph walk (about 1 ms at dim 384) and needs no build; above it HNSW. */
#define RG_RAG_HNSW_MIN 20000
/* HNSW beam for retrieval: recall@10 0.993 on the 200k x 384 clustered
 * bench set (0.982 at 128), ~1.2 ms per query on one core */
#define RG_RAG_HNSW_EF 256
/* A handle writes its appended graph back after this many changed nodes
 * (and on close); until then opening the collection replays the log's
 * tail: ~0.5 ms per node at 20k x 384, against ~0.1 s to write the graph */
#define RG_RAG_HNSW_SAVE_MIN 256

typedef struct rg_rag rg_rag;

typedef struct rg_rag_opts {
    rg_text_opts text;    /* analyzer options */
    rg_text_params bm25;  /* k1, b */
    int no_headings;      /* 1: index chunk text only */
    int heading_weight;   /* times the heading is indexed (0 -> RG_RAG_HEADING_WEIGHT) */
    int no_persist;       /* 1: never write the index file (temporary use) */
    /* vector side: collections with at least this many vectors are searched
     * through an HNSW graph (persisted beside the vectors) instead of an
     * exact flat scan.  0 -> RG_RAG_HNSW_MIN; SIZE_MAX: always flat. */
    size_t hnsw_min;
    int hnsw_ef;          /* HNSW search beam (0 -> RG_RAG_HNSW_EF; raised to k) */
} rg_rag_opts;

/* Opens collection `name` of store s (borrowed; must outlive the handle).
 * data_dir is where index files go (normally the store's directory).
 * Loads the index file or rebuilds it (and saves it).  RG_NOTFOUND when
 * the collection does not exist.  *out: rg_rag_close.  *rebuilt (may be
 * NULL) = 1 when the index was (re)built from the store. */
rg_status rg_rag_open(rg_store *s, const char *data_dir, const char *name, const rg_rag_opts *opts,
                      rg_rag **out, int *rebuilt, rg_err *err);
/* Rebuilds the index when the store's generation moved on. */
rg_status rg_rag_refresh(rg_rag *r, int *rebuilt, rg_err *err);
void rg_rag_close(rg_rag *r);
int64_t rg_rag_collection_id(const rg_rag *r);
size_t rg_rag_chunks(const rg_rag *r);

typedef struct rg_rag_hit {
    int64_t chunk_id;
    double score;
    /* filled when fetched (rg_rag_retrieve with fetch = 1); owned strings */
    int64_t doc_id;
    char *source;  /* document source (path) */
    char *heading; /* "" when none */
    char *text;
    size_t text_len;
    int page;           /* 0 = not paged */
    int64_t start, end; /* byte offsets in the document's extracted text */
} rg_rag_hit;

typedef struct rg_rag_results {
    rg_rag_hit *hits; /* owned; best first */
    size_t n;
} rg_rag_results;

/* Top-k chunks for query (rg_text_query_parse syntax for BM25; the raw
 * text is embedded for vector search) by the handle's mode (BM25 unless
 * rg_rag_use_vectors chose another).  fetch = 1
 * also loads each chunk's text, source, heading, page and offsets from the
 * store.  *out: rg_rag_results_clear. */
rg_status rg_rag_retrieve(rg_rag *r, const char *query, size_t k, int fetch, rg_rag_results *out,
                          rg_err *err);
void rg_rag_results_clear(rg_rag_results *res);

/* Reciprocal rank fusion: score(c) = sum over lists of 1 / (k_rrf + rank),
 * rank 1-based; k_rrf <= 0 means 60.  Keeps the top k; fetched fields are
 * copied from the first list that has them.  *out: rg_rag_results_clear. */
rg_status rg_rag_fuse_rrf(const rg_rag_results *lists, size_t nlists, double k_rrf, size_t k,
                          rg_rag_results *out, rg_err *err);

/* ---- vector and hybrid retrieval (veclog.c, vec.c) ----
 *
 * Chunk embeddings of a collection live in DIR/index/vec-<collection
 * id>.vec, an append-only log (format in veclog.c) recording the store
 * generation and the model they were made with; rg_rag_vectors_sync brings
 * the file up to date (embedding only chunks that have no vector yet,
 * logging deleted ones) by appending to it.  The collection's settings
 * JSON records the model ("embed_model": path, "embed_dim": n), so search
 * needs no flag.  rg_rag_use_vectors attaches an embedder to a handle:
 * rg_rag_retrieve (and so rg_rag_answer_extractive) then ranks by the mode
 * chosen: BM25, vector (cosine of the query's embedding) or hybrid
 * (weighted reciprocal rank fusion of the top k of each). */

typedef enum rg_rag_mode { RG_RAG_BM25 = 0, RG_RAG_VECTOR = 1, RG_RAG_HYBRID = 2 } rg_rag_mode;

/* One record of the embedding log, as an index built from the log sees it. */
typedef struct rg_rag_vec_mark {
    uint64_t chain; /* the log's checksum chain at the end of the record */
    int64_t max_id; /* largest id added up to and including it (0: none) */
    size_t ndel;    /* deletes logged up to and including it: dels[0..ndel) */
} rg_rag_vec_mark;

typedef struct rg_rag_vectors {
    int dim;
    int64_t generation; /* of the last record; -1: none */
    char *model;   /* owned */
    size_t n;
    int64_t *ids;  /* owned, ascending chunk ids (live rows) */
    float *vecs;   /* owned, n x dim, L2-normalised */
    /* the file as a log (zero when the vectors were not loaded from one) */
    int version;            /* file format: 1 (one block) or 2 (log) */
    rg_rag_vec_mark *marks; /* owned: marks[0] is the header, then one per record */
    size_t nmarks;
    int64_t *dels;          /* owned: deleted ids in log order */
    size_t ndels;
    size_t bytes;           /* bytes of the valid prefix of the file */
    int damaged;            /* 1: bytes after the valid prefix (a torn append) */
} rg_rag_vectors;

/* Parses a .vec file image (hostile input: sizes and checksums checked).
 * A v2 log yields its longest valid prefix of records (damaged = 1 when
 * bytes follow it); a bad header fails.  *out: rg_rag_vectors_clear. */
rg_status rg_rag_vectors_parse(const void *buf, size_t len, rg_rag_vectors *out, rg_err *err);
/* Loads DIR/index/vec-<cid>.vec; RG_NOTFOUND/RG_IO when absent. */
rg_status rg_rag_vectors_load(const char *data_dir, int64_t cid, rg_rag_vectors *out, rg_err *err);
/* Brings the vector file of collection cid up to date with the store using
 * embedder e (model: the name recorded; a different model or dim
 * re-embeds everything).  When the store only gained chunks this reads the
 * file's last record and the new chunks and appends one record: O(new).
 * Deletions append a delete record (or compact the file when deletes pass
 * a fifth of the rows).  out may be NULL (nothing loaded); else it gets
 * the file's contents (rg_rag_vectors_clear).  *n_embedded (may be NULL) =
 * chunks embedded. */
rg_status rg_rag_vectors_sync(rg_store *s, const char *data_dir, int64_t cid, rg_embedder *e,
                              const char *model, rg_rag_vectors *out, size_t *n_embedded,
                              rg_err *err);
void rg_rag_vectors_clear(rg_rag_vectors *v);

/* What rg_rag_vec_index_update did. */
enum {
    RG_RAG_VIX_KEPT = 0,     /* *ix was up to date */
    RG_RAG_VIX_LOADED = 1,   /* loaded from the persisted graph as it was */
    RG_RAG_VIX_APPENDED = 2, /* *ix or the persisted graph caught up with the log */
    RG_RAG_VIX_BUILT = 3     /* built from all vectors */
};
/* The vector index over v (inner product; vectors are normalised): flat
 * below hnsw_min vectors (0 -> RG_RAG_HNSW_MIN), else HNSW.  *ix (in: the
 * current index or NULL; it may be updated in place, under its own lock,
 * while others search it) is brought up to date with v's log by replaying
 * the records it lacks; failing that the graph is loaded from
 * DIR/index/hnsw-<cid>.idx (and caught up the same way), or built with all
 * CPUs and saved there (unless no_persist).  When *ix comes back different
 * from what was passed, the caller frees the old one once no search uses
 * it.  An appended graph is saved when at least save_min nodes changed
 * since it was last written (0: always); *unsaved (may be NULL) carries
 * that count between calls.  *how (may be NULL): RG_RAG_VIX_*. */
rg_status rg_rag_vec_index_update(const char *data_dir, int64_t cid, const rg_rag_vectors *v,
                                  size_t hnsw_min, int no_persist, size_t save_min, rg_index **ix,
                                  size_t *unsaved, int *how, rg_err *err);
/* rg_rag_vec_index_update from nothing, saving any change at once.  *built
 * (may be NULL) = 1 when a graph was built.  *out: rg_index_free. */
rg_status rg_rag_vec_index(const char *data_dir, int64_t cid, const rg_rag_vectors *v,
                           size_t hnsw_min, int no_persist, rg_index **out, int *built,
                           rg_err *err);
/* The "embed_model" of a collection's settings JSON (malloc'd) or NULL. */
char *rg_rag_settings_embed_model(const char *settings_json);
/* Records model and dim in the collection's settings (no write when
 * already the same). */
rg_status rg_rag_set_embed_model(rg_store *s, int64_t cid, const char *model, int dim, rg_err *err);

typedef struct rg_rag_mode_opts {
    rg_rag_mode mode;
    double rrf_k;          /* <= 0 -> 60 */
    double bm25_weight;    /* weights of each list in the fusion; both 0 -> 1, 1 */
    double vector_weight;
} rg_rag_mode_opts;

/* Attaches embedder e (borrowed; must outlive the handle; calls on it are
 * serialised by the handle) recorded as `model`, syncs the collection's
 * vectors (*n_embedded, may be NULL) and sets the retrieval mode.  With
 * e == NULL only RG_RAG_BM25 is accepted. */
rg_status rg_rag_use_vectors(rg_rag *r, rg_embedder *e, const char *model,
                             const rg_rag_mode_opts *mo, size_t *n_embedded, rg_err *err);
rg_rag_mode rg_rag_get_mode(const rg_rag *r);
/* 1 when rg_rag_use_vectors attached an embedder. */
int rg_rag_has_vectors(const rg_rag *r);
/* Serialises this handle's embedder calls on mu (borrowed, must outlive
 * the handle) instead of its own mutex: for handles that share one
 * embedder (the server).  NULL restores the handle's own. */
void rg_rag_set_embed_lock(rg_rag *r, pthread_mutex_t *mu);
/* rg_rag_retrieve with an explicit mode for this call (the handle's mode
 * is unchanged).  Vector and hybrid need rg_rag_use_vectors first
 * (RG_INVALID otherwise). */
rg_status rg_rag_retrieve_mode(rg_rag *r, const char *query, size_t k, int fetch, rg_rag_mode mode,
                               rg_rag_results *out, rg_err *err);

/* rg_rag_fuse_rrf with a weight per list (weights NULL: all 1):
 * score(c) = sum of w_l / (k_rrf + rank_l(c)). */
rg_status rg_rag_fuse_rrf_weighted(const rg_rag_results *lists, const double *weights,
                                   size_t nlists, double k_rrf, size_t k, rg_rag_results *out,
                                   rg_err *err);

/* ---- extractive answer ---- */

typedef struct rg_rag_source {
    int n; /* the [n] used in the answer text */
    int64_t chunk_id, doc_id;
    char *source, *heading; /* owned */
    int page;
    int64_t start, end;     /* offsets of the cited chunk */
    double score;
} rg_rag_source;

typedef struct rg_rag_answer {
    int found;       /* 0: nothing relevant; text says so */
    char *text;      /* owned: sentences each followed by [n] */
    rg_rag_source *sources; /* owned, numbered 1..nsources in citation order */
    size_t nsources;
    size_t n_left_out; /* retrieved chunks the options' `keep` refused */
} rg_rag_answer;

/* 1: the retrieved chunk h (text fetched) may be used; 0: leave it out
 * (e.g. it reads like prompt injection).  Runs on the calling thread. */
typedef int (*rg_rag_keep_fn)(const rg_rag_hit *h, void *ud);

typedef struct rg_rag_answer_opts {
    size_t k_chunks;     /* chunks to read (0 -> 5) */
    size_t max_sentences; /* 0 -> 3 */
    double min_coverage;  /* share of the question's term weight a sentence must
                             cover to count as relevant (0 -> 0.3); and at least half
                             of its terms must occur in the collection */
    rg_rag_keep_fn keep;  /* NULL: every retrieved chunk is read */
    void *keep_ud;
} rg_rag_answer_opts;

/* Picks the sentences (split at 。！？； and .!? and line ends) that best
 * cover the question's terms from the top chunks and cites them.  Chunks
 * opts->keep refuses give no sentence and are not cited (none taken in
 * their place: the answer reads fewer chunks).
 * opts may be NULL.  *out: rg_rag_answer_clear. */
rg_status rg_rag_answer_extractive(rg_rag *r, const char *question, const rg_rag_answer_opts *opts,
                                   rg_rag_answer *out, rg_err *err);
void rg_rag_answer_clear(rg_rag_answer *a);
/* Formats a source line "file, page 3 / heading "A > B", bytes 10-200". */
void rg_rag_source_format(const rg_rag_source *s, rg_buf *out);

/* Prompt for an LLM: instructions, the numbered sources in a context
 * block, then the question.  Appends to out. */
rg_status rg_rag_prompt_build(const char *question, const rg_rag_results *ctx, rg_buf *out,
                              rg_err *err);

#endif
