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
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    rg__cli_query cq = {.k = 5};
    int rc = rg__cli_query_parse("ask", argc, argv, 50, NULL, NULL, &cq);
    if (!rc) rc = rg__cli_query_open("ask", &cq, NULL);
    if (rc) {
        rg__cli_query_close(&cq);
        return rc;
    }
    const char *q = cq.text;
    int json = cq.json;
    rg_err err;
    rg_err_clear(&err);
    rg_rag_answer ans;
    rg_rag_answer_opts ao = {0};
    ao.k_chunks = (size_t)cq.k;
    rg_status s = rg_rag_answer_extractive(cq.r, q, &ao, &ans, &err);
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
    rg__cli_query_close(&cq);
    return rc;
}
