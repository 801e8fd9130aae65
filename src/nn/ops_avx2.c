/* ops_avx2.c - AVX2/FMA/F16C variants of the ops in ops.c that pay:
 * exp-based activations and softmax (libm's expf does not vectorise) and
 * the f16 KV-cache dot/axpy.  n is a multiple of 8 (16 for the dot); the
 * caller does the tail with the scalar code.  Entered only when
 * rg_cpu_level_get() >= RG_CPU_AVX2. */
#include <immintrin.h>

#include <math.h>

#include "nn/ops.h"
#include "nn/ops_int.h"

/* exp(x) for 8 lanes: Cody-Waite range reduction x = n ln2 + r, then a
 * degree-6 polynomial on r in [-ln2/2, ln2/2]; max relative error ~2 ulp
 * over the float range.  Inputs below -87.3 flush to 0 (softmax tails),
 * above 88.7 saturate to +inf. */
static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f), ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(x, hi);
    x = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2_hi, x);
    r = _mm256_fnmadd_ps(n, ln2_lo, r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    /* scale by 2^n: n in [-126, 128]; split so 2^128 does not overflow the exponent */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    p = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_andnot_ps(under, p);
}

double rg__ops_exp_sum_avx2(float *x, int64_t n, float max) {
    const __m256 m = _mm256_set1_ps(max);
    __m256 acc = _mm256_setzero_ps();
    double sum = 0.0;
    int64_t i = 0;
    while (i < n) {
        /* flush the float accumulator to double every 1024 values */
        int64_t end = i + 1024 < n ? i + 1024 : n;
        for (; i < end; i += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
            _mm256_storeu_ps(x + i, e);
            acc = _mm256_add_ps(acc, e);
        }
        float t[8];
        _mm256_storeu_ps(t, acc);
        for (int j = 0; j < 8; j++) sum += t[j];
        acc = _mm256_setzero_ps();
    }
    return sum;
}

void rg__ops_silu_mul_avx2(float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
        __m256 s = _mm256_div_ps(v, _mm256_add_ps(one, e));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
}

void rg__ops_add_avx2(float *y, const float *b, int64_t n) {
    for (int64_t i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(b + i)));
}

/* GELU, tanh form: 0.5x(1 + tanh(u)) = x / (1 + e^(-2u)); e^(-2u)
 * saturating to +inf gives -0 for very negative x, as tanh's -1 does. */
void rg__ops_gelu_avx2(float *x, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), c = _mm256_set1_ps(-2.0f * 0.7978845608028654f);
    const __m256 a = _mm256_set1_ps(0.044715f);
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(a, v), _mm256_mul_ps(v, v), v);
        __m256 e = exp8(_mm256_mul_ps(c, inner));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
}

float rg__ops_dot_f16_f32_avx2(const uint16_t *a, const float *b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8)));
        acc0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + i + 8), acc1);
    }
    __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void rg__ops_axpy_f16_avx2(float *y, float s, const uint16_t *x, int64_t n) {
    const __m256 vs = _mm256_set1_ps(s);
    for (int64_t i = 0; i < n; i += 8) {
        __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vs, xv, _mm256_loadu_ps(y + i)));
    }
}

void rg__ops_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
}

void rg__ops_f16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
}

static inline float hmax8(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline float hsum8(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* Scores of rows i0 and i0+1 (or i0 alone) against keys [0, 8*nv): two rows
 * share every key load and give 8 independent FMA chains for a 32-key block. */
static inline void scores2(const float *qa, const float *qb, int hd, const float *kT, int ldk,
                           int nv, __m256 *sa, __m256 *sb) {
    if (nv == 4 && qb) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0,
               b3 = a0;
        for (int d = 0; d < hd; d++) {
            const float *kr = kT + (size_t)d * ldk;
            const __m256 k0 = _mm256_loadu_ps(kr), k1 = _mm256_loadu_ps(kr + 8);
            const __m256 k2 = _mm256_loadu_ps(kr + 16), k3 = _mm256_loadu_ps(kr + 24);
            const __m256 x = _mm256_broadcast_ss(qa + d), y = _mm256_broadcast_ss(qb + d);
            a0 = _mm256_fmadd_ps(x, k0, a0);
            a1 = _mm256_fmadd_ps(x, k1, a1);
            a2 = _mm256_fmadd_ps(x, k2, a2);
            a3 = _mm256_fmadd_ps(x, k3, a3);
            b0 = _mm256_fmadd_ps(y, k0, b0);
            b1 = _mm256_fmadd_ps(y, k1, b1);
            b2 = _mm256_fmadd_ps(y, k2, b2);
            b3 = _mm256_fmadd_ps(y, k3, b3);
        }
        sa[0] = a0;
        sa[1] = a1;
        sa[2] = a2;
        sa[3] = a3;
        sb[0] = b0;
        sb[1] = b1;
        sb[2] = b2;
        sb[3] = b3;
        return;
    }
    for (int r = 0; r < nv; r++) sa[r] = sb[r] = _mm256_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const float *kr = kT + (size_t)d * ldk;
        const __m256 x = _mm256_broadcast_ss(qa + d);
        const __m256 y = qb ? _mm256_broadcast_ss(qb + d) : x;
        for (int r = 0; r < nv; r++) {
            const __m256 k = _mm256_loadu_ps(kr + 8 * r);
            sa[r] = _mm256_fmadd_ps(x, k, sa[r]);
            sb[r] = _mm256_fmadd_ps(y, k, sb[r]);
        }
    }
}

/* Masks scores past n, folds them into the row's running state, leaves
 * exp(score - new max) in s and returns the factor for the old output. */
static inline float softmax_update(__m256 *acc, int nv, int n, float *m, float *l, float *s) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 vmax = ninf;
    for (int r = 0; r < nv; r++) {
        __m256i idx = _mm256_add_epi32(lane, _mm256_set1_epi32(8 * r));
        __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx));
        acc[r] = _mm256_blendv_ps(ninf, acc[r], keep);
        vmax = _mm256_max_ps(vmax, acc[r]);
    }
    const float bm = hmax8(vmax);
    const float mn = *m > bm ? *m : bm;
    const float old = expf(*m - mn);
    const __m256 vmn = _mm256_set1_ps(mn);
    __m256 vsum = _mm256_setzero_ps();
    for (int r = 0; r < nv; r++) {
        __m256 e = exp8(_mm256_sub_ps(acc[r], vmn)); /* -inf -> 0 */
        vsum = _mm256_add_ps(vsum, e);
        _mm256_store_ps(s + 8 * r, e);
    }
    *l = *l * old + hsum8(vsum);
    *m = mn;
    return old;
}

/* o = o * old + sum_{j<n} s[j] v[j], 64 output dims in registers at a time */
static inline void accumulate(float *oi, int hd, float old, const float *s, const float *v, int n) {
    const __m256 vold = _mm256_set1_ps(old);
    for (int d0 = 0; d0 < hd; d0 += 64) {
        const int nr = hd - d0 >= 64 ? 8 : (hd - d0) / 8;
        __m256 ov[8];
        for (int r = 0; r < nr; r++) ov[r] = _mm256_mul_ps(_mm256_loadu_ps(oi + d0 + 8 * r), vold);
        if (nr == 8) {
            __m256 o0 = ov[0], o1 = ov[1], o2 = ov[2], o3 = ov[3], o4 = ov[4], o5 = ov[5],
                   o6 = ov[6], o7 = ov[7];
            for (int j = 0; j < n; j++) {
                const __m256 p = _mm256_broadcast_ss(s + j);
                const float *vj = v + (size_t)j * hd + d0;
                o0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj), o0);
                o1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8), o1);
                o2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 16), o2);
                o3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 24), o3);
                o4 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 32), o4);
                o5 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 40), o5);
                o6 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 48), o6);
                o7 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 56), o7);
            }
            ov[0] = o0;
            ov[1] = o1;
            ov[2] = o2;
            ov[3] = o3;
            ov[4] = o4;
            ov[5] = o5;
            ov[6] = o6;
            ov[7] = o7;
        } else {
            for (int j = 0; j < n; j++) {
                const __m256 p = _mm256_broadcast_ss(s + j);
                const float *vj = v + (size_t)j * hd + d0;
                for (int r = 0; r < nr; r++)
                    ov[r] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * r), ov[r]);
            }
        }
        for (int r = 0; r < nr; r++) _mm256_storeu_ps(oi + d0 + 8 * r, ov[r]);
    }
}

void rg__ops_attn_block_avx2(const float *q, int nq, int hd, const float *kT, int ldk,
                             const float *v, int nk, const int *lim, float *m, float *l, float *o) {
    __attribute__((aligned(32))) float sa[RG_NN_ATTN_BLOCK_MAX], sb[RG_NN_ATTN_BLOCK_MAX];
    for (int i = 0; i < nq; i += 2) {
        int na = lim[i] < nk ? lim[i] : nk;
        int nb = i + 1 < nq ? (lim[i + 1] < nk ? lim[i + 1] : nk) : 0;
        if (na < 0) na = 0;
        if (nb < 0) nb = 0;
        const int nmax = na > nb ? na : nb;
        if (nmax == 0) continue;
        const int nv = (nmax + 7) / 8;
        __m256 acc_a[RG_NN_ATTN_BLOCK_MAX / 8], acc_b[RG_NN_ATTN_BLOCK_MAX / 8];
        const float *qa = q + (size_t)i * hd;
        scores2(qa, nb > 0 ? qa + hd : NULL, hd, kT, ldk, nv, acc_a, acc_b);
        if (na > 0) {
            float old = softmax_update(acc_a, nv, na, &m[i], &l[i], sa);
            accumulate(o + (size_t)i * hd, hd, old, sa, v, na);
        }
        if (nb > 0) {
            float old = softmax_update(acc_b, nv, nb, &m[i + 1], &l[i + 1], sb);
            accumulate(o + (size_t)(i + 1) * hd, hd, old, sb, v, nb);
        }
    }
}
