/* cmd_chat.c - `ragd chat`: an interactive conversation in the terminal,
 * formatted with the model's chat template.
 *
 * Each turn renders the whole conversation, tokenizes it, and evaluates
 * only the tokens after the longest prefix already in the KV cache (the
 * earlier turns), so a reply costs its own tokens, not the history's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_llm.h"
#include "core/buf.h"
#include "core/limits.h"
#include "core/log.h"
#include "tok/tok.h"

static void help(void) {
    printf("usage: ragd chat -m MODEL.gguf [options]\n\n"
           "Chats with the model in the terminal: type a message and press Enter; the reply\n"
           "streams back.  The conversation is formatted with the chat template named by the\n"
           "model's tokenizer.chat_template (llama-2, llama-3, ChatML/Qwen, Mistral, Phi-3,\n"
           "Gemma; unknown templates fall back to ChatML with a warning).\n"
           "Lines '/reset' (forget the conversation) and '/quit' (or end of input) are commands.\n\n"
           "  --system TEXT        system message\n"
           "  --template NAME      force a template: chatml, llama2, llama3, mistral, phi3, gemma\n"
           "  -n, --n-predict N    longest reply in tokens (default 512)\n"
           "%s%s",
           rg__cli_llm_help_model, rg__cli_llm_help_sampling);
}

typedef struct {
    rg_llm_chat_msg *m;
    int n, cap;
} history;

static int push(history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        int nc = h->cap ? 2 * h->cap : 16;
        rg_llm_chat_msg *nm = realloc(h->m, (size_t)nc * sizeof *nm);
        if (!nm) return -1;
        h->m = nm;
        h->cap = nc;
    }
    char *c = strdup(content);
    if (!c) return -1;
    h->m[h->n].role = role;
    h->m[h->n].content = c;
    h->n++;
    return 0;
}

static void clear(history *h, int keep) {
    for (int i = keep; i < h->n; i++) free((char *)h->m[i].content);
    h->n = keep;
}

int rg_cmd_chat(int argc, char **argv) {
    const char *cmd = "chat";
    if (rg_cli_wants_help(argc, argv)) {
        help();
        return RG_EXIT_OK;
    }
    rg__cli_llm o;
    rg__cli_llm_init(&o);
    const char *system = NULL, *tmpl_name = NULL;
    int n_predict = 512;
    for (int i = 1; i < argc;) {
        int r = rg__cli_llm_opt(cmd, &o, argc, argv, &i, true);
        if (r > 1) return r - 1;
        if (r == 1) continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return rg_cli_usage(cmd, "unknown option '%s' (or it needs a value)", a);
        if (!strcmp(a, "--system")) system = v;
        else if (!strcmp(a, "--template")) tmpl_name = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            long n;
            if (rg_cli_int(v, 1, RG_MAX_CTX, &n))
                return rg_cli_usage(cmd, "%s: '%s' is not an integer in 1..%u", a, v, RG_MAX_CTX);
            n_predict = (int)n;
        } else {
            return rg_cli_usage(cmd, "unknown option '%s'", a);
        }
        i += 2;
    }
    if (!o.model) return rg_cli_usage(cmd, "-m MODEL.gguf is required");
    rg_llm_chat_family fam = RG_LLM_CHAT_CHATML;
    if (tmpl_name) {
        int f = rg_llm_chat_parse(tmpl_name);
        if (f < 0)
            return rg_cli_usage(cmd,
                                "--template: '%s' is not one of chatml, llama2, llama3, mistral, "
                                "phi3, gemma",
                                tmpl_name);
        fam = (rg_llm_chat_family)f;
    }

    rg_llm_model *m;
    rg_llm_ctx *c;
    int rc = rg__cli_llm_open(cmd, &o, 0, &m, &c);
    if (rc) return rc;
    rg__cli_text tx;
    rg__cli_text_open(cmd, m, &tx);
    if (!tx.tok) {
        fprintf(stderr, "ragd: chat: the model has no usable tokenizer\n");
        rg_llm_ctx_free(c);
        rg_llm_model_close(m);
        return RG_EXIT_RUNTIME;
    }
    if (!tmpl_name) {
        bool known;
        const char *t = rg_gguf_get_str(rg_llm_model_gguf(m), "tokenizer.chat_template", NULL);
        fam = rg_llm_chat_detect(t, &known);
        if (!known)
            fprintf(stderr, "ragd: chat: warning: %s chat template; using ChatML (--template "
                            "chooses another)\n",
                    t ? "unrecognised" : "the model has no");
    }
    int32_t stop_id = rg__cli_text_find(&tx, rg_llm_chat_stop(fam));
    const rg_llm_hparams *hp = rg_llm_model_hparams(m);
    const int n_ctx = rg_llm_ctx_params_get(c)->n_ctx;
    rg_llm_sampler *s = rg_llm_sampler_new(&o.sp, hp->n_vocab);
    int32_t *cache = malloc((size_t)n_ctx * sizeof *cache); /* tokens in the KV cache */
    history h = {0};
    rg_buf line, prompt, reply;
    rg_buf_init(&line, RG_MAX_LINE_BYTES);
    rg_buf_init(&prompt, 0);
    rg_buf_init(&reply, 0);
    int n_cache = 0, keep = 0;
    if (!s || !cache || (system && push(&h, "system", system))) {
        fprintf(stderr, "ragd: chat: out of memory\n");
        rc = RG_EXIT_RUNTIME;
        goto done;
    }
    keep = h.n;
    const int tty = isatty(0);
    if (tty)
        fprintf(stderr, "ragd chat: %s, template %s, context %d. /reset, /quit.\n",
                hp->arch_name, rg_llm_chat_name(fam), n_ctx);
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        rg_buf_reset(&line);
        int ch, eof = 0;
        while ((ch = getchar()) != '\n') {
            if (ch == EOF) {
                eof = 1;
                break;
            }
            if (rg_buf_putc(&line, (char)ch)) break;
        }
        if (eof && line.len == 0) break;
        const char *msg = line.data ? line.data : "";
        if (!strcmp(msg, "/quit")) break;
        if (!strcmp(msg, "/reset")) {
            clear(&h, keep);
            continue;
        }
        if (!*msg) continue;
        if (push(&h, "user", msg)) break;
        rg_buf_reset(&prompt);
        if (rg_llm_chat_render(fam, h.m, h.n, true, &prompt)) break;
        int32_t *ids;
        int n;
        if (rg__cli_text_encode(cmd, &tx, prompt.data, true, true, &ids, &n)) {
            rc = RG_EXIT_RUNTIME;
            break;
        }
        if (n + 1 >= n_ctx) {
            fprintf(stderr, "ragd: chat: the conversation (%d tokens) fills the context (%d); "
                            "/reset or raise -c\n",
                    n, n_ctx);
            free(ids);
            clear(&h, h.n - 1);
            continue;
        }
        /* reuse the cached prefix; keep at least one token to evaluate */
        int same = 0;
        while (same < n_cache && same < n - 1 && cache[same] == ids[same]) same++;
        rg_llm_seq_rm(c, 0, same);
        rg_err err;
        rg_err_clear(&err);
        if (rg_llm_eval(c, 0, ids + same, n - same, &err)) {
            free(ids);
            rc = rg_cli_fail(cmd, &err);
            break;
        }
        memcpy(cache, ids, (size_t)n * sizeof *ids);
        n_cache = n;
        free(ids);
        rg_llm_sampler_reset(s);
        rg_buf_reset(&reply);
        rg__cli_detok dt;
        rg__cli_detok_init(&dt);
        for (int g = 0; g < n_predict && n_cache < n_ctx; g++) {
            int32_t t = rg_llm_sample(s, rg_llm_logits(c, 0));
            rg_llm_sampler_accept(s, t);
            if (t == stop_id || rg__cli_text_is_eog(&tx, t)) break;
            size_t plen = 0;
            const char *piece = rg_tok_is_control(tx.tok, t) ? "" : rg_tok_piece(tx.tok, t, &plen);
            if (*piece) rg_buf_append(&reply, piece, plen);
            rg__cli_detok_put(&tx, &dt, t, stdout);
            fflush(stdout);
            if (rg_llm_eval(c, 0, &t, 1, &err)) {
                rc = rg_cli_fail(cmd, &err);
                break;
            }
            cache[n_cache++] = t;
        }
        rg__cli_detok_flush(&dt, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        if (rc) break;
        if (push(&h, "assistant", reply.data ? reply.data : "")) break;
    }
done:
    clear(&h, 0);
    free(h.m);
    rg_buf_free(&line);
    rg_buf_free(&prompt);
    rg_buf_free(&reply);
    free(cache);
    rg_llm_sampler_free(s);
    rg__cli_text_close(&tx);
    rg_llm_ctx_free(c);
    rg_llm_model_close(m);
    return rc;
}
