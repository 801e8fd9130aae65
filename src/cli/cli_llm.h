/* cli_llm.h - options and helpers shared by the language-model commands
 * (run, logits, chat, bench): model/context flags, sampling flags, token
 * id lists. */
#ifndef RG_CLI_LLM_H
#define RG_CLI_LLM_H

#include <stdbool.h>
#include <stdint.h>

#include "llm/llm.h"

typedef struct rg__cli_llm {
    const char *model;      /* -m */
    int n_threads;          /* -t (0 = all CPUs) */
    int n_ctx;              /* -c (0 = model's, capped) */
    int n_batch;            /* -b */
    rg_dtype kv_type;       /* --kv f16|f32 */
    rg_llm_sampler_params sp;
} rg__cli_llm;

void rg__cli_llm_init(rg__cli_llm *o);
/* Consumes argv[*i] (and its value) when it is a common model/sampling
 * flag: returns 1 (consumed, *i advanced past it), 0 (not ours), or an
 * exit code + 1 on a usage error (already printed): callers do
 * `int r = rg__cli_llm_opt(...); if (r > 1) return r - 1;`. */
int rg__cli_llm_opt(const char *cmd, rg__cli_llm *o, int argc, char **argv, int *i,
                    bool sampling);
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

#endif
