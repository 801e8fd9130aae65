/* bench_mkbert.c - writes a BERT GGUF of a real shape with random weights
 * (the tokenizer copied from a vocabulary GGUF), for embedding benches.
 *
 *   bench_mkbert VOCAB.gguf OUT.gguf f32|f16 [n_embd 384] [layers 6] [heads 12] [ff 1536]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "nn/nn.h"

static unsigned long long rng = 42;
static float randn(void) {
    double u1, u2;
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    u1 = ((rng >> 11) + 0.5) * 0x1.0p-53;
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    u2 = ((rng >> 11) + 0.5) * 0x1.0p-53;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

/* keeps every tensor buffer alive until the write */
static void **bufs;
static int nbufs;

static void add(rg_gguf_writer *w, const char *name, int dims, int64_t ne0, int64_t ne1, rg_dtype t,
                float scale, float bias) {
    int64_t ne[2] = {ne0, ne1};
    size_t n = (size_t)ne0 * (size_t)(dims > 1 ? ne1 : 1);
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = bias + scale * randn();
    void *data = f;
    uint64_t bytes = n * 4;
    if (t == RG_DTYPE_F16) {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = rg_f32_to_f16(f[i]);
        free(f);
        data = h;
        bytes = n * 2;
    }
    bufs = realloc(bufs, sizeof(void *) * (size_t)(nbufs + 1));
    bufs[nbufs++] = data;
    if (rg_gguf_writer_add_tensor(w, name, t, dims, ne, data, bytes)) {
        fprintf(stderr, "add_tensor %s failed\n", name);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_mkbert VOCAB.gguf OUT.gguf f32|f16 [d layers heads ff]\n");
        return 2;
    }
    int d = argc > 4 ? atoi(argv[4]) : 384, L = argc > 5 ? atoi(argv[5]) : 6;
    int H = argc > 6 ? atoi(argv[6]) : 12, ff = argc > 7 ? atoi(argv[7]) : 1536;
    rg_dtype wt = strcmp(argv[3], "f16") == 0 ? RG_DTYPE_F16 : RG_DTYPE_F32;
    rg_gguf *v;
    rg_err err;
    if (rg_gguf_open(argv[1], &v, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    uint64_t n_vocab = 0;
    rg_gguf_type et;
    rg_gguf_get_arr(v, "tokenizer.ggml.tokens", &et, &n_vocab);
    rg_gguf_writer *w = rg_gguf_writer_new();
    rg_gguf_writer_copy_kv(w, v);
    rg_gguf_writer_set_str(w, "general.architecture", "bert");
    rg_gguf_writer_set_str(w, "general.name", "random-bert-bench");
    rg_gguf_writer_set_u32(w, "bert.embedding_length", (uint32_t)d);
    rg_gguf_writer_set_u32(w, "bert.block_count", (uint32_t)L);
    rg_gguf_writer_set_u32(w, "bert.attention.head_count", (uint32_t)H);
    rg_gguf_writer_set_u32(w, "bert.feed_forward_length", (uint32_t)ff);
    rg_gguf_writer_set_u32(w, "bert.context_length", 512);
    rg_gguf_writer_set_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f);
    rg_gguf_writer_set_bool(w, "bert.attention.causal", false);
    rg_gguf_writer_set_u32(w, "bert.pooling_type", 1);
    rg_gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", 2);
    add(w, "token_embd.weight", 2, d, (int64_t)n_vocab, wt, 0.02f, 0);
    add(w, "token_types.weight", 2, d, 2, RG_DTYPE_F32, 0.02f, 0);
    add(w, "position_embd.weight", 2, d, 512, RG_DTYPE_F32, 0.02f, 0);
    add(w, "token_embd_norm.weight", 1, d, 1, RG_DTYPE_F32, 0.02f, 1);
    add(w, "token_embd_norm.bias", 1, d, 1, RG_DTYPE_F32, 0.02f, 0);
    char n[96];
    for (int l = 0; l < L; l++) {
        static const char *lin[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
        for (int i = 0; i < 4; i++) {
            snprintf(n, sizeof n, "blk.%d.%s.weight", l, lin[i]);
            add(w, n, 2, d, d, wt, 1.0f / sqrtf((float)d), 0);
            snprintf(n, sizeof n, "blk.%d.%s.bias", l, lin[i]);
            add(w, n, 1, d, 1, RG_DTYPE_F32, 0.02f, 0);
        }
        snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l);
        add(w, n, 2, d, ff, wt, 0.02f, 0);
        snprintf(n, sizeof n, "blk.%d.ffn_up.bias", l);
        add(w, n, 1, ff, 1, RG_DTYPE_F32, 0.02f, 0);
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", l);
        add(w, n, 2, ff, d, wt, 0.02f, 0);
        snprintf(n, sizeof n, "blk.%d.ffn_down.bias", l);
        add(w, n, 1, d, 1, RG_DTYPE_F32, 0.02f, 0);
        static const char *norms[] = {"attn_output_norm", "layer_output_norm"};
        for (int i = 0; i < 2; i++) {
            snprintf(n, sizeof n, "blk.%d.%s.weight", l, norms[i]);
            add(w, n, 1, d, 1, RG_DTYPE_F32, 0.02f, 1);
            snprintf(n, sizeof n, "blk.%d.%s.bias", l, norms[i]);
            add(w, n, 1, d, 1, RG_DTYPE_F32, 0.02f, 0);
        }
    }
    if (rg_gguf_writer_write(w, argv[2], &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    rg_gguf_writer_free(w);
    rg_gguf_close(v);
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    free(bufs);
    return 0;
}
