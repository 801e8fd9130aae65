/* bench_grammar.c - constrained vs unconstrained generation speed through
 * the scheduler path the server uses (src/server/local.c): the same
 * prompt, sampling at temperature 1, N tokens, three ways:
 *   none         no grammar
 *   sample-first the grammar checks the sampled token; the full mask over
 *                the vocabulary only when it is rejected (the default)
 *   full-mask    the mask over the whole vocabulary at every step
 * Prints tokens/s, the ratio to unconstrained, and how many full masks
 * were computed per token.
 * usage: bench_grammar MODEL.gguf [TOKENS] [RUNS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "grammar/grammar.h"
#include "server/server_int.h"

static int sink(void *ud, const char *s, size_t n) {
    (void)ud, (void)s, (void)n;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_grammar MODEL.gguf [TOKENS] [RUNS]\n");
        return 2;
    }
    int tokens = argc > 2 ? atoi(argv[2]) : 128, runs = argc > 3 ? atoi(argv[3]) : 3;
    rg_err err;
    rg__local *L;
    if (rg__local_open(argv[1], 0, 1, &L, &err) != RG_OK) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    /* a long document: a list of strings, so the budget rarely ends it early */
    const char *schema = "{\"type\":\"object\",\"properties\":{\"notes\":{\"type\":\"array\",\"items\":"
                         "{\"type\":\"string\",\"maxLength\":40},\"minItems\":8,\"maxItems\":64}},"
                         "\"required\":[\"notes\"]}";
    rg_grammar *g;
    if (rg_grammar_from_json_schema(schema, strlen(schema), &g, &err) != RG_OK) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    const char *names[3] = {"none", "sample-first", "full-mask"};
    double base = 0;
    printf("%-13s %9s %8s %10s %12s\n", "grammar", "tokens", "tok/s", "vs none", "masks/token");
    for (int mode = 0; mode < 3; mode++) {
        double secs = 0;
        long ntok = 0;
        uint64_t masks = 0;
        for (int r = 0; r < runs + 1; r++) { /* first run warms up (vocabulary trie, caches) */
            uint64_t m = 0;
            rg__local_params p = {1.0, 1.0, tokens, (uint64_t)(1000 + r), 1, mode ? g : NULL, mode == 2, &m};
            int n_in, n_out;
            char fin[16];
            char prompt[64];
            snprintf(prompt, sizeof prompt, "Write notes, mode %d run %d:", mode, r); /* no prefix-cache reuse */
            uint64_t t0 = rg_now_ns();
            if (rg__local_generate(L, prompt, &p, sink, NULL, &n_in, &n_out, fin, &err) != RG_OK) {
                fprintf(stderr, "bench_grammar: %s\n", err.msg);
                return 1;
            }
            if (r == 0) continue;
            secs += (double)(rg_now_ns() - t0) / 1e9;
            ntok += n_out;
            masks += m;
        }
        double tps = ntok / secs;
        if (mode == 0) base = tps;
        printf("%-13s %9ld %8.1f %9.0f%% %12.3f\n", names[mode], ntok, tps, 100.0 * tps / base,
               ntok ? (double)masks / (double)ntok : 0.0);
    }
    rg_grammar_free(g);
    rg__local_close(L);
    return 0;
}
