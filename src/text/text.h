/* text.h - lexical search: analyzers, query syntax, a BM25 inverted index.
 *
 * Analyzer (one pipeline for documents and queries, so both sides agree):
 *   invalid UTF-8 -> U+FFFD; utf8proc NFKC + case folding + accent
 *   stripping; traditional -> simplified Chinese (OpenCC t2s.json);
 *   then, per script run:
 *     Latin/Cyrillic/... words: split on non-alphanumerics, English stop
 *       words dropped (their positions kept as gaps), Snowball English stem;
 *     Han: overlapping character bigrams (a lone character: a unigram),
 *       plus friso (MMSEG) words of 3+ characters as extra terms at the
 *       position of their first character;
 *     kana / hangul: character bigrams.
 *   friso's dictionary and OpenCC's tables are loaded once per process on
 *   first use; when absent, the analyzer degrades to bigrams / no folding
 *   and logs a warning.
 *
 * Index: terms -> postings (doc number, term frequency, positions), in
 *   memory, immutable after rg_text_builder_finish or rg_text_index_load;
 *   rg_text_search may be called from many threads at once.
 *   Persisted as one versioned file with a 64-bit checksum; the caller
 *   records a generation in it (the store's) to know when it is stale.
 *
 * Query syntax (rg_text_query_parse):  words   "exact phrase"   +must
 *   -not   +"must phrase"   -"not phrase".  Plain words are optional
 *   (ranked by BM25, any may match); quoted phrases are required.  A +word
 *   that analyzes to several terms (e.g. Chinese) must match as a phrase. */
#ifndef RG_TEXT_TEXT_H
#define RG_TEXT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Bumped whenever analysis output changes: index files record it and are
 * rebuilt when it differs. */
#define RG_TEXT_ANALYZER_VERSION 1
#define RG_TEXT_INDEX_FILE_VERSION 1
#define RG_TEXT_MAX_TERM_BYTES 64 /* longer words are cut (at a code point) */

/* ---- analyzer ---- */

typedef struct rg_text_opts {
    int no_stem;       /* 1: keep English words unstemmed */
    int no_stopwords;  /* 1: keep English stop words */
    int no_cjk_words;  /* 1: bigrams only for Han text (no friso words) */
    int no_t2s;        /* 1: no traditional -> simplified folding */
} rg_text_opts;

/* A token: term bytes (not NUL-terminated, valid during the callback),
 * its position (word or character index), and extra = 1 for terms added
 * beside the positional stream (friso words), which phrase matching skips. */
typedef int (*rg_text_token_fn)(void *ud, const char *term, size_t len, uint32_t pos, int extra);

typedef struct rg_text_analyzer rg_text_analyzer;

/* opts may be NULL (defaults).  *out owned by caller: rg_text_analyzer_free.
 * Thread-safe after creation. */
rg_status rg_text_analyzer_new(const rg_text_opts *opts, rg_text_analyzer **out, rg_err *err);
void rg_text_analyzer_free(rg_text_analyzer *a);
/* 64-bit signature of the analyzer's options and version (stored in index
 * files: an index built by another analyzer is rebuilt). */
uint64_t rg_text_analyzer_signature(const rg_text_analyzer *a);
/* Runs the pipeline over text[0..len) and calls fn for each token in
 * order; fn returns nonzero to stop (not an error).  Thread-safe.
 * *n_positions (may be NULL) gets the number of positions used. */
rg_status rg_text_analyze(const rg_text_analyzer *a, const char *text, size_t len,
                          rg_text_token_fn fn, void *ud, uint32_t *n_positions, rg_err *err);
/* Normalised form of text (NFKC, case-folded, accents stripped, t2s) as a
 * malloc'd NUL-terminated string the caller frees. */
rg_status rg_text_normalize(const rg_text_analyzer *a, const char *text, size_t len, char **out,
                            size_t *out_len, rg_err *err);

/* ---- query syntax ---- */

typedef enum rg_text_occur {
    RG_TEXT_SHOULD = 0,
    RG_TEXT_MUST = 1,
    RG_TEXT_MUST_NOT = 2
} rg_text_occur;

typedef struct rg_text_clause {
    rg_text_occur occur;
    int phrase;  /* 1 when quoted */
    char *text;  /* raw (unanalyzed) text of the clause; owned by the query */
} rg_text_clause;

typedef struct rg_text_query {
    rg_text_clause *clauses; /* owned; free with rg_text_query_clear */
    size_t n;
} rg_text_query;

/* Parses q[0..len) (at most RG_MAX_QUERY_BYTES, else RG_LIMIT; clauses
 * after the first RG_MAX_QUERY_TERMS are dropped).  An unterminated quote runs to the end.  Never
 * fails on content: any bytes parse.  *out must be cleared by the caller. */
rg_status rg_text_query_parse(const char *q, size_t len, rg_text_query *out, rg_err *err);
void rg_text_query_clear(rg_text_query *q);

/* ---- index ---- */

typedef struct rg_text_index rg_text_index;
typedef struct rg_text_builder rg_text_builder;

/* The analyzer is borrowed for the builder's life. *out: rg_text_builder_free
 * (unless finished). */
rg_status rg_text_builder_new(const rg_text_analyzer *a, rg_text_builder **out, rg_err *err);
/* Adds one document under a caller's key (e.g. a chunk id).  Keys need not
 * be sorted or dense. */
rg_status rg_text_builder_add(rg_text_builder *b, int64_t key, const char *text, size_t len,
                              rg_err *err);
/* Turns the builder into an immutable index and frees the builder (also
 * on failure).  *out: rg_text_index_free. */
rg_status rg_text_builder_finish(rg_text_builder *b, rg_text_index **out, rg_err *err);
void rg_text_builder_free(rg_text_builder *b);

void rg_text_index_free(rg_text_index *ix);
size_t rg_text_index_docs(const rg_text_index *ix);
size_t rg_text_index_terms(const rg_text_index *ix);
/* Approximate bytes of memory held. */
size_t rg_text_index_bytes(const rg_text_index *ix);
uint64_t rg_text_index_signature(const rg_text_index *ix);

/* Writes the index atomically to path, recording generation (opaque to
 * this module).  Format: header, docs, terms, postings, checksum. */
rg_status rg_text_index_save(const rg_text_index *ix, const char *path, int64_t generation,
                             rg_err *err);
/* Loads a file written by rg_text_index_save, verifying version, sizes,
 * every offset and the checksum (RG_FORMAT with detail when bad).
 * *generation (may be NULL) gets the recorded generation. */
rg_status rg_text_index_load(const char *path, rg_text_index **out, int64_t *generation,
                             rg_err *err);
/* Same from memory (used by the loader and fuzzing). */
rg_status rg_text_index_load_mem(const unsigned char *data, size_t len, rg_text_index **out,
                                 int64_t *generation, rg_err *err);

/* Defaults chosen on the BEIR fixtures (docs/search.md): k1 2.0 beat 1.2
 * on both English collections and is neutral on Chinese. */
#define RG_TEXT_DEFAULT_K1 2.0
#define RG_TEXT_DEFAULT_B 0.75

typedef struct rg_text_params {
    float k1;     /* 0 -> RG_TEXT_DEFAULT_K1 */
    float b;      /* 0 -> RG_TEXT_DEFAULT_B unless b_set */
    int b_set;    /* 1: use b as given (allows b = 0) */
    float prox;   /* weight of a bonus for documents where adjacent query words
                     occur within 3 positions of each other; 0 (default) = off */
    int prox_set; /* 1: use prox as given */
} rg_text_params;

typedef struct rg_text_hit {
    int64_t key;
    float score;
} rg_text_hit;

/* Top-k documents for a query string (parsed with rg_text_query_parse),
 * best first (ties: smaller key first).  hits has room for k entries
 * (k <= RG_MAX_TOP_K); *n gets the count.  params may be NULL.  The
 * analyzer must be the one the index was built with (same signature).
 * Thread-safe. */
rg_status rg_text_search(const rg_text_index *ix, const rg_text_analyzer *a, const char *query,
                         size_t qlen, const rg_text_params *params, size_t k, rg_text_hit *hits,
                         size_t *n, rg_err *err);

/* Inverse document frequency of a (normalised) term, as used by BM25;
 * 0 when absent.  For sentence scoring in extractive answers. */
double rg_text_index_idf(const rg_text_index *ix, const char *term, size_t len);
/* The idf a term would have if it occurred in no document (the maximum). */
double rg_text_index_idf_max(const rg_text_index *ix);
#endif
