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

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"
#include "store/store.h"
#include "text/text.h"

#define RG_RAG_INDEX_DIR "index"
/* Heading (title) words count this many times: a title boost, as a
 * BM25F title field would give; 3 was best on the BEIR fixtures. */
#define RG_RAG_HEADING_WEIGHT 3

typedef struct rg_rag rg_rag;

typedef struct rg_rag_opts {
    rg_text_opts text;    /* analyzer options */
    rg_text_params bm25;  /* k1, b */
    int no_headings;      /* 1: index chunk text only */
    int heading_weight;   /* times the heading is indexed (0 -> RG_RAG_HEADING_WEIGHT) */
    int no_persist;       /* 1: never write the index file (temporary use) */
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

/* BM25 top-k chunks for query (rg_text_query_parse syntax).  fetch = 1
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
} rg_rag_answer;

typedef struct rg_rag_answer_opts {
    size_t k_chunks;     /* chunks to read (0 -> 5) */
    size_t max_sentences; /* 0 -> 3 */
    double min_coverage;  /* share of the question's term weight a sentence must
                             cover to count as relevant (0 -> 0.3); and at least half
                             of its terms must occur in the collection */
} rg_rag_answer_opts;

/* Picks the sentences (split at 。！？； and .!? and line ends) that best
 * cover the question's terms from the top chunks and cites them.
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
