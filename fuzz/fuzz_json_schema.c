/* fuzz_json_schema.c - JSON Schema -> GBNF -> grammar, then the first
 * steps of a walk through it (masks and checks over a small vocabulary
 * must agree, memoised or not). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/grammar_int.h"

static const char *const WORDS[] = {"{", "}", "\"", "\"a\"", ":", ",", " ", "[", "]", "1", "0", "-", ".",
                                    "e", "true", "false", "null", "a", "\\\"", "\xc3\xa9"};
#define N_WORDS (int)(sizeof WORDS / sizeof WORDS[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rg_grammar_vocab *v;
    if (!v) {
        v = rg_grammar_vocab_new((const char *const *)WORDS, NULL, N_WORDS, NULL, 0);
        if (!v) return 0;
    }
    rg_grammar *g;
    rg_err err;
    if (rg_grammar_from_json_schema((const char *)data, size, &g, &err) != RG_OK) return 0;
    rg_grammar_state *s = rg_grammar_state_new(g);
    uint8_t a[N_WORDS], b[N_WORDS];
    for (size_t step = 0; s && step < 8; step++) {
        int na = rg_grammar_mask(s, v, a), nb = rg__grammar_mask_direct(s, v, b);
        if (na != nb || memcmp(a, b, sizeof a)) abort();
        int pick = -1;
        for (int i = 0; i < N_WORDS; i++) {
            if ((int)rg_grammar_allows(s, v, i) != a[i]) abort();
            if (a[i] && (pick < 0 || (size && data[step % size] % N_WORDS == (unsigned)i))) pick = i;
        }
        if (pick < 0 || !rg_grammar_accept_token(s, v, pick)) break;
    }
    rg_grammar_state_free(s);
    rg_grammar_free(g);
    return 0;
}
