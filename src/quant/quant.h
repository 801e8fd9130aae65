/* quant.h - model quantization: a GGUF file with F32 / F16 / BF16 weights
 * in, a GGUF file with quantized 2-D weights out, byte-compatible with
 * llama-quantize (same tensor choice, same quantizers: nn/'s bit-exact
 * ports of ggml's reference quantizers). */
#ifndef RG_QUANT_H
#define RG_QUANT_H

#include <stdbool.h>

#include "core/status.h"
#include "gguf/dtype.h"

typedef struct rg_quant_opts {
    rg_dtype type;      /* target for the weights: Q8_0 Q4_0 Q5_0 Q4_K Q5_K Q6_K F16 BF16 */
    bool mostly_m;      /* "_M" mixture (llama.cpp Q4_K_M / Q5_K_M): some attn_v / ffn_down in Q6_K */
    bool pure;          /* every quantizable 2-D weight gets `type`, no mixture rules */
    int n_threads;      /* <= 0: all CPUs */
} rg_quant_opts;

/* Parses a llama-quantize type name ("Q8_0", "q4_k_m", "Q5_K_M", "F16",
 * ...) into opts->type / opts->mostly_m.  Returns false when unknown or
 * unsupported. */
bool rg_quant_parse_type(const char *name, rg_quant_opts *opts);

/* Quantizes in_path into out_path (written atomically).  Rules, as
 * llama.cpp: tensors whose names end in "weight" with 2+ dims are
 * quantized, except *_norm.weight, position / token-type embeddings;
 * everything else is copied unchanged.  Without pure: output.weight (or
 * token_embd.weight when the output is tied) becomes Q6_K unless the
 * target is Q8_0 / F16 / BF16, _M types raise attn_v / ffn_down of the
 * layers llama.cpp's use_more_bits picks to Q6_K, and Q4_K_S puts the first
 * four attn_v in Q5_K (llama.cpp's rules for 70B / MoE models and imatrix
 * are not applied); rows not a multiple of 256 fall back from Q4_K to Q5_0,
 * Q5_K to Q5_0 and Q6_K to Q8_0.  Input weights must be F32, F16 or BF16
 * (or already the chosen type, copied). *n_quant (if non-NULL) gets the
 * number of tensors quantized. */
rg_status rg_quant_model(const char *in_path, const char *out_path, const rg_quant_opts *opts,
                         int *n_quant, rg_err *err);

#endif
