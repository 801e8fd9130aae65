/* bench_grammar.c - constrained vs unconstrained generation speed through
 * the scheduler path the server uses (src/server/local.c): the same
 * prompt, sampling at temperature 1 (llama.cpp's default top-k 40 and
 * min-p 0.05), N tokens, three ways:
 *   none      no grammar
 *   checked   the default: the best candidates are checked one by one
 *             (rg_llm_sample_allowed); the full mask over the vocabulary
 *             only when that does not settle the draw
 *   full-mask the mask over the whole vocabulary at every step
 * The modes take turns run by run (none, checked, full-mask, none, ...)
 * so that a shared machine's load changes hit them alike.  Prints decode
 * tokens/s (first to last generated token), the ratio to unconstrained,
 * and how many full masks were computed per token.
 * usage: bench_grammar MODEL.gguf [TOKENS] [RUNS]
 * env BENCH_GRAMMAR_MODES: the modes to run, by digit ("01": no full-mask) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "grammar/grammar.h"
#include "llm/llm.h"
#include "server/server_int.h"
#include "tok/tok.h"

/* Decode speed only: from the first generated token to the last (the
 * prompt's evaluation is left out; runs end at different lengths). */
typedef struct {
    uint64_t first, last;
    long n;
} span;

static int sink(void *ud, const char *s, size_t n) {
    span *sp = ud;
    (void)s, (void)n;
    uint64_t t = rg_now_ns();
    if (!sp->n++) sp->first = t;
    sp->last = t;
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
    if (rg__local_open(argv[1], 0, 1, 0, 0, &L, &err) != RG_OK) {
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
    const char *names[3] = {"none", "checked", "full-mask"};
    const char *only = getenv("BENCH_GRAMMAR_MODES");
    double secs[3] = {0};
    long ntok[3] = {0};
    uint64_t masks[3] = {0};
    for (int r = 0; r < runs + 1; r++) { /* run 0 warms up (vocabulary trie, caches) */
        for (int mode = 0; mode < 3; mode++) {
            if (only && !strchr(only, '0' + mode)) continue;
            uint64_t m = 0;
            rg__local_params p = {1.0, 1.0, tokens, (uint64_t)(1000 + r), 1, mode ? g : NULL, mode == 2, &m};
            int n_in, n_out;
            char fin[16];
            char prompt[64];
            snprintf(prompt, sizeof prompt, "Write notes, mode %d run %d:", mode, r); /* no prefix-cache reuse */
            span sp = {0, 0, 0};
            if (rg__local_generate(L, prompt, &p, sink, &sp, &n_in, &n_out, fin, &err) != RG_OK) {
                fprintf(stderr, "bench_grammar: %s\n", err.msg);
                return 1;
            }
            if (r == 0 || sp.n < 2) continue;
            secs[mode] += (double)(sp.last - sp.first) / 1e9;
            ntok[mode] += sp.n - 1;
            masks[mode] += m;
        }
    }
    printf("%-10s %7s %9s %9s %12s\n", "grammar", "tokens", "tok/s", "vs none", "masks/token");
    double base = secs[0] > 0 ? ntok[0] / secs[0] : 0;
    for (int mode = 0; mode < 3; mode++) {
        if (!ntok[mode]) continue;
        double tps = ntok[mode] / secs[mode];
        printf("%-10s %7ld %9.1f %8.0f%% %12.3f\n", names[mode], ntok[mode], tps, base > 0 ? 100.0 * tps / base : 0,
               (double)masks[mode] / (double)ntok[mode]);
    }
    /* the two costs apart, single-threaded: one full mask over the
     * vocabulary vs one check of a sampled token, inside a JSON string */
    rg_llm_model *m;
    rg_tok *tok;
    if (rg_llm_model_open(argv[1], &m, &err) == RG_OK) {
        if (rg_tok_from_gguf(rg_llm_model_gguf(m), &tok, &err) == RG_OK) {
            rg_grammar_vocab *v = rg_grammar_vocab_from_tok(tok);
            rg_grammar_state *st = rg_grammar_state_new(g);
            const char *pre = "{\"notes\": [\"ab";
            int nv = rg_tok_n_vocab(tok);
            uint8_t *mask = malloc((size_t)nv);
            if (v && st && mask && rg_grammar_accept(st, pre, strlen(pre))) {
                int reps = 20;
                uint64_t t0 = rg_now_ns();
                int allowed = 0;
                for (int i = 0; i < reps; i++) allowed = rg_grammar_mask(st, v, mask);
                double mask_us = (double)(rg_now_ns() - t0) / 1e3 / reps;
                int checks = 2000, ok = 0;
                t0 = rg_now_ns();
                for (int i = 0; i < checks; i++) ok += rg_grammar_allows(st, v, (int32_t)((i * 7919) % nv));
                double check_us = (double)(rg_now_ns() - t0) / 1e3 / checks;
                printf("vocab %d: one full mask %.0f us (%d tokens allowed), one sampled-token check %.2f us "
                       "(%.0fx cheaper)\n", nv, mask_us, allowed, check_us, mask_us / check_us);
                (void)ok;
            }
            free(mask);
            rg_grammar_state_free(st);
            rg_grammar_vocab_free(v);
            rg_tok_free(tok);
        }
        rg_llm_model_close(m);
    }
    rg_grammar_free(g);
    rg__local_close(L);
    return 0;
}
