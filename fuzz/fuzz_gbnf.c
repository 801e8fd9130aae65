/* fuzz_gbnf.c - the GBNF parser, then the recogniser over the input's
 * second half, then a short walk over a small vocabulary (ASCII, a
 * multi-byte character, lone UTF-8 lead and continuation bytes, words)
 * steered by the same bytes: at every step the memoised mask must equal
 * the direct one and every token's check must agree with it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/grammar_int.h"

static const char *const WORDS[] = {"\"", "{", "}", "[", "]", ",", ":", " ", "a", "ab", "abc", "1", "12", "true",
                                    "null", "\\", "\\n", "\"a\"", "\xc3\xa9", "\xe4\xb8\xad", "\xc3", "\xa9",
                                    "\xe4\xb8", "\xf0\x9f\x98\x80", "x\"", "\",\"", "\n", "-", "."};
#define N_WORDS (int)(sizeof WORDS / sizeof WORDS[0])

static void walk(const rg_grammar *g, const uint8_t *steer, size_t n) {
    static rg_grammar_vocab *v;
    if (!v) {
        const char *pieces[N_WORDS + 1];
        for (int i = 0; i < N_WORDS; i++) pieces[i] = WORDS[i];
        pieces[N_WORDS] = NULL; /* the end-of-generation token */
        int32_t eog = N_WORDS;
        v = rg_grammar_vocab_new(pieces, NULL, N_WORDS + 1, &eog, 1);
        if (!v) return;
    }
    rg_grammar_state *s = rg_grammar_state_new(g);
    if (!s) return;
    uint8_t a[N_WORDS + 1], b[N_WORDS + 1];
    float lg[N_WORDS + 1];
    for (size_t step = 0; step < 12 && step < n; step++) {
        int na = rg_grammar_mask(s, v, a), nb = rg__grammar_mask_direct(s, v, b);
        if (na != nb || memcmp(a, b, sizeof a)) abort();
        for (int i = 0; i <= N_WORDS; i++)
            if ((int)rg_grammar_allows(s, v, i) != a[i] ||
                rg_grammar_distance_after(s, v, i) != rg__grammar_distance_after_direct(s, v, i))
                abort();
        int budget = 1 + steer[step] % 8;
        for (int i = 0; i <= N_WORDS; i++) lg[i] = 0;
        int left = rg_grammar_constrain(s, v, lg, budget, b), pass = 0;
        for (int i = 0; i <= N_WORDS; i++) {
            int p = rg_grammar_allows_within(s, v, i, budget);
            pass += p;
            if (p && lg[i] != 0) abort(); /* the fast check allows only what the mask keeps */
        }
        if (pass && pass != left) abort();
        if (rg_grammar_bound(s, v) < na) abort(); /* an upper bound */
        (void)rg_grammar_worth_checking(s, v);
        if (!na) break;
        int pick = steer[step] % (N_WORDS + 1), k = 0;
        while (!a[pick] && k++ <= N_WORDS) pick = (pick + 1) % (N_WORDS + 1);
        if (pick == N_WORDS || !rg_grammar_accept_token(s, v, pick)) break;
    }
    rg_grammar_state_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_grammar *g;
    rg_err err;
    size_t half = size / 2;
    if (rg_grammar_parse((const char *)data, half, NULL, &g, &err) == RG_OK) {
        rg_grammar_state *s = rg_grammar_state_new(g);
        if (s) {
            rg_grammar_accept(s, (const char *)data + half, size - half);
            rg_grammar_distance(s);
            rg_grammar_state_free(s);
        }
        walk(g, data + half, size - half);
        rg_grammar_free(g);
    }
    return 0;
}
