/* ops.h - element-wise and row-wise f32 operations of transformer blocks:
 * normalisation, activations, softmax, rotary position embedding, and the
 * f16/f32 dot/axpy helpers attention needs for its KV cache.
 *
 * All take caller-owned f32 buffers; none allocates.  In-place use (out ==
 * x) is allowed wherever a function reads and writes the same shape.  Each
 * has a scalar reference (ops.c); AVX2/AVX-512 variants (ops_avx2.c,
 * ops_avx512.c) are picked at run time by core/cpu.h and tested against it.
 * Results match ggml's CPU ops to float rounding (sums in float64 where
 * ggml uses ggml_float). */
#ifndef RG_NN_OPS_H
#define RG_NN_OPS_H

#include <stdint.h>

/* out (n,) = x / sqrt(mean(x^2) + eps) * w   (w may be NULL: no gain) */
void rg_nn_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
/* out (n,) = (x - mean) / sqrt(var + eps) * w + b   (w, b may be NULL) */
void rg_nn_layernorm(float *out, const float *x, const float *w, const float *b, int64_t n,
                     float eps);
/* x (n,) <- softmax(x) in place; n >= 1. */
void rg_nn_softmax(float *x, int64_t n);
/* g (n,) <- silu(g) * u  (SwiGLU's gate: g = x@Wg, u = x@Wu) */
void rg_nn_silu_mul(float *g, const float *u, int64_t n);
/* x (n,) <- gelu(x), tanh approximation (as ggml's GELU). */
void rg_nn_gelu(float *x, int64_t n);
/* y (n,) += b (n,)  (bias add) */
void rg_nn_add(float *y, const float *b, int64_t n);
/* x (n,) *= s */
void rg_nn_scale(float *x, float s, int64_t n);

/* Rotary position embedding of one token's heads, in place.
 *   x (n_head, head_dim): rows of head_dim floats, contiguous.
 * The first n_rot dims of each head are rotated (n_rot even, <= head_dim);
 * theta_i = pos * freq_scale * base^(-2i/n_rot), divided by freq_factors[i]
 * when freq_factors (n_rot/2,) is given (Llama 3.1 long-context factors).
 *   RG_ROPE_NORMAL (llama): pairs (x[2i], x[2i+1]).
 *   RG_ROPE_NEOX (qwen2, gpt-neox): pairs (x[i], x[i + n_rot/2]). */
typedef enum rg_rope_mode { RG_ROPE_NORMAL = 0, RG_ROPE_NEOX = 2 } rg_rope_mode;

/* Precomputes cos/sin for one position: cs (n_rot,) = [cos0, sin0, cos1,
 * sin1, ...] for i in [0, n_rot/2).  Lets a batch share one table per
 * position across heads and Q/K. */
void rg_nn_rope_cache(float *cs, int n_rot, int64_t pos, float base, float freq_scale,
                      const float *freq_factors);
/* Applies the rotation in cs (from rg_nn_rope_cache) to n_head heads. */
void rg_nn_rope_apply(float *x, int n_head, int head_dim, int n_rot, const float *cs,
                      rg_rope_mode mode);

/* ---- KV-cache helpers (attention) ---- */
/* sum a[i]*b[i], a in f16 (raw bits) */
float rg_nn_dot_f16_f32(const uint16_t *a, const float *b, int64_t n);
/* y (n,) += s * x (n,), x in f16 */
void rg_nn_axpy_f16(float *y, float s, const uint16_t *x, int64_t n);
/* dst (n,) f16 <- src f32, round to nearest even (as ggml's F16C path). */
void rg_nn_f32_to_f16_row(uint16_t *dst, const float *src, int64_t n);
/* dst (n,) f32 <- src f16 */
void rg_nn_f16_to_f32_row(float *dst, const uint16_t *src, int64_t n);

/* Attention over one block of keys with an online softmax (flash-attention
 * style), so K/V are read block by block and every block serves all nq
 * query rows:
 *   q (nq, hd)   queries, already scaled by 1/sqrt(hd)
 *   kT (hd, ldk) the block's keys transposed: key j is column j (j < nk)
 *   v (nk, hd)   the block's values
 *   lim (nq,)    row i sees keys [0, lim[i]) of the block (causal mask)
 * Running state per row, updated in place (init m = -inf, l = 0, o = 0):
 *   m (nq,) max score so far, l (nq,) sum of exp(score - m),
 *   o (nq, hd) sum of exp(score - m) * v.  The attention output is o / l.
 * nk <= RG_NN_ATTN_BLOCK_MAX; ldk >= nk rounded up to 8. */
#define RG_NN_ATTN_BLOCK_MAX 64
void rg_nn_attn_block(const float *q, int nq, int hd, const float *kT, int ldk, const float *v,
                      int nk, const int *lim, float *m, float *l, float *o);

#endif
