/* cli_rag.c - shared by `ragd search` and `ragd ask`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_rag.h"
#include "core/log.h"

int rg__cli_open_rag(const char *cmd, const char *data, const char *collection,
                     const rg_rag_opts *opts, rg_store **st, rg_rag **r) {
    char db[4096];
    snprintf(db, sizeof db, "%s/%s", data, RG_STORE_DB_NAME);
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "ragd: %s: %s: no ragd database here (run 'ragd ingest --data %s -c %s PATH' first)\n",
                cmd, db, data, collection);
        return RG_EXIT_RUNTIME;
    }
    rg_err err;
    rg_err_clear(&err);
    if (rg_store_open(data, NULL, st, &err) != RG_OK) return rg_cli_fail(cmd, &err);
    int rebuilt = 0;
    rg_status s = rg_rag_open(*st, data, collection, opts, r, &rebuilt, &err);
    if (s == RG_NOTFOUND) {
        fprintf(stderr, "ragd: %s: collection '%s' not found in %s\n", cmd, collection, db);
        rg_store_close(*st);
        *st = NULL;
        return RG_EXIT_RUNTIME;
    }
    if (s != RG_OK) {
        rg_store_close(*st);
        *st = NULL;
        return rg_cli_fail(cmd, &err);
    }
    if (rebuilt) rg_info("%s: built the BM25 index of '%s' (%zu chunks)", cmd, collection, rg_rag_chunks(*r));
    return RG_EXIT_OK;
}

char *rg__cli_join(int argc, char **argv, int i) {
    size_t n = 1;
    for (int j = i; j < argc; j++) n += strlen(argv[j]) + 1;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
    *p = 0;
    for (int j = i; j < argc; j++) {
        if (j > i) *p++ = ' ';
        size_t l = strlen(argv[j]);
        memcpy(p, argv[j], l);
        p += l;
        *p = 0;
    }
    return s;
}
