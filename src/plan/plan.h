/* plan.h - capacity planning: a hardware profile, a first-principles
 * latency/throughput predictor for GGUF models, a queueing simulation of
 * the continuous-batching engine under Poisson load, and a self-hosted vs
 * API cost calculator.
 *
 * The predictor is a roofline: decode reads every weight byte once per
 * step (bandwidth-bound), prefill does 2 flops per weight per token
 * (compute-bound at the measured batched-matmul rate of the weight type).
 * Profiles come from `ragd calibrate` (measured with ragd's own kernels)
 * or are written by hand for other machines. */
#ifndef RG_PLAN_H
#define RG_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "gguf/dtype.h"

#define RG_PLAN_MAX_THREADS 64

/* Per-weight-type kernel rates on one machine at a given thread count. */
typedef struct rg_plan_type_rate {
    double decode_gbs;   /* weight bytes/s streamed by batch-1 matmul (GB/s) */
    double row_ns;       /* plus this per weight row (short rows cost more per byte) */
    double prefill_gflops; /* 2*k*n*batch / s of batched matmul (GFLOP/s) */
    double cell_ns;      /* plus this per output (row x batch) of a batched matmul */
} rg_plan_type_rate;

typedef struct rg_plan_profile {
    char name[128];
    int threads;                       /* threads the rates were measured with */
    double bandwidth_gbs;              /* STREAM-like triad */
    rg_plan_type_rate rate[RG_DTYPE_COUNT]; /* 0 = not measured */
    double attn_gflops;                /* attention kernel rate (all threads) */
    double call_us;                    /* fixed cost of one matmul call (thread hand-off) */
    double elem_ns;   /* prefill work beyond matmuls/attention, per token x layer x (2 d + ff) */
    double layer_us;  /* decode work beyond matmuls/attention/calls, per layer and step */
    int cpu_clock;                     /* rates by process CPU time / threads ("clock": "cpu"):
                                          the speed with a full core per thread */
} rg_plan_profile;

/* Reads a profile JSON (as written by rg_plan_profile_save) and picks the
 * wall-clock entry measured with `threads` threads (or the nearest below
 * it); p->cpu_clock set on input asks for the CPU-time entry instead. */
rg_status rg_plan_profile_load(const char *path, int threads, rg_plan_profile *p, rg_err *err);
/* Writes n profiles (one per thread count) to path, atomically. */
rg_status rg_plan_profile_save(const char *path, const rg_plan_profile *p, int n, rg_err *err);
/* Measures this machine with ragd's own kernels at `threads` threads
 * (bandwidth triad; batch-1 and batched matmul per weight type).  Takes
 * a few seconds per thread count. */
rg_status rg_plan_calibrate(int threads, rg_plan_profile *p, rg_err *err);
/* Same for the n_types weight types listed only (types NULL = all); the
 * same measurements by CPU time go to *pcpu when it is not NULL. */
rg_status rg_plan_calibrate_types(int threads, const rg_dtype *types, int n_types,
                                  rg_plan_profile *p, rg_plan_profile *pcpu, rg_err *err);

/* What the predictor needs to know about a model. */
typedef struct rg_plan_model {
    char arch[32];
    int64_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, n_ctx_train;
    uint64_t file_bytes;
    uint64_t weight_bytes_per_token; /* bytes read by matmuls for one decode step */
    double matmul_params;            /* weights used by matmuls (flops = 2 x this per token) */
    uint64_t bytes_by_type[RG_DTYPE_COUNT]; /* matmul weight bytes per type */
    uint64_t rows_by_type[RG_DTYPE_COUNT];  /* matmul weight rows per type */
    /* Of those, the bytes a prompt step runs for its last token only (the
     * engine keeps only the rows that want logits after the last layer's
     * attention): the output matrix and the last layer's attn_output and
     * FFN. */
    uint64_t last_only_by_type[RG_DTYPE_COUNT];
    int n_matmul;                    /* matmul calls per forward step */
    rg_dtype main_type;              /* the type holding most matmul bytes */
} rg_plan_model;

/* From a GGUF file's tensor table and hyper-parameters. */
rg_status rg_plan_model_from_gguf(const char *path, rg_plan_model *m, rg_err *err);
/* For a model you don't have: total parameters and weight type; the
 * shape is estimated from the parameter count (llama-like). */
rg_status rg_plan_model_from_params(double params, rg_dtype type, rg_plan_model *m, rg_err *err);

typedef struct rg_plan_request {
    int prompt_tokens;
    int gen_tokens;
    int kv_bytes_per_elem; /* 2 for an F16 KV cache */
} rg_plan_request;

typedef struct rg_plan_prediction {
    double pp_tokens_per_s;  /* prompt processing */
    double tg_tokens_per_s;  /* generation, one stream */
    double ttft_ms;
    double total_ms;         /* one request alone: TTFT + gen */
    uint64_t memory_bytes;   /* weights + KV for prompt+gen tokens + buffers */
    uint64_t kv_bytes_per_token;
} rg_plan_prediction;

void rg_plan_predict(const rg_plan_profile *p, const rg_plan_model *m, const rg_plan_request *r,
                     rg_plan_prediction *out);

/* Time of one engine step with b sequences decoding and `prefill` prompt
 * tokens processed in the same step (roofline). Seconds. */
double rg_plan_step_seconds(const rg_plan_profile *p, const rg_plan_model *m, int b,
                            int prefill_tokens, int ctx_tokens);

typedef struct rg_plan_load_result {
    double qps;            /* offered load */
    double p50_ms, p99_ms; /* end-to-end request latency */
    double ttft_p50_ms, ttft_p99_ms;
    double tokens_per_s;   /* aggregate generated tokens/s */
    double mean_batch;
    int completed;
} rg_plan_load_result;

/* Discrete-event simulation of Poisson arrivals at qps into a continuous
 * batching engine (max_batch running sequences, chunked prefill of
 * `chunk` tokens per step).  Deterministic for a given seed. */
void rg_plan_simulate(const rg_plan_profile *p, const rg_plan_model *m, const rg_plan_request *r,
                      double qps, int max_batch, int n_requests, uint64_t seed,
                      rg_plan_load_result *out);
/* Highest QPS whose simulated P99 latency stays under p99_goal_ms
 * (bisection); 0 when even a trickle misses it. */
double rg_plan_max_qps(const rg_plan_profile *p, const rg_plan_model *m, const rg_plan_request *r,
                       int max_batch, double p99_goal_ms);

/* ---- cost ---- */
typedef struct rg_plan_api_price {
    char name[64];
    double in_per_1k, out_per_1k; /* currency per 1,000 tokens */
} rg_plan_api_price;

#define RG_PLAN_MAX_APIS 16
typedef struct rg_plan_cost_input {
    char currency[8];
    double hw_price_per_hour;  /* one machine */
    double utilization;        /* 0..1: share of the hour the machine does useful work */
    double gen_tokens_per_s;   /* aggregate throughput of one machine (batched) */
    double prompt_tokens_per_s;
    double tokens_in, tokens_out; /* per request */
    double requests_per_day;
    int n_api;
    rg_plan_api_price api[RG_PLAN_MAX_APIS];
} rg_plan_cost_input;

typedef struct rg_plan_cost_api {
    double per_1k_requests, per_month;
    double breakeven_requests_per_day; /* volume above which self-hosting is cheaper; <0 never */
} rg_plan_cost_api;

typedef struct rg_plan_cost_result {
    double seconds_per_request;     /* machine time per request */
    double capacity_requests_per_day; /* one machine at the given utilization */
    int machines;
    double self_per_month, self_per_1k_requests;
    rg_plan_cost_api api[RG_PLAN_MAX_APIS];
} rg_plan_cost_result;

/* 30-day months.  Fails with RG_INVALID on non-positive rates. */
rg_status rg_plan_cost(const rg_plan_cost_input *in, rg_plan_cost_result *out, rg_err *err);
/* Parses a cost config JSON (see docs/plan.md; samples/cost.example.json). */
rg_status rg_plan_cost_load(const char *path, rg_plan_cost_input *in, rg_err *err);

/* ---- quality: perplexity and KL divergence (as llama.cpp's perplexity tool) ---- */

/* One window of a token stream fed to the model from an empty cache:
 * tokens [start, start + n_ctx); the logits at window positions
 * first..last (inclusive) are scored against the token that follows. */
typedef struct rg_plan_ppl_window {
    int start, first, last;
} rg_plan_ppl_window;

/* Splits n_tokens into windows of n_ctx tokens.  stride 0: llama.cpp's
 * default, non-overlapping chunks scoring their second half (positions
 * n_ctx/2 .. n_ctx-2).  stride S in [1, n_ctx-1): windows every S tokens,
 * each scoring its last S predictions (llama.cpp --ppl-stride), so every
 * scored token sees at least n_ctx - S - 1 tokens of context.  Writes at
 * most max windows to w (w may be NULL to count); returns how many there
 * are in all, 0 when the text is too short or n_ctx < 4. */
int rg_plan_ppl_windows(int n_tokens, int n_ctx, int stride, rg_plan_ppl_window *w, int max);

/* out (n,) = log_softmax(logits (n,)), in double-accumulated float; out
 * may alias logits. */
void rg_plan_log_softmax(const float *logits, int n, float *out);

/* Running sums over scored positions. */
typedef struct rg_plan_ppl_stats {
    long n;
    double nll, nll2;           /* -log p(target) under the model: sum, sum of squares */
    double base_nll, base_nll2; /* same under the base (KL mode) */
    double dnll, dnll2;         /* nll - base_nll per position (for the ratio's error) */
    double kl, kl2, kl_max;     /* KL(base || model) per position */
    long same_top;              /* positions where both argmaxes agree */
    int has_base;
} rg_plan_ppl_stats;

/* Adds one position: lp = the model's log-probs (n_vocab,), base_lp the
 * base model's (NULL when there is no base), target the next token. */
void rg_plan_ppl_add(rg_plan_ppl_stats *s, const float *lp, const float *base_lp, int n_vocab,
                     int32_t target);

typedef struct rg_plan_ppl_result {
    long n;
    double ppl, ppl_err;        /* exp(mean nll) and its standard error */
    double base_ppl;            /* KL mode only (0 otherwise) */
    double ppl_ratio, ppl_ratio_err; /* PPL(model) / PPL(base) = exp(mean(nll - base_nll)) */
    double kl_mean, kl_err, kl_max;
    double top1_agree;          /* fraction of positions with the same argmax */
} rg_plan_ppl_result;

void rg_plan_ppl_finish(const rg_plan_ppl_stats *s, rg_plan_ppl_result *r);

/* Base log-probs saved to a file (llama.cpp --kl-divergence-base), so a
 * quantized model can be compared later without the base in memory.
 * Layout (little-endian): "RGLOGP\0\1", u32 n_vocab, n_ctx, stride,
 * n_tokens, n_scored; i32 tokens[n_tokens]; f32 logp[n_scored][n_vocab]. */
typedef struct rg_plan_logits_hdr {
    uint32_t n_vocab, n_ctx, stride, n_tokens, n_scored;
} rg_plan_logits_hdr;

typedef struct rg_plan_logits_file rg_plan_logits_file;

/* Creates path (written to path.tmp and renamed by a successful
 * rg_plan_logits_close after exactly n_scored rows). */
rg_status rg_plan_logits_create(const char *path, const rg_plan_logits_hdr *h,
                                const int32_t *tokens, rg_plan_logits_file **out, rg_err *err);
rg_status rg_plan_logits_write(rg_plan_logits_file *f, const float *logp, rg_err *err);
/* Opens a saved file, checking the header and that the file holds exactly
 * what it says (sizes overflow-checked, limits from core/limits.h). */
rg_status rg_plan_logits_open(const char *path, rg_plan_logits_file **out, rg_err *err);
/* Same over an open stream of `size` bytes (the fuzz target's entry). */
rg_status rg_plan_logits_from_stream(FILE *fp, uint64_t size, const char *name,
                                     rg_plan_logits_file **out, rg_err *err);
/* Header and tokens of an opened file; valid until close. */
const rg_plan_logits_hdr *rg_plan_logits_header(const rg_plan_logits_file *f);
const int32_t *rg_plan_logits_tokens(const rg_plan_logits_file *f);
/* Reads the next row (n_vocab floats) into logp; RG_FORMAT past the end
 * or on a short read. */
rg_status rg_plan_logits_read(rg_plan_logits_file *f, float *logp, rg_err *err);
/* Closes; for a file being written, renames it into place when complete
 * (else removes the partial file and fails). */
rg_status rg_plan_logits_close(rg_plan_logits_file *f, rg_err *err);

/* ---- one entry for the CLI and the server ---- */
/* `ragd predict --json`, `ragd cost --json` and /v1/plan/{predict,cost}
 * answer with the same JSON, built here.  Objects are jansson's json_t. */
struct json_t;

typedef struct rg_plan_predict_opts {
    const char *model;       /* GGUF path, or NULL with params + type */
    const char *model_label; /* shown as "model" (NULL: the path) */
    double params;           /* --params (0 = from the model) */
    int type;                /* rg_dtype for --params, -1 = none */
    int threads, prompt, gen, concurrency;
    double qps;              /* 0 = no load simulation */
    double p99_goal_ms;
} rg_plan_predict_opts;

/* Defaults: prompt 512, gen 128, concurrency 1, goal 10000 ms, threads =
 * all CPUs, type -1. */
void rg_plan_predict_opts_init(rg_plan_predict_opts *o);
/* Fills o from a JSON object with the CLI's option names ("model" is not
 * read: the caller decides which paths it accepts): "params", "type",
 * "threads", "prompt", "gen", "concurrency", "qps", "p99_goal" (ms).
 * Numbers may be given as JSON numbers or decimal strings (query
 * strings).  Unknown keys are refused (RG_INVALID naming the key), so are
 * values out of the CLI's ranges.  Borrowed strings point into j. */
rg_status rg_plan_predict_opts_from_json(const struct json_t *j, rg_plan_predict_opts *o,
                                         rg_err *err);

typedef struct rg_plan_predict_result {
    rg_plan_model model;
    rg_plan_prediction pr;
    rg_plan_load_result load; /* when qps > 0 */
    double max_qps;           /* when qps > 0, else -1 */
    int threads;              /* of the profile used */
} rg_plan_predict_result;

/* Reads the model (or estimates it) and predicts; with qps > 0 also
 * simulates load and searches the highest QPS under the P99 goal. */
rg_status rg_plan_predict_run(const rg_plan_predict_opts *o, const rg_plan_profile *prof,
                              rg_plan_predict_result *out, rg_err *err);
/* New reference: the --json object (pp_tokens_per_s, tg_tokens_per_s,
 * ttft_ms, request_ms, memory_bytes, kv_bytes_per_token, ...). */
struct json_t *rg_plan_predict_json(const rg_plan_predict_opts *o, const rg_plan_predict_result *r);

/* A profile from a parsed JSON object shaped like a profile file
 * (p->cpu_clock on input as for rg_plan_profile_load). */
rg_status rg_plan_profile_from_json(const struct json_t *root, const char *name, int threads,
                                    rg_plan_profile *p, rg_err *err);
/* A cost input from a parsed JSON object shaped like the cost config. */
rg_status rg_plan_cost_from_json(const struct json_t *root, const char *name,
                                 rg_plan_cost_input *in, rg_err *err);
/* New reference: the `ragd cost --json` object. */
struct json_t *rg_plan_cost_json(const rg_plan_cost_input *in, const rg_plan_cost_result *r);

#endif
