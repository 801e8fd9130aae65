/* bench_tok.c - tokenizer throughput, one thread:
 *   bench_tok VOCAB.gguf CORPUS.jsonl [min_seconds]
 * Encodes every document ("title" + "text" of a BEIR corpus.jsonl line)
 * with no special tokens, repeating the corpus until min_seconds (default
 * 2) have passed; prints MB/s of input text and tokens/s. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "gguf/gguf.h"
#include "tok/tok.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tok VOCAB.gguf CORPUS.jsonl [min_seconds]\n");
        return 2;
    }
    double min_s = argc > 3 ? atof(argv[3]) : 2.0;
    rg_err err;
    rg_gguf *g;
    rg_tok *t;
    if (rg_gguf_open(argv[1], &g, &err) || rg_tok_from_gguf(g, &t, &err)) {
        fprintf(stderr, "%s: %s\n", argv[1], rg_err_text(&err));
        return 1;
    }
    rg_gguf_close(g);
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char **docs = NULL;
    size_t *lens = NULL, nd = 0, cap = 0, total = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        rg_buf b;
        rg_buf_init(&b, 0);
        const char *title = json_string_value(json_object_get(j, "title"));
        const char *text = json_string_value(json_object_get(j, "text"));
        if (title && *title) rg_buf_printf(&b, "%s\n", title);
        if (text) rg_buf_puts(&b, text);
        json_decref(j);
        if (!b.len) {
            rg_buf_free(&b);
            continue;
        }
        if (nd == cap) {
            cap = cap ? cap * 2 : 1024;
            docs = realloc(docs, cap * sizeof *docs);
            lens = realloc(lens, cap * sizeof *lens);
        }
        lens[nd] = b.len;
        total += b.len;
        docs[nd++] = rg_buf_detach(&b, NULL);
    }
    free(line);
    fclose(f);
    if (!nd) {
        fprintf(stderr, "%s: no documents\n", argv[2]);
        return 1;
    }
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    size_t bytes = 0, tokens = 0;
    int passes = 0;
    double t0 = rg_now_s(), el;
    do {
        for (size_t i = 0; i < nd; i++) {
            int32_t *ids;
            size_t n;
            if (rg_tok_encode_ex(t, docs[i], lens[i], 0, &ids, &n, &err)) {
                fprintf(stderr, "encode: %s\n", rg_err_text(&err));
                return 1;
            }
            tokens += n;
            free(ids);
        }
        bytes += total;
        passes++;
        el = rg_now_s() - t0;
    } while (el < min_s);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    /* CPU time as well: on a shared machine wall time includes waiting for a core */
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
    printf("%-4s %-15s %7.2f MB/s wall %7.2f MB/s cpu %9.0f tok/s cpu %5.2f B/tok (%zu docs, %.2f MB x %d)\n",
           rg_tok_kind_name(t), rg_tok_pre(t), (double)bytes / el / 1e6, (double)bytes / cpu / 1e6,
           (double)tokens / cpu, (double)bytes / (double)(tokens ? tokens : 1), nd, (double)total / 1e6, passes);
    for (size_t i = 0; i < nd; i++) free(docs[i]);
    free(docs);
    free(lens);
    rg_tok_free(t);
    return 0;
}
