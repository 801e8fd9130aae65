/* cmd_ask.c - `ragd ask`: an extractive answer with numbered citations. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_rag.h"
#include "core/buf.h"
#include "guard/guard.h"

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
            "  --json            JSON output\n"
            "  --drop-injected   leave out retrieved chunks that read like prompt injection\n"
            "                    (otherwise they are flagged in the sources)\n"
            "  --injection-threshold X  flag at score >= X (default 0.5)\n" RG__CLI_VEC_HELP);
}

typedef struct ask_opts {
    int drop;
    double thr; /* 0: the guard's default */
} ask_opts;

static int ask_arg(void *ctx, int argc, char **argv, int *i) {
    ask_opts *o = ctx;
    const char *a = argv[*i];
    if (!strcmp(a, "--drop-injected")) {
        o->drop = 1;
        return 1;
    }
    if (!strcmp(a, "--injection-threshold") && *i + 1 < argc) {
        if (rg_cli_double(argv[++*i], &o->thr) || o->thr <= 0 || o->thr > 1) {
            rg_cli_usage("ask", "--injection-threshold: expected a number in (0, 1], got '%s'", argv[*i]);
            return -1;
        }
        return 1;
    }
    return 0;
}

static int keep_not_injected(const rg_rag_hit *h, void *ud) {
    rg_injection_result ir;
    rg_guard_injection_check(h->text, h->text_len, (float)((const ask_opts *)ud)->thr, &ir);
    return !ir.flagged;
}

/* The injection score of a cited chunk (flagged: ir->flagged). */
static void cited_check(rg_store *st, const rg_rag_source *x, const ask_opts *o, rg_injection_result *ir) {
    memset(ir, 0, sizeof *ir);
    rg_store_chunk ch;
    rg_err e2;
    if (rg_store_chunk_get(st, x->chunk_id, &ch, &e2) != RG_OK) return;
    rg_guard_injection_check(ch.text, ch.text_len, (float)o->thr, ir);
    rg_store_chunk_clear(&ch);
}

int rg_cmd_ask(int argc, char **argv) {
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    rg__cli_query cq = {.k = 5};
    ask_opts ao2 = {0};
    int rc = rg__cli_query_parse("ask", argc, argv, 50, ask_arg, &ao2, &cq);
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
    if (ao2.drop) {
        ao.keep = keep_not_injected;
        ao.keep_ud = &ao2;
    }
    rg_status s = rg_rag_answer_extractive(cq.r, q, &ao, &ans, &err);
    if (s == RG_OK && ans.n_left_out)
        fprintf(stderr, "ragd: ask: %zu retrieved chunk(s) flagged as prompt injection left out\n",
                ans.n_left_out);
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
            rg_injection_result ir;
            cited_check(cq.st, x, &ao2, &ir);
            if (ir.flagged)
                json_object_set_new(j, "injection", json_pack("{s:b, s:f, s:s}", "flagged", 1, "score",
                                                              (double)ir.score, "rule",
                                                              ir.first ? ir.first : "unknown"));
            json_array_append_new(src, j);
        }
        json_object_set_new(o, "sources", src);
        json_object_set_new(o, "injected_left_out", json_integer((json_int_t)ans.n_left_out));
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
            rg_injection_result ir;
            cited_check(cq.st, &ans.sources[i], &ao2, &ir);
            printf("[%d] %s%s\n", ans.sources[i].n, b.data ? b.data : "",
                   ir.flagged ? "  (flagged: reads like prompt injection)" : "");
            rg_buf_free(&b);
        }
    }
    if (s == RG_OK) rg_rag_answer_clear(&ans);
    rg__cli_query_close(&cq);
    return rc;
}
