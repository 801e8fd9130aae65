/* index_int.h - internals of the index module shared by its files: the
 * distance kernels (scalar reference + AVX2/AVX-512 variants) and the
 * int8 quantiser.  Not a public header. */
#ifndef RG_INDEX_INT_H
#define RG_INDEX_INT_H

#include <stdint.h>

/* <a, b> over d floats. */
typedef float (*rg__dot_f32_fn)(const float *a, const float *b, int d);
/* ||a - b||^2 over d floats. */
typedef float (*rg__l2_f32_fn)(const float *a, const float *b, int d);
/* <a, b> over d int8 values, each in [-127, 127] (never -128: the AVX2
 * kernel relies on |a| fitting in a signed byte). */
typedef int32_t (*rg__dot_i8_fn)(const int8_t *a, const int8_t *b, int d);

typedef struct rg__index_kernels {
    rg__dot_f32_fn dot_f32;
    rg__l2_f32_fn l2_f32;
    rg__dot_i8_fn dot_i8;
    const char *name;
} rg__index_kernels;

/* Kernels for the current rg_cpu_level_get() (re-read on every call, so
 * rg_cpu_level_force in tests takes effect for indexes made afterwards). */
const rg__index_kernels *rg__index_kernels_get(void);
/* Kernels for one level, or NULL when this build lacks it. */
const rg__index_kernels *rg__index_kernels_for(int level);

float rg__dot_f32_scalar(const float *a, const float *b, int d);
float rg__l2_f32_scalar(const float *a, const float *b, int d);
int32_t rg__dot_i8_scalar(const int8_t *a, const int8_t *b, int d);
float rg__dot_f32_avx2(const float *a, const float *b, int d);
float rg__l2_f32_avx2(const float *a, const float *b, int d);
int32_t rg__dot_i8_avx2(const int8_t *a, const int8_t *b, int d);
float rg__dot_f32_avx512(const float *a, const float *b, int d);
float rg__l2_f32_avx512(const float *a, const float *b, int d);
int32_t rg__dot_i8_avx512(const int8_t *a, const int8_t *b, int d);

/* Symmetric per-vector quantisation: x ~= scale * q, q in [-127, 127].
 * Writes q (d bytes) and returns scale (0 for the zero vector). */
float rg__quantize_i8(const float *x, int d, int8_t *q);

#endif
