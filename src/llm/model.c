/* model.c - loads a llama / qwen2 GGUF model: hyper-parameters from the
 * metadata, weights as pointers into the map.
 *
 * Invariant after a successful open: every tensor the forward pass touches
 * exists, has the shape the hyper-parameters imply, a type with a kernel
 * (2-D) or F32 (1-D), and every size product fits the limits below, so
 * forward.c never re-checks anything it reads from the file. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "llm/llm_int.h"
#include "nn/ops.h"

typedef struct {
    const rg_gguf *g;
    const char *arch;
    rg_err *err;
} loader;

static const char *arch_key(loader *L, const char *suffix, char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", L->arch, suffix);
    return buf;
}

/* Integer hyper-parameter: required (def < 0) or defaulted, within [lo, hi]. */
static rg_status get_int(loader *L, const char *suffix, long def, long lo, long hi, int *out) {
    char key[128];
    arch_key(L, suffix, key, sizeof key);
    int64_t v;
    if (rg_gguf_find_kv(L->g, key) < 0) {
        if (def < 0) return rg_failf(L->err, RG_FORMAT, "llm: missing metadata key %s", key);
        *out = (int)def;
        return RG_OK;
    }
    if (!rg_gguf_get_i64(L->g, key, &v))
        return rg_failf(L->err, RG_UNSUPPORTED,
                        "llm: metadata key %s is not a single integer (per-layer arrays are not "
                        "supported)",
                        key);
    if (v < lo || v > hi)
        return rg_failf(L->err, RG_FORMAT, "llm: %s = %" PRId64 ", expected %ld..%ld", key, v, lo,
                        hi);
    *out = (int)v;
    return RG_OK;
}

static rg_status get_float(loader *L, const char *suffix, float def, int required, float *out) {
    char key[128];
    arch_key(L, suffix, key, sizeof key);
    if (rg_gguf_find_kv(L->g, key) < 0) {
        if (required) return rg_failf(L->err, RG_FORMAT, "llm: missing metadata key %s", key);
        *out = def;
        return RG_OK;
    }
    float v;
    if (!rg_gguf_get_f32(L->g, key, &v) || !(v == v))
        return rg_failf(L->err, RG_FORMAT, "llm: metadata key %s is not a number", key);
    *out = v;
    return RG_OK;
}

static void shape_str(const rg_gguf_tensor *t, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->n_dims && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, i ? ", " : "", t->ne[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Finds a tensor and checks its shape.  ne1 < 0: 1-D tensor (ne0,), must be
 * F32.  Else a [ne0, ne1] matrix with a matmul kernel.  Absent + optional
 * gives RG_NOTFOUND without touching err. */
static rg_status want(loader *L, const char *name, int64_t ne0, int64_t ne1, int optional,
                      const rg_gguf_tensor **out) {
    const rg_gguf_tensor *t = rg_gguf_find_tensor(L->g, name);
    *out = NULL;
    if (!t) {
        if (optional) return RG_NOTFOUND;
        return rg_failf(L->err, RG_FORMAT, "llm: missing tensor %s (%s model)", name, L->arch);
    }
    char got[96];
    shape_str(t, got, sizeof got);
    if (ne1 < 0) {
        if (t->n_dims != 1 || t->ne[0] != ne0)
            return rg_failf(L->err, RG_FORMAT, "llm: tensor %s has shape %s, expected [%" PRId64 "]",
                            name, got, ne0);
        if (t->type != RG_DTYPE_F32)
            return rg_failf(L->err, RG_UNSUPPORTED, "llm: tensor %s has type %s, expected f32",
                            name, rg_dtype_name(t->type));
    } else {
        if (t->n_dims != 2 || t->ne[0] != ne0 || t->ne[1] != ne1)
            return rg_failf(L->err, RG_FORMAT,
                            "llm: tensor %s has shape %s, expected [%" PRId64 ", %" PRId64 "]", name,
                            got, ne0, ne1);
        if (!rg_nn_supports(t->type))
            return rg_failf(L->err, RG_UNSUPPORTED,
                            "llm: tensor %s has type %s, which has no kernel (supported: f32, f16, "
                            "bf16, q8_0, q4_0, q5_0, q4_K, q5_K, q6_K)",
                            name, rg_dtype_name(t->type));
        uint64_t rb;
        if (rg_dtype_row_bytes(t->type, (uint64_t)ne0, &rb) != 0)
            return rg_failf(L->err, RG_FORMAT,
                            "llm: tensor %s: rows of %" PRId64 " are not a whole number of %s blocks",
                            name, ne0, rg_dtype_name(t->type));
    }
    *out = t;
    return RG_OK;
}

static rg_status want_w(loader *L, const char *name, int64_t k, int64_t n, rg__llm_w *w) {
    const rg_gguf_tensor *t;
    rg_status st = want(L, name, k, n, 0, &t);
    if (st) return st;
    w->data = t->data;
    w->type = t->type;
    w->k = k;
    w->n = n;
    return RG_OK;
}

static rg_status want_vec(loader *L, const char *name, int64_t n, int optional, const float **v) {
    const rg_gguf_tensor *t;
    rg_status st = want(L, name, n, -1, optional, &t);
    *v = t ? (const float *)t->data : NULL;
    if (st == RG_NOTFOUND) return RG_OK;
    return st;
}

static rg_status load_hparams(loader *L, rg_llm_hparams *hp) {
    rg_status st;
    if ((st = get_int(L, "embedding_length", -1, 1, RG_LLM_MAX_EMBD, &hp->n_embd))) return st;
    if ((st = get_int(L, "block_count", -1, 1, RG_MAX_LAYERS, &hp->n_layer))) return st;
    if ((st = get_int(L, "attention.head_count", -1, 1, RG_LLM_MAX_HEADS, &hp->n_head))) return st;
    if ((st = get_int(L, "attention.head_count_kv", hp->n_head, 1, hp->n_head, &hp->n_head_kv)))
        return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return rg_failf(L->err, RG_FORMAT,
                        "llm: %s.attention.head_count %d is not a multiple of head_count_kv %d",
                        L->arch, hp->n_head, hp->n_head_kv);
    long hd_def = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : -1;
    if ((st = get_int(L, "attention.key_length", hd_def, 2, RG_LLM_MAX_HEAD_DIM, &hp->head_dim)))
        return st;
    int vlen;
    if ((st = get_int(L, "attention.value_length", hp->head_dim, 1, RG_LLM_MAX_HEAD_DIM, &vlen)))
        return st;
    if (vlen != hp->head_dim)
        return rg_failf(L->err, RG_UNSUPPORTED,
                        "llm: %s.attention.value_length %d differs from key_length %d", L->arch, vlen,
                        hp->head_dim);
    if ((st = get_int(L, "feed_forward_length", -1, 1, RG_LLM_MAX_FF, &hp->n_ff))) return st;
    if ((st = get_int(L, "context_length", -1, 1, RG_MAX_CTX * 16L, &hp->n_ctx_train))) return st;
    if ((st = get_int(L, "rope.dimension_count", hp->head_dim, 2, hp->head_dim, &hp->n_rot)))
        return st;
    if (hp->n_rot % 2)
        return rg_failf(L->err, RG_FORMAT, "llm: %s.rope.dimension_count %d is odd", L->arch,
                        hp->n_rot);
    if ((st = get_float(L, "rope.freq_base", 10000.0f, 0, &hp->rope_base))) return st;
    if (!(hp->rope_base > 0))
        return rg_failf(L->err, RG_FORMAT, "llm: %s.rope.freq_base %g is not positive", L->arch,
                        (double)hp->rope_base);
    if ((st = get_float(L, "attention.layer_norm_rms_epsilon", 0, 1, &hp->norm_eps))) return st;
    if (!(hp->norm_eps >= 0 && hp->norm_eps < 1))
        return rg_failf(L->err, RG_FORMAT, "llm: %s.attention.layer_norm_rms_epsilon %g out of range",
                        L->arch, (double)hp->norm_eps);

    /* RoPE scaling: linear (and its old key), nothing else. */
    hp->rope_freq_scale = 1.0f;
    char key[128];
    const char *stype = rg_gguf_get_str(L->g, arch_key(L, "rope.scaling.type", key, sizeof key), NULL);
    float factor = 0.0f;
    if ((st = get_float(L, "rope.scaling.factor", 0.0f, 0, &factor))) return st;
    if (factor == 0.0f && (st = get_float(L, "rope.scale_linear", 0.0f, 0, &factor))) return st;
    if (stype && strcmp(stype, "none") != 0 && strcmp(stype, "linear") != 0)
        return rg_failf(L->err, RG_UNSUPPORTED,
                        "llm: %s.rope.scaling.type '%s' is not supported (none, linear)", L->arch,
                        stype);
    if (stype && !strcmp(stype, "none")) factor = 0.0f;
    if (factor != 0.0f) {
        if (!(factor > 0))
            return rg_failf(L->err, RG_FORMAT, "llm: rope scaling factor %g is not positive",
                            (double)factor);
        hp->rope_freq_scale = 1.0f / factor;
    }
    return RG_OK;
}

static void add_w(rg_llm_model *m, const rg__llm_w *w) {
    uint64_t rb = 0;
    rg_dtype_row_bytes(w->type, (uint64_t)w->k, &rb);
    m->decode_bytes += rb * (uint64_t)w->n;
}

static rg_status load(rg_llm_model *m, rg_err *err) {
    loader L = {m->g, NULL, err};
    rg_llm_hparams *hp = &m->hp;
    const char *arch = rg_gguf_get_str(m->g, "general.architecture", NULL);
    if (!arch) return rg_failf(err, RG_FORMAT, "llm: missing metadata key general.architecture");
    if (!strcmp(arch, "llama")) {
        hp->arch = RG_LLM_ARCH_LLAMA;
        hp->arch_name = "llama";
        hp->rope_mode = RG_ROPE_NORMAL;
    } else if (!strcmp(arch, "qwen2")) {
        hp->arch = RG_LLM_ARCH_QWEN2;
        hp->arch_name = "qwen2";
        hp->rope_mode = RG_ROPE_NEOX;
    } else {
        return rg_failf(err, RG_UNSUPPORTED,
                        "llm: architecture '%s' is not supported (llama, qwen2)", arch);
    }
    L.arch = hp->arch_name;
    rg_status st = load_hparams(&L, hp);
    if (st) return st;

    const int64_t E = hp->n_embd, HD = hp->head_dim;
    const int64_t QD = (int64_t)hp->n_head * HD, KVD = (int64_t)hp->n_head_kv * HD;

    /* vocabulary size from the embedding matrix */
    const rg_gguf_tensor *te = rg_gguf_find_tensor(m->g, "token_embd.weight");
    if (!te) return rg_failf(err, RG_FORMAT, "llm: missing tensor token_embd.weight");
    if (te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > RG_MAX_VOCAB) {
        char got[96];
        shape_str(te, got, sizeof got);
        return rg_failf(err, RG_FORMAT,
                        "llm: tensor token_embd.weight has shape %s, expected [%" PRId64
                        ", n_vocab <= %u]",
                        got, E, RG_MAX_VOCAB);
    }
    hp->n_vocab = (int)te->ne[1];
    char key[128];
    int64_t vs;
    if (rg_gguf_get_i64(m->g, arch_key(&L, "vocab_size", key, sizeof key), &vs) &&
        vs != hp->n_vocab)
        return rg_failf(err, RG_FORMAT, "llm: %s = %" PRId64 " but token_embd.weight has %d rows",
                        key, vs, hp->n_vocab);
    if ((st = want_w(&L, "token_embd.weight", E, hp->n_vocab, &m->tok_embd))) return st;
    hp->ftype = m->tok_embd.type;
    if ((st = want_vec(&L, "output_norm.weight", E, 0, &m->output_norm))) return st;
    const rg_gguf_tensor *to;
    st = want(&L, "output.weight", E, hp->n_vocab, 1, &to);
    if (st == RG_NOTFOUND) {
        hp->tied_output = true;
        m->output = m->tok_embd;
    } else if (st) {
        return st;
    } else {
        m->output = (rg__llm_w){to->data, to->type, E, hp->n_vocab};
    }
    if ((st = want_vec(&L, "rope_freqs.weight", hp->n_rot / 2, 1, &m->rope_freqs))) return st;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return rg_failf(err, RG_NOMEM, "llm: out of memory");
    const int need_bias = hp->arch == RG_LLM_ARCH_QWEN2;
    for (int i = 0; i < hp->n_layer; i++) {
        rg__llm_layer *l = &m->layers[i];
        char n[RG_GGUF_MAX_NAME];
#define NM(s) (snprintf(n, sizeof n, "blk.%d." s, i), n)
        if ((st = want_vec(&L, NM("attn_norm.weight"), E, 0, &l->attn_norm))) return st;
        if ((st = want_w(&L, NM("attn_q.weight"), E, QD, &l->wq))) return st;
        if ((st = want_w(&L, NM("attn_k.weight"), E, KVD, &l->wk))) return st;
        if ((st = want_w(&L, NM("attn_v.weight"), E, KVD, &l->wv))) return st;
        if ((st = want_w(&L, NM("attn_output.weight"), QD, E, &l->wo))) return st;
        if ((st = want_vec(&L, NM("attn_q.bias"), QD, !need_bias, &l->bq))) return st;
        if ((st = want_vec(&L, NM("attn_k.bias"), KVD, !need_bias, &l->bk))) return st;
        if ((st = want_vec(&L, NM("attn_v.bias"), KVD, !need_bias, &l->bv))) return st;
        if ((st = want_vec(&L, NM("attn_output.bias"), E, 1, &l->bo))) return st;
        if ((st = want_vec(&L, NM("ffn_norm.weight"), E, 0, &l->ffn_norm))) return st;
        if ((st = want_w(&L, NM("ffn_gate.weight"), E, hp->n_ff, &l->w_gate))) return st;
        if ((st = want_w(&L, NM("ffn_up.weight"), E, hp->n_ff, &l->w_up))) return st;
        if ((st = want_w(&L, NM("ffn_down.weight"), hp->n_ff, E, &l->w_down))) return st;
#undef NM
        if (!l->bq != !l->bk || !l->bk != !l->bv)
            return rg_failf(err, RG_FORMAT,
                            "llm: layer %d has some but not all of attn_{q,k,v}.bias", i);
        if (i == 0) hp->qkv_bias = l->bq != NULL;
        else if (hp->qkv_bias != (l->bq != NULL))
            return rg_failf(err, RG_FORMAT, "llm: layer %d: q/k/v biases differ from layer 0", i);
        add_w(m, &l->wq);
        add_w(m, &l->wk);
        add_w(m, &l->wv);
        add_w(m, &l->wo);
        add_w(m, &l->w_gate);
        add_w(m, &l->w_up);
        add_w(m, &l->w_down);
        if (i == 0) hp->ftype = l->wq.type;
    }
    add_w(m, &m->output);
    /* one embedding row */
    uint64_t rb = 0;
    rg_dtype_row_bytes(m->tok_embd.type, (uint64_t)E, &rb);
    m->decode_bytes += rb;
    for (int64_t i = 0; i < rg_gguf_n_tensors(m->g); i++) {
        const rg_gguf_tensor *t = rg_gguf_tensor_at(m->g, i);
        m->weight_bytes += t->nbytes;
        uint64_t ne = 1;
        for (int d = 0; d < t->n_dims; d++) ne *= (uint64_t)t->ne[d];
        m->n_params += ne;
    }
    return RG_OK;
}

rg_status rg_llm_model_from_gguf(const rg_gguf *g, rg_llm_model **out, rg_err *err) {
    *out = NULL;
    rg_llm_model *m = calloc(1, sizeof *m);
    if (!m) return rg_failf(err, RG_NOMEM, "llm: out of memory");
    m->g = g;
    rg_status st = load(m, err);
    if (st) {
        rg_llm_model_close(m);
        return st;
    }
    *out = m;
    return RG_OK;
}

rg_status rg_llm_model_open(const char *path, rg_llm_model **out, rg_err *err) {
    *out = NULL;
    rg_gguf *g;
    rg_status st = rg_gguf_open(path, &g, err);
    if (st) return st;
    rg_llm_model *m;
    st = rg_llm_model_from_gguf(g, &m, err);
    if (st) {
        rg_err_prefix(err, "%s", path);
        rg_gguf_close(g);
        return st;
    }
    m->owned = g;
    *out = m;
    return RG_OK;
}

void rg_llm_model_close(rg_llm_model *m) {
    if (!m) return;
    free(m->layers);
    if (m->owned) rg_gguf_close(m->owned);
    free(m);
}

const rg_llm_hparams *rg_llm_model_hparams(const rg_llm_model *m) { return &m->hp; }
const rg_gguf *rg_llm_model_gguf(const rg_llm_model *m) { return m->g; }
uint64_t rg_llm_model_decode_bytes(const rg_llm_model *m) { return m->decode_bytes; }
uint64_t rg_llm_model_weight_bytes(const rg_llm_model *m) { return m->weight_bytes; }
uint64_t rg_llm_model_n_params(const rg_llm_model *m) { return m->n_params; }
