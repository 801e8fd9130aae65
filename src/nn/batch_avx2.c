/* batch_avx2.c - AVX2 kernel of the small-batch x8 path (see batch.c):
 * Q8_0 weight rows x groups of 8 packed Q8_0 activation columns.
 *
 * Per block and per 4-byte group g, a row's 4 weight bytes are broadcast
 * to all lanes, |w| (sign(w, w)) is taken once for every column group,
 * and each group costs sign + maddubs + madd + add for 32 multiply-adds:
 * |w| * (x * sign(w)) keeps maddubs in its unsigned x signed form without
 * saturation (|w|, |x| <= 127: pair sums <= 32258).  The int32 lanes are
 * the 8 columns, so after the 8 groups the block's exact integer sums are
 * converted and scaled once: acc += cvt(isum) * (dw * dx[0..7]).
 * R rows x J column groups at once (R, J compile-time after inlining):
 * R*J integer and R*J float accumulators, within AVX2's 16 registers for
 * R*J <= 4. */
#include <immintrin.h>
#include <stddef.h>

#include "nn/nn_int.h"

#define AI static inline __attribute__((always_inline))

AI void x8_block(int64_t k, const char *w, size_t ws, const char *xp, size_t gs, float *y, size_t ys,
                 int nc, const int R, const int J) {
    __m256 acc[2][2];
    _Pragma("GCC unroll 2") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 2") for (int j = 0; j < J; j++) acc[r][j] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nb = k / RG_QK;
    for (int64_t b = 0; b < nb; b++) {
        const rg_block_q8_0 *wb[2];
        __m256i is[2][2];
        _Pragma("GCC unroll 2") for (int r = 0; r < R; r++) {
            wb[r] = (const rg_block_q8_0 *)(w + (size_t)r * ws) + b;
            _Pragma("GCC unroll 2") for (int j = 0; j < J; j++) is[r][j] = _mm256_setzero_si256();
        }
        const char *xb = xp + (size_t)b * RG_NN_X8_BLOCK;
        /* the next rows (the next call's, contiguous after these) stream
         * in from DRAM while this block computes */
        _Pragma("GCC unroll 2") for (int r = 0; r < R; r++)
            _mm_prefetch((const char *)(wb[r]) + (size_t)R * ws, _MM_HINT_T0);
        _Pragma("GCC unroll 2") for (int g = 0; g < 8; g++) {
            __m256i a[2];
            _Pragma("GCC unroll 2") for (int j = 0; j < J; j++)
                a[j] = _mm256_load_si256((const __m256i *)(xb + (size_t)j * gs + 32 * g));
            _Pragma("GCC unroll 2") for (int r = 0; r < R; r++) {
                int32_t v;
                memcpy(&v, wb[r]->qs + 4 * g, 4);
                const __m256i q = _mm256_set1_epi32(v);
                const __m256i aq = _mm256_sign_epi8(q, q);
                _Pragma("GCC unroll 2") for (int j = 0; j < J; j++) {
                    __m256i p = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(a[j], q));
                    is[r][j] = _mm256_add_epi32(is[r][j], _mm256_madd_epi16(p, ones));
                }
            }
        }
        _Pragma("GCC unroll 2") for (int r = 0; r < R; r++) {
            const __m256 dw = _mm256_set1_ps(_cvtsh_ss(wb[r]->d));
            _Pragma("GCC unroll 2") for (int j = 0; j < J; j++) {
                const __m256 dx = _mm256_load_ps((const float *)(xb + (size_t)j * gs + 256));
                acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[r][j]), _mm256_mul_ps(dw, dx), acc[r][j]);
            }
        }
    }
    _Pragma("GCC unroll 2") for (int j = 0; j < J; j++) {
        _Pragma("GCC unroll 2") for (int r = 0; r < R; r++) {
            float o[8];
            _mm256_storeu_ps(o, acc[r][j]);
            for (int c = 0; c < 8 && 8 * j + c < nc; c++) y[(size_t)(8 * j + c) * ys + (size_t)r] = o[c];
        }
    }
}

void rg__x8_q8_0_avx2(int64_t k, const void *w, size_t ws, int nr, const void *xp, int ng, float *y,
                      size_t ys, int nc) {
    const size_t gs = (size_t)(k / RG_QK) * RG_NN_X8_BLOCK;
    for (int j = 0; j < ng; j += 2) {
        const char *xj = (const char *)xp + (size_t)j * gs;
        float *yj = y + (size_t)(8 * j) * ys;
        const int ncj = nc - 8 * j;
        int r = 0;
        if (j + 1 < ng) {
            for (; r + 2 <= nr; r += 2) x8_block(k, (const char *)w + r * ws, ws, xj, gs, yj + r, ys, ncj, 2, 2);
            for (; r < nr; r++) x8_block(k, (const char *)w + r * ws, ws, xj, gs, yj + r, ys, ncj, 1, 2);
        } else {
            for (; r + 2 <= nr; r += 2) x8_block(k, (const char *)w + r * ws, ws, xj, gs, yj + r, ys, ncj, 2, 1);
            for (; r < nr; r++) x8_block(k, (const char *)w + r * ws, ws, xj, gs, yj + r, ys, ncj, 1, 1);
        }
    }
}
