/* fuzz_json_schema.c - JSON Schema -> GBNF -> grammar. */
#include <stddef.h>
#include <stdint.h>

#include "grammar/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_grammar *g;
    rg_err err;
    if (rg_grammar_from_json_schema((const char *)data, size, &g, &err) == RG_OK) rg_grammar_free(g);
    return 0;
}
