/* llm_int.h - internals shared by model.c, ctx.c and forward.c.
 *
 * Weight shapes use GGUF's ne order: ne[0] = row length (input features),
 * so a [k, n] matrix is n rows of k and computes W (n,k) @ x (k,) -> (n,). */
#ifndef RG_LLM_INT_H
#define RG_LLM_INT_H

#include "llm/llm.h"
#include "nn/nn.h"

/* A matrix in the map: n rows of k elements of type. */
typedef struct rg__llm_w {
    const void *data;
    rg_dtype type;
    int64_t k, n;
} rg__llm_w;

typedef struct rg__llm_layer {
    const float *attn_norm; /* (n_embd,) */
    rg__llm_w wq;           /* [n_embd, n_head*head_dim]    x (n_embd,) -> q (n_head*hd,) */
    rg__llm_w wk;           /* [n_embd, n_head_kv*head_dim] x -> k (n_kv*hd,) */
    rg__llm_w wv;           /* [n_embd, n_head_kv*head_dim] x -> v (n_kv*hd,) */
    rg__llm_w wo;           /* [n_head*head_dim, n_embd]    attn (n_head*hd,) -> (n_embd,) */
    const float *bq;        /* (n_head*hd,) or NULL */
    const float *bk;        /* (n_kv*hd,) or NULL */
    const float *bv;        /* (n_kv*hd,) or NULL */
    const float *bo;        /* (n_embd,) or NULL */
    const float *ffn_norm;  /* (n_embd,) */
    rg__llm_w w_gate;       /* [n_embd, n_ff]  x -> g (n_ff,) */
    rg__llm_w w_up;         /* [n_embd, n_ff]  x -> u (n_ff,) */
    rg__llm_w w_down;       /* [n_ff, n_embd]  silu(g)*u (n_ff,) -> (n_embd,) */
} rg__llm_layer;

struct rg_llm_model {
    rg_gguf *owned; /* non-NULL when the model opened the file */
    const rg_gguf *g;
    rg_llm_hparams hp;
    rg__llm_w tok_embd;        /* [n_embd, n_vocab]: row t = embedding of token t */
    const float *output_norm;  /* (n_embd,) */
    rg__llm_w output;          /* [n_embd, n_vocab]: x (n_embd,) -> logits (n_vocab,); = tok_embd when tied */
    const float *rope_freqs;   /* (n_rot/2,) or NULL (Llama 3.1 factors) */
    rg__llm_layer *layers;     /* (n_layer,) */
    uint64_t decode_bytes, weight_bytes, n_params;
};

#endif
