/* mkmodel.c - writes llama / qwen2 GGUF models of random weights with the
 * project's own GGUF writer: small ones for unit tests, real shapes
 * (SmolLM2-135M, Qwen2.5-0.5B) for benchmarks.
 *
 * Values come from a seeded xoshiro256** stream per tensor (approximate
 * normals: sum of four uniforms), so a shape + seed always gives the same
 * file.  Quantized types go through rg_nn_quant_row (ggml-exact). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "gguf/gguf.h"
#include "llm/llm.h"
#include "nn/nn.h"

typedef struct {
    uint64_t s[4];
} rng;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next(rng *r) {
    uint64_t *q = r->s;
    uint64_t res = rotl(q[1] * 5, 7) * 9, t = q[1] << 17;
    q[2] ^= q[0];
    q[3] ^= q[1];
    q[1] ^= q[2];
    q[0] ^= q[3];
    q[2] ^= t;
    q[3] = rotl(q[3], 45);
    return res;
}
static void seed(rng *r, uint64_t s) {
    for (int i = 0; i < 4; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        r->s[i] = z ^ (z >> 31);
    }
}
/* ~N(0,1): Irwin-Hall with four 16-bit uniforms from one draw */
static float normal(rng *r) {
    uint64_t x = next(r);
    float s = (float)(x & 0xffff) + (float)((x >> 16) & 0xffff) + (float)((x >> 32) & 0xffff) +
              (float)(x >> 48);
    return (s / 65536.0f - 2.0f) * 1.7320508f;
}

typedef struct {
    rg_gguf_writer *w;
    void **bufs;
    int n_bufs, cap_bufs;
    uint64_t seed;
    int counter;
    rg_err *err;
} mk;

static void *keep(mk *M, size_t n) {
    if (M->n_bufs == M->cap_bufs) {
        int nc = M->cap_bufs ? 2 * M->cap_bufs : 64;
        void **nb = realloc(M->bufs, (size_t)nc * sizeof *nb);
        if (!nb) return NULL;
        M->bufs = nb;
        M->cap_bufs = nc;
    }
    void *p = malloc(n ? n : 1);
    if (p) M->bufs[M->n_bufs++] = p;
    return p;
}

/* Adds tensor name of shape [k, n] (n = 0: 1-D (k,)) filled with
 * mean + sd * N(0,1), stored as type t. */
static rg_status add(mk *M, const char *name, rg_dtype t, int64_t k, int64_t n, float mean,
                     float sd) {
    rng r;
    seed(&r, M->seed * 1000003u + (uint64_t)(++M->counter));
    int64_t rows = n ? n : 1;
    uint64_t rb;
    if (rg_dtype_row_bytes(t, (uint64_t)k, &rb) != 0)
        return rg_failf(M->err, RG_INVALID, "mkmodel: %s: rows of %lld do not fit type %s", name,
                        (long long)k, rg_dtype_name(t));
    unsigned char *data = keep(M, (size_t)rb * (size_t)rows);
    float *row = malloc((size_t)k * sizeof *row);
    if (!data || !row) {
        free(row);
        return rg_failf(M->err, RG_NOMEM, "mkmodel: out of memory for %s", name);
    }
    for (int64_t j = 0; j < rows; j++) {
        for (int64_t i = 0; i < k; i++) row[i] = mean + sd * normal(&r);
        void *dst = data + (size_t)j * rb;
        if (t == RG_DTYPE_F32) memcpy(dst, row, (size_t)k * sizeof(float));
        else if (rg_nn_quant_row(t, row, dst, k) != RG_OK) {
            free(row);
            return rg_failf(M->err, RG_UNSUPPORTED, "mkmodel: cannot quantize to %s",
                            rg_dtype_name(t));
        }
    }
    free(row);
    int64_t ne[2] = {k, n};
    rg_status st = rg_gguf_writer_add_tensor(M->w, name, t, n ? 2 : 1, ne, data, rb * (uint64_t)rows);
    if (st) return rg_failf(M->err, st, "mkmodel: cannot add tensor %s", name);
    return RG_OK;
}

/* llama.cpp's fallbacks when rows are not a multiple of 256 */
static rg_dtype fit(rg_dtype t, int64_t k) {
    if (k % 256 == 0) return t;
    switch (t) {
    case RG_DTYPE_Q4_K: return RG_DTYPE_Q5_0;
    case RG_DTYPE_Q5_K: return RG_DTYPE_Q5_1;
    case RG_DTYPE_Q6_K: return RG_DTYPE_Q8_0;
    default: return t;
    }
}

static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* A byte-fallback SPM vocabulary: <unk> <s> </s>, the 256 byte tokens,
 * then filler pieces "t<i>".  llama.cpp refuses a model without a
 * vocabulary, so this is what lets it load (and llama-bench time) the
 * same file as ragd.  Vocabularies too small for the byte tokens get none. */
static rg_status add_vocab(rg_gguf_writer *w, int n) {
    if (n < 3 + 256) return RG_OK;
    enum { W = 12 }; /* "t" + up to 10 digits + NUL */
    char *text = malloc((size_t)n * W);
    const char **tok = malloc((size_t)n * sizeof *tok);
    float *score = malloc((size_t)n * sizeof *score);
    int32_t *type = malloc((size_t)n * sizeof *type);
    rg_status st = text && tok && score && type ? RG_OK : RG_NOMEM;
    for (int i = 0; !st && i < n; i++) {
        char *s = text + (size_t)i * W;
        if (i < 3) snprintf(s, W, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 3 + 256) snprintf(s, W, "<0x%02X>", i - 3);
        else snprintf(s, W, "t%d", i);
        tok[i] = s;
        score[i] = i < 3 + 256 ? 0.0f : -(float)i;
        type[i] = i == 0 ? 2 : i < 3 ? 3 : i < 3 + 256 ? 6 : 1; /* unknown, control, byte, normal */
    }
    if (!st) st = rg_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!st) st = rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok, (uint64_t)n);
    if (!st) st = rg_gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", score, (uint64_t)n);
    if (!st) st = rg_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", type, (uint64_t)n);
    if (!st) st = rg_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!st) st = rg_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!st) st = rg_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    free(text);
    free(tok);
    free(score);
    free(type);
    return st;
}

rg_status rg_llm_make_random(const char *path, const rg_llm_mk_params *p, rg_err *err) {
    if (p->n_vocab < 1 || p->n_embd < 1 || p->n_layer < 1 || p->n_head < 1 || p->n_head_kv < 1 ||
        p->n_ff < 1 || p->n_embd % p->n_head || p->n_head % p->n_head_kv ||
        p->n_vocab > (int)RG_MAX_VOCAB || p->n_layer > RG_MAX_LAYERS)
        return rg_failf(err, RG_INVALID, "mkmodel: inconsistent shape");
    mk M = {rg_gguf_writer_new(), NULL, 0, 0, p->seed, 0, err};
    if (!M.w) return rg_failf(err, RG_NOMEM, "mkmodel: out of memory");
    const char *arch = p->arch == RG_LLM_ARCH_QWEN2 ? "qwen2" : "llama";
    const int64_t E = p->n_embd, HD = p->n_embd / p->n_head, KVD = HD * p->n_head_kv;
    const float base = p->rope_base > 0 ? p->rope_base : (p->arch == RG_LLM_ARCH_QWEN2 ? 1e6f : 1e4f);
    char key[128];
    rg_status st = RG_OK;
#define KV(fn, suffix, v)                                                                         \
    do {                                                                                          \
        snprintf(key, sizeof key, "%s.%s", arch, suffix);                                         \
        if (!st) st = fn(M.w, key, v);                                                            \
    } while (0)
    st = rg_gguf_writer_set_str(M.w, "general.architecture", arch);
    if (!st) st = rg_gguf_writer_set_str(M.w, "general.name", "ragd random model");
    KV(rg_gguf_writer_set_u32, "context_length", (uint32_t)p->n_ctx);
    KV(rg_gguf_writer_set_u32, "embedding_length", (uint32_t)p->n_embd);
    KV(rg_gguf_writer_set_u32, "block_count", (uint32_t)p->n_layer);
    KV(rg_gguf_writer_set_u32, "feed_forward_length", (uint32_t)p->n_ff);
    KV(rg_gguf_writer_set_u32, "attention.head_count", (uint32_t)p->n_head);
    KV(rg_gguf_writer_set_u32, "attention.head_count_kv", (uint32_t)p->n_head_kv);
    KV(rg_gguf_writer_set_u32, "rope.dimension_count", (uint32_t)HD);
    KV(rg_gguf_writer_set_f32, "rope.freq_base", base);
    KV(rg_gguf_writer_set_f32, "attention.layer_norm_rms_epsilon",
       p->arch == RG_LLM_ARCH_QWEN2 ? 1e-6f : 1e-5f);
#undef KV
    if (!st) st = add_vocab(M.w, p->n_vocab);
    if (st) {
        rg_gguf_writer_free(M.w);
        return rg_failf(err, st, "mkmodel: cannot set metadata");
    }
    const bool mix = p->q4_k_m;
    rg_dtype t = p->type, t_embd = mix ? RG_DTYPE_Q6_K : p->type;
    const float wsd = 0.02f, qksd = 1.0f / sqrtf((float)E);
    /* the embedding: Q6_K in the mix only when it is also the output (as llama.cpp) */
    if (mix && !p->tied) t_embd = RG_DTYPE_Q4_K;
    st = add(&M, "token_embd.weight", fit(t_embd, E), E, p->n_vocab, 0, wsd);
    if (!st) st = add(&M, "output_norm.weight", RG_DTYPE_F32, E, 0, 0.0f, 1.0f);
    if (!st && !p->tied)
        st = add(&M, "output.weight", fit(mix ? RG_DTYPE_Q6_K : t, E), E, p->n_vocab, 0, wsd);
    for (int i = 0; i < p->n_layer && !st; i++) {
        char n[RG_GGUF_MAX_NAME];
        rg_dtype tm = mix ? RG_DTYPE_Q4_K : t;
        rg_dtype tb = mix && more_bits(i, p->n_layer) ? RG_DTYPE_Q6_K : tm;
#define NM(s) (snprintf(n, sizeof n, "blk.%d." s, i), n)
        st = add(&M, NM("attn_norm.weight"), RG_DTYPE_F32, E, 0, 1.0f, 0.02f);
        if (!st) st = add(&M, NM("attn_q.weight"), fit(tm, E), E, HD * p->n_head, 0, qksd);
        if (!st) st = add(&M, NM("attn_k.weight"), fit(tm, E), E, KVD, 0, qksd);
        if (!st) st = add(&M, NM("attn_v.weight"), fit(tb, E), E, KVD, 0, wsd);
        if (!st) st = add(&M, NM("attn_output.weight"), fit(tm, HD * p->n_head), HD * p->n_head, E, 0, wsd);
        if (!st && p->arch == RG_LLM_ARCH_QWEN2) {
            st = add(&M, NM("attn_q.bias"), RG_DTYPE_F32, HD * p->n_head, 0, 0, 0.1f);
            if (!st) st = add(&M, NM("attn_k.bias"), RG_DTYPE_F32, KVD, 0, 0, 0.1f);
            if (!st) st = add(&M, NM("attn_v.bias"), RG_DTYPE_F32, KVD, 0, 0, 0.1f);
        }
        if (!st) st = add(&M, NM("ffn_norm.weight"), RG_DTYPE_F32, E, 0, 1.0f, 0.02f);
        if (!st) st = add(&M, NM("ffn_gate.weight"), fit(tm, E), E, p->n_ff, 0, wsd);
        if (!st) st = add(&M, NM("ffn_up.weight"), fit(tm, E), E, p->n_ff, 0, wsd);
        if (!st) st = add(&M, NM("ffn_down.weight"), fit(tb, p->n_ff), p->n_ff, E, 0, wsd);
#undef NM
    }
    if (!st) st = rg_gguf_writer_write(M.w, path, err);
    rg_gguf_writer_free(M.w);
    for (int i = 0; i < M.n_bufs; i++) free(M.bufs[i]);
    free(M.bufs);
    return st;
}
