/* dist.c - scalar reference distance kernels, the int8 quantiser and the
 * run-time choice among scalar / AVX2 / AVX-512 (core/cpu.h). */
#include <math.h>
#include <stddef.h>

#include "core/cpu.h"
#include "index/index_int.h"

float rg__dot_f32_scalar(const float *a, const float *b, int d) {
    /* four partial sums: the same association as a 4-lane vector loop
     * would use is not required, but it keeps the reference fast enough
     * to serve as the fallback on old CPUs */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= d; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < d; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

float rg__l2_f32_scalar(const float *a, const float *b, int d) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= d; i += 4) {
        float t0 = a[i] - b[i], t1 = a[i + 1] - b[i + 1];
        float t2 = a[i + 2] - b[i + 2], t3 = a[i + 3] - b[i + 3];
        s0 += t0 * t0;
        s1 += t1 * t1;
        s2 += t2 * t2;
        s3 += t3 * t3;
    }
    for (; i < d; i++) {
        float t = a[i] - b[i];
        s0 += t * t;
    }
    return (s0 + s1) + (s2 + s3);
}

int32_t rg__dot_i8_scalar(const int8_t *a, const int8_t *b, int d) {
    int32_t s = 0;
    for (int i = 0; i < d; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

float rg__quantize_i8(const float *x, int d, int8_t *q) {
    float amax = 0;
    for (int i = 0; i < d; i++) {
        float v = fabsf(x[i]);
        if (v > amax) amax = v;
    }
    if (!(amax > 0) || !isfinite(amax)) {
        for (int i = 0; i < d; i++) q[i] = 0;
        return 0;
    }
    float inv = 127.0f / amax;
    for (int i = 0; i < d; i++) {
        long v = lrintf(x[i] * inv);
        if (v > 127) v = 127;
        if (v < -127) v = -127;
        q[i] = (int8_t)v;
    }
    return amax / 127.0f;
}

static const rg__index_kernels k_scalar = {rg__dot_f32_scalar, rg__l2_f32_scalar,
                                           rg__dot_i8_scalar, "scalar"};
#if defined(__x86_64__)
static const rg__index_kernels k_avx2 = {rg__dot_f32_avx2, rg__l2_f32_avx2, rg__dot_i8_avx2,
                                         "avx2"};
static const rg__index_kernels k_avx512 = {rg__dot_f32_avx512, rg__l2_f32_avx512,
                                           rg__dot_i8_avx512, "avx512"};
#endif

const rg__index_kernels *rg__index_kernels_for(int level) {
#if defined(__x86_64__)
    if (level == RG_CPU_AVX512) return &k_avx512;
    if (level == RG_CPU_AVX2) return &k_avx2;
#endif
    if (level == RG_CPU_SCALAR) return &k_scalar;
    return NULL;
}

const rg__index_kernels *rg__index_kernels_get(void) {
    const rg__index_kernels *k = rg__index_kernels_for((int)rg_cpu_level_get());
    return k ? k : &k_scalar;
}
