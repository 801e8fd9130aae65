/* local.c - generation with the local GGUF model (-m): chat template,
 * tokenizer, and the continuous-batching scheduler (sched/).
 *
 * Every request becomes a scheduler job: all running generations share
 * one engine thread and one paged KV cache, and each engine step runs
 * them through the weights together.  The request's worker thread waits
 * for its tokens and hands them to the piece callback; when the callback
 * says stop (client gone, stop string) the job is cancelled and its KV
 * blocks return to the pool at the next step. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "grammar/grammar.h"
#include "llm/llm.h"
#include "sched/sched.h"
#include "server/server_int.h"
#include "tok/tok.h"

struct rg__local {
    rg_llm_model *m;
    rg_sched *sched;
    rg_tok *tok;
    rg_llm_chat_family fam;
    int32_t stop_id;
    int n_ctx;
    /* the vocabulary as the grammar sees it: built on first use, then
     * read-only (shared by every constrained request) */
    pthread_mutex_t gmu;
    rg_grammar_vocab *gvoc;
};

rg_status rg__local_open(const char *path, int ctx_size, int max_batch, int kv_tokens, int n_threads,
                         const char *kv_type, rg__local **out, rg_err *err) {
    *out = NULL;
    int kvt = kv_type ? rg_dtype_parse(kv_type) : RG_DTYPE_F16;
    if (kvt != RG_DTYPE_F16 && kvt != RG_DTYPE_F32 && kvt != RG_DTYPE_Q8_0)
        return rg_failf(err, RG_INVALID, "KV cache type '%s' is not f16, f32 or q8_0", kv_type);
    rg__local *L = calloc(1, sizeof *L);
    if (!L) return rg_failf(err, RG_NOMEM, "out of memory");
    pthread_mutex_init(&L->gmu, NULL);
    rg_status rc = rg_llm_model_open(path, &L->m, err);
    if (rc == RG_OK) {
        const rg_llm_hparams *hp = rg_llm_model_hparams(L->m);
        rg_sched_params p;
        rg_sched_params_init(&p);
        if (max_batch > 0) p.max_batch = max_batch;
        /* per-sequence context: -c, else the model's (capped at 4096) */
        L->n_ctx = ctx_size > 0 ? ctx_size : (hp->n_ctx_train > 0 && hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
        /* the shared pool: room for a quarter of the batch at full context */
        p.n_ctx = L->n_ctx * (p.max_batch >= 4 ? p.max_batch / 4 : 1);
        if (ctx_size > 0) p.seq_ctx = ctx_size; /* -c wins over the training context */
        const char *kv = getenv("RAGD_KV_TOKENS");
        if (kv && atoi(kv) > 0) p.n_ctx = atoi(kv);
        if (kv_tokens > 0) p.n_ctx = kv_tokens;
        /* prompt tokens per engine step (docs/sched.md): alone, and while
         * other sequences decode (0 / unset: automatic) */
        const char *ch = getenv("RAGD_PREFILL_CHUNK"), *dch = getenv("RAGD_DECODE_CHUNK");
        if (ch && atoi(ch) > 0 && atoi(ch) <= 4096) p.chunk = atoi(ch);
        if (dch && atoi(dch) > 0 && atoi(dch) <= 4096) p.decode_chunk = atoi(dch);
        p.n_threads = n_threads;
        p.kv_type = (rg_dtype)kvt;
        rc = rg_sched_new(L->m, &p, &L->sched, err);
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
    *out = L;
    return RG_OK;
}

void rg__local_close(rg__local *L) {
    if (!L) return;
    if (L->sched) rg_sched_free(L->sched);
    if (L->tok) rg_tok_free(L->tok);
    if (L->m) rg_llm_model_close(L->m);
    rg_grammar_vocab_free(L->gvoc);
    pthread_mutex_destroy(&L->gmu);
    free(L);
}

void rg__local_metrics(rg__local *L, struct rg_sched_metrics *out) { rg_sched_metrics_get(L->sched, out); }

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

/* The grammar's view of the vocabulary: every token's bytes, control
 * tokens never, end-of-generation tokens (and the template's end-of-turn
 * token) once the grammar is done.  Built once, on first use. */
static const rg_grammar_vocab *local_vocab(rg__local *L) {
    pthread_mutex_lock(&L->gmu);
    if (!L->gvoc) {
        int n = rg_tok_n_vocab(L->tok);
        const char **pieces = calloc((size_t)n, sizeof *pieces);
        size_t *lens = calloc((size_t)n, sizeof *lens);
        int32_t *eog = calloc((size_t)n + 1, sizeof *eog);
        if (pieces && lens && eog) {
            int ne = 0;
            for (int32_t i = 0; i < n; i++) {
                if (rg_tok_is_eog(L->tok, i) || i == L->stop_id) {
                    eog[ne++] = i;
                    continue;
                }
                if (rg_tok_is_control(L->tok, i)) continue;
                pieces[i] = rg_tok_piece(L->tok, i, &lens[i]);
            }
            L->gvoc = rg_grammar_vocab_new(pieces, lens, n, eog, ne);
        }
        free(pieces);
        free(lens);
        free(eog);
    }
    pthread_mutex_unlock(&L->gmu);
    return L->gvoc;
}

/* One request's mailbox between the engine thread and its worker. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t *q;
    int n, cap, done;
    int32_t stop_id;
    rg_sched_result res;
    /* constrained decoding (engine thread only) */
    rg_grammar_state *gst;
    const rg_grammar_vocab *gvoc;
    uint8_t *gmask; /* (n_vocab,) */
    int max_new, n_gen, gstuck;
    _Atomic uint64_t n_masks; /* full masks computed (candidate checks did not settle it) */
} mailbox;

/* Tokens still allowed before max_tokens (the grammar must finish within). */
static int mb_budget(const mailbox *b) { return b->max_new - b->n_gen; }

static void mb_logits(void *ud, float *logits, int n_vocab) {
    mailbox *b = ud;
    (void)n_vocab;
    atomic_fetch_add(&b->n_masks, 1);
    if (rg_grammar_constrain(b->gst, b->gvoc, logits, mb_budget(b), b->gmask) == 0) b->gstuck = 1;
}

/* One candidate passes when the grammar takes it and, near the end of
 * the budget, it still leaves a way to finish: the same rule as the full
 * mask in mb_logits. */
static int mb_check(void *ud, int32_t t) {
    mailbox *b = ud;
    return rg_grammar_allows_within(b->gst, b->gvoc, t, mb_budget(b));
}

static int mb_worth(void *ud) {
    mailbox *b = ud;
    return rg_grammar_worth_checking(b->gst, b->gvoc);
}

static int mb_token(void *ud, int32_t t) {
    mailbox *b = ud;
    int stop_after = 0;
    if (b->gst) {
        b->n_gen++;
        if (b->gstuck || !rg_grammar_accept_token(b->gst, b->gvoc, t)) return 1;
        if (t == b->stop_id) return 1; /* allowed only when done */
        stop_after = rg_grammar_finished(b->gst);
    } else if (t == b->stop_id) {
        return 1; /* the template's end-of-turn token */
    }
    pthread_mutex_lock(&b->mu);
    if (b->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 64;
        int32_t *q = realloc(b->q, sizeof(int32_t) * (size_t)nc);
        if (q) b->q = q, b->cap = nc;
    }
    if (b->n < b->cap) b->q[b->n++] = t;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return stop_after;
}

static void mb_done(void *ud, const rg_sched_result *r) {
    mailbox *b = ud;
    pthread_mutex_lock(&b->mu);
    b->res = *r;
    b->done = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
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
    if (max_new <= 0 || (int)n + max_new > L->n_ctx) max_new = L->n_ctx - (int)n;
    mailbox b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    b.stop_id = L->stop_id;
    b.max_new = max_new;
    if (p->grammar) {
        b.gvoc = local_vocab(L);
        b.gst = b.gvoc ? rg_grammar_state_new(p->grammar) : NULL;
        b.gmask = malloc((size_t)rg_tok_n_vocab(L->tok));
        if (!b.gvoc || !b.gst || !b.gmask) {
            rg_grammar_state_free(b.gst);
            free(b.gmask);
            free(ids);
            pthread_mutex_destroy(&b.mu);
            pthread_cond_destroy(&b.cv);
            return rg_failf(err, RG_NOMEM, "out of memory (grammar)");
        }
    }
    rg_sched_req req;
    memset(&req, 0, sizeof req);
    req.prompt = ids;
    req.n_prompt = (int)n;
    req.max_tokens = max_new;
    rg_llm_sampler_params_init(&req.sampling);
    req.sampling.temp = (float)p->temperature;
    req.sampling.top_p = (float)p->top_p;
    req.sampling.seed = p->has_seed ? p->seed : rg_now_ns();
    req.on_token = mb_token;
    req.on_done = mb_done;
    if (b.gst) {
        req.on_logits = mb_logits;
        if (!p->full_masks) {
            req.check_token = mb_check;
            req.max_checks = RG_GRAMMAR_MAX_CHECKS;
            req.worth_checking = mb_worth;
        }
    }
    req.ud = &b;
    int64_t id = rg_sched_submit(L->sched, &req, err);
    free(ids);
    if (id < 0) {
        pthread_mutex_destroy(&b.mu);
        pthread_cond_destroy(&b.cv);
        return err->code ? err->code : RG_ERR;
    }
    int taken = 0, stopping = 0;
    for (;;) {
        pthread_mutex_lock(&b.mu);
        while (taken == b.n && !b.done) pthread_cond_wait(&b.cv, &b.mu);
        int upto = b.n, done = b.done;
        pthread_mutex_unlock(&b.mu);
        for (; taken < upto; taken++) {
            if (stopping) continue;
            int32_t t = b.q[taken];
            rg_tok_type ty = rg_tok_type_of(L->tok, t);
            int stop;
            if (ty != RG_TOKTYPE_CONTROL && ty != RG_TOKTYPE_UNKNOWN) {
                size_t pl;
                const char *piece = rg_tok_piece(L->tok, t, &pl);
                stop = piece && pl ? fn(ud, piece, pl) : 0;
            } else {
                stop = fn(ud, "", 0);
            }
            if (stop) {
                stopping = 1;
                rg_sched_cancel(L->sched, id); /* frees the slot at the next step */
            }
        }
        if (done) break;
    }
    *n_out = taken;
    if (b.res.finish == RG_SCHED_LENGTH) snprintf(finish, 16, "length");
    if (b.res.finish == RG_SCHED_ERROR) rc = rg_failf(err, RG_ERR, "generation failed: %s", b.res.error);
    if (b.gst && !rg_grammar_done(b.gst) && rc == RG_OK && !stopping)
        snprintf(finish, 16, "length"); /* cut short: the document is incomplete */
    if (p->masks) *p->masks = atomic_load(&b.n_masks);
    rg_grammar_state_free(b.gst);
    free(b.gmask);
    free(b.q);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
    return rc;
}

int rg__local_family(rg__local *L) { return (int)L->fam; }

const char *rg__local_name(rg__local *L) { return rg_llm_model_hparams(L->m)->arch_name; }
