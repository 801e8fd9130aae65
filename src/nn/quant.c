/* quant.c - scalar conversions, dequantization and the reference
 * quantizers of nn/.
 *
 * The quantizers reproduce ggml's reference algorithms (quantize_row_*_ref
 * in ggml-quants.c) operation for operation, in the same float evaluation
 * order, so `ragd quantize` writes the same bytes as llama-quantize.  This
 * file must be compiled without FMA contraction (the Makefile's -std=c11
 * implies -ffp-contract=off on GCC). */
#include <math.h>
#include <string.h>

#include "nn/nn_int.h"

/* ---- f16 / bf16 ---- */

float rg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000 | (mant << 13);
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant) { /* subnormal: mant * 2^-24, exact in f32 */
        float f = (float)mant * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rg_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax >= 0x7f800000) return sign | (ax > 0x7f800000 ? 0x7e00 : 0x7c00);
    if (ax >= 0x477ff000) return sign | 0x7c00; /* >= 65520 rounds to inf */
    if (ax < 0x38800000) {                      /* half subnormal or zero */
        uint32_t e = ax >> 23;
        if (e < 102) return sign;               /* < 2^-25: rounds to 0 */
        uint32_t m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;               /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r;
    }
    ax = ax - (112u << 23) + 0xfff + ((ax >> 13) & 1); /* rebias, round to nearest even */
    return sign | (uint16_t)(ax >> 13);
}

float rg_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rg_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

void rg__f32_to_f16_row(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = rg_f32_to_f16(src[i]);
}

void rg__f32_to_bf16_row(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = rg_f32_to_bf16(src[i]);
}

/* ---- dequantization ---- */

static void deq_q4_0(const rg_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += RG_QK) {
        float d = rg_f16_to_f32(b[i].d);
        for (int j = 0; j < RG_QK / 2; j++) {
            y[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q5_0(const rg_block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += RG_QK) {
        float d = rg_f16_to_f32(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < RG_QK / 2; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            y[j] = (float)(((b[i].qs[j] & 0xF) | (h0 << 4)) - 16) * d;
            y[j + 16] = (float)(((b[i].qs[j] >> 4) | (h1 << 4)) - 16) * d;
        }
    }
}

static void deq_q8_0(const rg_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += RG_QK) {
        float d = rg_f16_to_f32(b[i].d);
        for (int j = 0; j < RG_QK; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

static void deq_q4_K(const rg_block_q4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = rg_f16_to_f32(b[i].d), dmin = rg_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            rg__scale_min_k4(j, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            rg__scale_min_k4(j + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

static void deq_q5_K(const rg_block_q5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = rg_f16_to_f32(b[i].d), dmin = rg_f16_to_f32(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, ql += 32) {
            uint8_t sc, m;
            rg__scale_min_k4(j, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            rg__scale_min_k4(j + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}

static void deq_q6_K(const rg_block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = rg_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int n = 0; n < RG_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

static void deq_q8_K(const rg_block_q8_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += RG_QK_K)
        for (int j = 0; j < RG_QK_K; j++) y[j] = b[i].d * b[i].qs[j];
}

void rg_nn_dequant_row(rg_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case RG_DTYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case RG_DTYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = rg_f16_to_f32(s[i]);
        break;
    }
    case RG_DTYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = rg_bf16_to_f32(s[i]);
        break;
    }
    case RG_DTYPE_Q4_0: deq_q4_0(src, dst, n / RG_QK); break;
    case RG_DTYPE_Q5_0: deq_q5_0(src, dst, n / RG_QK); break;
    case RG_DTYPE_Q8_0: deq_q8_0(src, dst, n / RG_QK); break;
    case RG_DTYPE_Q4_K: deq_q4_K(src, dst, n / RG_QK_K); break;
    case RG_DTYPE_Q5_K: deq_q5_K(src, dst, n / RG_QK_K); break;
    case RG_DTYPE_Q6_K: deq_q6_K(src, dst, n / RG_QK_K); break;
    case RG_DTYPE_Q8_K: deq_q8_K(src, dst, n / RG_QK_K); break;
    default: memset(dst, 0, (size_t)n * 4);
    }
}

int rg_nn_can_dequant(rg_dtype t) {
    switch (t) {
    case RG_DTYPE_F32: case RG_DTYPE_F16: case RG_DTYPE_BF16: case RG_DTYPE_Q4_0:
    case RG_DTYPE_Q5_0: case RG_DTYPE_Q8_0: case RG_DTYPE_Q4_K: case RG_DTYPE_Q5_K:
    case RG_DTYPE_Q6_K: case RG_DTYPE_Q8_K: return 1;
    default: return 0;
    }
}

void rg_nn_get_row(rg_dtype t, const void *w, int64_t k, int64_t j, float *out) {
    uint64_t rb = 0;
    if (rg_dtype_row_bytes(t, (uint64_t)k, &rb)) { /* unknown type or bad k: zeros */
        memset(out, 0, (size_t)(k > 0 ? k : 0) * sizeof(float));
        return;
    }
    rg_nn_dequant_row(t, (const char *)w + (size_t)j * rb, out, k);
}

/* ---- reference quantizers ---- */

/* Round to nearest, ties to even, as ggml's nearest_int (|f| < 2^22). */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

#define RG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RG_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GROUP_MAX_EPS 1e-15f

/* The signed value of largest magnitude in x[0..n) (first one on ties). */
static float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *amax_out = amax;
    return max;
}

static void quant_q4_0(const float *x, rg_block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += RG_QK) {
        float amax, max = signed_absmax(x, RG_QK, &amax);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rg_f32_to_f16(d);
        for (int j = 0; j < RG_QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[j + 16] * id;
            const uint8_t q0 = (uint8_t)RG_MIN(15, (int8_t)(x0 + 8.5f));
            const uint8_t q1 = (uint8_t)RG_MIN(15, (int8_t)(x1 + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void quant_q5_0(const float *x, rg_block_q5_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += RG_QK) {
        float amax, max = signed_absmax(x, RG_QK, &amax);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rg_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < RG_QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[j + 16] * id;
            const uint8_t q0 = (uint8_t)RG_MIN(31, (int8_t)(x0 + 16.5f));
            const uint8_t q1 = (uint8_t)RG_MIN(31, (int8_t)(x1 + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 & 0x10u) >> 4) << j;
            qh |= ((q1 & 0x10u) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void quant_q8_0(const float *x, rg_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += RG_QK) {
        float amax = 0;
        for (int j = 0; j < RG_QK; j++) amax = RG_MAX(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = rg_f32_to_f16(d);
        for (int j = 0; j < RG_QK; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* Activations for Q8_0 dot products, as llama.cpp's x86 quantize_row_q8_0:
 * the scale is 127/amax (not 1/d) and rounding is half to even. */
void rg__quant_act_q8_0(const float *src, void *dst, int64_t n) {
    rg_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / RG_QK; i++, src += RG_QK) {
        float amax = 0;
        for (int j = 0; j < RG_QK; j++) amax = RG_MAX(amax, fabsf(src[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = rg_f32_to_f16(d);
        for (int j = 0; j < RG_QK; j++) y[i].qs[j] = (int8_t)nearbyintf(src[j] * id);
    }
}

void rg__quant_row_q8_K(const float *x, void *dst, int64_t n) {
    rg_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float amax, max = signed_absmax(x, RG_QK_K, &amax);
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < RG_QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)RG_MIN(127, v);
        }
        for (int j = 0; j < RG_QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[j * 16 + l];
            y[i].bsums[j] = (int16_t)s;
        }
        y[i].d = 1 / iscale;
    }
}

/* Fits x ~ scale*L - min over n elements with L in [0, nmax], weighted,
 * searching nstep+1 candidate scales (ggml's make_qkx2_quants).  Returns
 * the scale, writes L and *the_min (>= 0, subtracted). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float wi = w[i];
        sum_w += wi;
        sum_x += wi * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)RG_MAX(0, RG_MIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        best_error += w[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = RG_MAX(0, RG_MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float wi = w[i];
            sum_l += wi * l;
            sum_l2 += wi * l * l;
            sum_xl += wi * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = diff * diff;
                err += w[i] * diff;
            }
            if (err < best_error) {
                for (int i = 0; i < n; i++) L[i] = Laux[i];
                best_error = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Symmetric fit x ~ scale*(L - nmax), L in [0, 2*nmax), weights x^2,
 * trying 18 scales around nmax/max (ggml's make_qx_quants, rmse_type 1). */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = RG_MAX(-nmax, RG_MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = RG_MAX(-nmax, RG_MIN(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + RG_MAX(-nmax, RG_MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Shared by Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
 * Writes d, dmin, scales[12] and L (levels 0..nmax). */
static void quant_k_scales(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out,
                           uint16_t *dmin_out, uint8_t *scales_out, uint8_t *L) {
    uint8_t Laux[32];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = fit_scale_min(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin,
                                  0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = RG_MIN(63, ls);
        lm = RG_MIN(63, lm);
        if (j < 4) {
            scales_out[j] = ls;
            scales_out[j + 4] = lm;
        } else {
            scales_out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales_out[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales_out[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = rg_f32_to_f16(max_scale / 63.f);
    *dmin_out = rg_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        rg__scale_min_k4(j, scales_out, &sc, &m);
        const float d = rg_f16_to_f32(*d_out) * sc;
        if (!d) continue;
        const float dm = rg_f16_to_f32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ii++) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)RG_MAX(0, RG_MIN(nmax, l));
        }
    }
}

static void quant_q4_K(const float *x, rg_block_q4_K *y, int64_t nb) {
    uint8_t L[RG_QK_K];
    for (int64_t i = 0; i < nb; i++, x += RG_QK_K) {
        memset(y[i].scales, 0, 12);
        quant_k_scales(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < RG_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void quant_q5_K(const float *x, rg_block_q5_K *y, int64_t nb) {
    uint8_t L[RG_QK_K];
    for (int64_t i = 0; i < nb; i++, x += RG_QK_K) {
        memset(y[i].scales, 0, 12);
        quant_k_scales(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, RG_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < RG_QK_K; n += 64, ql += 32) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 <<= 2;
            m2 <<= 2;
        }
    }
}

static void quant_q6_K(const float *x, rg_block_q6_K *y, int64_t nb) {
    int8_t L[RG_QK_K];
    float scales[RG_QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += RG_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < RG_QK_K / 16; ib++) {
            const float scale = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = rg_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < RG_QK_K / 16; ib++)
            y[i].scales[ib] = (int8_t)RG_MIN(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < RG_QK_K / 16; j++) {
            float d = rg_f16_to_f32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = RG_MAX(-32, RG_MIN(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < RG_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

rg_status rg_nn_quant_row(rg_dtype t, const float *src, void *dst, int64_t n) {
    const rg_dtype_traits *tr = rg_dtype_get(t);
    if (!tr || n % tr->block_size) return RG_INVALID;
    int64_t nb = n / tr->block_size;
    switch (t) {
    case RG_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case RG_DTYPE_F16: rg__f32_to_f16_row(src, dst, n); break;
    case RG_DTYPE_BF16: rg__f32_to_bf16_row(src, dst, n); break;
    case RG_DTYPE_Q4_0: quant_q4_0(src, dst, nb); break;
    case RG_DTYPE_Q5_0: quant_q5_0(src, dst, nb); break;
    case RG_DTYPE_Q8_0: quant_q8_0(src, dst, nb); break;
    case RG_DTYPE_Q4_K: quant_q4_K(src, dst, nb); break;
    case RG_DTYPE_Q5_K: quant_q5_K(src, dst, nb); break;
    case RG_DTYPE_Q6_K: quant_q6_K(src, dst, nb); break;
    case RG_DTYPE_Q8_K: rg__quant_row_q8_K(src, dst, n); break;
    default: return RG_UNSUPPORTED;
    }
    return RG_OK;
}
