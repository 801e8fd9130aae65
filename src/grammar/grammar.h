/* grammar.h - constrained decoding: GBNF grammars (llama.cpp's format) and
 * JSON Schema compiled to them, a pushdown recogniser over code points,
 * and per-step token masks computed over a byte trie of the vocabulary.
 *
 * The recogniser keeps a set of stacks of grammar positions (each stack
 * one way the text so far can continue); a code point is accepted when at
 * least one stack accepts it.  A token is allowed when all of its bytes
 * are.  The trie shares the work of tokens with common prefixes. */
#ifndef RG_GRAMMAR_H
#define RG_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"

typedef struct rg_grammar rg_grammar;
typedef struct rg_grammar_state rg_grammar_state;
typedef struct rg_grammar_vocab rg_grammar_vocab;

/* Parses GBNF text; `root` names the start rule ("root" when NULL).
 * Errors name the line and column. *out owned by the caller. */
rg_status rg_grammar_parse(const char *text, size_t len, const char *root, rg_grammar **out,
                           rg_err *err);
/* JSON Schema (object, properties, required, type, enum, const,
 * array/items, minItems/maxItems, string/number/integer/boolean/null,
 * nested, anyOf/oneOf, additionalProperties false by default) -> GBNF
 * appended to out. An empty schema {} means any JSON value. */
rg_status rg_json_schema_to_gbnf(const char *schema, size_t len, rg_buf *out, rg_err *err);
/* Pieces for composing grammars (tool calls: one schema per function):
 * rg_json_schema_rules appends the rules of one schema, each name
 * starting with `prefix` ([a-z0-9-], 1-16 bytes) and the schema's top
 * rule named exactly `prefix`; they refer to the shared JSON rules
 * (value, object, string, number, integer, boolean, null, ws, char) that
 * rg_json_schema_common_gbnf appends, once per grammar. */
rg_status rg_json_schema_rules(const char *schema, size_t len, const char *prefix, rg_buf *out,
                               rg_err *err);
void rg_json_schema_common_gbnf(rg_buf *out);
/* Convenience: schema -> GBNF -> grammar. */
rg_status rg_grammar_from_json_schema(const char *schema, size_t len, rg_grammar **out, rg_err *err);
/* A grammar for any JSON object ({"type": "json_object"}). */
rg_status rg_grammar_json_object(rg_grammar **out, rg_err *err);
void rg_grammar_free(rg_grammar *g);

/* Recogniser state at the start of the root rule.  NULL on OOM. */
rg_grammar_state *rg_grammar_state_new(const rg_grammar *g);
rg_grammar_state *rg_grammar_state_clone(const rg_grammar_state *s);
void rg_grammar_state_free(rg_grammar_state *s);
/* Feeds bytes (UTF-8, possibly ending mid code point).  Returns false and
 * leaves the state unchanged when they cannot continue the grammar. */
bool rg_grammar_accept(rg_grammar_state *s, const char *bytes, size_t n);
/* True when the text so far is a complete sentence of the grammar. */
bool rg_grammar_done(const rg_grammar_state *s);
/* True when nothing more can be accepted (complete and no continuation). */
bool rg_grammar_finished(const rg_grammar_state *s);
/* Fewest tokens still needed to complete (0 when done): code points,
 * plus the missing bytes of a code point in progress. */
int rg_grammar_distance(const rg_grammar_state *s);

/* The vocabulary as raw bytes per token id; pieces[i] NULL (or special[i])
 * for tokens that must never be produced under a grammar (control
 * tokens); eog lists end-of-generation ids, allowed exactly when the
 * grammar is done.  Copies what it needs. */
rg_grammar_vocab *rg_grammar_vocab_new(const char *const *pieces, const size_t *lens, int n_vocab,
                                       const int32_t *eog, int n_eog);
void rg_grammar_vocab_free(rg_grammar_vocab *v);
/* The vocabulary of a model's tokenizer: each token's bytes
 * (rg_tok_piece); control/unknown tokens never allowed, end-of-generation
 * tokens allowed when the grammar is done.  NULL on OOM. */
struct rg_tok;
rg_grammar_vocab *rg_grammar_vocab_from_tok(const struct rg_tok *t);
/* allowed[i] = 1 when token i may come next (n_vocab bytes). Returns the
 * number allowed. Thread-compatible: one call per state at a time. */
int rg_grammar_mask(const rg_grammar_state *s, const rg_grammar_vocab *v, uint8_t *allowed);
/* Whether token id may come next (cheap check for the sampled token).
 * Uses the state's own scratch: one call per state at a time. */
bool rg_grammar_allows(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id);
/* Fewest code points to complete after token id, or -1 when id is not
 * allowed.  A sampler with a token budget uses it to never pick a token
 * it could not finish after (every token carries at least one code
 * point, so distance <= remaining tokens keeps the output complete). */
int rg_grammar_distance_after(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id);
/* The predicate rg_grammar_constrain applies to each token: allowed by
 * the grammar and, when `budget` (tokens left, <= 0 for no limit) runs
 * close to the distance to a complete document, leaving a way to finish
 * within it.  rg_grammar_constrain keeps exactly these tokens, except
 * when none passes (see there).  Same threading rule as the mask. */
bool rg_grammar_allows_within(const rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id, int budget);
/* At most how many tokens may come next: the vocabulary's tokens whose
 * first two bytes the grammar takes (counted from the trie, memoised per
 * state).  Uses the state's scratch like rg_grammar_allows. */
int rg_grammar_bound(const rg_grammar_state *s, const rg_grammar_vocab *v);
/* Whether checking candidates one by one can settle a draw here: false
 * when so few tokens may come next (under 1/64 of the vocabulary, or
 * under 64) that a sampler would check many in vain (after "[" a JSON
 * grammar takes little but tokens starting with a quote); then the full
 * mask, cheap in such states, is the way. */
bool rg_grammar_worth_checking(const rg_grammar_state *s, const rg_grammar_vocab *v);
/* How many candidates a sampler should check one by one with
 * rg_grammar_allows_within (rg_llm_sample_allowed) before it falls back
 * to the full mask: a check costs about a microsecond, a mask from tens
 * of microseconds (few tokens allowed: the trie is pruned near its root)
 * to tens of milliseconds (most of a large vocabulary allowed). */
#define RG_GRAMMAR_MAX_CHECKS 2048
/* Constrains logits (n_vocab) for the next token: entries the grammar
 * does not allow become -INFINITY, and when `budget` (tokens left, <= 0
 * for no limit) runs close to the distance to a complete document, so do
 * tokens after which it could not be finished in time.  mask is caller
 * scratch of n_vocab bytes.  Returns the number of tokens left allowed
 * (0: the grammar is stuck; the caller should stop). */
int rg_grammar_constrain(const rg_grammar_state *s, const rg_grammar_vocab *v, float *logits,
                         int budget, uint8_t *mask);
/* Feeds token id (an eog token is accepted when done). */
bool rg_grammar_accept_token(rg_grammar_state *s, const rg_grammar_vocab *v, int32_t id);

#endif
