/* dot.c - scalar reference dot products (weight type x activation type,
 * paired as llama.cpp pairs them), the kernel table and its run-time
 * choice.
 *
 * Pairs: Q4_0, Q5_0, Q8_0 x Q8_0; Q4_K, Q5_K, Q6_K x Q8_K; F16 x F16;
 * BF16 x BF16; F32 x F32.  Integer sums are exact per block; only the
 * float accumulation order differs between this file and the SIMD ones. */
#include <pthread.h>

#include "core/cpu.h"
#include "nn/nn_int.h"

static float dot_q4_0(int64_t k, const void *vw, const void *vx) {
    const rg_block_q4_0 *w = vw;
    const rg_block_q8_0 *x = vx;
    float s = 0;
    for (int64_t i = 0; i < k / RG_QK; i++) {
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += ((w[i].qs[j] & 0xF) - 8) * x[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + 16];
        s += (float)sum * (rg_f16_to_f32(w[i].d) * rg_f16_to_f32(x[i].d));
    }
    return s;
}

static float dot_q5_0(int64_t k, const void *vw, const void *vx) {
    const rg_block_q5_0 *w = vw;
    const rg_block_q8_0 *x = vx;
    float s = 0;
    for (int64_t i = 0; i < k / RG_QK; i++) {
        uint32_t qh;
        memcpy(&qh, w[i].qh, 4);
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            int v0 = ((w[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
            int v1 = ((w[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sum += v0 * x[i].qs[j] + v1 * x[i].qs[j + 16];
        }
        s += (float)sum * (rg_f16_to_f32(w[i].d) * rg_f16_to_f32(x[i].d));
    }
    return s;
}

static float dot_q8_0(int64_t k, const void *vw, const void *vx) {
    const rg_block_q8_0 *w = vw;
    const rg_block_q8_0 *x = vx;
    float s = 0;
    for (int64_t i = 0; i < k / RG_QK; i++) {
        int sum = 0;
        for (int j = 0; j < RG_QK; j++) sum += w[i].qs[j] * x[i].qs[j];
        s += (float)sum * (rg_f16_to_f32(w[i].d) * rg_f16_to_f32(x[i].d));
    }
    return s;
}

/* Q4_K / Q5_K: sum_j d*sc_j*<q_j, x_j> - dmin*m_j*sum(x_j), the latter from
 * the Q8_K group sums. */
static float dot_q4_K(int64_t k, const void *vw, const void *vx) {
    const rg_block_q4_K *w = vw;
    const rg_block_q8_K *x = vx;
    float s = 0;
    for (int64_t i = 0; i < k / RG_QK_K; i++) {
        const uint8_t *q = w[i].qs;
        const int8_t *a = x[i].qs;
        int sumq = 0, summ = 0;
        for (int j = 0; j < 8; j += 2, q += 32, a += 64) {
            uint8_t sc0, m0, sc1, m1;
            rg__scale_min_k4(j, w[i].scales, &sc0, &m0);
            rg__scale_min_k4(j + 1, w[i].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 0xF) * a[l];
                s1 += (q[l] >> 4) * a[l + 32];
            }
            sumq += sc0 * s0 + sc1 * s1;
            summ += m0 * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]) +
                    m1 * (x[i].bsums[2 * j + 2] + x[i].bsums[2 * j + 3]);
        }
        s += x[i].d * (rg_f16_to_f32(w[i].d) * (float)sumq - rg_f16_to_f32(w[i].dmin) * (float)summ);
    }
    return s;
}

static float dot_q5_K(int64_t k, const void *vw, const void *vx) {
    const rg_block_q5_K *w = vw;
    const rg_block_q8_K *x = vx;
    float s = 0;
    for (int64_t i = 0; i < k / RG_QK_K; i++) {
        const uint8_t *q = w[i].qs, *qh = w[i].qh;
        const int8_t *a = x[i].qs;
        int sumq = 0, summ = 0;
        for (int j = 0; j < 8; j += 2, q += 32, a += 64) {
            uint8_t sc0, m0, sc1, m1;
            rg__scale_min_k4(j, w[i].scales, &sc0, &m0);
            rg__scale_min_k4(j + 1, w[i].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += ((q[l] & 0xF) | (((qh[l] >> j) & 1) << 4)) * a[l];
                s1 += ((q[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4)) * a[l + 32];
            }
            sumq += sc0 * s0 + sc1 * s1;
            summ += m0 * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]) +
                    m1 * (x[i].bsums[2 * j + 2] + x[i].bsums[2 * j + 3]);
        }
        s += x[i].d * (rg_f16_to_f32(w[i].d) * (float)sumq - rg_f16_to_f32(w[i].dmin) * (float)summ);
    }
    return s;
}

static float dot_q6_K(int64_t k, const void *vw, const void *vx) {
    const rg_block_q6_K *w = vw;
    const rg_block_q8_K *x = vx;
    float s = 0;
    for (int64_t i = 0; i < k / RG_QK_K; i++) {
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        const int8_t *sc = w[i].scales, *a = x[i].qs;
        int sum = 0;
        for (int n = 0; n < RG_QK_K; n += 128, ql += 64, qh += 32, sc += 8, a += 128) {
            int g[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                g[is] += q1 * a[l];
                g[is + 2] += q2 * a[l + 32];
                g[is + 4] += q3 * a[l + 64];
                g[is + 6] += q4 * a[l + 96];
            }
            for (int j = 0; j < 8; j++) sum += sc[j] * g[j];
        }
        s += (rg_f16_to_f32(w[i].d) * x[i].d) * (float)sum;
    }
    return s;
}

static float dot_f16(int64_t k, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx;
    double s = 0; /* ggml_vec_dot_f16's scalar path accumulates in double */
    for (int64_t i = 0; i < k; i++) s += (double)(rg_f16_to_f32(w[i]) * rg_f16_to_f32(x[i]));
    return (float)s;
}

static float dot_bf16(int64_t k, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx;
    double s = 0;
    for (int64_t i = 0; i < k; i++) s += (double)(rg_bf16_to_f32(w[i]) * rg_bf16_to_f32(x[i]));
    return (float)s;
}

static float dot_f32_scalar(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)(a[i] * b[i]);
    return (float)s;
}

static float dot_f32(int64_t k, const void *vw, const void *vx) {
    return dot_f32_scalar(vw, vx, k);
}

static void axpy_f32_scalar(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

typedef float (*dot1_fn)(int64_t k, const void *w, const void *x);

static inline void tile_loop(dot1_fn f, int64_t k, const void *w, size_t ws, int nr,
                             const void *x, size_t xs, int nc, float *y, size_t ys) {
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            y[c * ys + r] = f(k, (const char *)w + r * ws, (const char *)x + c * xs);
}

#define RG_TILE_OF(name)                                                                    \
    static void tile_##name(int64_t k, const void *w, size_t ws, int nr, const void *x,     \
                            size_t xs, int nc, float *y, size_t ys) {                       \
        tile_loop(dot_##name, k, w, ws, nr, x, xs, nc, y, ys);                              \
    }
RG_TILE_OF(q4_0)
RG_TILE_OF(q5_0)
RG_TILE_OF(q8_0)
RG_TILE_OF(q4_K)
RG_TILE_OF(q5_K)
RG_TILE_OF(q6_K)
RG_TILE_OF(f16)
RG_TILE_OF(bf16)
RG_TILE_OF(f32)

static void act_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

rg_dtype rg__act_type(rg_dtype t) {
    switch (t) {
    case RG_DTYPE_Q4_0:
    case RG_DTYPE_Q5_0:
    case RG_DTYPE_Q8_0: return RG_DTYPE_Q8_0;
    case RG_DTYPE_Q4_K:
    case RG_DTYPE_Q5_K:
    case RG_DTYPE_Q6_K: return RG_DTYPE_Q8_K;
    case RG_DTYPE_F16: return RG_DTYPE_F16;
    case RG_DTYPE_BF16: return RG_DTYPE_BF16;
    case RG_DTYPE_F32: return RG_DTYPE_F32;
    default: return RG_DTYPE_COUNT;
    }
}

int rg_nn_supports(rg_dtype t) {
    return (unsigned)t < RG_DTYPE_COUNT && rg__act_type(t) != RG_DTYPE_COUNT;
}

void rg__kernels_scalar(rg__kernels *k) {
    memset(k, 0, sizeof *k);
    k->tile[RG_DTYPE_Q4_0] = tile_q4_0;
    k->tile[RG_DTYPE_Q5_0] = tile_q5_0;
    k->tile[RG_DTYPE_Q8_0] = tile_q8_0;
    k->tile[RG_DTYPE_Q4_K] = tile_q4_K;
    k->tile[RG_DTYPE_Q5_K] = tile_q5_K;
    k->tile[RG_DTYPE_Q6_K] = tile_q6_K;
    k->tile[RG_DTYPE_F16] = tile_f16;
    k->tile[RG_DTYPE_BF16] = tile_bf16;
    k->tile[RG_DTYPE_F32] = tile_f32;
    k->act[RG_DTYPE_Q8_0] = rg__quant_act_q8_0;
    k->act[RG_DTYPE_Q8_K] = rg__quant_row_q8_K;
    k->act[RG_DTYPE_F16] = rg__f32_to_f16_row;
    k->act[RG_DTYPE_BF16] = rg__f32_to_bf16_row;
    k->act[RG_DTYPE_F32] = act_f32;
    k->dot_f32 = dot_f32_scalar;
    k->axpy_f32 = axpy_f32_scalar;
}

static rg__kernels g_tables[3];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    rg__kernels_scalar(&g_tables[RG_CPU_SCALAR]);
    g_tables[RG_CPU_AVX2] = g_tables[RG_CPU_SCALAR];
    const rg_cpu_features *f = rg_cpu_get();
    if (f->avx2 && f->fma && f->f16c) rg__kernels_avx2(&g_tables[RG_CPU_AVX2]);
    g_tables[RG_CPU_AVX512] = g_tables[RG_CPU_AVX2];
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq)
        rg__kernels_avx512(&g_tables[RG_CPU_AVX512]);
}

const rg__kernels *rg__kernels_get(void) {
    pthread_once(&g_once, init_tables);
    rg_cpu_level l = rg_cpu_level_get();
    if ((int)l < 0 || l > RG_CPU_AVX512) l = RG_CPU_SCALAR;
    return &g_tables[l];
}

float rg_nn_dot_f32(const float *a, const float *b, int64_t n) {
    return rg__kernels_get()->dot_f32(a, b, n);
}

void rg_nn_axpy_f32(float *y, float a, const float *x, int64_t n) {
    rg__kernels_get()->axpy_f32(y, a, x, n);
}
