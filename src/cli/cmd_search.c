/* cmd_search.c - `ragd search`: BM25-ranked chunks of a collection. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_rag.h"
#include "core/clock.h"
#include "core/limits.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd search --data DIR -c COLLECTION [-k 10] [--json] [-k1 K1] [-b B]\n"
            "                   [--mode bm25|vector|hybrid] [--embed-model F] QUERY...\n\n"
            "Ranked chunks (BM25, vector or hybrid) with score, source, heading or page and byte offsets.\n"
            "Query syntax: words (any may match), \"exact phrase\" (required),\n"
            "+word (required), -word / -\"phrase\" (excluded).  English is stemmed,\n"
            "Chinese is matched by words and character bigrams; traditional and\n"
            "simplified characters match each other.\n\n"
            "  --data DIR        data directory (holds ragd.db)\n"
            "  -c, --collection  collection name\n"
            "  -k N              number of results (default 10, max %d)\n"
            "  --json            JSON output\n"
            "  -k1 K1, -b B      BM25 parameters (default 2.0, 0.75)\n" RG__CLI_VEC_HELP,
            RG_MAX_TOP_K);
}

/* -k1 and -b: BM25's parameters, search's own options. */
static int bm25_arg(void *ctx, int argc, char **argv, int *i) {
    rg_rag_opts *ro = ctx;
    const char *a = argv[*i];
    double v;
    if ((!strcmp(a, "-k1") || !strcmp(a, "--k1")) && *i + 1 < argc) {
        if (rg_cli_double(argv[++*i], &v) || v <= 0 || v > 100) {
            rg_cli_usage("search", "-k1 wants a number in (0, 100], got '%s'", argv[*i]);
            return -1;
        }
        ro->bm25.k1 = (float)v;
        return 1;
    }
    if ((!strcmp(a, "-b") || !strcmp(a, "--b")) && *i + 1 < argc) {
        if (rg_cli_double(argv[++*i], &v) || v < 0 || v > 1) {
            rg_cli_usage("search", "-b wants a number in [0, 1], got '%s'", argv[*i]);
            return -1;
        }
        ro->bm25.b = (float)v;
        return 1;
    }
    return 0;
}

int rg_cmd_search(int argc, char **argv) {
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    rg_rag_opts ro = {0};
    ro.bm25.k1 = RG_TEXT_DEFAULT_K1;
    ro.bm25.b = RG_TEXT_DEFAULT_B;
    ro.bm25.b_set = 1;
    rg__cli_query cq = {.k = 10};
    int rc = rg__cli_query_parse("search", argc, argv, RG_MAX_TOP_K, bm25_arg, &ro, &cq);
    if (!rc) rc = rg__cli_query_open("search", &cq, &ro);
    if (rc) {
        rg__cli_query_close(&cq);
        return rc;
    }
    const char *query = cq.text, *coll = cq.coll;
    rg_rag *r = cq.r;
    int json = cq.json;
    static const char *mode_names[] = {"bm25", "vector", "hybrid"};
    rg_err err;
    rg_err_clear(&err);
    rg_rag_results res;
    double t0 = rg_now_s();
    rg_status s = rg_rag_retrieve(r, query, (size_t)cq.k, 1, &res, &err);
    double ms = (rg_now_s() - t0) * 1e3;
    if (s != RG_OK) {
        rc = rg_cli_fail("search", &err);
    } else if (json) {
        json_t *o = json_object(), *hits = json_array();
        json_object_set_new(o, "query", json_string(query));
        json_object_set_new(o, "collection", json_string(coll));
        json_object_set_new(o, "took_ms", json_real(ms));
        json_object_set_new(o, "mode", json_string(mode_names[rg_rag_get_mode(r)]));
        for (size_t i = 0; i < res.n; i++) {
            const rg_rag_hit *h = &res.hits[i];
            json_t *x = json_object();
            json_object_set_new(x, "rank", json_integer((json_int_t)i + 1));
            json_object_set_new(x, "score", json_real(h->score));
            json_object_set_new(x, "chunk_id", json_integer(h->chunk_id));
            json_object_set_new(x, "source", json_string(h->source));
            json_object_set_new(x, "heading", json_string(h->heading));
            json_object_set_new(x, "page", json_integer(h->page));
            json_object_set_new(x, "start", json_integer(h->start));
            json_object_set_new(x, "end", json_integer(h->end));
            json_object_set_new(x, "text", json_stringn(h->text, h->text_len));
            json_array_append_new(hits, x);
        }
        json_object_set_new(o, "hits", hits);
        char *out = json_dumps(o, JSON_COMPACT);
        if (out) puts(out);
        free(out);
        json_decref(o);
    } else {
        if (res.n == 0) printf("no results for: %s\n", query);
        for (size_t i = 0; i < res.n; i++) {
            const rg_rag_hit *h = &res.hits[i];
            printf("%2zu. %7.3f  %s", i + 1, h->score, h->source);
            if (h->page > 0) printf(", page %d", h->page);
            if (h->heading[0]) printf(", \"%s\"", h->heading);
            printf(", bytes %lld-%lld\n    ", (long long)h->start, (long long)h->end);
            /* a one-line preview: up to ~200 bytes, cut at a code point */
            size_t n = 0, shown = 0;
            while (n < h->text_len && shown < 200) {
                unsigned char c = (unsigned char)h->text[n];
                size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
                if (n + l > h->text_len) break;
                if (c == '\n' || c == '\r' || c == '\t') putchar(' ');
                else fwrite(h->text + n, 1, l, stdout);
                n += l;
                shown += l;
            }
            printf("%s\n", n < h->text_len ? " ..." : "");
        }
        fflush(stdout);
        fprintf(stderr, "(%zu results in %.2f ms, %s)\n", res.n, ms, mode_names[rg_rag_get_mode(r)]);
    }
    if (s == RG_OK) rg_rag_results_clear(&res);
    rg__cli_query_close(&cq);
    return rc;
}
