/* fuzz_gbnf.c - the GBNF parser, then the recogniser over the input's
 * second half. */
#include <stddef.h>
#include <stdint.h>

#include "grammar/grammar.h"

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
        rg_grammar_free(g);
    }
    return 0;
}
