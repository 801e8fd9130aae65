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

#endif
