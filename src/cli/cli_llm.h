/* cli_llm.h - options and helpers shared by the language-model commands
 * (run, logits, chat, bench): model/context flags, sampling flags, token
 * id lists. */
#ifndef RG_CLI_LLM_H
#define RG_CLI_LLM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "llm/llm.h"

typedef struct rg__cli_llm {
    const char *model;      /* -m */
    int n_threads;          /* -t (0 = all CPUs) */
    int n_ctx;              /* -c (0 = model's, capped) */
    int n_batch;            /* -b */
    rg_dtype kv_type;       /* --kv f16|f32|q8_0 */
    rg_llm_sampler_params sp;
} rg__cli_llm;

void rg__cli_llm_init(rg__cli_llm *o);
/* Consumes argv[*i] (and its value) when it is a common model/sampling
 * flag: returns 1 (consumed, *i advanced past it), 0 (not ours), or an
 * exit code + 1 on a usage error (already printed): callers do
 * `int r = rg__cli_llm_opt(...); if (r > 1) return r - 1;`. */
int rg__cli_llm_opt(const char *cmd, rg__cli_llm *o, int argc, char **argv, int *i,
                    bool sampling);
/* Parses a KV cache type name (f16, f32, q8_0); 0 on success. */
int rg__cli_kv_type(const char *name, rg_dtype *out);
/* Help text of the common flags. */
extern const char rg__cli_llm_help_model[];
extern const char rg__cli_llm_help_sampling[];

/* Parses "1 2 3" (spaces/commas) into a malloc'd array; -1 on a bad id
 * (message names the offending item). */
int rg__cli_parse_ids(const char *cmd, const char *s, int32_t **ids, int *n);

/* Opens the model and a context sized per o (n_seq 1).  Prints the error
 * and returns non-zero on failure. */
int rg__cli_llm_open(const char *cmd, const rg__cli_llm *o, int n_ctx_min, rg_llm_model **m,
                     rg_llm_ctx **c);

/* The model's tokenizer for text in and out.  tok is NULL when the model
 * has none usable (ids still work); eos/eot come from the GGUF keys. */
typedef struct rg__cli_text {
    void *tok;     /* rg_tok * */
    int32_t eos, eot; /* -1 when absent */
} rg__cli_text;
/* Returns 0, or an exit code after printing the error. */
int rg__cli_text_open(const char *cmd, const rg_llm_model *m, rg__cli_text *tx);
void rg__cli_text_close(rg__cli_text *tx);
/* Tokenizes text (special tokens such as <|im_start|> parsed when
 * special; BOS added when the model asks for it and add_bos).  *ids is
 * malloc'd.  Returns 0 or an exit code. */
int rg__cli_text_encode(const char *cmd, const rg__cli_text *tx, const char *text, bool add_bos,
                        bool special, int32_t **ids, int *n);
/* End of generation: EOS, EOT or a token the vocabulary marks as such. */
bool rg__cli_text_is_eog(const rg__cli_text *tx, int32_t t);
/* Id of a token's exact text (e.g. "<|im_end|>"), or -1. */
int32_t rg__cli_text_find(const rg__cli_text *tx, const char *piece);

/* Streaming detokenizer: holds back incomplete UTF-8 sequences so
 * byte-level tokens print as whole characters. */
typedef struct rg__cli_detok {
    char pend[8];
    int n;
} rg__cli_detok;
void rg__cli_detok_init(rg__cli_detok *d);
void rg__cli_detok_put(const rg__cli_text *tx, rg__cli_detok *d, int32_t t, FILE *f);
void rg__cli_detok_flush(rg__cli_detok *d, FILE *f);

#endif
