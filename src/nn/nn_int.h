/* nn_int.h - internals of nn/: GGUF block layouts (bit-exact with ggml's
 * ggml-common.h, sizes asserted), the per-ISA kernel tables and the
 * helpers the scalar, AVX2 and AVX-512 files share.
 *
 * Invariant: every block struct is packed exactly as on disk, so a tensor
 * in the mmap is an array of these structs (GGUF aligns tensor data to 32,
 * the structs need at most 4-byte alignment). */
#ifndef RG_NN_INT_H
#define RG_NN_INT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nn/nn.h"

#define RG_QK 32    /* elements per block of Q4_0 / Q5_0 / Q8_0 */
#define RG_QK_K 256 /* elements per super-block of the K-quants */

typedef struct {
    uint16_t d;            /* f16 scale */
    uint8_t qs[RG_QK / 2]; /* element j: low nibble of qs[j]; j+16: high nibble */
} rg_block_q4_0;
static_assert(sizeof(rg_block_q4_0) == 18, "q4_0 block");

typedef struct {
    uint16_t d;
    uint8_t qh[4];         /* bit j = 5th bit of element j (little-endian u32) */
    uint8_t qs[RG_QK / 2];
} rg_block_q5_0;
static_assert(sizeof(rg_block_q5_0) == 22, "q5_0 block");

typedef struct {
    uint16_t d;
    int8_t qs[RG_QK];
} rg_block_q8_0;
static_assert(sizeof(rg_block_q8_0) == 34, "q8_0 block");

typedef struct {
    uint16_t d;               /* super-block scale of the 6-bit scales */
    uint16_t dmin;            /* super-block scale of the 6-bit mins */
    uint8_t scales[12];       /* 8 x (6-bit scale, 6-bit min), packed */
    uint8_t qs[RG_QK_K / 2];  /* 4-bit quants, 64 elements per 32 bytes */
} rg_block_q4_K;
static_assert(sizeof(rg_block_q4_K) == 144, "q4_K block");

typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[RG_QK_K / 8];  /* 5th bits */
    uint8_t qs[RG_QK_K / 2];
} rg_block_q5_K;
static_assert(sizeof(rg_block_q5_K) == 176, "q5_K block");

typedef struct {
    uint8_t ql[RG_QK_K / 2];  /* low 4 bits */
    uint8_t qh[RG_QK_K / 4];  /* high 2 bits */
    int8_t scales[RG_QK_K / 16];
    uint16_t d;
} rg_block_q6_K;
static_assert(sizeof(rg_block_q6_K) == 210, "q6_K block");

typedef struct {
    float d;
    int8_t qs[RG_QK_K];
    int16_t bsums[RG_QK_K / 16]; /* sums of qs in groups of 16 */
} rg_block_q8_K;
static_assert(sizeof(rg_block_q8_K) == 292, "q8_K block");

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block. */
static inline void rg__scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* ---- kernels ----
 * A tile kernel computes nr x nc dot products of weight rows with
 * activation rows already converted to the weight type's activation type:
 *   y[c*ys + r] = dot(w + r*ws, x + c*xs)   for r < nr, c < nc
 * k is the row length in elements; ws, xs are row strides in bytes; nr and
 * nc are at most RG_NN_TILE. */
#define RG_NN_TILE 4
typedef void (*rg__tile_fn)(int64_t k, const void *w, size_t ws, int nr, const void *x, size_t xs,
                            int nc, float *y, size_t ys);
/* Converts n f32 activations to the activation type (Q8_0, Q8_K, F16,
 * BF16 or F32 copy). */
typedef void (*rg__act_fn)(const float *src, void *dst, int64_t n);

/* Small-batch kernel over activations packed eight columns per register
 * (x8 layout, see batch.c): nr (<= RG_NN_TILE) weight rows x ng groups of
 * 8 columns, y[c*ys + r] for c < nc (<= 8*ng). */
#define RG_NN_X8_BLOCK 288 /* bytes per Q8_0 block of an x8 group */
typedef void (*rg__x8_fn)(int64_t k, const void *w, size_t ws, int nr, const void *xp, int ng,
                          float *y, size_t ys, int nc);
size_t rg__x8_bytes(int64_t k, int64_t batch);
void rg__x8_pack(const void *xa, size_t arow, int64_t k, int64_t batch, void *dst);
void rg__x8_q8_0_scalar(int64_t k, const void *w, size_t ws, int nr, const void *xp, int ng, float *y,
                        size_t ys, int nc);
void rg__x8_q8_0_avx2(int64_t k, const void *w, size_t ws, int nr, const void *xp, int ng, float *y,
                      size_t ys, int nc);
/* Dequantizes n weights (a multiple of the block size) to f32; NULL
 * entries fall back to rg_nn_dequant_row. */
typedef void (*rg__deq_fn)(const void *src, float *dst, int64_t n);

typedef struct rg__kernels {
    rg__tile_fn tile[RG_DTYPE_COUNT];
    rg__x8_fn x8[RG_DTYPE_COUNT]; /* NULL: no small-batch kernel for the type */
    rg__act_fn act[RG_DTYPE_COUNT];
    rg__deq_fn deq[RG_DTYPE_COUNT];
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
} rg__kernels;

/* Activation type of weight type t (RG_DTYPE_COUNT when unsupported). */
rg_dtype rg__act_type(rg_dtype t);

/* Fill the table for each level: scalar always, SIMD files only fill the
 * entries they implement (the rest stay scalar). */
void rg__kernels_scalar(rg__kernels *k);
void rg__kernels_avx2(rg__kernels *k);
void rg__kernels_avx512(rg__kernels *k);
/* The table for the current level (rg_cpu_level_get, re-read per call so
 * tests can force a level). */
const rg__kernels *rg__kernels_get(void);

/* Scalar activation quantizers that reproduce llama.cpp's x86 SIMD
 * quantize_row_q8_0 (scale 127/amax, round half to even); Q8_K activations
 * use the reference quantizer in llama.cpp too. */
void rg__quant_act_q8_0(const float *src, void *dst, int64_t n);
void rg__quant_row_q8_K(const float *src, void *dst, int64_t n);
void rg__f32_to_f16_row(const float *src, void *dst, int64_t n);
void rg__f32_to_bf16_row(const float *src, void *dst, int64_t n);

/* ---- large batches (gemm.c) ----
 * Y (batch,n) = X (batch,k) @ W^T with X rounded through the activation
 * type and W converted to f32 in blocks of up to RG_NN_GEMM_ROWS rows
 * (RG_NN_GEMM_FLOATS floats) per thread, multiplied by single-threaded OpenBLAS sgemm.  scratch:
 * rg__gemm_scratch_bytes(k, batch, activation row bytes, nth) bytes (0 on
 * overflow), 64-byte aligned; nth = the pool's thread count (1 without a
 * pool). */
#define RG_NN_GEMM_ROWS 1024
#define RG_NN_GEMM_FLOATS (4 << 20) /* per thread: 16 MB */
size_t rg__gemm_scratch_bytes(int64_t k, int64_t batch, size_t arow, int nth);
void rg__gemm(rg_pool *pool, int nth, void *scratch, rg_dtype wt, const void *w, size_t wrow,
              int64_t k, int64_t n, const float *x, int64_t batch, float *y);

#endif
