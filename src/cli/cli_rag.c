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

int rg__cli_vec_arg(const char *cmd, rg__cli_vec *v, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    int is_num = !strcmp(a, "--rrf-k") || !strcmp(a, "--bm25-weight") || !strcmp(a, "--vector-weight");
    if (strcmp(a, "--mode") && strcmp(a, "--embed-model") && !is_num) return 0;
    if (*i + 1 >= argc) {
        rg_cli_usage(cmd, "%s needs a value", a);
        return -1;
    }
    const char *val = argv[++*i];
    if (!strcmp(a, "--mode")) {
        if (strcmp(val, "bm25") && strcmp(val, "vector") && strcmp(val, "hybrid")) {
            rg_cli_usage(cmd, "--mode wants bm25, vector or hybrid, got '%s'", val);
            return -1;
        }
        v->mode = val;
    } else if (!strcmp(a, "--embed-model")) {
        v->embed_model = val;
    } else {
        double d;
        if (rg_cli_double(val, &d) || d < 0 || d > 1e6) {
            rg_cli_usage(cmd, "%s wants a number in [0, 1e6], got '%s'", a, val);
            return -1;
        }
        if (!strcmp(a, "--rrf-k")) v->rrf_k = d;
        else if (!strcmp(a, "--bm25-weight")) v->bm25_weight = d;
        else v->vector_weight = d;
    }
    return 1;
}

int rg__cli_vec_attach(const char *cmd, rg__cli_vec *v, rg_store *st, rg_rag *r) {
    rg_err err;
    rg_err_clear(&err);
    rg_store_collection c;
    if (rg_store_collection_get_id(st, rg_rag_collection_id(r), &c, &err) != RG_OK)
        return rg_cli_fail(cmd, &err);
    char *cm = rg_rag_settings_embed_model(c.settings_json);
    rg_store_collection_clear(&c);
    const char *model = v->embed_model ? v->embed_model : cm;
    rg_rag_mode_opts mo = {0};
    mo.mode = v->mode ? (!strcmp(v->mode, "bm25") ? RG_RAG_BM25 : !strcmp(v->mode, "vector") ? RG_RAG_VECTOR : RG_RAG_HYBRID)
                      : (model ? RG_RAG_HYBRID : RG_RAG_BM25);
    mo.rrf_k = v->rrf_k;
    mo.bm25_weight = v->bm25_weight;
    mo.vector_weight = v->vector_weight;
    if (mo.mode == RG_RAG_BM25) {
        free(cm);
        return RG_EXIT_OK;
    }
    if (!model) {
        free(cm);
        return rg_cli_usage(cmd, "--mode %s needs an embedding model: this collection has none "
                                 "(ingest with --embed-model) and no --embed-model was given", v->mode);
    }
    v->model_used = strdup(model);
    free(cm);
    if (!v->model_used) return RG_EXIT_RUNTIME;
    if (rg_embed_open(v->model_used, 0, &v->e, &err) != RG_OK) return rg_cli_fail(cmd, &err);
    size_t n = 0;
    if (rg_rag_use_vectors(r, v->e, v->model_used, &mo, &n, &err) != RG_OK) return rg_cli_fail(cmd, &err);
    if (n) rg_info("%s: embedded %zu chunks with %s", cmd, n, v->model_used);
    return RG_EXIT_OK;
}

void rg__cli_vec_free(rg__cli_vec *v) {
    rg_embed_close(v->e);
    free(v->model_used);
    v->e = NULL;
    v->model_used = NULL;
}

int rg__cli_query_parse(const char *cmd, int argc, char **argv, long k_max, rg__cli_opt_fn extra,
                        void *ctx, rg__cli_query *q) {
    int qi = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            qi = i + 1;
            break;
        }
        int r = rg__cli_vec_arg(cmd, &q->vo, argc, argv, &i);
        if (r == 0 && extra) r = extra(ctx, argc, argv, &i);
        if (r < 0) return RG_EXIT_USAGE;
        if (r > 0) continue;
        if (!strcmp(a, "--data") && i + 1 < argc) q->data = argv[++i];
        else if ((!strcmp(a, "-c") || !strcmp(a, "--collection")) && i + 1 < argc) q->coll = argv[++i];
        else if (!strcmp(a, "-k") && i + 1 < argc) {
            if (rg_cli_int(argv[++i], 1, k_max, &q->k))
                return rg_cli_usage(cmd, "-k wants an integer in [1, %ld], got '%s'", k_max, argv[i]);
        } else if (!strcmp(a, "--json")) q->json = 1;
        /* a lone "-", a quoted phrase or a non-ASCII word starts the query */
        else if (a[0] == '-' && a[1] && a[1] != '"' && (unsigned char)a[1] < 0x80)
            return rg_cli_usage(cmd, "unknown option '%s'", a);
        else {
            qi = i;
            break;
        }
    }
    if (!q->data) return rg_cli_usage(cmd, "--data DIR is required");
    if (!q->coll) return rg_cli_usage(cmd, "-c COLLECTION is required");
    if (qi < 0 || qi >= argc) return rg_cli_usage(cmd, "a query is required");
    q->text = rg__cli_join(argc, argv, qi);
    return q->text ? RG_EXIT_OK : RG_EXIT_RUNTIME;
}

int rg__cli_query_open(const char *cmd, rg__cli_query *q, const rg_rag_opts *opts) {
    int rc = rg__cli_open_rag(cmd, q->data, q->coll, opts, &q->st, &q->r);
    if (!rc) rc = rg__cli_vec_attach(cmd, &q->vo, q->st, q->r);
    return rc;
}

void rg__cli_query_close(rg__cli_query *q) {
    rg_rag_close(q->r);
    rg_store_close(q->st);
    rg__cli_vec_free(&q->vo);
    free(q->text);
    memset(q, 0, sizeof *q);
}
