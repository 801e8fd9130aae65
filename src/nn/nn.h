/* nn.h - numeric kernels: type conversion, dequantization, quantized dot
 * products and matrix multiplication over GGUF weight types, with a
 * scalar reference and AVX2 / AVX-512 variants chosen at run time.
 *
 * Weights use GGUF's layout: a tensor with ne = [k, n] is n rows of k
 * elements, each row rg_dtype_row_bytes(type, k) bytes, rows contiguous.
 * Activations are f32 rows. */
#ifndef RG_NN_H
#define RG_NN_H

#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"
#include "core/status.h"
#include "gguf/dtype.h"

/* ---- scalar conversions ---- */
float rg_f16_to_f32(uint16_t h);
uint16_t rg_f32_to_f16(float f);
float rg_bf16_to_f32(uint16_t h);
uint16_t rg_f32_to_bf16(float f); /* round to nearest even, as ggml */

/* ---- rows ---- */

/* Dequantizes n elements (a multiple of the block size) of type t from src
 * into dst.  Types without a dequantizer (see rg_nn_can_dequant) give
 * zeros: loaders check tensor types first. */
void rg_nn_dequant_row(rg_dtype t, const void *src, float *dst, int64_t n);
/* True when rg_nn_dequant_row / rg_nn_get_row support type t (F32, F16,
 * BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, Q8_K). */
int rg_nn_can_dequant(rg_dtype t);
/* Quantizes n f32 values into type t (dst has rg_dtype_row_bytes bytes).
 * Bit-exact with ggml's reference quantizers for Q8_0, Q4_0, Q5_0, Q4_K,
 * Q5_K, Q6_K, Q8_K, F16, BF16. Returns RG_UNSUPPORTED for other types. */
rg_status rg_nn_quant_row(rg_dtype t, const float *src, void *dst, int64_t n);
/* Row j of a weight matrix with rows of k elements, as f32 (embedding
 * lookup). */
void rg_nn_get_row(rg_dtype t, const void *w, int64_t k, int64_t j, float *out);

/* ---- kernel context ---- */

/* Owns a thread pool and scratch memory (quantized activations), reused
 * across calls so the token loop never allocates once warmed up. */
typedef struct rg_nn rg_nn;
/* n_threads <= 0: all CPUs.  NULL on allocation failure. */
rg_nn *rg_nn_new(int n_threads);
void rg_nn_free(rg_nn *nn);
rg_pool *rg_nn_pool(rg_nn *nn);
int rg_nn_threads(const rg_nn *nn);

/* Y (batch,n) = X (batch,k) @ W^T, W a [k, n] tensor of type wt.
 *   W (n rows of k) @ x (k,) -> y (n,) for each of the batch rows.
 * Quantized types quantize X to Q8_0 / Q8_K as llama.cpp does and use
 * integer dot products.  batch == 1 is the decode path (work split over
 * rows of W); batch > 1 is blocked so each weight row is read once per
 * block of activations.  Returns RG_UNSUPPORTED for types without a
 * kernel, RG_NOMEM when scratch cannot grow. */
rg_status rg_nn_matmul(rg_nn *nn, rg_dtype wt, const void *w, int64_t k, int64_t n,
                       const float *x, int64_t batch, float *y);

/* True when rg_nn_matmul supports weight type t. */
int rg_nn_supports(rg_dtype t);

/* ---- f32 vector helpers (SIMD where it pays) ---- */
float rg_nn_dot_f32(const float *a, const float *b, int64_t n);
/* y += a * x */
void rg_nn_axpy_f32(float *y, float a, const float *x, int64_t n);

#endif
