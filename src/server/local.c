/* local.c - generation with the local GGUF model (-m): chat template,
 * tokenizer, prefill + decode loop with the sampler, one sequence.
 *
 * One context and one KV cache: generations take turns on a mutex (the
 * workers queue behind it; /metrics shows the queue).  The loop checks
 * the job between tokens, so a client that goes away frees the model
 * after at most one more token. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "llm/llm.h"
#include "server/server_int.h"
#include "tok/tok.h"

struct rg__local {
    rg_llm_model *m;
    rg_llm_ctx *c;
    rg_tok *tok;
    rg_llm_chat_family fam;
    int32_t stop_id;
    int n_ctx;
    pthread_mutex_t mu;
};

rg_status rg__local_open(const char *path, int ctx_size, rg__local **out, rg_err *err) {
    *out = NULL;
    rg__local *L = calloc(1, sizeof *L);
    if (!L) return rg_failf(err, RG_NOMEM, "out of memory");
    pthread_mutex_init(&L->mu, NULL);
    rg_status rc = rg_llm_model_open(path, &L->m, err);
    if (rc == RG_OK) {
        rg_llm_ctx_params p;
        rg_llm_ctx_params_init(&p);
        p.n_ctx = ctx_size;
        p.n_threads = 0;
        rc = rg_llm_ctx_new(L->m, &p, &L->c, err);
    }
    if (rc == RG_OK) rc = rg_tok_from_gguf(rg_llm_model_gguf(L->m), &L->tok, err);
    if (rc != RG_OK) {
        rg__local_close(L);
        return rg_err_prefix(err, "-m %s", path);
    }
    bool known;
    const char *t = rg_gguf_get_str(rg_llm_model_gguf(L->m), "tokenizer.chat_template", NULL);
    L->fam = rg_llm_chat_detect(t, &known);
    if (!known)
        rg_warn("server: %s: %s chat template; using ChatML", path,
                t ? "unrecognised" : "no");
    L->stop_id = -1;
    const char *stop = rg_llm_chat_stop(L->fam);
    for (int32_t i = 0; stop && i < rg_tok_n_vocab(L->tok); i++)
        if (!strcmp(rg_tok_text(L->tok, i), stop)) {
            L->stop_id = i;
            break;
        }
    L->n_ctx = rg_llm_ctx_params_get(L->c)->n_ctx;
    *out = L;
    return RG_OK;
}

void rg__local_close(rg__local *L) {
    if (!L) return;
    if (L->tok) rg_tok_free(L->tok);
    if (L->c) rg_llm_ctx_free(L->c);
    if (L->m) rg_llm_model_close(L->m);
    pthread_mutex_destroy(&L->mu);
    free(L);
}

rg_status rg__local_render(rg__local *L, const rg__msg *msgs, int n, const char *system_extra,
                           rg_buf *out, rg_err *err) {
    rg_llm_chat_msg *cm = calloc((size_t)n + 1, sizeof *cm);
    if (!cm) return rg_failf(err, RG_NOMEM, "out of memory");
    int k = 0;
    if (system_extra) cm[k++] = (rg_llm_chat_msg){"system", system_extra};
    for (int i = 0; i < n; i++) {
        const char *role = !strcmp(msgs[i].role, "tool") ? "user" : msgs[i].role;
        cm[k++] = (rg_llm_chat_msg){role, msgs[i].content};
    }
    rg_status rc = rg_llm_chat_render(L->fam, cm, k, true, out);
    free(cm);
    if (rc != RG_OK) return rg_failf(err, rc, "chat template: cannot render the conversation");
    return RG_OK;
}

rg_status rg__local_generate(rg__local *L, const char *prompt, const rg__local_params *p,
                             rg__piece_fn fn, void *ud, int *n_in, int *n_out, char finish[16],
                             rg_err *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    *n_in = *n_out = 0;
    snprintf(finish, 16, "stop");
    rg_status rc = rg_tok_encode_ex(L->tok, prompt, strlen(prompt),
                                    RG_TOK_ADD_SPECIAL | RG_TOK_PARSE_SPECIAL, &ids, &n, err);
    if (rc != RG_OK) return rc;
    if (n == 0 || (int)n >= L->n_ctx) {
        free(ids);
        return rg_failf(err, RG_LIMIT, "prompt is %zu tokens; the context holds %d", n, L->n_ctx);
    }
    *n_in = (int)n;
    int max_new = p->max_tokens;
    if ((int)n + max_new > L->n_ctx) max_new = L->n_ctx - (int)n;
    rg_llm_sampler_params sp;
    rg_llm_sampler_params_init(&sp);
    sp.temp = (float)p->temperature;
    sp.top_p = (float)p->top_p;
    sp.seed = p->has_seed ? p->seed : rg_now_ns();
    rg_llm_sampler *s = rg_llm_sampler_new(&sp, rg_llm_model_hparams(L->m)->n_vocab);
    if (!s) {
        free(ids);
        return rg_failf(err, RG_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&L->mu);
    rg_llm_seq_rm(L->c, 0, 0);
    for (size_t i = 0; i < n; i++) rg_llm_sampler_accept(s, ids[i]);
    rc = rg_llm_eval(L->c, 0, ids, (int)n, err);
    int produced = 0;
    while (rc == RG_OK) {
        if (produced >= max_new) {
            snprintf(finish, 16, "length");
            break;
        }
        int32_t t = rg_llm_sample(s, rg_llm_logits(L->c, 0));
        rg_llm_sampler_accept(s, t);
        if (t == L->stop_id || rg_tok_is_eog(L->tok, t)) break;
        produced++;
        rg_tok_type ty = rg_tok_type_of(L->tok, t);
        if (ty != RG_TOKTYPE_CONTROL && ty != RG_TOKTYPE_UNKNOWN) {
            size_t pl;
            const char *piece = rg_tok_piece(L->tok, t, &pl);
            if (piece && pl && fn(ud, piece, pl)) break;
        } else if (fn(ud, "", 0)) {
            break;
        }
        rc = rg_llm_eval(L->c, 0, &t, 1, err);
    }
    pthread_mutex_unlock(&L->mu);
    *n_out = produced;
    rg_llm_sampler_free(s);
    free(ids);
    return rc;
}

const char *rg__local_name(rg__local *L) { return rg_llm_model_hparams(L->m)->arch_name; }
