/* embed.c - the BERT encoder.  Activations of all texts of a batch are
 * rows of one matrix X (T, d) where T is the total token count; every
 * linear layer is one rg_nn_matmul over all T rows.  Scratch grows to the
 * largest batch seen and is reused.
 *
 * Small batches (a search query: a handful of tokens) run on the calling
 * thread alone: each layer is 7 pool hand-offs, and for ~10 tokens the
 * work between them is shorter than waking a worker, more so on a busy
 * machine (measured: 8 ms CPU for a 5-token query on 1 thread, 12-14 ms
 * on 2, and several times that in wall time under load). */
#define SERIAL_MAX_TOKENS 32
#include "embed/embed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "gguf/gguf.h"
#include "nn/nn.h"
#include "nn/ops.h"
#include "tok/tok.h"

typedef struct {
    const rg_gguf_tensor *w, *b;
} linear;

typedef struct {
    linear q, k, v, o, up, down;
    const rg_gguf_tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* attn_output_norm, layer_output_norm */
} layer;

struct rg_embedder {
    rg_gguf *g;
    rg_tok *tok;
    rg_nn *nn;
    rg_nn *nn1; /* one thread, for batches of <= SERIAL_MAX_TOKENS (made on first use) */
    int d, n_layer, n_head, n_ff, n_ctx, pooling; /* pooling: 1 mean, 2 cls */
    float eps;
    const rg_gguf_tensor *tok_embd, *pos_embd, *type_embd, *emb_ln_w, *emb_ln_b;
    layer *layers;
    /* scratch, sized for cap_T tokens */
    int cap_T;
    float *x, *q, *k, *v, *att, *tmp, *ff, *row;
};

static rg_status need(rg_embedder *e, const char *name, int n_dims, int64_t ne0, int64_t ne1,
                      const rg_gguf_tensor **out, rg_err *err) {
    const rg_gguf_tensor *t = rg_gguf_find_tensor(e->g, name);
    if (!t) return rg_failf(err, RG_FORMAT, "embed: tensor %s is missing", name);
    int dims = t->n_dims;
    if (dims != n_dims || t->ne[0] != ne0 || (n_dims > 1 && ne1 >= 0 && t->ne[1] != ne1))
        return rg_failf(err, RG_FORMAT, "embed: tensor %s has shape [%lld,%lld] (%d dims), expected [%lld,%lld]",
                        name, (long long)t->ne[0], (long long)t->ne[1], dims, (long long)ne0,
                        (long long)ne1);
    if (n_dims == 1 && t->type != RG_DTYPE_F32)
        return rg_failf(err, RG_UNSUPPORTED, "embed: tensor %s is %s, expected f32", name,
                        rg_dtype_name(t->type));
    if (n_dims == 2 && !rg_nn_supports(t->type))
        return rg_failf(err, RG_UNSUPPORTED, "embed: tensor %s has unsupported type %s", name,
                        rg_dtype_name(t->type));
    *out = t;
    return RG_OK;
}

static rg_status need_linear(rg_embedder *e, int il, const char *nm, int64_t in, int64_t out,
                             linear *l, rg_err *err) {
    char n[96];
    snprintf(n, sizeof n, "blk.%d.%s.weight", il, nm);
    rg_status rc = need(e, n, 2, in, out, &l->w, err);
    if (rc) return rc;
    snprintf(n, sizeof n, "blk.%d.%s.bias", il, nm);
    return need(e, n, 1, out, -1, &l->b, err);
}

static int64_t key(const rg_gguf *g, const char *k, int64_t def) {
    int64_t v;
    return rg_gguf_get_i64(g, k, &v) ? v : def;
}

rg_status rg_embed_open(const char *path, int n_threads, rg_embedder **out, rg_err *err) {
    *out = NULL;
    rg_embedder *e = calloc(1, sizeof *e);
    if (!e) return rg_failf(err, RG_NOMEM, "embed: out of memory");
    rg_status rc = rg_gguf_open(path, &e->g, err);
    if (rc) goto fail;
    const char *arch = rg_gguf_get_str(e->g, "general.architecture", NULL);
    if (!arch || strcmp(arch, "bert") != 0) {
        rc = rg_failf(err, RG_UNSUPPORTED, "embed: %s: architecture '%s', expected 'bert'", path,
                      arch ? arch : "(none)");
        goto fail;
    }
    e->d = (int)key(e->g, "bert.embedding_length", 0);
    e->n_layer = (int)key(e->g, "bert.block_count", 0);
    e->n_head = (int)key(e->g, "bert.attention.head_count", 0);
    e->n_ff = (int)key(e->g, "bert.feed_forward_length", 0);
    e->n_ctx = (int)key(e->g, "bert.context_length", 512);
    e->pooling = (int)key(e->g, "bert.pooling_type", 1);
    if (!rg_gguf_get_f32(e->g, "bert.attention.layer_norm_epsilon", &e->eps)) e->eps = 1e-12f;
    if (e->d <= 0 || e->d > 65536 || e->n_layer <= 0 || e->n_layer > RG_MAX_LAYERS ||
        e->n_head <= 0 || e->d % e->n_head || e->n_ff <= 0 || e->n_ff > 1 << 20 || e->n_ctx <= 0 ||
        e->n_ctx > 1 << 16) {
        rc = rg_failf(err, RG_FORMAT,
                      "embed: %s: bad hyper-parameters (embedding_length %d, block_count %d, "
                      "head_count %d, feed_forward_length %d, context_length %d)",
                      path, e->d, e->n_layer, e->n_head, e->n_ff, e->n_ctx);
        goto fail;
    }
    if (e->pooling != 1 && e->pooling != 2) {
        rc = rg_failf(err, RG_UNSUPPORTED, "embed: bert.pooling_type %d (only 1 mean, 2 cls)", e->pooling);
        goto fail;
    }
    int64_t d = e->d;
    if ((rc = need(e, "token_embd.weight", 2, d, -1, &e->tok_embd, err)) ||
        (rc = need(e, "position_embd.weight", 2, d, -1, &e->pos_embd, err)) ||
        (rc = need(e, "token_embd_norm.weight", 1, d, -1, &e->emb_ln_w, err)) ||
        (rc = need(e, "token_embd_norm.bias", 1, d, -1, &e->emb_ln_b, err)))
        goto fail;
    e->type_embd = rg_gguf_find_tensor(e->g, "token_types.weight");
    if (e->type_embd && (e->type_embd->ne[0] != d || e->type_embd->n_dims != 2)) {
        rc = rg_failf(err, RG_FORMAT, "embed: token_types.weight has row length %lld, expected %lld",
                      (long long)e->type_embd->ne[0], (long long)d);
        goto fail;
    }
    if (e->pos_embd->ne[1] < e->n_ctx) e->n_ctx = (int)e->pos_embd->ne[1];
    e->layers = calloc((size_t)e->n_layer, sizeof *e->layers);
    if (!e->layers) {
        rc = rg_failf(err, RG_NOMEM, "embed: out of memory");
        goto fail;
    }
    for (int il = 0; il < e->n_layer; il++) {
        layer *L = &e->layers[il];
        char n[96];
        if ((rc = need_linear(e, il, "attn_q", d, d, &L->q, err)) ||
            (rc = need_linear(e, il, "attn_k", d, d, &L->k, err)) ||
            (rc = need_linear(e, il, "attn_v", d, d, &L->v, err)) ||
            (rc = need_linear(e, il, "attn_output", d, d, &L->o, err)) ||
            (rc = need_linear(e, il, "ffn_up", d, e->n_ff, &L->up, err)) ||
            (rc = need_linear(e, il, "ffn_down", e->n_ff, d, &L->down, err)))
            goto fail;
        snprintf(n, sizeof n, "blk.%d.attn_output_norm.weight", il);
        if ((rc = need(e, n, 1, d, -1, &L->ln1_w, err))) goto fail;
        snprintf(n, sizeof n, "blk.%d.attn_output_norm.bias", il);
        if ((rc = need(e, n, 1, d, -1, &L->ln1_b, err))) goto fail;
        snprintf(n, sizeof n, "blk.%d.layer_output_norm.weight", il);
        if ((rc = need(e, n, 1, d, -1, &L->ln2_w, err))) goto fail;
        snprintf(n, sizeof n, "blk.%d.layer_output_norm.bias", il);
        if ((rc = need(e, n, 1, d, -1, &L->ln2_b, err))) goto fail;
    }
    if ((rc = rg_tok_from_gguf(e->g, &e->tok, err))) goto fail;
    e->nn = rg_nn_new(n_threads);
    if (!e->nn) {
        rc = rg_failf(err, RG_NOMEM, "embed: cannot start threads");
        goto fail;
    }
    *out = e;
    return RG_OK;
fail:
    rg_err_prefix(err, "%s", path);
    rg_embed_close(e);
    return rc;
}

static void free_scratch(rg_embedder *e) {
    free(e->x), free(e->q), free(e->k), free(e->v), free(e->att), free(e->tmp), free(e->ff),
        free(e->row);
    e->x = e->q = e->k = e->v = e->att = e->tmp = e->ff = e->row = NULL;
    e->cap_T = 0;
}

void rg_embed_close(rg_embedder *e) {
    if (!e) return;
    free_scratch(e);
    if (e->nn) rg_nn_free(e->nn);
    if (e->nn1) rg_nn_free(e->nn1);
    if (e->tok) rg_tok_free(e->tok);
    if (e->g) rg_gguf_close(e->g);
    free(e->layers);
    free(e);
}

int rg_embed_dim(const rg_embedder *e) { return e->d; }
int rg_embed_max_tokens(const rg_embedder *e) { return e->n_ctx; }

static rg_status grow(rg_embedder *e, int T) {
    if (T <= e->cap_T) return RG_OK;
    free_scratch(e);
    size_t d = (size_t)e->d, t = (size_t)T;
    e->x = malloc(t * d * 4), e->q = malloc(t * d * 4), e->k = malloc(t * d * 4);
    e->v = malloc(t * d * 4), e->tmp = malloc(t * d * 4), e->ff = malloc(t * (size_t)e->n_ff * 4);
    e->att = malloc((size_t)e->n_ctx * 4 * (size_t)e->n_head);
    e->row = malloc(d * 4);
    if (!e->x || !e->q || !e->k || !e->v || !e->tmp || !e->ff || !e->att || !e->row) {
        free_scratch(e);
        return RG_NOMEM;
    }
    e->cap_T = T;
    return RG_OK;
}

static rg_status linear_fwd(rg_nn *nn, const linear *l, const float *in, int T, float *out) {
    int64_t k = l->w->ne[0], n = l->w->ne[1];
    rg_status rc = rg_nn_matmul(nn, l->w->type, l->w->data, k, n, in, T, out);
    if (rc) return rc;
    const float *b = l->b->data;
    for (int t = 0; t < T; t++) rg_nn_add(out + (size_t)t * n, b, n);
    return RG_OK;
}

typedef struct {
    rg_embedder *e;
    const int *start, *len;
    int n_seq;
} attn_ctx;

/* softmax(Q K^T / sqrt(hd)) V within each sequence, heads split across
 * threads: Q,K,V (T, d) -> tmp (T, d) */
static void attn_task(void *vctx, int ith, int nth) {
    attn_ctx *c = vctx;
    rg_embedder *e = c->e;
    int d = e->d, H = e->n_head, hd = d / H;
    float scale = 1.0f / sqrtf((float)hd);
    float *s = e->att + (size_t)ith * e->n_ctx;
    long total = (long)c->n_seq * H, lo, hi;
    rg_pool_split(total, ith, nth, &lo, &hi);
    for (long w = lo; w < hi; w++) {
        int si = (int)(w / H), h = (int)(w % H);
        int st = c->start[si], L = c->len[si];
        for (int i = 0; i < L; i++) {
            const float *q = e->q + (size_t)(st + i) * d + h * hd;
            float mx = -INFINITY;
            for (int j = 0; j < L; j++) {
                s[j] = rg_nn_dot_f32(q, e->k + (size_t)(st + j) * d + h * hd, hd) * scale;
                if (s[j] > mx) mx = s[j];
            }
            double sum = 0;
            for (int j = 0; j < L; j++) sum += (s[j] = expf(s[j] - mx));
            float inv = (float)(1.0 / sum);
            float *o = e->tmp + (size_t)(st + i) * d + h * hd;
            memset(o, 0, sizeof(float) * hd);
            for (int j = 0; j < L; j++) rg_nn_axpy_f32(o, s[j] * inv, e->v + (size_t)(st + j) * d + h * hd, hd);
        }
    }
}

rg_status rg_embed_tokens(rg_embedder *e, const int32_t *const *ids, const int *n_ids, int n,
                          int normalize, float *out, rg_err *err) {
    if (n <= 0) return RG_OK;
    int d = e->d, T = 0;
    int *start = malloc(sizeof(int) * (size_t)n), *len = malloc(sizeof(int) * (size_t)n);
    if (!start || !len) {
        free(start), free(len);
        return rg_failf(err, RG_NOMEM, "embed: out of memory");
    }
    for (int i = 0; i < n; i++) {
        start[i] = T;
        len[i] = n_ids[i] < e->n_ctx ? n_ids[i] : e->n_ctx;
        if (len[i] < 1) len[i] = 0;
        T += len[i];
    }
    rg_status rc = RG_OK;
    if (T == 0) {
        memset(out, 0, sizeof(float) * (size_t)n * d);
        goto done;
    }
    if ((rc = grow(e, T < 64 ? 64 : T))) {
        rc = rg_failf(err, RG_NOMEM, "embed: cannot allocate scratch for %d tokens", T);
        goto done;
    }
    /* grow() sized att for one thread per row of n_ctx; make room per thread */
    {
        int nt = rg_nn_threads(e->nn);
        float *a = realloc(e->att, sizeof(float) * (size_t)e->n_ctx * (size_t)(nt > e->n_head ? nt : e->n_head));
        if (!a) {
            rc = rg_failf(err, RG_NOMEM, "embed: out of memory");
            goto done;
        }
        e->att = a;
    }
    int64_t n_vocab = e->tok_embd->ne[1];
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < len[i]; p++) {
            int32_t id = ids[i][p];
            if (id < 0 || id >= n_vocab) {
                rc = rg_failf(err, RG_INVALID, "embed: token id %d of text %d out of range [0,%lld)",
                              id, i, (long long)n_vocab);
                goto done;
            }
            float *x = e->x + (size_t)(start[i] + p) * d;
            rg_nn_get_row(e->tok_embd->type, e->tok_embd->data, d, id, x);
            rg_nn_get_row(e->pos_embd->type, e->pos_embd->data, d, p, e->row);
            for (int j = 0; j < d; j++) x[j] += e->row[j];
            if (e->type_embd) {
                rg_nn_get_row(e->type_embd->type, e->type_embd->data, d, 0, e->row);
                for (int j = 0; j < d; j++) x[j] += e->row[j];
            }
            rg_nn_layernorm(x, x, e->emb_ln_w->data, e->emb_ln_b->data, d, e->eps);
        }
    }
    rg_nn *nn = e->nn;
    if (T <= SERIAL_MAX_TOKENS && rg_nn_threads(e->nn) > 1) {
        if (!e->nn1) e->nn1 = rg_nn_new(1);
        if (e->nn1) nn = e->nn1; /* else the pool still works */
    }
    attn_ctx ac = {e, start, len, n};
    for (int il = 0; il < e->n_layer; il++) {
        layer *L = &e->layers[il];
        if ((rc = linear_fwd(nn, &L->q, e->x, T, e->q)) || (rc = linear_fwd(nn, &L->k, e->x, T, e->k)) ||
            (rc = linear_fwd(nn, &L->v, e->x, T, e->v)))
            goto kernel_fail;
        rg_pool_run(rg_nn_pool(nn), attn_task, &ac);
        if ((rc = linear_fwd(nn, &L->o, e->tmp, T, e->q))) goto kernel_fail;
        for (int t = 0; t < T; t++) {
            float *x = e->x + (size_t)t * d, *o = e->q + (size_t)t * d;
            for (int j = 0; j < d; j++) x[j] += o[j];
            rg_nn_layernorm(x, x, L->ln1_w->data, L->ln1_b->data, d, e->eps);
        }
        if ((rc = linear_fwd(nn, &L->up, e->x, T, e->ff))) goto kernel_fail;
        rg_nn_gelu(e->ff, (int64_t)T * e->n_ff);
        if ((rc = linear_fwd(nn, &L->down, e->ff, T, e->q))) goto kernel_fail;
        for (int t = 0; t < T; t++) {
            float *x = e->x + (size_t)t * d, *o = e->q + (size_t)t * d;
            for (int j = 0; j < d; j++) x[j] += o[j];
            rg_nn_layernorm(x, x, L->ln2_w->data, L->ln2_b->data, d, e->eps);
        }
    }
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * d;
        memset(o, 0, sizeof(float) * d);
        if (len[i] == 0) continue;
        if (e->pooling == 2) {
            memcpy(o, e->x + (size_t)start[i] * d, sizeof(float) * d);
        } else {
            for (int p = 0; p < len[i]; p++) rg_nn_axpy_f32(o, 1.0f, e->x + (size_t)(start[i] + p) * d, d);
            for (int j = 0; j < d; j++) o[j] /= (float)len[i];
        }
        if (normalize) {
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double)o[j] * o[j];
            float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
            for (int j = 0; j < d; j++) o[j] *= inv;
        }
    }
    goto done;
kernel_fail:
    rc = rg_failf(err, rc, "embed: matmul failed (%s)", rg_status_message(rc));
done:
    free(start);
    free(len);
    return rc;
}

rg_status rg_embed_texts(rg_embedder *e, const char *const *texts, const size_t *lens, int n,
                         int normalize, float *out, rg_err *err) {
    int32_t **ids = calloc((size_t)(n > 0 ? n : 1), sizeof *ids);
    int *nids = calloc((size_t)(n > 0 ? n : 1), sizeof *nids);
    rg_status rc = RG_OK;
    if (!ids || !nids) {
        rc = rg_failf(err, RG_NOMEM, "embed: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        size_t cnt = 0;
        if ((rc = rg_tok_encode(e->tok, texts[i], lens ? lens[i] : strlen(texts[i]), true, &ids[i],
                                &cnt, err)))
            goto out;
        if (cnt > (size_t)e->n_ctx) { /* keep [CLS] ... and end with [SEP] */
            ids[i][e->n_ctx - 1] = ids[i][cnt - 1];
            cnt = (size_t)e->n_ctx;
        }
        nids[i] = (int)cnt;
    }
    rc = rg_embed_tokens(e, (const int32_t *const *)ids, nids, n, normalize, out, err);
out:
    if (ids)
        for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(nids);
    return rc;
}
