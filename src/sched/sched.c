/* sched.c - the continuous-batching engine thread (see sched.h).
 *
 * Invariants: a slot (= an rg_llm sequence id) is either running one job,
 * idle holding a prefix cache (its KV holds exactly cache[0..n_cache)),
 * or empty.  A running job's KV holds toks[0..kv); toks[kv..n_toks) are
 * still to be fed (a whole prompt, a chunk of it, or the one token just
 * sampled). */
#include "sched/sched.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/limits.h"
#include "core/log.h"
#include "tok/tok.h"

typedef struct job {
    int64_t id;
    rg_sched_req r;
    int32_t *toks;
    int n_toks, cap, n_prompt, n_gen, kv, slot, n_cached, admitted_once;
    uint64_t order; /* admission order: the newest is preempted first */
    rg_llm_sampler *smp;
    double t_submit, t_first;
    int cancelled;
    struct job *next;
} job;

typedef struct {
    job *run;       /* running job, or NULL */
    int32_t *cache; /* idle: tokens in the KV */
    int n_cache, cap_cache;
    uint64_t last_used;
} slot;

struct rg_sched {
    const rg_llm_model *m;
    rg_llm_ctx *ctx;
    rg_tok *tok;
    rg_sched_params p;
    int n_slots, n_vocab, n_batch, seq_ctx;
    slot *slots;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    job *incoming, *incoming_tail; /* submitted, not yet seen by the engine */
    job *waiting, *waiting_tail;   /* engine-owned queue */
    int64_t next_id;
    int64_t *cancel_ids;
    int n_cancel, cap_cancel;
    uint64_t step, admissions;
    rg_sched_metrics met; /* updated by the engine under mu */
    /* batch scratch */
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_logits;
    job **b_out_job;
    int *b_take;
};

void rg_sched_params_init(rg_sched_params *p) {
    memset(p, 0, sizeof *p);
    p->max_batch = 16;
    p->chunk = 256;
    p->kv_type = RG_DTYPE_F16;
}

static void job_free(job *j) {
    if (!j) return;
    rg_llm_sampler_free(j->smp);
    free(j->toks);
    free(j);
}

static void finish(rg_sched *s, job *j, rg_sched_finish why, const char *error) {
    rg_sched_result res;
    memset(&res, 0, sizeof res);
    res.finish = why;
    res.n_prompt = j->n_prompt;
    res.n_cached = j->n_cached;
    res.n_gen = j->n_gen;
    double now = rg_now_s();
    res.ttft_s = j->t_first > 0 ? j->t_first - j->t_submit : now - j->t_submit;
    res.total_s = now - j->t_submit;
    if (error) snprintf(res.error, sizeof res.error, "%s", error);
    if (j->slot >= 0) { /* the slot turns into a prefix cache of what its KV holds */
        slot *sl = &s->slots[j->slot];
        sl->run = NULL;
        if (sl->cap_cache < j->kv) {
            int32_t *c = realloc(sl->cache, sizeof(int32_t) * (size_t)j->kv);
            if (c) sl->cache = c, sl->cap_cache = j->kv;
        }
        if (sl->cap_cache >= j->kv) {
            if (j->kv) memcpy(sl->cache, j->toks, sizeof(int32_t) * (size_t)j->kv);
            sl->n_cache = j->kv;
        } else {
            rg_llm_seq_rm(s->ctx, j->slot, 0);
            sl->n_cache = 0;
        }
        sl->last_used = s->step;
    }
    if (j->r.on_done) j->r.on_done(j->r.ud, &res);
    job_free(j);
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

static int count_idle_cached(rg_sched *s) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) n += !s->slots[i].run && s->slots[i].n_cache > 0;
    return n;
}

/* Drops the least recently used idle cache (not `keep`); 0 when none. */
static int evict_lru(rg_sched *s, int keep) {
    int best = -1;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (i == keep || sl->run || sl->n_cache == 0) continue;
        if (best < 0 || sl->last_used < s->slots[best].last_used) best = i;
    }
    if (best < 0) return 0;
    rg_llm_seq_rm(s->ctx, best, 0);
    s->slots[best].n_cache = 0;
    return 1;
}

static int running_count(rg_sched *s) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) n += s->slots[i].run != NULL;
    return n;
}

static void push_front(rg_sched *s, job *j) {
    j->next = s->waiting;
    s->waiting = j;
    if (!s->waiting_tail) s->waiting_tail = j;
}

/* Moves waiting jobs into free slots, reusing the longest cached prefix. */
static void admit(rg_sched *s) {
    while (s->waiting && running_count(s) < s->p.max_batch) {
        job *j = s->waiting;
        if (j->n_toks >= s->seq_ctx) {
            s->waiting = j->next;
            if (!s->waiting) s->waiting_tail = NULL;
            j->slot = -1;
            char msg[128];
            snprintf(msg, sizeof msg, "prompt of %d tokens does not fit the context of %d", j->n_toks,
                     s->seq_ctx);
            finish(s, j, RG_SCHED_ERROR, msg);
            continue;
        }
        int best = -1, best_common = -1;
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->run) continue;
            int c = common_prefix(sl->cache, sl->n_cache, j->toks, j->n_toks);
            /* prefer the longest shared prefix, then an empty slot, then the LRU */
            if (c > best_common || (c == best_common && best >= 0 &&
                                    (sl->n_cache == 0 ||
                                     (s->slots[best].n_cache && sl->last_used < s->slots[best].last_used)))) {
                best = i;
                best_common = c;
            }
        }
        if (best < 0) break;
        slot *sl = &s->slots[best];
        int reuse = best_common < j->n_toks ? best_common : j->n_toks - 1; /* logits need >= 1 fed */
        rg_llm_seq_rm(s->ctx, best, reuse);
        sl->n_cache = 0;
        /* room for the rest of the prompt: evict other idle caches first */
        /* the prompt's rest plus a block of growth for every running
         * sequence: admitting into a pool that cannot hold the next step
         * would only preempt it again without progress */
        int need = j->n_toks - reuse + RG_LLM_KV_BLOCK;
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].run) need += s->slots[i].run->n_toks - s->slots[i].run->kv + RG_LLM_KV_BLOCK;
        while (rg_llm_kv_free_slots(s->ctx) < need && evict_lru(s, best)) {}
        if (rg_llm_kv_free_slots(s->ctx) < need && running_count(s) > 0) {
            /* wait for running sequences to finish; keep what we trimmed */
            sl->n_cache = reuse;
            break;
        }
        s->waiting = j->next;
        if (!s->waiting) s->waiting_tail = NULL;
        j->next = NULL;
        j->slot = best;
        j->kv = reuse;
        if (!j->admitted_once) {
            j->n_cached = reuse;
            s->met.prompt_tokens += j->n_prompt;
            s->met.prompt_tokens_cached += reuse < j->n_prompt ? reuse : j->n_prompt;
            j->admitted_once = 1;
        }
        j->order = ++s->admissions;
        sl->run = j;
    }
}

/* Frees the newest running job's KV and queues it again (recomputed
 * later from its prompt and the tokens it already produced). */
static int preempt_newest(rg_sched *s) {
    job *newest = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->slots[i].run;
        if (j && (!newest || j->order > newest->order)) newest = j;
    }
    if (!newest || running_count(s) <= 1) return 0;
    rg_llm_seq_rm(s->ctx, newest->slot, 0);
    s->slots[newest->slot].run = NULL;
    s->slots[newest->slot].n_cache = 0;
    newest->slot = -1;
    newest->kv = 0;
    push_front(s, newest);
    s->met.preemptions++;
    return 1;
}

static void take_incoming(rg_sched *s) {
    /* called with mu held */
    if (s->incoming) {
        if (s->waiting_tail) s->waiting_tail->next = s->incoming;
        else s->waiting = s->incoming;
        s->waiting_tail = s->incoming_tail;
        s->incoming = s->incoming_tail = NULL;
    }
}

static void apply_cancels(rg_sched *s, int64_t *ids, int n) {
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].run && s->slots[i].run->id == ids[k]) finish(s, s->slots[i].run, RG_SCHED_CANCELLED, NULL);
        job **pp = &s->waiting, *prev = NULL;
        while (*pp) {
            job *j = *pp;
            if (j->id == ids[k]) {
                *pp = j->next;
                if (s->waiting_tail == j) s->waiting_tail = prev;
                j->slot = -1;
                finish(s, j, RG_SCHED_CANCELLED, NULL);
                continue;
            }
            prev = j;
            pp = &j->next;
        }
    }
}

static int push_tok(job *j, int32_t t) {
    if (j->n_toks == j->cap) {
        int nc = j->cap * 2;
        int32_t *p = realloc(j->toks, sizeof(int32_t) * (size_t)nc);
        if (!p) return -1;
        j->toks = p;
        j->cap = nc;
    }
    j->toks[j->n_toks++] = t;
    return 0;
}

/* One engine step over every running job. Returns 0 when it ran. */
static int step(rg_sched *s) {
    int T = 0, n_out = 0;
    /* decoding sequences first: one token each */
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->slots[i].run;
        if (!j || j->n_toks - j->kv != 1) continue;
        s->b_tok[T] = j->toks[j->kv];
        s->b_pos[T] = j->kv;
        s->b_seq[T] = i;
        s->b_logits[T] = 1;
        s->b_out_job[n_out++] = j;
        s->b_take[i] = 1;
        T++;
    }
    /* then chunks of pending prompts */
    int budget = s->p.chunk;
    for (int i = 0; i < s->n_slots && T < s->n_batch && budget > 0; i++) {
        job *j = s->slots[i].run;
        if (!j || j->n_toks - j->kv <= 1) continue;
        int pending = j->n_toks - j->kv;
        int take = pending < budget ? pending : budget;
        if (take > s->n_batch - T) take = s->n_batch - T;
        for (int k = 0; k < take; k++) {
            s->b_tok[T] = j->toks[j->kv + k];
            s->b_pos[T] = j->kv + k;
            s->b_seq[T] = i;
            s->b_logits[T] = 0;
            T++;
        }
        if (take == pending) {
            s->b_logits[T - 1] = 1;
            s->b_out_job[n_out++] = j;
        }
        s->b_take[i] = take;
        budget -= take;
    }
    if (T == 0) return -1;
    rg_llm_batch b = {T, s->b_tok, s->b_pos, s->b_seq, s->b_logits};
    rg_err err;
    rg_status rc = rg_llm_decode(s->ctx, &b, &err);
    if (rc == RG_LIMIT && preempt_newest(s)) return 0; /* KV full: retry smaller */
    if (rc) {
        rg_warn("sched: decode failed: %s", err.msg);
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].run) {
                job *j = s->slots[i].run;
                rg_llm_seq_rm(s->ctx, i, 0);
                j->kv = 0;
                finish(s, j, RG_SCHED_ERROR, err.msg);
                s->slots[i].n_cache = 0;
            }
        return 0;
    }
    s->step++;
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->slots[i].run;
        if (j) j->kv += s->b_take[i];
        s->b_take[i] = 0;
    }
    /* sample: output rows come in batch order, which is b_out_job's order */
    for (int o = 0; o < n_out; o++) {
        job *j = s->b_out_job[o];
        float *lg = rg_llm_logits(s->ctx, o);
        if (j->r.on_logits) j->r.on_logits(j->r.ud, lg, s->n_vocab);
        int32_t t = rg_llm_sample(j->smp, lg);
        rg_llm_sampler_accept(j->smp, t);
        if (j->t_first == 0) j->t_first = rg_now_s();
        s->met.generated_tokens++;
        if (s->tok && rg_tok_is_eog(s->tok, t)) {
            finish(s, j, RG_SCHED_EOG, NULL);
            continue;
        }
        if (push_tok(j, t)) {
            finish(s, j, RG_SCHED_ERROR, "out of memory");
            continue;
        }
        j->n_gen++;
        if (j->r.on_token && j->r.on_token(j->r.ud, t)) finish(s, j, RG_SCHED_STOPPED, NULL);
        else if (j->r.max_tokens > 0 && j->n_gen >= j->r.max_tokens) finish(s, j, RG_SCHED_LENGTH, NULL);
        else if (j->n_toks >= s->seq_ctx) finish(s, j, RG_SCHED_LENGTH, NULL);
    }
    return 0;
}

static void update_metrics(rg_sched *s) {
    rg_sched_metrics *m = &s->met;
    m->running = running_count(s);
    int w = 0;
    for (job *j = s->waiting; j; j = j->next) w++;
    m->waiting = w;
    m->cached_slots = count_idle_cached(s);
    m->kv_blocks_free = rg_llm_kv_free_slots(s->ctx) / RG_LLM_KV_BLOCK;
    int64_t stored = 0;
    for (int i = 0; i < s->n_slots; i++) stored += rg_llm_seq_len(s->ctx, i);
    m->kv_tokens_stored = stored;
    m->steps = (int64_t)s->step;
}

static void *engine(void *arg) {
    rg_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->incoming && !s->n_cancel && !s->waiting && running_count(s) == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        take_incoming(s);
        int n_cancel = s->n_cancel;
        int64_t cancels[64];
        if (n_cancel > 64) n_cancel = 64;
        if (n_cancel) {
            memcpy(cancels, s->cancel_ids, sizeof(int64_t) * (size_t)n_cancel);
            memmove(s->cancel_ids, s->cancel_ids + n_cancel,
                    sizeof(int64_t) * (size_t)(s->n_cancel - n_cancel));
            s->n_cancel -= n_cancel;
        }
        pthread_mutex_unlock(&s->mu);
        apply_cancels(s, cancels, n_cancel);
        admit(s);
        /* idle caches beyond the allowance go, LRU first */
        while (count_idle_cached(s) > s->p.cache_slots && evict_lru(s, -1)) {}
        step(s);
        pthread_mutex_lock(&s->mu);
        update_metrics(s);
        pthread_mutex_unlock(&s->mu);
    }
    /* shutting down: everything still here is cancelled */
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].run) finish(s, s->slots[i].run, RG_SCHED_CANCELLED, NULL);
    take_incoming(s);
    while (s->waiting) {
        job *j = s->waiting;
        s->waiting = j->next;
        j->slot = -1;
        finish(s, j, RG_SCHED_CANCELLED, NULL);
    }
    return NULL;
}

rg_status rg_sched_new(const rg_llm_model *m, const rg_sched_params *pp, rg_sched **out, rg_err *err) {
    *out = NULL;
    rg_sched *s = calloc(1, sizeof *s);
    if (!s) return rg_failf(err, RG_NOMEM, "sched: out of memory");
    s->m = m;
    rg_sched_params_init(&s->p);
    if (pp) s->p = *pp;
    if (s->p.max_batch < 1) s->p.max_batch = 1;
    if (s->p.max_batch > 128) s->p.max_batch = 128;
    if (s->p.cache_slots <= 0) s->p.cache_slots = s->p.max_batch;
    if (s->p.chunk <= 0) s->p.chunk = 256;
    const rg_llm_hparams *hp = rg_llm_model_hparams(m);
    s->n_vocab = hp->n_vocab;
    s->n_slots = s->p.max_batch + s->p.cache_slots;
    if (s->n_slots > RG_LLM_MAX_SEQ) s->n_slots = RG_LLM_MAX_SEQ;
    if (s->p.cache_slots > s->n_slots - s->p.max_batch) s->p.cache_slots = s->n_slots - s->p.max_batch;
    rg_llm_ctx_params cp;
    rg_llm_ctx_params_init(&cp);
    cp.n_ctx = s->p.n_ctx;
    if (cp.n_ctx <= 0) {
        int per = hp->n_ctx_train > 0 && hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
        cp.n_ctx = per * (s->p.max_batch < 4 ? 1 : s->p.max_batch / 4);
    }
    cp.n_batch = s->p.chunk + s->p.max_batch;
    cp.n_seq_max = s->n_slots;
    cp.n_outputs_max = s->p.max_batch;
    cp.n_threads = s->p.n_threads;
    cp.kv_type = s->p.kv_type ? s->p.kv_type : RG_DTYPE_F16;
    rg_status rc = rg_llm_ctx_new(m, &cp, &s->ctx, err);
    if (rc) goto fail;
    s->n_batch = rg_llm_ctx_params_get(s->ctx)->n_batch;
    s->seq_ctx = rg_llm_ctx_params_get(s->ctx)->n_ctx;
    if (hp->n_ctx_train > 0 && hp->n_ctx_train < s->seq_ctx) s->seq_ctx = hp->n_ctx_train;
    s->met.kv_blocks_total = rg_llm_kv_free_slots(s->ctx) / RG_LLM_KV_BLOCK;
    /* the tokenizer tells end-of-generation tokens; a model without one
     * (benchmark models) simply generates until max_tokens */
    if (rg_gguf_find_kv(rg_llm_model_gguf(m), "tokenizer.ggml.model") >= 0 &&
        (rc = rg_tok_from_gguf(rg_llm_model_gguf(m), &s->tok, err)))
        goto fail;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->b_tok = malloc(sizeof(int32_t) * (size_t)s->n_batch);
    s->b_pos = malloc(sizeof(int32_t) * (size_t)s->n_batch);
    s->b_seq = malloc(sizeof(int32_t) * (size_t)s->n_batch);
    s->b_logits = malloc((size_t)s->n_batch);
    s->b_out_job = malloc(sizeof(job *) * (size_t)s->n_batch);
    s->b_take = calloc((size_t)s->n_slots, sizeof(int));
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_logits || !s->b_out_job || !s->b_take) {
        rc = rg_failf(err, RG_NOMEM, "sched: out of memory");
        goto fail;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->next_id = 1;
    if (pthread_create(&s->thread, NULL, engine, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        rc = rg_failf(err, RG_ERR, "sched: cannot start the engine thread");
        goto fail;
    }
    *out = s;
    return RG_OK;
fail:
    if (s->ctx) rg_llm_ctx_free(s->ctx);
    if (s->tok) rg_tok_free(s->tok);
    free(s->slots), free(s->b_tok), free(s->b_pos), free(s->b_seq), free(s->b_logits), free(s->b_out_job),
        free(s->b_take);
    free(s);
    return rc;
}

void rg_sched_free(rg_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < s->n_slots; i++) free(s->slots[i].cache);
    free(s->slots), free(s->b_tok), free(s->b_pos), free(s->b_seq), free(s->b_logits), free(s->b_out_job),
        free(s->b_take);
    free(s->cancel_ids);
    rg_llm_ctx_free(s->ctx);
    if (s->tok) rg_tok_free(s->tok);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int64_t rg_sched_submit(rg_sched *s, const rg_sched_req *r, rg_err *err) {
    if (!r || r->n_prompt < 1 || !r->prompt) {
        rg_failf(err, RG_INVALID, "sched: empty prompt");
        return -1;
    }
    for (int i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= s->n_vocab) {
            rg_failf(err, RG_INVALID, "sched: prompt token %d: id %d out of range 0..%d", i, r->prompt[i],
                     s->n_vocab - 1);
            return -1;
        }
    job *j = calloc(1, sizeof *j);
    if (!j) goto oom;
    j->r = *r;
    j->cap = r->n_prompt + 64;
    j->toks = malloc(sizeof(int32_t) * (size_t)j->cap);
    j->smp = rg_llm_sampler_new(&r->sampling, s->n_vocab);
    if (!j->toks || !j->smp) goto oom;
    memcpy(j->toks, r->prompt, sizeof(int32_t) * (size_t)r->n_prompt);
    j->n_toks = j->n_prompt = r->n_prompt;
    for (int i = 0; i < r->n_prompt; i++) rg_llm_sampler_accept(j->smp, r->prompt[i]);
    j->slot = -1;
    j->t_submit = rg_now_s();
    pthread_mutex_lock(&s->mu);
    j->id = s->next_id++;
    if (s->incoming_tail) s->incoming_tail->next = j;
    else s->incoming = j;
    s->incoming_tail = j;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return j->id;
oom:
    job_free(j);
    rg_failf(err, RG_NOMEM, "sched: out of memory");
    return -1;
}

void rg_sched_cancel(rg_sched *s, int64_t id) {
    pthread_mutex_lock(&s->mu);
    if (s->n_cancel == s->cap_cancel) {
        int nc = s->cap_cancel ? s->cap_cancel * 2 : 16;
        int64_t *p = realloc(s->cancel_ids, sizeof(int64_t) * (size_t)nc);
        if (p) s->cancel_ids = p, s->cap_cancel = nc;
    }
    if (s->n_cancel < s->cap_cancel) s->cancel_ids[s->n_cancel++] = id;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void rg_sched_metrics_get(rg_sched *s, rg_sched_metrics *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->met;
    pthread_mutex_unlock(&s->mu);
}

const rg_llm_model *rg_sched_model(const rg_sched *s) { return s->m; }
