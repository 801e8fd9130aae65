/* sched.c - the continuous-batching engine thread (see sched.h).
 *
 * Invariants: slot i (= rg_llm sequence id i) runs job run[i] or is empty
 * (its sequence has no positions).  A running job's KV holds
 * toks[0..kv); toks[kv..n_toks) are still to be fed (a whole prompt, a
 * chunk of it, or the one token just sampled).
 *
 * Prefix cache: block-level, keyed by chain hashes.  bh[i] of a job is
 * the hash of (bh[i-1], toks[i*B .. i*B+B)), so equal hashes mean equal
 * token prefixes up to that block's end (64-bit; a collision is treated as
 * impossible, as vLLM does).  When a job's block i is full and in the KV,
 * the cache takes one reference on it (rg_llm_kv_block_hold) and indexes
 * it by bh[i].  A job whose next block's hash is cached attaches that
 * block to its table instead of computing it, so concurrent requests with
 * a common prefix share its blocks read-only (the KV layer copies a
 * shared partial block before writing into it).  A cached block no
 * sequence uses (one reference: the cache's) is evictable; those sit in
 * an LRU list (head = evicted first; a finished job's blocks go to the
 * tail deepest first, so a chain is evicted from its end).  Everything
 * here runs on the engine thread except submit/cancel/metrics_get. */
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

#define B RG_LLM_KV_BLOCK

typedef struct job {
    int64_t id;
    rg_sched_req r;
    int32_t *toks;
    int n_toks, cap, n_prompt, n_gen, kv, slot, n_cached, admitted_once, preempted;
    uint64_t *bh; /* chain hashes of the full blocks of toks */
    int n_bh, cap_bh;
    uint64_t order; /* admission order: the newest is preempted first */
    rg_llm_sampler *smp;
    double t_submit, t_first;
    struct job *next;
} job;

struct rg_sched {
    const rg_llm_model *m;
    rg_llm_ctx *ctx;
    rg_tok *tok;
    rg_sched_params p;
    int n_slots, n_vocab, n_batch, seq_ctx;
    job **run; /* [n_slots] */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, drop_cache;
    job *incoming, *incoming_tail; /* submitted, not yet seen by the engine */
    job *waiting, *waiting_tail;   /* engine-owned queue */
    int64_t next_id;
    int64_t *cancel_ids;
    int n_cancel, cap_cancel;
    uint64_t step, admissions;
    rg_sched_metrics eng; /* the engine's counters */
    rg_sched_metrics met; /* published copy of eng, under mu */
    /* prefix cache over n_blocks KV blocks */
    int n_blocks, blocks_per_seq;
    uint64_t *c_hash;   /* [n_blocks] hash of a cached block */
    uint8_t *c_in;      /* [n_blocks] 1: cached (the cache holds a reference) */
    uint8_t *in_lru;    /* [n_blocks] */
    int32_t *lru_prev, *lru_next;
    int lru_head, lru_tail, n_lru, n_cached;
    int32_t *ix; /* open-addressing index hash -> block, -1 empty */
    uint64_t ix_mask;
    int32_t *tmp_blocks; /* [blocks_per_seq] */
    uint8_t *mark;       /* [n_blocks] metrics scratch */
    int32_t *pre_blk;    /* [n_slots] partial block before a step (copy-on-write sync) */
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

/* ---- chain hashes ---- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t block_hash(uint64_t parent, const int32_t *t) {
    uint64_t h = mix64(parent ^ 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < B; i++) h = mix64(h ^ ((uint64_t)(uint32_t)t[i] + 0x632be59bd9b4e019ull * (uint64_t)(i + 1)));
    return h;
}

/* Extends j->bh over every full block of toks; -1 on OOM. */
static int job_hash(job *j) {
    int want = j->n_toks / B;
    if (want > j->cap_bh) {
        int nc = want + 16;
        uint64_t *p = realloc(j->bh, sizeof(uint64_t) * (size_t)nc);
        if (!p) return -1;
        j->bh = p;
        j->cap_bh = nc;
    }
    for (; j->n_bh < want; j->n_bh++)
        j->bh[j->n_bh] = block_hash(j->n_bh ? j->bh[j->n_bh - 1] : 0, j->toks + (size_t)j->n_bh * B);
    return 0;
}

/* ---- the cache index and LRU ---- */

static int ix_find(const rg_sched *s, uint64_t h) {
    for (uint64_t i = h & s->ix_mask;; i = (i + 1) & s->ix_mask) {
        int32_t b = s->ix[i];
        if (b < 0) return -1;
        if (s->c_hash[b] == h) return b;
    }
}

static void ix_insert(rg_sched *s, int32_t blk) {
    uint64_t i = s->c_hash[blk] & s->ix_mask;
    while (s->ix[i] >= 0) i = (i + 1) & s->ix_mask;
    s->ix[i] = blk;
}

/* Linear-probing deletion by backward shift (no tombstones). */
static void ix_delete(rg_sched *s, int32_t blk) {
    uint64_t i = s->c_hash[blk] & s->ix_mask;
    while (s->ix[i] != blk) {
        if (s->ix[i] < 0) return;
        i = (i + 1) & s->ix_mask;
    }
    s->ix[i] = -1;
    for (uint64_t j = (i + 1) & s->ix_mask; s->ix[j] >= 0; j = (j + 1) & s->ix_mask) {
        uint64_t k = s->c_hash[s->ix[j]] & s->ix_mask; /* home of the entry at j */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        s->ix[i] = s->ix[j];
        s->ix[j] = -1;
        i = j;
    }
}

static void lru_remove(rg_sched *s, int32_t b) {
    if (!s->in_lru[b]) return;
    int32_t p = s->lru_prev[b], n = s->lru_next[b];
    if (p >= 0) s->lru_next[p] = n;
    else s->lru_head = n;
    if (n >= 0) s->lru_prev[n] = p;
    else s->lru_tail = p;
    s->in_lru[b] = 0;
    s->n_lru--;
}

static void lru_push_tail(rg_sched *s, int32_t b) {
    if (s->in_lru[b]) return;
    s->lru_prev[b] = s->lru_tail;
    s->lru_next[b] = -1;
    if (s->lru_tail >= 0) s->lru_next[s->lru_tail] = b;
    else s->lru_head = b;
    s->lru_tail = b;
    s->in_lru[b] = 1;
    s->n_lru++;
}

/* After a block's references changed: a cached block no sequence uses is
 * evictable (LRU tail), one in use is not. */
static void sync_block(rg_sched *s, int32_t b) {
    if (b < 0 || !s->c_in[b]) return;
    if (rg_llm_kv_block_refs(s->ctx, b) == 1) lru_push_tail(s, b);
    else lru_remove(s, b);
}

/* Drops the least recently used evictable block; 0 when none. */
static int evict_one(rg_sched *s) {
    int32_t b = s->lru_head;
    if (b < 0) return 0;
    lru_remove(s, b);
    ix_delete(s, b);
    s->c_in[b] = 0;
    s->n_cached--;
    rg_llm_kv_block_release(s->ctx, b); /* the last reference: back to the pool */
    return 1;
}

static int free_blocks(const rg_sched *s) { return rg_llm_kv_free_slots(s->ctx) / B; }

static void evict_until(rg_sched *s, int want_free) {
    while (free_blocks(s) < want_free && evict_one(s)) {}
}

/* Caches block i of job j (full and in its KV) unless its hash is cached. */
static void cache_register(rg_sched *s, job *j, int i) {
    if (i >= j->n_bh) return;
    int32_t b = (int32_t)rg_llm_seq_block(s->ctx, j->slot, i);
    if (b < 0 || s->c_in[b] || ix_find(s, j->bh[i]) >= 0) return;
    rg_llm_kv_block_hold(s->ctx, b);
    s->c_hash[b] = j->bh[i];
    s->c_in[b] = 1;
    s->n_cached++;
    ix_insert(s, b);
}

/* Drops slot's positions >= p0, updating the LRU for the blocks it let go. */
static void seq_trim(rg_sched *s, int slot, int p0) {
    int len = rg_llm_seq_len(s->ctx, slot);
    int n = (len + B - 1) / B, keep = (p0 + B - 1) / B;
    for (int i = keep; i < n; i++) s->tmp_blocks[i] = (int32_t)rg_llm_seq_block(s->ctx, slot, i);
    rg_llm_seq_rm(s->ctx, slot, p0);
    for (int i = n - 1; i >= keep; i--) sync_block(s, s->tmp_blocks[i]); /* deepest first: evicted first */
}

/* Cached blocks continuing j's KV (at a block boundary), up to its last
 * token; writes their ids to s->tmp_blocks and returns how many. */
static int cache_match(rg_sched *s, const job *j) {
    if (j->kv % B) return 0;
    int n = 0;
    for (int i = j->kv / B; i < j->n_bh && (i + 1) * B <= j->n_toks; i++) {
        int b = ix_find(s, j->bh[i]);
        if (b < 0) break;
        s->tmp_blocks[n++] = b;
    }
    return n;
}

/* Attaches the n blocks in tmp_blocks to running job j.  When that covers
 * every token, the last one is fed again (its logits are needed): the
 * shared last block is then copied on write. */
static void cache_attach(rg_sched *s, job *j, int n) {
    if (n <= 0) return;
    rg_err err;
    if (rg_llm_seq_attach(s->ctx, j->slot, s->tmp_blocks, n, &err)) {
        rg_warn("sched: %s", err.msg);
        return;
    }
    for (int i = 0; i < n; i++) sync_block(s, s->tmp_blocks[i]);
    int before = j->kv;
    j->kv += n * B;
    if (j->kv >= j->n_toks) {
        j->kv = j->n_toks - 1;
        rg_llm_seq_rm(s->ctx, j->slot, j->kv);
    }
    if (!j->preempted) {
        int got = (j->kv < j->n_prompt ? j->kv : j->n_prompt) - (before < j->n_prompt ? before : j->n_prompt);
        if (got > 0) {
            j->n_cached += got;
            s->eng.prompt_tokens_cached += got;
        }
    }
}

/* ---- jobs ---- */

static void job_free(job *j) {
    if (!j) return;
    rg_llm_sampler_free(j->smp);
    free(j->toks);
    free(j->bh);
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
    if (j->slot >= 0) { /* its full blocks stay in the prefix cache */
        seq_trim(s, j->slot, 0);
        s->run[j->slot] = NULL;
        j->slot = -1;
    }
    if (j->r.on_done) j->r.on_done(j->r.ud, &res);
    job_free(j);
}

static int running_count(rg_sched *s) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) n += s->run[i] != NULL;
    return n;
}

static void push_front(rg_sched *s, job *j) {
    j->next = s->waiting;
    s->waiting = j;
    if (!s->waiting_tail) s->waiting_tail = j;
}

static int blocks_for(int n) { return (n + B - 1) / B; }

/* Blocks job j still needs for its pending tokens, plus one of growth. */
static int job_need(const job *j) { return blocks_for(j->n_toks) - blocks_for(j->kv) + 1 + (j->kv % B != 0); }

/* Moves waiting jobs into free slots, attaching their cached prefix. */
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
        int slot = -1;
        for (int i = 0; i < s->n_slots && slot < 0; i++)
            if (!s->run[i]) slot = i;
        if (slot < 0) break;
        j->kv = 0;
        int n = cache_match(s, j);
        /* the prompt's rest plus a block of growth for every running
         * sequence: admitting into a pool that cannot hold the next step
         * would only preempt it again without progress */
        int need = blocks_for(j->n_toks) - n + 2;
        for (int i = 0; i < s->n_slots; i++)
            if (s->run[i]) need += job_need(s->run[i]);
        int lru_taken = 0;
        for (int i = 0; i < n; i++) lru_taken += s->in_lru[s->tmp_blocks[i]];
        if (free_blocks(s) + s->n_lru - lru_taken < need && running_count(s) > 0) break; /* wait */
        s->waiting = j->next;
        if (!s->waiting) s->waiting_tail = NULL;
        j->next = NULL;
        j->slot = slot;
        s->run[slot] = j;
        if (!j->admitted_once) {
            s->eng.prompt_tokens += j->n_prompt;
            j->admitted_once = 1;
        }
        j->order = ++s->admissions;
        cache_attach(s, j, n);
        evict_until(s, need);
    }
}

/* Frees the newest running job's KV and queues it again (recomputed
 * later from its prompt and the tokens it already produced; its full
 * blocks stay cached, so mostly they are attached again). */
static int preempt_newest(rg_sched *s) {
    job *newest = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->run[i];
        if (j && (!newest || j->order > newest->order)) newest = j;
    }
    if (!newest || running_count(s) <= 1) return 0;
    seq_trim(s, newest->slot, 0);
    s->run[newest->slot] = NULL;
    newest->slot = -1;
    newest->kv = 0;
    newest->preempted = 1;
    push_front(s, newest);
    s->eng.preemptions++;
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
            if (s->run[i] && s->run[i]->id == ids[k]) finish(s, s->run[i], RG_SCHED_CANCELLED, NULL);
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
    return job_hash(j);
}

/* 1 when another running job admitted earlier is about to compute the
 * block j needs next (same chain hash): j waits a step and attaches it
 * instead of computing it twice.  Earlier-only, so waits never cycle. */
static int wait_for_sibling(rg_sched *s, const job *j) {
    if (j->kv % B) return 0;
    int i = j->kv / B;
    if (i >= j->n_bh || (i + 1) * B > j->n_toks) return 0;
    for (int k = 0; k < s->n_slots; k++) {
        const job *o = s->run[k];
        if (!o || o == j || o->order > j->order) continue;
        if (i < o->n_bh && o->bh[i] == j->bh[i] && o->kv < (i + 1) * B) return 1;
    }
    return 0;
}

/* One engine step over every running job. Returns 0 when it ran. */
static int step(rg_sched *s) {
    int T = 0, n_out = 0;
    /* prefilling jobs first take whatever the cache has meanwhile (blocks
     * a concurrent request with the same prefix just computed) */
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->run[i];
        if (j && j->n_toks - j->kv > 1) cache_attach(s, j, cache_match(s, j));
    }
    /* decoding sequences first: one token each */
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->run[i];
        if (!j || j->n_toks - j->kv != 1) continue;
        s->b_tok[T] = j->toks[j->kv];
        s->b_pos[T] = j->kv;
        s->b_seq[T] = i;
        s->b_logits[T] = 1;
        s->b_out_job[n_out++] = j;
        s->b_take[i] = 1;
        T++;
    }
    /* then chunks of pending prompts: up to chunk tokens when nothing
     * decodes (time to first token), fewer while sequences decode: a step
     * costs about its token count on a CPU, so 256 prompt tokens next to 16
     * decoding sequences made their next token wait ~12 decode steps.
     * Rounded so the step's token count is a multiple of 8 (the x8
     * matmul's column group). */
    int budget = s->p.chunk;
    if (T > 0) {
        int dc = s->p.decode_chunk > 0 ? s->p.decode_chunk : T > 32 ? T : 32;
        dc = (T + dc + 7) / 8 * 8 - T;
        if (dc < budget) budget = dc;
    }
    for (int i = 0; i < s->n_slots && T < s->n_batch && budget > 0; i++) {
        job *j = s->run[i];
        if (!j || j->n_toks - j->kv <= 1) continue;
        if (wait_for_sibling(s, j)) continue;
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
    /* room for this step: new blocks and copies of shared partial blocks */
    int need = 0;
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->run[i];
        s->pre_blk[i] = -1;
        if (!j || !s->b_take[i]) continue;
        need += blocks_for(j->kv + s->b_take[i]) - blocks_for(j->kv);
        if (j->kv % B) {
            s->pre_blk[i] = (int32_t)rg_llm_seq_block(s->ctx, i, j->kv / B);
            need += rg_llm_kv_block_refs(s->ctx, s->pre_blk[i]) > 1;
        }
    }
    evict_until(s, need);
    rg_llm_batch b = {T, s->b_tok, s->b_pos, s->b_seq, s->b_logits};
    rg_err err;
    rg_status rc = rg_llm_decode(s->ctx, &b, &err);
    if (rc == RG_LIMIT && preempt_newest(s)) { /* KV full: retry smaller */
        for (int i = 0; i < s->n_slots; i++) s->b_take[i] = 0;
        return 0;
    }
    if (rc) {
        rg_warn("sched: decode failed: %s", err.msg);
        for (int i = 0; i < s->n_slots; i++) {
            s->b_take[i] = 0;
            if (s->run[i]) finish(s, s->run[i], RG_SCHED_ERROR, err.msg);
        }
        return 0;
    }
    s->step++;
    for (int i = 0; i < s->n_slots; i++) {
        job *j = s->run[i];
        if (j && s->b_take[i]) {
            int before = j->kv;
            j->kv += s->b_take[i];
            sync_block(s, s->pre_blk[i]); /* copied on write: maybe only the cache holds it now */
            for (int k = before / B; k < j->kv / B; k++) cache_register(s, j, k);
        }
        s->b_take[i] = 0;
    }
    /* sample: output rows come in batch order, which is b_out_job's order */
    for (int o = 0; o < n_out; o++) {
        job *j = s->b_out_job[o];
        float *lg = rg_llm_logits(s->ctx, o);
        int32_t t;
        if (j->r.on_logits && j->r.check_token && (!j->r.worth_checking || j->r.worth_checking(j->r.ud))) {
            /* the best candidates first, checked one by one; the whole
             * vocabulary is masked only when that does not settle it */
            t = rg_llm_sample_allowed(j->smp, lg, j->r.check_token, j->r.ud,
                                      j->r.max_checks > 0 ? j->r.max_checks : 256);
            if (t < 0) {
                j->r.on_logits(j->r.ud, lg, s->n_vocab);
                t = rg_llm_sample(j->smp, lg);
            }
        } else { /* no grammar, or a state where the full mask is the way */
            if (j->r.on_logits) j->r.on_logits(j->r.ud, lg, s->n_vocab);
            t = rg_llm_sample(j->smp, lg);
        }
        rg_llm_sampler_accept(j->smp, t);
        if (j->t_first == 0) j->t_first = rg_now_s();
        s->eng.generated_tokens++;
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
    rg_sched_metrics *m = &s->eng;
    m->running = running_count(s);
    int w = 0;
    for (job *j = s->waiting; j; j = j->next) w++;
    m->waiting = w;
    m->cached_slots = 0;
    m->kv_blocks_free = free_blocks(s);
    m->kv_blocks_cached = s->n_lru;
    m->prefix_cache_blocks = s->n_cached;
    /* distinct blocks the running sequences hold, and how many of them
     * two or more share */
    memset(s->mark, 0, (size_t)s->n_blocks);
    int64_t stored = 0, refs = 0;
    int used = 0, shared = 0;
    for (int i = 0; i < s->n_slots; i++) {
        int len = rg_llm_seq_len(s->ctx, i);
        stored += len;
        for (int k = 0; k < blocks_for(len); k++) {
            int b = rg_llm_seq_block(s->ctx, i, k);
            if (b < 0) continue;
            refs++;
            if (s->mark[b] == 0) used++;
            else if (s->mark[b] == 1) shared++;
            if (s->mark[b] < 2) s->mark[b]++;
        }
    }
    m->kv_tokens_stored = stored;
    m->kv_blocks_used = used;
    m->kv_blocks_shared = shared;
    m->kv_seq_refs = refs;
    m->kv_held_per_stored = stored ? (double)used * B / (double)stored : 0;
    m->kv_cow_copies = rg_llm_kv_cow_count(s->ctx);
    m->steps = (int64_t)s->step;
}

static void *engine(void *arg) {
    rg_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->incoming && !s->n_cancel && !s->waiting && !s->drop_cache && running_count(s) == 0)
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
        int drop = s->drop_cache;
        s->drop_cache = 0;
        pthread_mutex_unlock(&s->mu);
        apply_cancels(s, cancels, n_cancel);
        if (drop)
            while (evict_one(s)) {}
        admit(s);
        step(s);
        update_metrics(s);
        pthread_mutex_lock(&s->mu);
        s->met = s->eng;
        pthread_mutex_unlock(&s->mu);
    }
    /* shutting down: everything still here is cancelled */
    for (int i = 0; i < s->n_slots; i++)
        if (s->run[i]) finish(s, s->run[i], RG_SCHED_CANCELLED, NULL);
    take_incoming(s);
    while (s->waiting) {
        job *j = s->waiting;
        s->waiting = j->next;
        j->slot = -1;
        finish(s, j, RG_SCHED_CANCELLED, NULL);
    }
    return NULL;
}

static void sched_free_arrays(rg_sched *s) {
    free(s->run), free(s->b_tok), free(s->b_pos), free(s->b_seq), free(s->b_logits), free(s->b_out_job),
        free(s->b_take);
    free(s->c_hash), free(s->c_in), free(s->in_lru), free(s->lru_prev), free(s->lru_next), free(s->ix),
        free(s->tmp_blocks), free(s->mark), free(s->pre_blk);
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
    if (s->p.chunk <= 0) s->p.chunk = 256;
    const rg_llm_hparams *hp = rg_llm_model_hparams(m);
    s->n_vocab = hp->n_vocab;
    s->n_slots = s->p.max_batch;
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
    if (s->p.seq_ctx > 0) {
        if (s->p.seq_ctx < s->seq_ctx) s->seq_ctx = s->p.seq_ctx;
    } else if (hp->n_ctx_train > 0 && hp->n_ctx_train < s->seq_ctx) {
        s->seq_ctx = hp->n_ctx_train;
    }
    s->n_blocks = rg_llm_kv_n_blocks(s->ctx);
    s->blocks_per_seq = (rg_llm_ctx_params_get(s->ctx)->n_ctx + B - 1) / B;
    s->eng.kv_blocks_total = s->eng.kv_blocks_free = s->n_blocks;
    s->met = s->eng;
    /* the tokenizer tells end-of-generation tokens; a model without one
     * (benchmark models) simply generates until max_tokens */
    if (rg_gguf_find_kv(rg_llm_model_gguf(m), "tokenizer.ggml.model") >= 0 &&
        (rc = rg_tok_from_gguf(rg_llm_model_gguf(m), &s->tok, err)))
        goto fail;
    uint64_t ixn = 16;
    while (ixn < 2 * (uint64_t)s->n_blocks) ixn *= 2;
    s->ix_mask = ixn - 1;
    const size_t nb = (size_t)s->n_blocks;
    s->run = calloc((size_t)s->n_slots, sizeof *s->run);
    s->c_hash = calloc(nb, sizeof *s->c_hash);
    s->c_in = calloc(nb, 1);
    s->in_lru = calloc(nb, 1);
    s->mark = calloc(nb, 1);
    s->lru_prev = malloc(sizeof(int32_t) * nb);
    s->lru_next = malloc(sizeof(int32_t) * nb);
    s->ix = malloc(sizeof(int32_t) * (size_t)ixn);
    s->tmp_blocks = malloc(sizeof(int32_t) * (size_t)s->blocks_per_seq);
    s->pre_blk = malloc(sizeof(int32_t) * (size_t)s->n_slots);
    s->b_tok = malloc(sizeof(int32_t) * (size_t)s->n_batch);
    s->b_pos = malloc(sizeof(int32_t) * (size_t)s->n_batch);
    s->b_seq = malloc(sizeof(int32_t) * (size_t)s->n_batch);
    s->b_logits = malloc((size_t)s->n_batch);
    s->b_out_job = malloc(sizeof(job *) * (size_t)s->n_batch);
    s->b_take = calloc((size_t)s->n_slots, sizeof(int));
    if (!s->run || !s->c_hash || !s->c_in || !s->in_lru || !s->mark || !s->lru_prev || !s->lru_next || !s->ix ||
        !s->tmp_blocks || !s->pre_blk || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_logits || !s->b_out_job ||
        !s->b_take) {
        rc = rg_failf(err, RG_NOMEM, "sched: out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < ixn; i++) s->ix[i] = -1;
    s->lru_head = s->lru_tail = -1;
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
    sched_free_arrays(s);
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
    sched_free_arrays(s);
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
    if (job_hash(j)) goto oom;
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

void rg_sched_cache_drop(rg_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->drop_cache = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void rg_sched_metrics_get(rg_sched *s, rg_sched_metrics *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->met;
    pthread_mutex_unlock(&s->mu);
}

const rg_llm_model *rg_sched_model(const rg_sched *s) { return s->m; }
