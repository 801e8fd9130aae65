/* forward.c - the llama/qwen2 forward pass over a batch of (token, pos,
 * seq) entries, and the paged KV cache it reads and writes.
 *
 * Per layer, for the T tokens of a step (activations are (T, dim) rows):
 *   xb = rmsnorm(x) * attn_norm
 *   q, k, v = xb @ Wq^T (+bq), xb @ Wk^T (+bk), xb @ Wv^T (+bv)   (matmuls, batch T)
 *   rope(q), rope(k) at each token's position; k, v -> cache slots
 *   att = softmax(q . K[0..pos] / sqrt(hd)) V      per (token, head), GQA: kv head = h / group
 *   x += att @ Wo^T;  xb = rmsnorm(x) * ffn_norm
 *   x += (silu(xb @ Wg^T) * (xb @ Wu^T)) @ Wd^T
 * then logits = rmsnorm(x) * output_norm @ Wout^T for the rows asked for.
 *
 * KV cache: per layer, n_blocks blocks; a block holds RG_LLM_KV_BLOCK
 * positions of every KV head: keys transposed [kv_head][head_dim][slot]
 * (so a block's scores are outer-product FMAs, no horizontal sums),
 * values [kv_head][slot][head_dim].  A Q8_0 cache (--kv q8_0, half of
 * F16's bytes) keeps keys as rows too, [kv_head][slot][head_dim] in
 * blocks of 32 along head_dim, since a slot is written one token at a time
 * and a transposed Q8_0 block would need requantizing on every write;
 * attention dequantizes a block's keys and transposes them on read.
 * Attention runs flash-attention style
 * (rg_nn_attn_block, online softmax): a work item is (run of up to
 * ATT_CHUNK consecutive tokens of one sequence, kv head), and each K/V
 * block it reads serves every query row of the run's GQA group.  A sequence's block table
 * maps position p to (table[p / B], p % B).  Invariant: a sequence with
 * len positions references exactly ceil(len / B) blocks, all slots < len
 * written.  Blocks are reference-counted (block_ref: every table entry
 * plus every rg_llm_kv_block_hold), so sequences sharing a prefix point
 * at the same blocks; a block with more than one reference is read-only,
 * and a decode that would append into one (a shared partial last block)
 * copies it first.  A block returns to the free stack at zero references.
 * Everything is allocated in rg_llm_ctx_new; rg_llm_decode never
 * allocates (rg_nn_matmul's scratch grows only on the first calls). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/pool.h"
#include "llm/llm_int.h"
#include "nn/nn.h"
#include "nn/ops.h"

#define B RG_LLM_KV_BLOCK
#define ATT_CHUNK 16 /* tokens per attention work item */

#include <stdatomic.h>

struct rg_llm_ctx {
    const rg_llm_model *m;
    rg_llm_ctx_params p;
    rg_nn *nn;
    int nth;

    /* KV cache */
    int n_blocks;       /* per layer */
    int blocks_per_seq; /* block-table width = ceil(n_ctx / B) */
    rg_dtype kv_type;   /* F32, F16 or Q8_0 */
    size_t head_bytes;  /* one kv head's keys (or values) in a block: B * hd elements */
    size_t block_bytes; /* n_kv * head_bytes */
    void *k_cache;      /* [n_layer][n_blocks][n_kv][B][hd] */
    void *v_cache;      /* same */
    int32_t *table;     /* [n_seq_max][blocks_per_seq] */
    int32_t *seq_len;   /* [n_seq_max] */
    int32_t *free_blocks; /* stack of free block ids */
    int n_free;
    int32_t *block_ref; /* [n_blocks] references (tables + holds) */
    int64_t n_cow;      /* copy-on-write block copies so far */
    int32_t *next_pos;  /* [n_seq_max] scratch for batch validation */

    /* activations, (n_batch, dim) rows */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2;
    float *rope_cs;     /* (n_batch, n_rot) */
    float *att_scratch; /* per thread: see attn_scratch_floats */
    size_t att_stride;  /* floats per thread */
    int32_t *run_t0, *run_n; /* (n_batch,) attention runs of the current step */
    int n_runs;
    atomic_int att_next;
    float *out_x;       /* (n_outputs_max, n_embd) */
    float *logits;      /* (n_outputs_max, n_vocab) */
    int32_t *out_rows;  /* (n_outputs_max,) batch rows wanting logits */
    int32_t *eval_pos, *eval_seq; /* (n_batch,) batch arrays of rg_llm_eval */
    int32_t *cpos, *cseq; /* (n_outputs_max,) positions/sequences of the last layer's rows */
    int n_outputs;

    /* the batch being run (attention workers read these) */
    const int32_t *b_pos, *b_seq;
    int b_n;
    int64_t attn_work; /* multiply-adds of this step's attention / 2 */
    int layer;
};

void rg_llm_ctx_params_init(rg_llm_ctx_params *p) {
    memset(p, 0, sizeof *p);
    p->kv_type = RG_DTYPE_F16;
}

static void *xalloc(size_t n, size_t size, int *fail) {
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        *fail = 1;
        return NULL;
    }
    if (bytes == 0) bytes = 1;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0) {
        *fail = 1;
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

rg_status rg_llm_ctx_new(const rg_llm_model *m, const rg_llm_ctx_params *pin, rg_llm_ctx **out,
                         rg_err *err) {
    *out = NULL;
    const rg_llm_hparams *hp = &m->hp;
    rg_llm_ctx_params p;
    if (pin) p = *pin;
    else rg_llm_ctx_params_init(&p);
    if (p.n_ctx < 0 || p.n_ctx > (int)RG_MAX_CTX)
        return rg_failf(err, RG_INVALID, "llm: context %d out of range 1..%u", p.n_ctx, RG_MAX_CTX);
    if (p.n_ctx == 0)
        p.n_ctx = hp->n_ctx_train < RG_LLM_DEFAULT_CTX ? hp->n_ctx_train : RG_LLM_DEFAULT_CTX;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_batch > RG_LLM_MAX_BATCH)
        return rg_failf(err, RG_INVALID, "llm: batch %d above the limit %d", p.n_batch,
                        RG_LLM_MAX_BATCH);
    if (p.n_seq_max <= 0) p.n_seq_max = 1;
    if (p.n_seq_max > RG_LLM_MAX_SEQ)
        return rg_failf(err, RG_INVALID, "llm: %d sequences above the limit %d", p.n_seq_max,
                        RG_LLM_MAX_SEQ);
    if (p.n_outputs_max <= 0) p.n_outputs_max = p.n_seq_max;
    if (p.n_outputs_max > p.n_batch) p.n_outputs_max = p.n_batch;
    if (p.kv_type != RG_DTYPE_F16 && p.kv_type != RG_DTYPE_F32 && p.kv_type != RG_DTYPE_Q8_0)
        return rg_failf(err, RG_UNSUPPORTED, "llm: KV cache type %s (f16, f32 or q8_0)",
                        rg_dtype_name(p.kv_type));
    if (p.kv_type == RG_DTYPE_Q8_0 && hp->head_dim % 32 != 0)
        return rg_failf(err, RG_UNSUPPORTED,
                        "llm: KV cache type q8_0 needs a head size that is a multiple of 32 "
                        "(this model's is %d); use f16", hp->head_dim);
    if (p.n_ctx > hp->n_ctx_train)
        rg_warn("llm: context %d is longer than the model was trained for (%d)", p.n_ctx,
                hp->n_ctx_train);

    rg_llm_ctx *c = calloc(1, sizeof *c);
    if (!c) return rg_failf(err, RG_NOMEM, "llm: out of memory");
    c->m = m;
    c->nn = rg_nn_new(p.n_threads);
    if (!c->nn) {
        free(c);
        return rg_failf(err, RG_NOMEM, "llm: cannot create the thread pool");
    }
    c->nth = rg_nn_threads(c->nn);
    p.n_threads = c->nth;
    c->p = p;

    const size_t E = (size_t)hp->n_embd, HD = (size_t)hp->head_dim;
    const size_t QD = (size_t)hp->n_head * HD, KVD = (size_t)hp->n_head_kv * HD;
    const size_t NB = (size_t)p.n_batch;
    c->blocks_per_seq = (p.n_ctx + B - 1) / B;
    c->n_blocks = c->blocks_per_seq;
    c->kv_type = p.kv_type;
    uint64_t row_bytes = 0; /* one slot of one head: hd elements */
    int fail = rg_dtype_row_bytes(p.kv_type, (uint64_t)HD, &row_bytes) != RG_OK;
    c->head_bytes = (size_t)row_bytes * B;
    c->block_bytes = c->head_bytes * (size_t)hp->n_head_kv;
    size_t kv_n = 0;
    if (__builtin_mul_overflow((size_t)hp->n_layer * (size_t)c->n_blocks, c->block_bytes, &kv_n))
        fail = 1;
    if (!fail) {
        c->k_cache = xalloc(kv_n, 1, &fail);
        c->v_cache = xalloc(kv_n, 1, &fail);
    }
    c->table = xalloc((size_t)p.n_seq_max * (size_t)c->blocks_per_seq, sizeof(int32_t), &fail);
    c->seq_len = xalloc((size_t)p.n_seq_max, sizeof(int32_t), &fail);
    c->next_pos = xalloc((size_t)p.n_seq_max, sizeof(int32_t), &fail);
    c->free_blocks = xalloc((size_t)c->n_blocks, sizeof(int32_t), &fail);
    c->block_ref = xalloc((size_t)c->n_blocks, sizeof(int32_t), &fail);
    c->x = xalloc(NB, E * sizeof(float), &fail);
    c->xb = xalloc(NB, E * sizeof(float), &fail);
    c->q = xalloc(NB, QD * sizeof(float), &fail);
    c->k = xalloc(NB, KVD * sizeof(float), &fail);
    c->v = xalloc(NB, KVD * sizeof(float), &fail);
    c->att = xalloc(NB, QD * sizeof(float), &fail);
    c->hb = xalloc(NB, (size_t)hp->n_ff * sizeof(float), &fail);
    c->hb2 = xalloc(NB, (size_t)hp->n_ff * sizeof(float), &fail);
    c->rope_cs = xalloc(NB, (size_t)hp->n_rot * sizeof(float), &fail);
    {
        /* per thread: q, o (rows x hd), m, l, lim (rows), K, V and the
         * untransposed Q8_0 keys (hd x B each) */
        const size_t rows = (size_t)ATT_CHUNK * (size_t)(hp->n_head / hp->n_head_kv);
        c->att_stride = 2 * rows * HD + 3 * rows + 3 * HD * B + 16;
        c->att_scratch = xalloc((size_t)c->nth, c->att_stride * sizeof(float), &fail);
    }
    c->run_t0 = xalloc(NB, sizeof(int32_t), &fail);
    c->run_n = xalloc(NB, sizeof(int32_t), &fail);
    c->out_x = xalloc((size_t)p.n_outputs_max, E * sizeof(float), &fail);
    c->logits = xalloc((size_t)p.n_outputs_max, (size_t)hp->n_vocab * sizeof(float), &fail);
    c->out_rows = xalloc((size_t)p.n_outputs_max, sizeof(int32_t), &fail);
    c->eval_pos = xalloc(NB, sizeof(int32_t), &fail);
    c->eval_seq = xalloc(NB, sizeof(int32_t), &fail);
    c->cpos = xalloc((size_t)p.n_outputs_max, sizeof(int32_t), &fail);
    c->cseq = xalloc((size_t)p.n_outputs_max, sizeof(int32_t), &fail);
    if (fail) {
        rg_llm_ctx_free(c);
        return rg_failf(err, RG_NOMEM,
                        "llm: cannot allocate the context (n_ctx %d, n_batch %d, KV %s)", p.n_ctx,
                        p.n_batch, rg_dtype_name(p.kv_type));
    }
    c->n_free = c->n_blocks;
    for (int i = 0; i < c->n_blocks; i++) c->free_blocks[i] = c->n_blocks - 1 - i;
    *out = c;
    return RG_OK;
}

void rg_llm_ctx_free(rg_llm_ctx *c) {
    if (!c) return;
    rg_nn_free(c->nn);
    free(c->k_cache);
    free(c->v_cache);
    free(c->table);
    free(c->seq_len);
    free(c->next_pos);
    free(c->free_blocks);
    free(c->block_ref);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->rope_cs);
    free(c->att_scratch);
    free(c->run_t0);
    free(c->run_n);
    free(c->out_x);
    free(c->logits);
    free(c->out_rows);
    free(c->eval_pos);
    free(c->eval_seq);
    free(c->cpos);
    free(c->cseq);
    free(c);
}

const rg_llm_ctx_params *rg_llm_ctx_params_get(const rg_llm_ctx *c) { return &c->p; }
const rg_llm_model *rg_llm_ctx_model(const rg_llm_ctx *c) { return c->m; }
uint64_t rg_llm_ctx_kv_bytes(const rg_llm_ctx *c) {
    return 2ull * (uint64_t)c->m->hp.n_layer * (uint64_t)c->n_blocks * c->block_bytes;
}

int rg_llm_seq_len(const rg_llm_ctx *c, int seq) {
    if (seq < 0 || seq >= c->p.n_seq_max) return 0;
    return c->seq_len[seq];
}

void rg_llm_seq_rm(rg_llm_ctx *c, int seq, int p0) {
    if (seq < 0 || seq >= c->p.n_seq_max) return;
    if (p0 < 0) p0 = 0;
    int len = c->seq_len[seq];
    if (p0 >= len) return;
    int keep = (p0 + B - 1) / B, have = (len + B - 1) / B;
    int32_t *tab = c->table + (size_t)seq * (size_t)c->blocks_per_seq;
    for (int i = keep; i < have; i++) rg_llm_kv_block_release(c, tab[i]);
    c->seq_len[seq] = p0;
}

int rg_llm_kv_free_slots(const rg_llm_ctx *c) { return c->n_free * B; }

int rg_llm_n_outputs(const rg_llm_ctx *c) { return c->n_outputs; }

float *rg_llm_logits(rg_llm_ctx *c, int i) {
    if (i < 0 || i >= c->n_outputs) return NULL;
    return c->logits + (size_t)i * (size_t)c->m->hp.n_vocab;
}

/* Byte offset of the block holding (layer, seq, pos); kv head h's keys
 * start at + h * head_bytes, its values likewise. */
static inline size_t kv_block(const rg_llm_ctx *c, int layer, int seq, int pos) {
    int32_t blk = c->table[(size_t)seq * (size_t)c->blocks_per_seq + (size_t)(pos / B)];
    return ((size_t)layer * (size_t)c->n_blocks + (size_t)blk) * c->block_bytes;
}

/* Attention work items (run, kv head) taken from a shared counter, so a
 * descheduled thread does not hold the others back. */
static void attn_worker(void *ctx, int ith, int nth) {
    (void)nth;
    rg_llm_ctx *c = ctx;
    const rg_llm_hparams *hp = &c->m->hp;
    const int hd = hp->head_dim, nkv = hp->n_head_kv, g = hp->n_head / hp->n_head_kv;
    const size_t QD = (size_t)hp->n_head * (size_t)hd;
    const size_t head_stride = (size_t)B * (size_t)hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t rows_max = (size_t)ATT_CHUNK * (size_t)g;
    float *qs = c->att_scratch + (size_t)ith * c->att_stride;
    float *os = qs + rows_max * hd;
    float *ms = os + rows_max * hd;
    float *ls = ms + rows_max;
    int *lim = (int *)(ls + rows_max);
    float *kbuf = (float *)(lim + rows_max);
    float *vbuf = kbuf + head_stride;
    float *krows = vbuf + head_stride; /* Q8_0 keys dequantized, (slot, hd) */
    const int items = c->n_runs * nkv;
    for (;;) {
        const int it = atomic_fetch_add_explicit(&c->att_next, 1, memory_order_relaxed);
        if (it >= items) break;
        const int run = it / nkv, kvh = it % nkv;
        const int t0 = c->run_t0[run], nt = c->run_n[run];
        const int seq = c->b_seq ? c->b_seq[t0] : 0;
        const int pmax = c->b_pos[t0 + nt - 1];
        const int rows = nt * g;
        for (int tt = 0; tt < nt; tt++) {
            const float *src = c->q + (size_t)(t0 + tt) * QD + (size_t)kvh * g * hd;
            for (int r = 0; r < g * hd; r++) qs[(size_t)tt * g * hd + r] = src[r] * scale;
        }
        for (int r = 0; r < rows; r++) {
            ms[r] = -INFINITY;
            ls[r] = 0.0f;
        }
        memset(os, 0, (size_t)rows * hd * sizeof(float));
        for (int p0 = 0; p0 <= pmax; p0 += B) {
            const size_t off = kv_block(c, c->layer, seq, p0) + (size_t)kvh * c->head_bytes;
            const char *kc = (const char *)c->k_cache + off, *vc = (const char *)c->v_cache + off;
            const int nk = pmax + 1 - p0 < B ? pmax + 1 - p0 : B;
            const float *kT, *vb;
            if (c->kv_type == RG_DTYPE_F16) {
                rg_nn_f16_to_f32_row(kbuf, (const uint16_t *)kc, (int64_t)head_stride);
                rg_nn_f16_to_f32_row(vbuf, (const uint16_t *)vc, (int64_t)head_stride);
                kT = kbuf;
                vb = vbuf;
            } else if (c->kv_type == RG_DTYPE_Q8_0) {
                /* only the nk slots written; columns past nk are never read */
                rg_nn_dequant_row(RG_DTYPE_Q8_0, kc, krows, (int64_t)nk * hd);
                rg_nn_dequant_row(RG_DTYPE_Q8_0, vc, vbuf, (int64_t)nk * hd);
                for (int j = 0; j < nk; j++)
                    for (int d = 0; d < hd; d++) kbuf[(size_t)d * B + j] = krows[(size_t)j * hd + d];
                kT = kbuf;
                vb = vbuf;
            } else {
                kT = (const float *)kc;
                vb = (const float *)vc;
            }
            for (int tt = 0; tt < nt; tt++) {
                int n = c->b_pos[t0 + tt] + 1 - p0;
                n = n < 0 ? 0 : n > B ? B : n;
                for (int hh = 0; hh < g; hh++) lim[tt * g + hh] = n;
            }
            rg_nn_attn_block(qs, rows, hd, kT, B, vb, nk, lim, ms, ls, os);
        }
        for (int tt = 0; tt < nt; tt++) {
            float *dst = c->att + (size_t)(t0 + tt) * QD + (size_t)kvh * g * hd;
            for (int hh = 0; hh < g; hh++) {
                const int r = tt * g + hh;
                const float inv = 1.0f / ls[r];
                for (int d = 0; d < hd; d++) dst[(size_t)hh * hd + d] = os[(size_t)r * hd + d] * inv;
            }
        }
    }
}

static rg_status mm(rg_llm_ctx *c, const rg__llm_w *w, const float *x, int64_t batch, float *y,
                    rg_err *err) {
    rg_status st = rg_nn_matmul(c->nn, w->type, w->data, w->k, w->n, x, batch, y);
    if (st)
        return rg_failf(err, st, "llm: matmul %s [%lld, %lld] x batch %lld failed: %s",
                        rg_dtype_name(w->type), (long long)w->k, (long long)w->n,
                        (long long)batch, rg_status_message(st));
    return RG_OK;
}

/* Groups the step's tokens into attention runs: consecutive tokens of one
 * sequence at consecutive positions, at most ATT_CHUNK each. */
static void build_runs(rg_llm_ctx *c, const int32_t *pos, const int32_t *seqs, int T) {
    const rg_llm_hparams *hp = &c->m->hp;
    c->b_pos = pos;
    c->b_seq = seqs;
    c->b_n = T;
    c->n_runs = 0;
    c->attn_work = 0;
    for (int t = 0; t < T; t++) {
        const int seq = seqs ? seqs[t] : 0;
        c->attn_work += (int64_t)(pos[t] + 1) * hp->n_head * hp->head_dim;
        if (c->n_runs > 0) {
            const int r = c->n_runs - 1, last = c->run_t0[r] + c->run_n[r] - 1;
            const int lseq = seqs ? seqs[last] : 0;
            if (lseq == seq && pos[last] + 1 == pos[t] && c->run_n[r] < ATT_CHUNK) {
                c->run_n[r]++;
                continue;
            }
        }
        c->run_t0[c->n_runs] = t;
        c->run_n[c->n_runs] = 1;
        c->n_runs++;
    }
}

static rg_status forward(rg_llm_ctx *c, const rg_llm_batch *b, rg_err *err) {
    const rg_llm_model *m = c->m;
    const rg_llm_hparams *hp = &m->hp;
    int T = b->n_tokens; /* rows alive; the last layer keeps only the logit rows */
    const int64_t E = hp->n_embd, HD = hp->head_dim;
    const int64_t QD = (int64_t)hp->n_head * HD, KVD = (int64_t)hp->n_head_kv * HD;
    const int64_t FF = hp->n_ff;
    rg_status st;

    for (int t = 0; t < T; t++) {
        rg_nn_get_row(m->tok_embd.type, m->tok_embd.data, E, b->token[t], c->x + (size_t)t * E);
        rg_nn_rope_cache(c->rope_cs + (size_t)t * hp->n_rot, hp->n_rot, b->pos[t], hp->rope_base,
                         hp->rope_freq_scale, m->rope_freqs);
    }
    build_runs(c, b->pos, b->seq, T);

    for (int l = 0; l < hp->n_layer; l++) {
        const rg__llm_layer *L = &m->layers[l];
        for (int t = 0; t < T; t++)
            rg_nn_rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->attn_norm, E,
                          hp->norm_eps);
        if ((st = mm(c, &L->wq, c->xb, T, c->q, err))) return st;
        if ((st = mm(c, &L->wk, c->xb, T, c->k, err))) return st;
        if ((st = mm(c, &L->wv, c->xb, T, c->v, err))) return st;
        for (int t = 0; t < T; t++) {
            float *q = c->q + (size_t)t * QD, *k = c->k + (size_t)t * KVD;
            float *v = c->v + (size_t)t * KVD;
            if (L->bq) {
                rg_nn_add(q, L->bq, QD);
                rg_nn_add(k, L->bk, KVD);
                rg_nn_add(v, L->bv, KVD);
            }
            const float *cs = c->rope_cs + (size_t)t * hp->n_rot;
            rg_nn_rope_apply(q, hp->n_head, (int)HD, hp->n_rot, cs, (rg_rope_mode)hp->rope_mode);
            rg_nn_rope_apply(k, hp->n_head_kv, (int)HD, hp->n_rot, cs, (rg_rope_mode)hp->rope_mode);
            /* store k (transposed) and v of every kv head into the cache slot */
            const int seq = b->seq ? b->seq[t] : 0;
            const int slot = b->pos[t] % B;
            const size_t off = kv_block(c, l, seq, b->pos[t]);
            for (int h = 0; h < hp->n_head_kv; h++) {
                const size_t o = off + (size_t)h * c->head_bytes;
                const float *kh = k + h * HD, *vh = v + h * HD;
                char *kc = (char *)c->k_cache + o, *vc = (char *)c->v_cache + o;
                if (c->kv_type == RG_DTYPE_F16) {
                    uint16_t *k16 = (uint16_t *)kc;
                    for (int64_t d = 0; d < HD; d++) k16[d * B + slot] = rg_f32_to_f16(kh[d]);
                    rg_nn_f32_to_f16_row((uint16_t *)vc + (size_t)slot * HD, vh, HD);
                } else if (c->kv_type == RG_DTYPE_Q8_0) {
                    const size_t row = c->head_bytes / B;
                    rg_nn_quant_row(RG_DTYPE_Q8_0, kh, kc + (size_t)slot * row, HD);
                    rg_nn_quant_row(RG_DTYPE_Q8_0, vh, vc + (size_t)slot * row, HD);
                } else {
                    float *k32 = (float *)kc;
                    for (int64_t d = 0; d < HD; d++) k32[d * B + slot] = kh[d];
                    memcpy((float *)vc + (size_t)slot * HD, vh, (size_t)HD * sizeof(float));
                }
            }
        }
        if (l == hp->n_layer - 1 && c->n_outputs < T) {
            /* Last layer: K/V of every token are stored; the rest only matters for
             * the rows that want logits.  Compact them to the front (out_rows is
             * increasing, so row out_rows[i] >= i is never overwritten early). */
            for (int i = 0; i < c->n_outputs; i++) {
                const int t = c->out_rows[i];
                c->cpos[i] = b->pos[t];
                c->cseq[i] = b->seq ? b->seq[t] : 0;
                if (t != i) {
                    memmove(c->q + (size_t)i * QD, c->q + (size_t)t * QD, (size_t)QD * sizeof(float));
                    memmove(c->x + (size_t)i * E, c->x + (size_t)t * E, (size_t)E * sizeof(float));
                }
                c->out_rows[i] = i;
            }
            T = c->n_outputs;
            if (T == 0) break;
            build_runs(c, c->cpos, c->cseq, T);
        }
        c->layer = l;
        atomic_store(&c->att_next, 0);
        /* small steps (decode of short contexts) are not worth waking threads for */
        if (c->attn_work < 65536) attn_worker(c, 0, 1);
        else rg_pool_run_shared(rg_nn_pool(c->nn), attn_worker, c);
        if ((st = mm(c, &L->wo, c->att, T, c->xb, err))) return st;
        for (int t = 0; t < T; t++) {
            if (L->bo) rg_nn_add(c->xb + (size_t)t * E, L->bo, E);
            rg_nn_add(c->x + (size_t)t * E, c->xb + (size_t)t * E, E);
            rg_nn_rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->ffn_norm, E,
                          hp->norm_eps);
        }
        if ((st = mm(c, &L->w_gate, c->xb, T, c->hb, err))) return st;
        if ((st = mm(c, &L->w_up, c->xb, T, c->hb2, err))) return st;
        rg_nn_silu_mul(c->hb, c->hb2, (int64_t)T * FF);
        if ((st = mm(c, &L->w_down, c->hb, T, c->xb, err))) return st;
        for (int t = 0; t < T; t++) rg_nn_add(c->x + (size_t)t * E, c->xb + (size_t)t * E, E);
    }

    for (int i = 0; i < c->n_outputs; i++)
        rg_nn_rmsnorm(c->out_x + (size_t)i * E, c->x + (size_t)c->out_rows[i] * E, m->output_norm,
                      E, hp->norm_eps);
    if (c->n_outputs > 0 && (st = mm(c, &m->output, c->out_x, c->n_outputs, c->logits, err)))
        return st;
    return RG_OK;
}

/* During decode validation (next_pos = lengths after the step): 1 when
 * seq s appends into a partial last block that other references share. */
static int cow_needed(const rg_llm_ctx *c, int s) {
    const int len = c->seq_len[s];
    if (c->next_pos[s] <= len || len % B == 0) return 0;
    const int32_t blk = c->table[(size_t)s * (size_t)c->blocks_per_seq + (size_t)(len / B)];
    return c->block_ref[blk] > 1;
}

rg_status rg_llm_decode(rg_llm_ctx *c, const rg_llm_batch *b, rg_err *err) {
    const rg_llm_hparams *hp = &c->m->hp;
    c->n_outputs = 0;
    if (!b || b->n_tokens < 1 || b->n_tokens > c->p.n_batch)
        return rg_failf(err, RG_INVALID, "llm: batch of %d tokens (expected 1..%d)",
                        b ? b->n_tokens : 0, c->p.n_batch);
    const int T = b->n_tokens;
    for (int s = 0; s < c->p.n_seq_max; s++) c->next_pos[s] = c->seq_len[s];
    int n_out = 0;
    for (int t = 0; t < T; t++) {
        int seq = b->seq ? b->seq[t] : 0;
        if (seq < 0 || seq >= c->p.n_seq_max)
            return rg_failf(err, RG_INVALID, "llm: batch token %d: sequence %d out of range 0..%d",
                            t, seq, c->p.n_seq_max - 1);
        if (b->token[t] < 0 || b->token[t] >= hp->n_vocab)
            return rg_failf(err, RG_INVALID, "llm: batch token %d: id %d out of range 0..%d", t,
                            b->token[t], hp->n_vocab - 1);
        if (b->pos[t] != c->next_pos[seq])
            return rg_failf(err, RG_INVALID,
                            "llm: batch token %d: position %d, expected %d (next position of "
                            "sequence %d)",
                            t, b->pos[t], c->next_pos[seq], seq);
        if (c->next_pos[seq] >= c->p.n_ctx)
            return rg_failf(err, RG_LIMIT, "llm: sequence %d reached the context size %d", seq,
                            c->p.n_ctx);
        c->next_pos[seq]++;
        int want = b->logits ? b->logits[t] != 0 : t == T - 1;
        if (want) {
            if (n_out >= c->p.n_outputs_max)
                return rg_failf(err, RG_LIMIT, "llm: more than %d logit rows asked in one batch",
                                c->p.n_outputs_max);
            c->out_rows[n_out++] = t;
        }
    }
    int need = 0;
    for (int s = 0; s < c->p.n_seq_max; s++) {
        need += (c->next_pos[s] + B - 1) / B - (c->seq_len[s] + B - 1) / B;
        need += cow_needed(c, s);
    }
    if (need > c->n_free)
        return rg_failf(err, RG_LIMIT, "llm: KV cache full (%d blocks needed, %d free of %d)", need,
                        c->n_free, c->n_blocks);
    /* commit: blocks for the new positions, then the new lengths */
    int32_t *old_len = c->next_pos; /* reuse: swap roles below */
    for (int s = 0; s < c->p.n_seq_max; s++) {
        int have = (c->seq_len[s] + B - 1) / B, want = (old_len[s] + B - 1) / B;
        int32_t *tab = c->table + (size_t)s * (size_t)c->blocks_per_seq;
        if (cow_needed(c, s)) {
            /* appending into a shared partial block: write into a private copy */
            const int32_t old = tab[have - 1], nb = c->free_blocks[--c->n_free];
            const size_t bytes = c->block_bytes;
            for (int l = 0; l < c->m->hp.n_layer; l++) {
                const size_t so = ((size_t)l * (size_t)c->n_blocks + (size_t)old) * bytes;
                const size_t d = ((size_t)l * (size_t)c->n_blocks + (size_t)nb) * bytes;
                memcpy((char *)c->k_cache + d, (const char *)c->k_cache + so, bytes);
                memcpy((char *)c->v_cache + d, (const char *)c->v_cache + so, bytes);
            }
            c->block_ref[nb] = 1;
            c->block_ref[old]--; /* > 0: it was shared */
            tab[have - 1] = nb;
            c->n_cow++;
        }
        for (int i = have; i < want; i++) {
            tab[i] = c->free_blocks[--c->n_free];
            c->block_ref[tab[i]] = 1;
        }
        int tmp = c->seq_len[s];
        c->seq_len[s] = old_len[s];
        old_len[s] = tmp; /* next_pos now holds the lengths before this step */
    }
    c->n_outputs = n_out;
    rg_status st = forward(c, b, err);
    if (st) {
        for (int s = 0; s < c->p.n_seq_max; s++) rg_llm_seq_rm(c, s, c->next_pos[s]);
        c->n_outputs = 0;
    }
    return st;
}

rg_status rg_llm_eval(rg_llm_ctx *c, int seq, const int32_t *tokens, int n, rg_err *err) {
    if (n < 1) return rg_failf(err, RG_INVALID, "llm: nothing to evaluate");
    if (seq < 0 || seq >= c->p.n_seq_max)
        return rg_failf(err, RG_INVALID, "llm: sequence %d out of range 0..%d", seq,
                        c->p.n_seq_max - 1);
    for (int i = 0; i < n; i += c->p.n_batch) {
        int nb = n - i < c->p.n_batch ? n - i : c->p.n_batch;
        int p0 = c->seq_len[seq];
        for (int j = 0; j < nb; j++) {
            c->eval_pos[j] = p0 + j;
            c->eval_seq[j] = seq;
        }
        rg_llm_batch b = {nb, tokens + i, c->eval_pos, c->eval_seq, NULL};
        rg_status st = rg_llm_decode(c, &b, err);
        if (st) return st;
    }
    return RG_OK;
}

/* ---- block sharing (prefix caching) ---- */

int rg_llm_kv_n_blocks(const rg_llm_ctx *c) { return c->n_blocks; }

int rg_llm_seq_block(const rg_llm_ctx *c, int seq, int i) {
    if (seq < 0 || seq >= c->p.n_seq_max || i < 0 || i >= (c->seq_len[seq] + B - 1) / B) return -1;
    return c->table[(size_t)seq * (size_t)c->blocks_per_seq + (size_t)i];
}

int rg_llm_kv_block_refs(const rg_llm_ctx *c, int block) {
    if (block < 0 || block >= c->n_blocks) return 0;
    return c->block_ref[block];
}

void rg_llm_kv_block_hold(rg_llm_ctx *c, int block) {
    if (block < 0 || block >= c->n_blocks || c->block_ref[block] <= 0) return;
    c->block_ref[block]++;
}

void rg_llm_kv_block_release(rg_llm_ctx *c, int block) {
    if (block < 0 || block >= c->n_blocks || c->block_ref[block] <= 0) return;
    if (--c->block_ref[block] == 0) c->free_blocks[c->n_free++] = block;
}

rg_status rg_llm_seq_attach(rg_llm_ctx *c, int seq, const int32_t *blocks, int n, rg_err *err) {
    if (seq < 0 || seq >= c->p.n_seq_max)
        return rg_failf(err, RG_INVALID, "llm: sequence %d out of range 0..%d", seq, c->p.n_seq_max - 1);
    const int len = c->seq_len[seq];
    if (len % B != 0)
        return rg_failf(err, RG_INVALID, "llm: attach to sequence %d of length %d (not a multiple of %d)",
                        seq, len, B);
    if (n < 0 || len / B + n > c->blocks_per_seq)
        return rg_failf(err, RG_LIMIT, "llm: attaching %d blocks to sequence %d of length %d exceeds the context %d",
                        n, seq, len, c->p.n_ctx);
    for (int i = 0; i < n; i++)
        if (blocks[i] < 0 || blocks[i] >= c->n_blocks || c->block_ref[blocks[i]] <= 0)
            return rg_failf(err, RG_INVALID, "llm: attach: block %d is not in use", blocks[i]);
    int32_t *tab = c->table + (size_t)seq * (size_t)c->blocks_per_seq + (size_t)(len / B);
    for (int i = 0; i < n; i++) {
        tab[i] = blocks[i];
        c->block_ref[blocks[i]]++;
    }
    c->seq_len[seq] = len + n * B;
    return RG_OK;
}

int64_t rg_llm_kv_cow_count(const rg_llm_ctx *c) { return c->n_cow; }
