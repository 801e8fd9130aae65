/* quant.c - rg_quant_model: reads a GGUF (validated mmap), decides each
 * tensor's type the way llama-quantize does, quantizes rows in parallel on
 * a thread pool and writes the result with the GGUF writer.  All output
 * buffers are held until the write (the writer references them). */
#include "quant/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/pool.h"
#include "gguf/gguf.h"
#include "nn/nn.h"

/* llama_ftype numbers written to general.file_type */
static int ftype_of(rg_dtype t, bool m) {
    switch (t) {
    case RG_DTYPE_F32: return 0;
    case RG_DTYPE_F16: return 1;
    case RG_DTYPE_Q4_0: return 2;
    case RG_DTYPE_Q8_0: return 7;
    case RG_DTYPE_Q5_0: return 8;
    case RG_DTYPE_Q4_K: return m ? 15 : 14;
    case RG_DTYPE_Q5_K: return m ? 17 : 16;
    case RG_DTYPE_Q6_K: return 18;
    case RG_DTYPE_BF16: return 32;
    default: return -1;
    }
}

bool rg_quant_parse_type(const char *name, rg_quant_opts *o) {
    static const struct {
        const char *name;
        rg_dtype t;
        bool m;
    } tab[] = {{"q8_0", RG_DTYPE_Q8_0, false}, {"q4_0", RG_DTYPE_Q4_0, false},
               {"q5_0", RG_DTYPE_Q5_0, false}, {"q4_k", RG_DTYPE_Q4_K, true},
               {"q4_k_m", RG_DTYPE_Q4_K, true}, {"q4_k_s", RG_DTYPE_Q4_K, false},
               {"q5_k", RG_DTYPE_Q5_K, true}, {"q5_k_m", RG_DTYPE_Q5_K, true},
               {"q5_k_s", RG_DTYPE_Q5_K, false}, {"q6_k", RG_DTYPE_Q6_K, false},
               {"f16", RG_DTYPE_F16, false}, {"bf16", RG_DTYPE_BF16, false}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(name, tab[i].name)) {
            o->type = tab[i].t;
            o->mostly_m = tab[i].m;
            return true;
        }
    return false;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* layer index from "blk.N.", -1 if none */
static int layer_of(const char *name) {
    if (strncmp(name, "blk.", 4)) return -1;
    return atoi(name + 4);
}

/* llama.cpp's use_more_bits: first and last eighth, and every third layer between */
static bool more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool quantizable(const rg_gguf_tensor *t) {
    const char *n = t->name;
    if (!ends_with(n, "weight") || t->n_dims < 2) return false;
    if (strstr(n, "_norm.weight")) return false;
    if (!strcmp(n, "position_embd.weight") || !strcmp(n, "token_types.weight")) return false;
    if (strstr(n, "ffn_gate_inp.weight") || strstr(n, "ssm_conv1d.weight")) return false;
    return true;
}

static rg_dtype choose(const rg_gguf *g, const rg_gguf_tensor *t, const rg_quant_opts *o,
                       int n_layer, bool has_output) {
    rg_dtype nt = o->type;
    bool is_q = nt != RG_DTYPE_F16 && nt != RG_DTYPE_BF16;
    if (!o->pure && is_q) {
        if (!strcmp(t->name, "output.weight") ||
            (!has_output && !strcmp(t->name, "token_embd.weight"))) {
            if (nt != RG_DTYPE_Q8_0) nt = RG_DTYPE_Q6_K;
        } else if (nt == RG_DTYPE_Q4_K || nt == RG_DTYPE_Q5_K) {
            int il = layer_of(t->name);
            bool v = strstr(t->name, "attn_v.weight") != NULL;
            bool down = strstr(t->name, "ffn_down.weight") != NULL;
            if (il >= 0 && o->mostly_m && (v || down) && more_bits(il, n_layer))
                nt = RG_DTYPE_Q6_K;
            else if (il >= 0 && !o->mostly_m && nt == RG_DTYPE_Q4_K && v && il < 4)
                nt = RG_DTYPE_Q5_K; /* Q4_K_S: first four attn_v in Q5_K */
        }
    }
    (void)g;
    const rg_dtype_traits *tr = rg_dtype_get(nt);
    if (t->ne[0] % tr->block_size) { /* llama.cpp's fallbacks for incompatible rows */
        if (nt == RG_DTYPE_Q4_K || nt == RG_DTYPE_Q5_K) nt = RG_DTYPE_Q5_0;
        else if (nt == RG_DTYPE_Q6_K) nt = RG_DTYPE_Q8_0;
        if (t->ne[0] % rg_dtype_get(nt)->block_size) nt = RG_DTYPE_F16;
    }
    return nt;
}

typedef struct {
    const rg_gguf_tensor *t;
    rg_dtype to;
    void *out;
    size_t out_row;
    int64_t rows;
    float **tmp; /* per thread: one f32 row */
} qjob;

static void quant_task(void *ctx, int ith, int nth) {
    qjob *j = ctx;
    long lo, hi;
    rg_pool_split((long)j->rows, ith, nth, &lo, &hi);
    int64_t k = j->t->ne[0];
    uint64_t in_row = 0;
    rg_dtype_row_bytes(j->t->type, (uint64_t)k, &in_row);
    for (long r = lo; r < hi; r++) {
        const char *src = (const char *)j->t->data + (size_t)r * in_row;
        const float *x = (const float *)src;
        if (j->t->type != RG_DTYPE_F32) {
            rg_nn_dequant_row(j->t->type, src, j->tmp[ith], k);
            x = j->tmp[ith];
        }
        rg_nn_quant_row(j->to, x, (char *)j->out + (size_t)r * j->out_row, k);
    }
}

rg_status rg_quant_model(const char *in_path, const char *out_path, const rg_quant_opts *o,
                         int *n_quant, rg_err *err) {
    if (ftype_of(o->type, o->mostly_m) < 0 || o->type == RG_DTYPE_F32)
        return rg_failf(err, RG_UNSUPPORTED, "quantize: unsupported target type %s",
                        rg_dtype_name(o->type));
    rg_gguf *g = NULL;
    rg_status st = rg_gguf_open(in_path, &g, err);
    if (st) return st;
    int64_t nt = rg_gguf_n_tensors(g);
    void **bufs = calloc((size_t)nt + 1, sizeof *bufs);
    rg_gguf_writer *w = rg_gguf_writer_new();
    int nth = o->n_threads > 0 ? o->n_threads : rg_cpu_count();
    rg_pool *pool = nth > 1 ? rg_pool_new(nth) : NULL;
    if (nth > 1 && !pool) nth = 1;
    float **tmp = calloc((size_t)nth, sizeof *tmp);
    if (!bufs || !w || !tmp) {
        st = rg_failf(err, RG_NOMEM, "quantize: out of memory");
        goto done;
    }
    const char *arch = rg_gguf_get_str(g, "general.architecture", NULL);
    uint32_t n_layer = 0;
    if (arch) {
        char key[128];
        snprintf(key, sizeof key, "%s.block_count", arch);
        rg_gguf_get_u32(g, key, &n_layer);
    }
    bool has_output = rg_gguf_find_tensor(g, "output.weight") != NULL;
    int64_t max_k = 1; /* one f32 row of scratch per thread for f16/bf16 input */
    for (int64_t i = 0; i < nt; i++)
        if (rg_gguf_tensor_at(g, i)->ne[0] > max_k) max_k = rg_gguf_tensor_at(g, i)->ne[0];
    for (int th = 0; th < nth; th++)
        if (!(tmp[th] = malloc((size_t)max_k * sizeof(float)))) {
            st = rg_failf(err, RG_NOMEM, "quantize: out of memory");
            goto done;
        }
    if ((st = rg_gguf_writer_copy_kv(w, g)) ||
        (st = rg_gguf_writer_set_u32(w, "general.quantization_version", 2)) ||
        (st = rg_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype_of(o->type, o->mostly_m)))) {
        rg_failf(err, st, "quantize: %s: cannot copy metadata", out_path);
        goto done;
    }
    int nq = 0;
    for (int64_t i = 0; i < nt; i++) {
        const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
        rg_dtype to = t->type;
        if (quantizable(t)) to = choose(g, t, o, (int)n_layer, has_output);
        const void *data = t->data;
        uint64_t nbytes = t->nbytes;
        if (to != t->type) {
            if (t->type != RG_DTYPE_F32 && t->type != RG_DTYPE_F16 && t->type != RG_DTYPE_BF16) {
                st = rg_failf(err, RG_UNSUPPORTED,
                              "quantize: %s: tensor %s is %s; input weights must be f32, f16 or bf16",
                              in_path, t->name, rg_dtype_name(t->type));
                goto done;
            }
            uint64_t row;
            int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
            if (rg_dtype_row_bytes(to, (uint64_t)t->ne[0], &row) || rows <= 0 ||
                row > UINT64_MAX / (uint64_t)rows) {
                st = rg_failf(err, RG_FORMAT, "quantize: %s: tensor %s: bad shape", in_path, t->name);
                goto done;
            }
            nbytes = row * (uint64_t)rows;
            bufs[i] = malloc(nbytes ? nbytes : 1);
            if (!bufs[i]) {
                st = rg_failf(err, RG_NOMEM, "quantize: out of memory for tensor %s", t->name);
                goto done;
            }
            qjob j = {t, to, bufs[i], (size_t)row, rows, tmp};
            rg_pool_run(pool, quant_task, &j);
            data = bufs[i];
            nq++;
        }
        if ((st = rg_gguf_writer_add_tensor(w, t->name, to, t->n_dims, t->ne, data, nbytes))) {
            rg_failf(err, st, "quantize: cannot add tensor %s", t->name);
            goto done;
        }
    }
    if ((st = rg_gguf_writer_write(w, out_path, err))) goto done;
    if (n_quant) *n_quant = nq;
done:
    for (int th = 0; tmp && th < nth; th++) free(tmp[th]);
    free(tmp);
    rg_pool_free(pool);
    rg_gguf_writer_free(w);
    for (int64_t i = 0; bufs && i < nt; i++) free(bufs[i]);
    free(bufs);
    rg_gguf_close(g);
    return st;
}
