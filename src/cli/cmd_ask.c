/* cmd_ask.c - `ragd ask`: an extractive answer with numbered citations. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_rag.h"
#include "core/buf.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd ask --data DIR -c COLLECTION [--json] [-k CHUNKS] [--mode M] QUESTION...\n\n"
            "Answers from the collection without any model: the sentences of the best\n"
            "matching chunks that cover the question best, each followed by [n], then\n"
            "the numbered sources (file, page or heading, byte offsets).  When nothing\n"
            "relevant is found it says so.\n\n"
            "  --data DIR        data directory (holds ragd.db)\n"
            "  -c, --collection  collection name\n"
            "  -k CHUNKS         chunks to read (default 5)\n"
            "  --json            JSON output\n" RG__CLI_VEC_HELP);
}

int rg_cmd_ask(int argc, char **argv) {
    const char *data = NULL, *coll = NULL;
    int json = 0, qi = -1;
    long k = 5;
    rg__cli_vec vo = {0};
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            qi = i + 1;
            break;
        }
        int vr = rg__cli_vec_arg("ask", &vo, argc, argv, &i);
        if (vr < 0) return RG_EXIT_USAGE;
        if (vr > 0) continue;
        if (!strcmp(a, "--data") && i + 1 < argc) data = argv[++i];
        else if ((!strcmp(a, "-c") || !strcmp(a, "--collection")) && i + 1 < argc) coll = argv[++i];
        else if (!strcmp(a, "-k") && i + 1 < argc) {
            if (rg_cli_int(argv[++i], 1, 50, &k))
                return rg_cli_usage("ask", "-k wants an integer in [1, 50], got '%s'", argv[i]);
        } else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-' && a[1] && (unsigned char)a[1] < 0x80 && a[1] != '"')
            return rg_cli_usage("ask", "unknown option '%s'", a);
        else {
            qi = i;
            break;
        }
    }
    if (!data) return rg_cli_usage("ask", "--data DIR is required");
    if (!coll) return rg_cli_usage("ask", "-c COLLECTION is required");
    if (qi < 0 || qi >= argc) return rg_cli_usage("ask", "a QUESTION is required");
    char *q = rg__cli_join(argc, argv, qi);
    if (!q) return RG_EXIT_RUNTIME;
    rg_store *st = NULL;
    rg_rag *r = NULL;
    int rc = rg__cli_open_rag("ask", data, coll, NULL, &st, &r);
    if (!rc) rc = rg__cli_vec_attach("ask", &vo, st, r);
    if (rc) {
        rg_rag_close(r);
        rg_store_close(st);
        rg__cli_vec_free(&vo);
        free(q);
        return rc;
    }
    rg_err err;
    rg_err_clear(&err);
    rg_rag_answer ans;
    rg_rag_answer_opts ao = {0};
    ao.k_chunks = (size_t)k;
    rg_status s = rg_rag_answer_extractive(r, q, &ao, &ans, &err);
    if (s != RG_OK) {
        rc = rg_cli_fail("ask", &err);
    } else if (json) {
        json_t *o = json_object(), *src = json_array();
        json_object_set_new(o, "question", json_string(q));
        json_object_set_new(o, "found", json_boolean(ans.found));
        json_object_set_new(o, "answer", json_string(ans.text));
        for (size_t i = 0; i < ans.nsources; i++) {
            const rg_rag_source *x = &ans.sources[i];
            json_t *j = json_object();
            json_object_set_new(j, "n", json_integer(x->n));
            json_object_set_new(j, "source", json_string(x->source));
            json_object_set_new(j, "heading", json_string(x->heading));
            json_object_set_new(j, "page", json_integer(x->page));
            json_object_set_new(j, "start", json_integer(x->start));
            json_object_set_new(j, "end", json_integer(x->end));
            json_object_set_new(j, "chunk_id", json_integer(x->chunk_id));
            json_object_set_new(j, "score", json_real(x->score));
            json_array_append_new(src, j);
        }
        json_object_set_new(o, "sources", src);
        char *out = json_dumps(o, JSON_COMPACT);
        if (out) puts(out);
        free(out);
        json_decref(o);
    } else {
        printf("%s\n", ans.text);
        if (ans.nsources) printf("\nSources:\n");
        for (size_t i = 0; i < ans.nsources; i++) {
            rg_buf b;
            rg_buf_init(&b, 0);
            rg_rag_source_format(&ans.sources[i], &b);
            printf("[%d] %s\n", ans.sources[i].n, b.data ? b.data : "");
            rg_buf_free(&b);
        }
    }
    if (s == RG_OK) rg_rag_answer_clear(&ans);
    rg_rag_close(r);
    rg_store_close(st);
    rg__cli_vec_free(&vo);
    free(q);
    return rc;
}
