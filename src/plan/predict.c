/* predict.c - model statistics from GGUF and the roofline predictor. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"
#include "plan/plan.h"

static double params_of(rg_dtype t, uint64_t bytes) {
    const rg_dtype_traits *tr = rg_dtype_get(t);
    if (!tr) return 0;
    return (double)bytes / tr->type_size * tr->block_size;
}

static void finish_model(rg_plan_model *m) {
    uint64_t best = 0;
    m->weight_bytes_per_token = 0;
    m->matmul_params = 0;
    for (int t = 0; t < RG_DTYPE_COUNT; t++) {
        m->weight_bytes_per_token += m->bytes_by_type[t];
        m->matmul_params += params_of((rg_dtype)t, m->bytes_by_type[t]);
        if (m->bytes_by_type[t] > best) best = m->bytes_by_type[t], m->main_type = (rg_dtype)t;
    }
}

static int64_t key_i(const rg_gguf *g, const char *arch, const char *suffix, int64_t def) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, suffix);
    int64_t v;
    return rg_gguf_get_i64(g, k, &v) ? v : def;
}

rg_status rg_plan_model_from_gguf(const char *path, rg_plan_model *m, rg_err *err) {
    memset(m, 0, sizeof *m);
    rg_gguf *g;
    rg_status rc = rg_gguf_open(path, &g, err);
    if (rc) return rc;
    const char *arch = rg_gguf_get_str(g, "general.architecture", NULL);
    if (!arch) {
        rg_gguf_close(g);
        return rg_failf(err, RG_FORMAT, "%s: no general.architecture key", path);
    }
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    m->n_layer = key_i(g, arch, "block_count", 0);
    m->n_embd = key_i(g, arch, "embedding_length", 0);
    m->n_head = key_i(g, arch, "attention.head_count", 1);
    m->n_head_kv = key_i(g, arch, "attention.head_count_kv", m->n_head);
    m->n_ff = key_i(g, arch, "feed_forward_length", 0);
    m->n_ctx_train = key_i(g, arch, "context_length", 0);
    m->file_bytes = rg_gguf_file_size(g);
    const rg_gguf_tensor *emb = rg_gguf_find_tensor(g, "token_embd.weight");
    int tied = rg_gguf_find_tensor(g, "output.weight") == NULL;
    if (emb) m->n_vocab = emb->ne[1];
    char last[64];
    snprintf(last, sizeof last, "blk.%lld.", (long long)(m->n_layer - 1));
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
        if (t->n_dims < 2 || t->type >= RG_DTYPE_COUNT) continue;
        int is_emb = strcmp(t->name, "token_embd.weight") == 0;
        /* Embedding tables are row lookups, not matmuls (unless tied). */
        if ((is_emb && !tied) || strstr(t->name, "position_embd") || strstr(t->name, "token_types"))
            continue;
        m->bytes_by_type[t->type] += t->nbytes;
        m->rows_by_type[t->type] += (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        m->n_matmul++;
        int is_out = is_emb || strcmp(t->name, "output.weight") == 0;
        int tail = strncmp(t->name, last, strlen(last)) == 0 &&
                   (strstr(t->name, "attn_output") || strstr(t->name, "ffn_"));
        if (is_out || tail) m->last_only_by_type[t->type] += t->nbytes;
    }
    rg_gguf_close(g);
    if (m->n_layer <= 0 || m->n_embd <= 0)
        return rg_failf(err, RG_FORMAT, "%s: missing %s.block_count / embedding_length", path,
                        m->arch);
    finish_model(m);
    return RG_OK;
}

rg_status rg_plan_model_from_params(double params, rg_dtype type, rg_plan_model *m, rg_err *err) {
    memset(m, 0, sizeof *m);
    const rg_dtype_traits *tr = rg_dtype_get(type);
    if (!(params > 0) || !tr) return rg_failf(err, RG_INVALID, "predict: need --params > 0 and a known --type");
    snprintf(m->arch, sizeof m->arch, "llama (estimated)");
    /* Llama-family shapes: params ~ 12 * n_layer * d^2 with n_layer ~ d/128. */
    double d = cbrt(params * 128.0 / 12.0);
    m->n_embd = ((int64_t)(d / 64.0 + 0.5)) * 64;
    if (m->n_embd < 64) m->n_embd = 64;
    m->n_layer = m->n_embd / 128 > 0 ? m->n_embd / 128 : 1;
    m->n_head = m->n_embd / 128 > 0 ? m->n_embd / 128 : 1;
    m->n_head_kv = m->n_head >= 8 ? m->n_head / 4 : m->n_head;
    m->n_ff = m->n_embd * 8 / 3;
    m->n_vocab = 32000;
    double bytes = params / tr->block_size * tr->type_size;
    m->bytes_by_type[type] = (uint64_t)bytes;
    double per_layer = (double)m->n_embd * (2 * m->n_embd + 2 * m->n_embd / 4 + 3 * m->n_ff);
    double out = (double)m->n_vocab * m->n_embd;
    double tail = (double)m->n_embd * (m->n_embd + 3 * m->n_ff);
    m->last_only_by_type[type] = (uint64_t)(bytes * fmin(1.0, (out + tail) / (out + per_layer * m->n_layer)));
    m->n_matmul = (int)(7 * m->n_layer + 1);
    m->rows_by_type[type] = (uint64_t)(m->n_layer * (2 * m->n_embd + 2 * m->n_embd / 4 + 3 * m->n_ff) +
                                       m->n_vocab); /* rows: outputs of every matrix */
    m->file_bytes = (uint64_t)bytes;
    finish_model(m);
    return RG_OK;
}

static double decode_rate(const rg_plan_profile *p, int t) {
    double r = p->rate[t].decode_gbs;
    return (r > 0 ? r : p->bandwidth_gbs * 0.7) * 1e9;
}

static double prefill_rate(const rg_plan_profile *p, int t) {
    double r = p->rate[t].prefill_gflops;
    if (r > 0) return r * 1e9;
    /* unmeasured type: the slowest measured rate, or a conservative guess */
    double lo = 0;
    for (int i = 0; i < RG_DTYPE_COUNT; i++)
        if (p->rate[i].prefill_gflops > 0 && (lo == 0 || p->rate[i].prefill_gflops < lo))
            lo = p->rate[i].prefill_gflops;
    return (lo > 0 ? lo : 10.0) * 1e9;
}

static uint64_t kv_per_token(const rg_plan_model *m, int elem) {
    int64_t hd = m->n_head > 0 ? m->n_embd / m->n_head : m->n_embd;
    return (uint64_t)(2 * m->n_layer * m->n_head_kv * hd * (elem > 0 ? elem : 2));
}

/* Attention of one step: prefill tokens attend to ctx earlier positions
 * plus the causal half of their own; decoding sequences read ctx
 * positions of KV each. */
static double attn_seconds(const rg_plan_profile *p, const rg_plan_model *m, int b,
                           int prefill_tokens, int ctx_tokens) {
    double rate = (p->attn_gflops > 0 ? p->attn_gflops : 5.0) * 1e9;
    double flops = 4.0 * m->n_layer * m->n_embd * (double)prefill_tokens *
                   (ctx_tokens + prefill_tokens / 2.0);
    double t = flops / rate;
    if (b > 0) {
        double kv = (double)kv_per_token(m, 2) * ctx_tokens * b;
        double dflops = 4.0 * m->n_layer * m->n_embd * (double)ctx_tokens * b;
        t += fmax(kv / (p->bandwidth_gbs * 1e9), dflops / rate);
    }
    return t;
}

double rg_plan_step_seconds(const rg_plan_profile *p, const rg_plan_model *m, int b,
                            int prefill_tokens, int ctx_tokens) {
    double t = 0;
    int tokens = b + prefill_tokens;
    /* rows that want logits: every decoding sequence, the last prompt token */
    int out_tokens = b + (prefill_tokens > 0);
    for (int ty = 0; ty < RG_DTYPE_COUNT; ty++) {
        if (!m->bytes_by_type[ty]) continue;
        double t_mem = (double)m->bytes_by_type[ty] / decode_rate(p, ty) +
                       (double)m->rows_by_type[ty] * p->rate[ty].row_ns * 1e-9;
        if (tokens <= 1) {
            t += t_mem;
            continue;
        }
        /* Weights stream once per step; a type's matmuls are bound by the
         * slower of streaming them and doing the math for every row. */
        double all = params_of((rg_dtype)ty, m->bytes_by_type[ty]);
        double last = params_of((rg_dtype)ty, m->last_only_by_type[ty]);
        double flops = 2.0 * ((all - last) * tokens + last * out_tokens);
        /* outputs: rows x tokens, the last-only share for out_tokens rows */
        double rows = (double)m->rows_by_type[ty];
        double lrows = m->bytes_by_type[ty] ? rows * (double)m->last_only_by_type[ty] /
                                                  (double)m->bytes_by_type[ty] : 0;
        double cells = (rows - lrows) * tokens + lrows * out_tokens;
        t += fmax(t_mem, flops / prefill_rate(p, ty) + cells * p->rate[ty].cell_ns * 1e-9);
    }
    /* fixed cost per matmul call, and per layer once attention is big
     * enough to be spread over the threads (forward.c: >= 65536 MACs) */
    int calls = m->n_matmul > 0 ? m->n_matmul : (int)(7 * m->n_layer + 1);
    double attn_work = (double)(ctx_tokens + 1) * m->n_embd * (tokens > 0 ? tokens : 1);
    if (attn_work >= 65536) calls += (int)m->n_layer;
    t += calls * p->call_us * 1e-6;
    /* the engine's own residual (calibrate runs a small model through it) */
    t += p->elem_ns * 1e-9 * (double)prefill_tokens * m->n_layer * (2.0 * m->n_embd + m->n_ff);
    if (b > 0) t += p->layer_us * 1e-6 * m->n_layer;
    return t + attn_seconds(p, m, b, prefill_tokens, ctx_tokens);
}

void rg_plan_predict(const rg_plan_profile *p, const rg_plan_model *m, const rg_plan_request *r,
                     rg_plan_prediction *out) {
    memset(out, 0, sizeof *out);
    int P = r->prompt_tokens > 0 ? r->prompt_tokens : 1, G = r->gen_tokens > 0 ? r->gen_tokens : 1;
    double t_pp = rg_plan_step_seconds(p, m, 0, P, 0);
    out->pp_tokens_per_s = P / t_pp;
    out->ttft_ms = t_pp * 1e3;
    /* llama-bench's tg runs from an empty context: average context G/2. */
    double t_tg = rg_plan_step_seconds(p, m, 1, 0, P + G / 2);
    double t_tg_bench = rg_plan_step_seconds(p, m, 1, 0, G / 2);
    out->tg_tokens_per_s = 1.0 / t_tg_bench;
    out->total_ms = out->ttft_ms + G * t_tg * 1e3;
    out->kv_bytes_per_token = kv_per_token(m, r->kv_bytes_per_elem);
    uint64_t scratch = (uint64_t)P * (uint64_t)(m->n_embd * 6 + m->n_ff * 3) * 4 +
                       (uint64_t)m->n_vocab * 4 * 2;
    out->memory_bytes = m->file_bytes + out->kv_bytes_per_token * (uint64_t)(P + G) + scratch;
}
