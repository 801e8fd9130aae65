/* cli_rag.h - opening a data directory's collection for search and ask. */
#ifndef RG_CLI_RAG_H
#define RG_CLI_RAG_H

#include "rag/rag.h"
#include "store/store.h"

/* Opens DIR/ragd.db (which must exist) and the collection's BM25 index
 * (rebuilt when stale).  Prints the error and returns an exit code != 0
 * on failure; on success *st and *r are set (close r, then st). */
int rg__cli_open_rag(const char *cmd, const char *data, const char *collection,
                     const rg_rag_opts *opts, rg_store **st, rg_rag **r);
/* Retrieval mode flags shared by search and ask: --mode bm25|vector|hybrid,
 * --embed-model E.gguf, --rrf-k K, --bm25-weight W, --vector-weight W. */
typedef struct rg__cli_vec {
    const char *mode;        /* NULL: hybrid when the collection has a model, else bm25 */
    const char *embed_model; /* NULL: the collection's settings */
    double rrf_k, bm25_weight, vector_weight;
    rg_embedder *e;
    char *model_used;
} rg__cli_vec;
#define RG__CLI_VEC_HELP                                                                      \
    "  --mode M          bm25 | vector | hybrid (default: hybrid when the collection\n"        \
    "                    has an embedding model (ingest --embed-model), else bm25)\n"          \
    "  --embed-model F   embedding GGUF for the query (default: the collection's)\n"          \
    "  --rrf-k K         hybrid: reciprocal rank fusion constant (default 60)\n"             \
    "  --bm25-weight W, --vector-weight W   hybrid: list weights (default 1, 1)\n"
/* Consumes the option at argv[*i] (and its value) when it is one of the
 * above: returns 1; 0 when not ours; -1 after printing a usage error. */
int rg__cli_vec_arg(const char *cmd, rg__cli_vec *v, int argc, char **argv, int *i);
/* Opens the model and attaches vector retrieval to r per v; prints errors
 * and returns an exit code != 0 on failure. */
int rg__cli_vec_attach(const char *cmd, rg__cli_vec *v, rg_store *st, rg_rag *r);
void rg__cli_vec_free(rg__cli_vec *v);
/* Joins argv[i..argc) with spaces into a malloc'd string. */
char *rg__cli_join(int argc, char **argv, int i);

/* What `search` and `ask` share: their common flags, the query, and the
 * handles opened for it.  Set k (the default) before parsing; everything
 * else zero.  rg__cli_query_close frees all of it. */
typedef struct rg__cli_query {
    const char *data, *coll;
    long k;
    int json;
    rg__cli_vec vo;
    char *text;    /* owned: QUERY... joined with spaces */
    rg_store *st;  /* owned once opened */
    rg_rag *r;     /* owned once opened */
} rg__cli_query;
/* Claims a command-specific option at argv[*i]: 1 consumed, 0 not ours,
 * -1 after printing a usage error. */
typedef int (*rg__cli_opt_fn)(void *ctx, int argc, char **argv, int *i);
/* Parses --data DIR, -c COLLECTION, -k N (1..k_max), --json, the vector
 * flags, the options `extra` claims (may be NULL) and then QUERY....
 * Returns 0, or an exit code after printing the usage error. */
int rg__cli_query_parse(const char *cmd, int argc, char **argv, long k_max, rg__cli_opt_fn extra,
                        void *ctx, rg__cli_query *q);
/* Opens the store and collection with opts (may be NULL) and attaches
 * vector retrieval; returns 0 or an exit code after printing the error. */
int rg__cli_query_open(const char *cmd, rg__cli_query *q, const rg_rag_opts *opts);
void rg__cli_query_close(rg__cli_query *q);

#endif
