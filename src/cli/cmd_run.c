/* cmd_run.c - `ragd run`: generate a continuation of a prompt and stream
 * it to stdout (text, or token ids with --ids). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_llm.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/limits.h"
#include "grammar/grammar.h"

static void help(void) {
    printf("usage: ragd run -m MODEL.gguf (-p TEXT | --prompt-ids \"1 2 3\") [options]\n\n"
           "Generates a continuation of the prompt and streams it to stdout.\n\n"
           "  -p, --prompt TEXT    prompt text (tokenized with the model's tokenizer, BOS added\n"
           "                       when the model asks for it)\n"
           "  --prompt-ids IDS     prompt as token ids (spaces or commas), used as given\n"
           "  -n, --n-predict N    tokens to generate (default 128; stops early at end of text)\n"
           "  --ids                print generated token ids (one line) instead of text\n"
           "  --ignore-eos         do not stop at the end-of-text token\n"
           "  --stats              print prompt and generation speed to stderr\n"
           "  --grammar FILE       constrain the output to a GBNF grammar (llama.cpp's format)\n"
           "  --json-schema S      constrain the output to a JSON Schema (a file, or inline JSON)\n"
           "  --json               constrain the output to a JSON object\n"
           "%s%s",
           rg__cli_llm_help_model, rg__cli_llm_help_sampling);
}

typedef struct {
    const rg_grammar_state *st;
    const rg_grammar_vocab *v;
    int budget;
} run_allow;

static int run_allows(void *ud, int32_t id) {
    const run_allow *a = ud;
    return rg_grammar_allows_within(a->st, a->v, id, a->budget);
}

int rg_cmd_run(int argc, char **argv) {
    const char *cmd = "run";
    if (rg_cli_wants_help(argc, argv)) {
        help();
        return RG_EXIT_OK;
    }
    rg__cli_llm o;
    rg__cli_llm_init(&o);
    const char *ids_s = NULL, *text = NULL;
    int n_predict = 128, print_ids = 0, ignore_eos = 0, stats = 0, any_json = 0;
    const char *grammar_file = NULL, *schema_arg = NULL;
    for (int i = 1; i < argc;) {
        int r = rg__cli_llm_opt(cmd, &o, argc, argv, &i, true);
        if (r > 1) return r - 1;
        if (r == 1) continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ids")) print_ids = 1;
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = 1;
        else if (!strcmp(a, "--stats")) stats = 1;
        else if (!strcmp(a, "--json")) any_json = 1;
        else if ((!strcmp(a, "--grammar") || !strcmp(a, "--json-schema")) && v) {
            if (a[2] == 'g') grammar_file = v;
            else schema_arg = v;
            i += 2;
            continue;
        }
        else if (!strcmp(a, "--prompt-ids") || !strcmp(a, "-p") || !strcmp(a, "--prompt") ||
                 !strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!v) return rg_cli_usage(cmd, "%s needs a value", a);
            if (!strcmp(a, "--prompt-ids")) ids_s = v;
            else if (a[1] == 'p' || !strcmp(a, "--prompt")) text = v;
            else {
                long n;
                if (rg_cli_int(v, 0, RG_MAX_CTX, &n))
                    return rg_cli_usage(cmd, "%s: '%s' is not an integer in 0..%u", a, v,
                                        RG_MAX_CTX);
                n_predict = (int)n;
            }
            i++;
        } else {
            return rg_cli_usage(cmd, "unknown option '%s'", a);
        }
        i++;
    }
    if (!o.model) return rg_cli_usage(cmd, "-m MODEL.gguf is required");
    if (!ids_s == !text) return rg_cli_usage(cmd, "give one of -p TEXT or --prompt-ids IDS");

    rg_llm_model *m;
    rg_llm_ctx *c;
    int rc = rg__cli_llm_open(cmd, &o, 0, &m, &c);
    if (rc) return rc;
    rg__cli_text tx;
    rc = rg__cli_text_open(cmd, m, &tx);
    if (rc) {
        rg_llm_ctx_free(c);
        rg_llm_model_close(m);
        return rc;
    }
    if (!tx.tok && !print_ids) {
        fprintf(stderr, "ragd: run: the model has no usable tokenizer: printing ids (--ids)\n");
        print_ids = 1;
    }
    rg_grammar *gram = NULL;
    rg_grammar_state *gst = NULL;
    rg_grammar_vocab *gvoc = NULL;
    uint8_t *gmask = NULL;
    if (!rc && (grammar_file || schema_arg || any_json)) {
        rg_err gerr;
        rg_status grc = RG_OK;
        char *text_g = NULL;
        size_t glen = 0;
        if (grammar_file) {
            grc = rg_file_read(grammar_file, 1 << 22, &text_g, &glen, &gerr);
            if (!grc) grc = rg_grammar_parse(text_g, glen, NULL, &gram, &gerr);
        } else if (schema_arg) {
            if (schema_arg[0] == '{' || schema_arg[0] == '[') grc = rg_grammar_from_json_schema(schema_arg, strlen(schema_arg), &gram, &gerr);
            else {
                grc = rg_file_read(schema_arg, 1 << 22, &text_g, &glen, &gerr);
                if (!grc) grc = rg_grammar_from_json_schema(text_g, glen, &gram, &gerr);
            }
        } else {
            grc = rg_grammar_json_object(&gram, &gerr);
        }
        free(text_g);
        if (grc) rc = rg_cli_fail(cmd, &gerr);
        else if (!tx.tok) rc = rg_cli_usage(cmd, "a grammar needs the model's tokenizer");
        else {
            gst = rg_grammar_state_new(gram);
            gvoc = rg_grammar_vocab_from_tok(tx.tok);
            gmask = malloc((size_t)rg_llm_model_hparams(m)->n_vocab);
            if (!gst || !gvoc || !gmask) {
                rg_failf(&gerr, RG_NOMEM, "out of memory");
                rc = rg_cli_fail(cmd, &gerr);
            }
        }
    }
    int32_t *prompt = NULL;
    int n_prompt = 0;
    if (ids_s) {
        if (rg__cli_parse_ids(cmd, ids_s, &prompt, &n_prompt)) rc = RG_EXIT_USAGE;
    } else {
        rc = rg__cli_text_encode(cmd, &tx, text, true, false, &prompt, &n_prompt);
    }
    const rg_llm_hparams *hp = rg_llm_model_hparams(m);
    rg_err err;
    rg_err_clear(&err);
    if (!rc && n_prompt == 0) rc = rg_cli_usage(cmd, "the prompt is empty");
    for (int i = 0; !rc && i < n_prompt; i++)
        if (prompt[i] >= hp->n_vocab)
            rc = rg_cli_usage(cmd, "prompt token %d: id %d is not below n_vocab %d", i, prompt[i],
                              hp->n_vocab);
    const int n_ctx = rg_llm_ctx_params_get(c)->n_ctx;
    if (!rc && n_prompt >= n_ctx)
        rc = rg_cli_usage(cmd, "the prompt (%d tokens) does not fit the context (%d); raise -c",
                          n_prompt, n_ctx);
    rg_llm_sampler *s = rc ? NULL : rg_llm_sampler_new(&o.sp, hp->n_vocab);
    if (!rc && !s) {
        rg_failf(&err, RG_NOMEM, "out of memory");
        rc = rg_cli_fail(cmd, &err);
    }
    if (!rc) {
        for (int i = 0; i < n_prompt; i++) rg_llm_sampler_accept(s, prompt[i]);
        uint64_t t0 = rg_now_ns();
        if (rg_llm_eval(c, 0, prompt, n_prompt, &err)) rc = rg_cli_fail(cmd, &err);
        uint64_t t1 = rg_now_ns();
        int n_gen = 0;
        rg__cli_detok dt;
        rg__cli_detok_init(&dt);
        while (!rc && n_gen < n_predict) {
            float *lg = rg_llm_logits(c, 0);
            run_allow au = {gst, gvoc, n_predict - n_gen};
            /* the best candidates checked in order; the full mask only when
             * that does not settle the draw (same distribution either way) */
            int32_t t = gst && rg_grammar_worth_checking(gst, gvoc)
                            ? rg_llm_sample_allowed(s, lg, run_allows, &au, RG_GRAMMAR_MAX_CHECKS)
                            : -1;
            if (t < 0) {
                if (gst && rg_grammar_constrain(gst, gvoc, lg, n_predict - n_gen, gmask) == 0) break;
                t = rg_llm_sample(s, lg);
            }
            rg_llm_sampler_accept(s, t);
            if (gst) {
                if (rg__cli_text_is_eog(&tx, t)) break; /* allowed only when the document is complete */
                rg_grammar_accept_token(gst, gvoc, t);
            }
            if (!ignore_eos && rg__cli_text_is_eog(&tx, t)) break;
            if (print_ids) printf(n_gen ? " %d" : "%d", t);
            else rg__cli_detok_put(&tx, &dt, t, stdout);
            fflush(stdout);
            if (++n_gen == n_predict) break;
            if (rg_llm_seq_len(c, 0) >= n_ctx) {
                fprintf(stderr, "\nragd: run: context full (%d tokens)\n", n_ctx);
                break;
            }
            if (rg_llm_eval(c, 0, &t, 1, &err)) rc = rg_cli_fail(cmd, &err);
        }
        if (!print_ids) rg__cli_detok_flush(&dt, stdout);
        printf("\n");
        uint64_t t2 = rg_now_ns();
        if (stats)
            fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f t/s); generated: %d tokens in %.3f s (%.1f t/s)\n",
                    n_prompt, (t1 - t0) / 1e9, n_prompt / ((t1 - t0) / 1e9 + 1e-12), n_gen,
                    (t2 - t1) / 1e9, n_gen / ((t2 - t1) / 1e9 + 1e-12));
    }
    rg_llm_sampler_free(s);
    rg_grammar_state_free(gst);
    rg_grammar_vocab_free(gvoc);
    rg_grammar_free(gram);
    free(gmask);
    free(prompt);
    rg__cli_text_close(&tx);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
    return rc;
}
