/* llm.h - llama-family language models on the CPU: loading (llama, qwen2
 * GGUF files), the forward pass with a paged KV cache, sampling and chat
 * templates.
 *
 * Shape of the API (vLLM/llama.cpp-like, so a continuous-batching
 * scheduler can sit on top):
 *   rg_llm_model  read-only weights: pointers into the GGUF map, shared by
 *                 any number of contexts.
 *   rg_llm_ctx    run state allocated once (activations for n_batch tokens,
 *                 a thread pool) and a KV cache of n_ctx token slots, paged
 *                 in blocks of RG_LLM_KV_BLOCK positions.  Each sequence
 *                 (id in [0, n_seq_max)) has a block table mapping its
 *                 positions to cache blocks, so several sequences of
 *                 different lengths share one cache.
 *   rg_llm_decode runs one step over a batch of (token, pos, seq) entries:
 *                 a whole prompt (prefill, matrix-matrix work), one token of
 *                 one sequence (decode), or one token of each of several
 *                 sequences (batched decode).  No allocation happens inside.
 * A context is used by one thread at a time. */
#ifndef RG_LLM_H
#define RG_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"
#include "gguf/dtype.h"
#include "gguf/gguf.h"

/* ---- model ---- */

typedef enum rg_llm_arch { RG_LLM_ARCH_LLAMA = 0, RG_LLM_ARCH_QWEN2 = 1 } rg_llm_arch;

typedef struct rg_llm_hparams {
    rg_llm_arch arch;
    const char *arch_name; /* "llama" / "qwen2" (static storage) */
    int n_vocab;           /* rows of token_embd */
    int n_embd;            /* {arch}.embedding_length */
    int n_layer;           /* {arch}.block_count */
    int n_head;            /* {arch}.attention.head_count */
    int n_head_kv;         /* {arch}.attention.head_count_kv (default n_head) */
    int head_dim;          /* {arch}.attention.key_length, default n_embd / n_head */
    int n_ff;              /* {arch}.feed_forward_length */
    int n_rot;             /* {arch}.rope.dimension_count (default head_dim) */
    int n_ctx_train;       /* {arch}.context_length */
    float rope_base;       /* {arch}.rope.freq_base (default 10000) */
    float rope_freq_scale; /* 1 / {arch}.rope.scaling.factor for linear scaling, else 1 */
    int rope_mode;         /* rg_rope_mode: NORMAL for llama, NEOX for qwen2 */
    float norm_eps;        /* {arch}.attention.layer_norm_rms_epsilon */
    bool tied_output;      /* no output.weight: logits from token_embd */
    bool qkv_bias;         /* attn_{q,k,v}.bias present */
    rg_dtype ftype;        /* type of most 2-D weights (for display) */
} rg_llm_hparams;

typedef struct rg_llm_model rg_llm_model;

/* Opens and validates a model: every tensor the architecture needs must
 * be present with the expected type class and shape, else RG_FORMAT /
 * RG_UNSUPPORTED naming the tensor or key and what was expected.  *out
 * owns the file map; free with rg_llm_model_close. */
rg_status rg_llm_model_open(const char *path, rg_llm_model **out, rg_err *err);
/* Same over an open GGUF; the model borrows g (which must outlive it). */
rg_status rg_llm_model_from_gguf(const rg_gguf *g, rg_llm_model **out, rg_err *err);
void rg_llm_model_close(rg_llm_model *m);
/* Valid while m is open. */
const rg_llm_hparams *rg_llm_model_hparams(const rg_llm_model *m);
/* The underlying file (tokenizer, chat template); valid while m is open. */
const rg_gguf *rg_llm_model_gguf(const rg_llm_model *m);
/* Bytes of weights read to decode one token (every matrix once, the
 * output matrix included, one embedding row): the memory-bandwidth cost
 * of a decode step. */
uint64_t rg_llm_model_decode_bytes(const rg_llm_model *m);
/* Total bytes of tensor data in the file. */
uint64_t rg_llm_model_weight_bytes(const rg_llm_model *m);
/* Number of parameters (elements of all tensors). */
uint64_t rg_llm_model_n_params(const rg_llm_model *m);

/* ---- context (run state + KV cache) ---- */

#ifndef RG_LLM_KV_BLOCK /* -DRG_LLM_KV_BLOCK=16 builds a variant (bench/sched.sh compares) */
#define RG_LLM_KV_BLOCK 32 /* positions per KV-cache block */
#endif

typedef struct rg_llm_ctx_params {
    int n_ctx;         /* KV slots over all sequences; 0 = min(n_ctx_train, RG_LLM_DEFAULT_CTX) */
    int n_batch;       /* max tokens per rg_llm_decode; 0 = min(512, n_ctx) */
    int n_seq_max;     /* sequences; 0 = 1 */
    int n_outputs_max; /* max logit rows per decode; 0 = n_seq_max */
    int n_threads;     /* <= 0: all CPUs */
    rg_dtype kv_type;  /* RG_DTYPE_F16 (default), RG_DTYPE_F32 or RG_DTYPE_Q8_0 (head_dim % 32 == 0) */
} rg_llm_ctx_params;

#define RG_LLM_DEFAULT_CTX 4096

/* Zeroes p and sets kv_type = F16 (every 0 means "default"). */
void rg_llm_ctx_params_init(rg_llm_ctx_params *p);

typedef struct rg_llm_ctx rg_llm_ctx;

/* Allocates everything the forward pass needs, once.  m must outlive the
 * context.  Free with rg_llm_ctx_free. */
rg_status rg_llm_ctx_new(const rg_llm_model *m, const rg_llm_ctx_params *p, rg_llm_ctx **out,
                         rg_err *err);
void rg_llm_ctx_free(rg_llm_ctx *c);
/* The effective parameters (defaults resolved). */
const rg_llm_ctx_params *rg_llm_ctx_params_get(const rg_llm_ctx *c);
const rg_llm_model *rg_llm_ctx_model(const rg_llm_ctx *c);
/* Bytes of KV cache allocated. */
uint64_t rg_llm_ctx_kv_bytes(const rg_llm_ctx *c);

/* One step's input.  For each sequence, its tokens must come at
 * consecutive positions continuing the sequence: the first one at
 * rg_llm_seq_len(seq) (drop a tail with rg_llm_seq_rm first to rewrite). */
typedef struct rg_llm_batch {
    int n_tokens;
    const int32_t *token;  /* (n_tokens,) ids in [0, n_vocab) */
    const int32_t *pos;    /* (n_tokens,) position in its sequence */
    const int32_t *seq;    /* (n_tokens,) sequence ids; NULL = all 0 */
    const int8_t *logits;  /* (n_tokens,) nonzero = want logits; NULL = the last token only */
} rg_llm_batch;

/* Runs the model over b (n_tokens <= n_batch), appending its K/V to the
 * cache.  On error the cache is unchanged for every sequence.  Logit rows
 * are readable with rg_llm_logits until the next decode. */
rg_status rg_llm_decode(rg_llm_ctx *c, const rg_llm_batch *b, rg_err *err);
/* Number of logit rows the last decode produced. */
int rg_llm_n_outputs(const rg_llm_ctx *c);
/* Row i (n_vocab floats) of the last decode's logits, in batch order of
 * the tokens that asked for logits; NULL when i is out of range.  Owned by
 * c, overwritten by the next decode. */
float *rg_llm_logits(rg_llm_ctx *c, int i);

/* Feeds tokens[0..n) to sequence seq at positions continuing it, in
 * chunks of n_batch, asking logits for the last token only (row 0).  The
 * usual single-sequence prefill / decode call. */
rg_status rg_llm_eval(rg_llm_ctx *c, int seq, const int32_t *tokens, int n, rg_err *err);

/* Positions already in the cache for seq (its next position). */
int rg_llm_seq_len(const rg_llm_ctx *c, int seq);
/* Drops positions >= p0 of seq (p0 = 0 clears it), returning its blocks. */
void rg_llm_seq_rm(rg_llm_ctx *c, int seq, int p0);
/* Free KV slots (whole free blocks times RG_LLM_KV_BLOCK). */
int rg_llm_kv_free_slots(const rg_llm_ctx *c);

/* Block sharing (prefix caching).  KV blocks are reference-counted: one
 * reference per block-table entry of a sequence plus one per
 * rg_llm_kv_block_hold; a block is free at zero.  Sequences attach full
 * blocks another sequence computed (same tokens at the same positions)
 * instead of recomputing them; a shared block is read-only, and a decode
 * that appends into a shared partial last block (after rg_llm_seq_rm
 * trimmed into it) writes into a private copy (copy-on-write). */
/* Blocks in the pool. */
int rg_llm_kv_n_blocks(const rg_llm_ctx *c);
/* Id of seq's i-th block (positions i*B .. i*B+B-1), or -1. */
int rg_llm_seq_block(const rg_llm_ctx *c, int seq, int i);
/* References to a block (0 = free). */
int rg_llm_kv_block_refs(const rg_llm_ctx *c, int block);
/* Takes / drops one reference on a block in use (no-op on a free or
 * out-of-range id); the last release returns it to the pool. */
void rg_llm_kv_block_hold(rg_llm_ctx *c, int block);
void rg_llm_kv_block_release(rg_llm_ctx *c, int block);
/* Appends n full in-use blocks to seq, whose length must be a multiple
 * of RG_LLM_KV_BLOCK, taking a reference on each: its length grows by
 * n * RG_LLM_KV_BLOCK.  The caller vouches that the blocks hold the K/V
 * of seq's tokens at those positions. */
rg_status rg_llm_seq_attach(rg_llm_ctx *c, int seq, const int32_t *blocks, int n, rg_err *err);
/* Copy-on-write block copies made so far. */
int64_t rg_llm_kv_cow_count(const rg_llm_ctx *c);

/* ---- sampling ---- */

typedef struct rg_llm_sampler_params {
    float temp;          /* <= 0: greedy (argmax, lowest id wins a tie) */
    int top_k;           /* <= 0: off */
    float top_p;         /* >= 1: off */
    float min_p;         /* <= 0: off */
    float repeat_penalty;   /* 1: off; llama.cpp rule (divide positive logits) */
    float presence_penalty; /* 0: off */
    float frequency_penalty; /* 0: off */
    int penalty_last_n;  /* tokens of history the penalties look at (default 64) */
    uint64_t seed;
} rg_llm_sampler_params;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, no
 * penalties (repeat 1.0), last_n 64, seed 0. */
void rg_llm_sampler_params_init(rg_llm_sampler_params *p);

typedef struct rg_llm_sampler rg_llm_sampler;
/* Allocates scratch for n_vocab candidates once.  NULL on OOM. */
rg_llm_sampler *rg_llm_sampler_new(const rg_llm_sampler_params *p, int n_vocab);
void rg_llm_sampler_free(rg_llm_sampler *s);
/* Records a token in the penalty history (prompt tokens and generated ones). */
void rg_llm_sampler_accept(rg_llm_sampler *s, int32_t token);
/* Clears the history and restarts the random stream from the seed. */
void rg_llm_sampler_reset(rg_llm_sampler *s);
/* Picks the next token from logits (n_vocab,), which are left unchanged
 * (penalties apply to the sampler's copy).  Does not accept the token. */
int32_t rg_llm_sample(rg_llm_sampler *s, float *logits);
/* The token rg_llm_sample would pick from logits with every token that
 * allow() refuses set to -INFINITY (same random draw, same result),
 * without asking allow() about the whole vocabulary: candidates are
 * visited best first until the chain's outcome is fixed (top_k allowed
 * ones found, or min_p, with top_p off, rules out the rest).  Returns -1
 * when that would take more than max_checks calls or nothing is allowed:
 * then nothing was drawn, and the caller masks the logits itself and
 * calls rg_llm_sample.  Corner: when fewer than top_k tokens are allowed
 * in the whole vocabulary, the draw is over those alone, which differs
 * from the masked draw only when the random number rounds to its upper
 * end (the masked draw's last candidate has probability 0). */
int32_t rg_llm_sample_allowed(rg_llm_sampler *s, const float *logits, int (*allow)(void *ud, int32_t id),
                              void *ud, int max_checks);
/* Index of the largest value (lowest index on ties). */
int32_t rg_llm_argmax(const float *x, int n);

/* ---- chat templates ---- */

typedef enum rg_llm_chat_family {
    RG_LLM_CHAT_CHATML = 0, /* <|im_start|>role ... <|im_end|> (Qwen, SmolLM, default) */
    RG_LLM_CHAT_LLAMA2 = 1, /* [INST] <<SYS>> ... <</SYS>> ... [/INST] */
    RG_LLM_CHAT_LLAMA3 = 2, /* <|start_header_id|>role<|end_header_id|> ... <|eot_id|> */
    RG_LLM_CHAT_MISTRAL = 3, /* [INST] ... [/INST] (no <<SYS>> block) */
    RG_LLM_CHAT_PHI3 = 4,   /* <|user|> ... <|end|> */
    RG_LLM_CHAT_GEMMA = 5   /* <start_of_turn>user ... <end_of_turn> */
} rg_llm_chat_family;

typedef struct rg_llm_chat_msg {
    const char *role; /* "system" | "user" | "assistant" */
    const char *content;
} rg_llm_chat_msg;

/* Detects the family of a Jinja chat template (tokenizer.chat_template).
 * NULL or unrecognised -> CHATML and *known = false (the caller warns). */
rg_llm_chat_family rg_llm_chat_detect(const char *tmpl, bool *known);
const char *rg_llm_chat_name(rg_llm_chat_family f);
/* Parses "chatml|llama2|llama3|mistral|phi3|gemma"; -1 if unknown. */
int rg_llm_chat_parse(const char *name);
/* Appends the rendered conversation to out, ending with the assistant
 * turn's opening when add_assistant.  The BOS token is not written (the
 * tokenizer adds it).  Special tokens appear as text (tokenize with
 * special-token parsing on). */
rg_status rg_llm_chat_render(rg_llm_chat_family f, const rg_llm_chat_msg *msgs, int n,
                             bool add_assistant, rg_buf *out);
/* The text of the token that ends an assistant turn in family f
 * ("<|im_end|>", "<|eot_id|>", "</s>", "<|end|>", "<end_of_turn>"). */
const char *rg_llm_chat_stop(rg_llm_chat_family f);

/* ---- random models (tests, benchmarks) ---- */

typedef struct rg_llm_mk_params {
    rg_llm_arch arch;
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base;   /* 0 = 10000 (llama) / 1e6 (qwen2) */
    rg_dtype type;     /* type of the 2-D weights */
    bool q4_k_m;       /* llama.cpp Q4_K_M mix instead of `type`: Q4_K, Q6_K for the
                          embedding and half the attn_v/ffn_down, Q5_0/Q8_0 where rows are
                          not a multiple of 256 */
    bool tied;         /* no output.weight */
    uint64_t seed;
} rg_llm_mk_params;

/* Writes a model of random weights with the given shape to path (GGUF v3,
 * readable by llama.cpp): matrices N(0, 0.02) except attn_q/attn_k
 * N(0, 1/n_embd), norm gains 1 + N(0, 0.02) (output_norm N(0, 1)), qwen2
 * q/k/v biases N(0, 0.1).  With n_vocab >= 259 a byte-fallback SPM
 * vocabulary of filler pieces (none below: too small for the byte tokens).
 * Holds every tensor in memory until written. */
rg_status rg_llm_make_random(const char *path, const rg_llm_mk_params *p, rg_err *err);

#endif
