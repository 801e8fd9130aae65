/* ops_int.h - per-ISA entry points of ops.c (ops_avx2.c).  Callers enter
 * them only after rg_cpu_level_get() said the ISA is there. */
#ifndef RG_NN_OPS_INT_H
#define RG_NN_OPS_INT_H

#include <stdint.h>

float rg__ops_dot_f16_f32_avx2(const uint16_t *a, const float *b, int64_t n);
void rg__ops_axpy_f16_avx2(float *y, float s, const uint16_t *x, int64_t n);
void rg__ops_silu_mul_avx2(float *g, const float *u, int64_t n);
void rg__ops_gelu_avx2(float *x, int64_t n);
void rg__ops_add_avx2(float *y, const float *b, int64_t n);
void rg__ops_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n);
/* x <- exp(x - max) in place; returns the sum (float64 accumulation of
 * per-lane partial sums). */
double rg__ops_exp_sum_avx2(float *x, int64_t n, float max);

void rg__ops_f16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n);
/* hd a multiple of 8 */
void rg__ops_attn_block_avx2(const float *q, int nq, int hd, const float *kT, int ldk,
                             const float *v, int nk, const int *lim, float *m, float *l, float *o);
#endif
