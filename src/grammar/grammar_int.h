/* grammar_int.h - internals of the grammar module shared with its tests:
 * the direct (unmemoised) mask walk and token check, the reference the
 * memoised transitions (grammar.c, "dfa") are tested against. */
#ifndef RG_GRAMMAR_INT_H
#define RG_GRAMMAR_INT_H

#include "grammar/grammar.h"

/* rg_grammar_mask computed step by step over the trie, without the
 * state's transition memo. */
int rg__grammar_mask_direct(const rg_grammar_state *s, const rg_grammar_vocab *v, uint8_t *allowed);
/* rg_grammar_distance_after without the memo (-1: not allowed). */
int rg__grammar_distance_after_direct(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id);

#endif
