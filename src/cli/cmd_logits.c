/* cmd_logits.c - `ragd logits`: float32 logits of the last prompt position
 * (n_vocab values, little endian), for comparing with other engines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_llm.h"
#include "core/file.h"
#include "core/limits.h"

static void help(void) {
    printf("usage: ragd logits -m MODEL.gguf --prompt-ids \"1 2 3\" -o OUT.bin [options]\n\n"
           "Runs the prompt through the model (one batch) and writes the float32 logits of\n"
           "the last position: n_vocab little-endian values.\n\n"
           "  --prompt-ids IDS     token ids, separated by spaces or commas\n"
           "  -o, --output FILE    where to write the logits\n"
           "%s",
           rg__cli_llm_help_model);
}

int rg_cmd_logits(int argc, char **argv) {
    const char *cmd = "logits";
    if (rg_cli_wants_help(argc, argv)) {
        help();
        return RG_EXIT_OK;
    }
    rg__cli_llm o;
    rg__cli_llm_init(&o);
    const char *ids_s = NULL, *out = NULL;
    for (int i = 1; i < argc;) {
        int r = rg__cli_llm_opt(cmd, &o, argc, argv, &i, false);
        if (r > 1) return r - 1;
        if (r == 1) continue;
        const char *a = argv[i];
        if ((!strcmp(a, "--prompt-ids") || !strcmp(a, "-o") || !strcmp(a, "--output")) &&
            i + 1 >= argc)
            return rg_cli_usage(cmd, "%s needs a value", a);
        if (!strcmp(a, "--prompt-ids")) ids_s = argv[i + 1];
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = argv[i + 1];
        else return rg_cli_usage(cmd, "unknown option '%s'", a);
        i += 2;
    }
    if (!o.model) return rg_cli_usage(cmd, "-m MODEL.gguf is required");
    if (!ids_s) return rg_cli_usage(cmd, "--prompt-ids is required");
    if (!out) return rg_cli_usage(cmd, "-o OUT.bin is required");
    int32_t *ids;
    int n;
    if (rg__cli_parse_ids(cmd, ids_s, &ids, &n)) return RG_EXIT_USAGE;
    if (n == 0) {
        free(ids);
        return rg_cli_usage(cmd, "--prompt-ids is empty");
    }
    rg_llm_model *m;
    rg_llm_ctx *c;
    /* the whole prompt in one batch, as the references were made */
    if (o.n_batch == 0) o.n_batch = n < RG_LLM_MAX_BATCH ? n : RG_LLM_MAX_BATCH;
    int rc = rg__cli_llm_open(cmd, &o, n, &m, &c);
    if (rc) {
        free(ids);
        return rc;
    }
    rg_err err;
    rg_err_clear(&err);
    rc = RG_EXIT_OK;
    if (rg_llm_eval(c, 0, ids, n, &err)) {
        rc = rg_cli_fail(cmd, &err);
    } else {
        const rg_llm_hparams *hp = rg_llm_model_hparams(m);
        if (rg_file_write_atomic(out, rg_llm_logits(c, 0), (size_t)hp->n_vocab * sizeof(float),
                                 &err))
            rc = rg_cli_fail(cmd, &err);
    }
    free(ids);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
    return rc;
}
