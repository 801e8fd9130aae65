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
/* Joins argv[i..argc) with spaces into a malloc'd string. */
char *rg__cli_join(int argc, char **argv, int i);

#endif
