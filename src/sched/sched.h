/* sched.h - continuous batching over one LLM context: many requests share
 * one engine thread and one paged KV-cache pool.
 *
 * Every engine step gathers the next token of every running sequence and
 * a chunk of pending prompt tokens into ONE rg_llm_decode, so the weights
 * are streamed once per step for all sequences (matrix-matrix, not n
 * matrix-vectors).  Requests join and leave at every step.  KV blocks come
 * from one pool on demand; when it runs short the newest sequence is
 * preempted and recomputed later.  Prefix caching is block-level: every
 * full KV block is keyed by the hash of its token chain (all tokens from
 * the start to its end) and reference-counted; a request whose prompt
 * starts with the same tokens (system prompt, retrieved sources, earlier
 * turns) points its block table at those blocks instead of recomputing
 * them, also while the request that computes them is still running, so
 * concurrent requests share one copy read-only.  Blocks no sequence uses
 * stay cached until the pool runs short, then go least recently used
 * first.
 *
 * Callbacks run on the engine thread and must not block. */
#ifndef RG_SCHED_H
#define RG_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "llm/llm.h"

typedef struct rg_sched rg_sched;

typedef struct rg_sched_params {
    int max_batch;     /* running sequences at most (default 16) */
    int cache_slots;   /* unused (the prefix cache is block-level, bounded by the pool) */
    int n_ctx;         /* KV pool in tokens over all sequences (0: 4096 * max_batch / 4,
                          at least the model's context) */
    int chunk;         /* prompt tokens per step (chunked prefill; default 256) */
    int decode_chunk;  /* prompt tokens per step while sequences decode, so a long
                          prefill step does not hold up their next token (0: auto,
                          max(32, sequences decoding), at most chunk) */
    int seq_ctx;       /* tokens per sequence at most (0: the model's training context,
                          capped by n_ctx); an explicit value may exceed the training
                          context (the user asked for it, as llama.cpp's -c) */
    int n_threads;     /* <= 0: all CPUs */
    rg_dtype kv_type;  /* F16 default */
} rg_sched_params;

void rg_sched_params_init(rg_sched_params *p);

typedef enum rg_sched_finish {
    RG_SCHED_EOG = 0,     /* end-of-generation token */
    RG_SCHED_LENGTH = 1,  /* max_tokens reached */
    RG_SCHED_STOPPED = 2, /* on_token asked to stop (stop string, grammar done) */
    RG_SCHED_CANCELLED = 3,
    RG_SCHED_ERROR = 4    /* prompt longer than the context, engine error */
} rg_sched_finish;

typedef struct rg_sched_result {
    rg_sched_finish finish;
    int n_prompt, n_cached, n_gen; /* n_cached: prompt tokens taken from the prefix cache */
    double ttft_s, total_s;        /* from submit */
    char error[160];
} rg_sched_result;

typedef struct rg_sched_req {
    const int32_t *prompt; /* copied at submit */
    int n_prompt;
    int max_tokens;
    rg_llm_sampler_params sampling;
    /* Each generated token (not the EOG one); return nonzero to stop. */
    int (*on_token)(void *ud, int32_t token);
    /* Optional: adjust logits (n_vocab) before sampling, e.g. a grammar
     * mask (set disallowed entries to -INFINITY). */
    void (*on_logits)(void *ud, float *logits, int n_vocab);
    /* Optional, with on_logits: a cheap check of one token (return 1 when
     * it may come next), agreeing with the mask on_logits applies.  When
     * set, the engine checks the best candidates in order
     * (rg_llm_sample_allowed, at most max_checks of them) and
     * calls on_logits (a full mask, costly on large vocabularies) only
     * when that does not settle the draw; the token has the masked
     * distribution either way. */
    int (*check_token)(void *ud, int32_t token);
    int max_checks; /* <= 0: 256 */
    /* Optional, with check_token: return 0 when checking candidates is
     * not worth it this step (too few tokens can pass): mask at once. */
    int (*worth_checking)(void *ud);
    /* Exactly once per accepted submit, last. */
    void (*on_done)(void *ud, const rg_sched_result *r);
    void *ud;
} rg_sched_req;

typedef struct rg_sched_metrics {
    int running, waiting, cached_slots; /* cached_slots: always 0 (block-level cache) */
    int kv_blocks_total, kv_blocks_free; /* free: no reference at all */
    int64_t kv_tokens_stored;       /* positions held by the running sequences */
    int64_t prompt_tokens, prompt_tokens_cached; /* prefix-cache hit rate = cached / prompt */
    int64_t generated_tokens, steps, preemptions;
    /* total = used + cached + free */
    int kv_blocks_used;       /* distinct blocks the running sequences point at */
    int kv_blocks_cached;     /* blocks only the prefix cache holds (evictable) */
    int kv_blocks_shared;     /* used blocks that two or more sequences point at */
    int prefix_cache_blocks;  /* blocks indexed by the prefix cache (in use or not) */
    int64_t kv_seq_refs;      /* block-table references of all sequences (0 when idle) */
    double kv_held_per_stored; /* kv_blocks_used * RG_LLM_KV_BLOCK / kv_tokens_stored */
    int64_t kv_cow_copies;    /* shared partial blocks copied before a write */
} rg_sched_metrics;

/* Creates the context and starts the engine thread.  m must outlive the
 * scheduler.  *out owned by the caller (rg_sched_free). */
rg_status rg_sched_new(const rg_llm_model *m, const rg_sched_params *p, rg_sched **out, rg_err *err);
/* Stops the engine: pending and running requests finish CANCELLED. */
void rg_sched_free(rg_sched *s);
/* Queues a request; returns its id (> 0), or -1 with err set (then no
 * callback fires). Thread-safe. */
int64_t rg_sched_submit(rg_sched *s, const rg_sched_req *r, rg_err *err);
/* Cancels a request (client gone): its slot is freed at the next step.
 * Thread-safe; unknown or finished ids are ignored. */
void rg_sched_cancel(rg_sched *s, int64_t id);
/* Metrics as of the last engine step.  Thread-safe. */
void rg_sched_metrics_get(rg_sched *s, rg_sched_metrics *out);
/* Empties the prefix cache of blocks no sequence uses (at the next
 * engine step).  Thread-safe. */
void rg_sched_cache_drop(rg_sched *s);
const rg_llm_model *rg_sched_model(const rg_sched *s);

#endif
