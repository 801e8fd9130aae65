/* dot_avx2.c - AVX2 + FMA + F16C kernels (entered only after run-time
 * dispatch, see dot.c).
 *
 * Each row kernel reads one weight row once and multiplies it with nc
 * (1..RG_NN_TILE) activation rows, unpacking each weight block once for
 * all of them; nc is a compile-time constant inside (ALWAYS_INLINE + a
 * switch) so the accumulators stay in registers.  Integer block sums are
 * exact, as in the scalar reference; only the float accumulation order
 * differs. */
#include <immintrin.h>
#include <stddef.h>

#include "nn/nn_int.h"

#define AI static inline __attribute__((always_inline))


AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI float f16(uint16_t h) { return _cvtsh_ss(h); }

/* The four rows of a tile are contiguous, and so is the next tile (which
 * this thread most likely takes next): it is prefetched as one sequential
 * stream while this tile is computed, since four interleaved row streams
 * are slower to fetch from DRAM than one. lines: prefetches per call,
 * enough to cover the bytes this tile's iteration consumes. */
AI void prefetch_next(const char *next, size_t off, const int lines) {
    _Pragma("GCC unroll 4") for (int l = 0; l < lines; l++)
        _mm_prefetch(next + off + 64 * l, _MM_HINT_T0);
}

/* 32 4-bit values (16 bytes) -> 32 bytes 0..15: low nibbles, then high */
AI __m256i nib32(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set */
AI __m256i bits32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
}

/* signed int8 x signed int8, 32 pairs -> 8 int32 partial sums */
AI __m256i dot_ss(__m256i a, __m256i b) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* ---- Q8_0 / Q4_0 / Q5_0 x Q8_0 ---- */

#define KERNEL_SWITCH(fn, ...)                                                              \
    switch (nc) {                                                                           \
    case 1: fn(__VA_ARGS__, 1); break;                                                      \
    case 2: fn(__VA_ARGS__, 2); break;                                                      \
    case 3: fn(__VA_ARGS__, 3); break;                                                      \
    default: fn(__VA_ARGS__, 4); break;                                                     \
    }

/* weight block i as 32 bytes, per type: Q8_0 signed; Q4_0 / Q5_0 as
 * unsigned levels (0..15 / 0..31) whose offset (8 / 16) is taken off
 * afterwards with the activation block's sum, which is shared by all R
 * rows, so the per-row work has no sign fix-ups. */
#define OFF_q8_0 0
#define OFF_q4_0 3 /* log2 of the offset */
#define OFF_q5_0 4
AI __m256i wq_q8_0(const void *w, int64_t i) {
    return _mm256_loadu_si256((const __m256i *)((const rg_block_q8_0 *)w)[i].qs);
}
AI __m256i wq_q4_0(const void *w, int64_t i) { return nib32(((const rg_block_q4_0 *)w)[i].qs); }
AI __m256i wq_q5_0(const void *w, int64_t i) {
    const rg_block_q5_0 *b = (const rg_block_q5_0 *)w + i;
    return _mm256_or_si256(nib32(b->qs), _mm256_and_si256(bits32(b->qh), _mm256_set1_epi8(0x10)));
}
AI uint16_t wd_q8_0(const void *w, int64_t i) { return ((const rg_block_q8_0 *)w)[i].d; }
AI uint16_t wd_q4_0(const void *w, int64_t i) { return ((const rg_block_q4_0 *)w)[i].d; }
AI uint16_t wd_q5_0(const void *w, int64_t i) { return ((const rg_block_q5_0 *)w)[i].d; }

/* R weight rows x C activation rows, R*C independent accumulators (R, C
 * compile-time after inlining): each weight block is unpacked once for C
 * activations and each activation block is loaded once for R rows. */
#define MK_Q80(name)                                                                        \
    AI void mk_##name(int64_t k, const void *w, size_t ws, const void *x, size_t xs,        \
                      float *y, size_t ys, const int R, const int C) {                      \
        __m256 acc[4][4];                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                 \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps(); \
        const int64_t nb = k / RG_QK;                                                       \
        for (int64_t i = 0; i < nb; i++) {                                                  \
            __m256i q[4];                                                                   \
            float dw[4];                                                                    \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                           \
                q[r] = wq_##name((const char *)w + r * ws, i);                              \
                dw[r] = f16(wd_##name((const char *)w + r * ws, i));                        \
            }                                                                               \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {                           \
                const rg_block_q8_0 *a = (const rg_block_q8_0 *)((const char *)x + c * xs) + i; \
                __m256i ya = _mm256_loadu_si256((const __m256i *)a->qs);                    \
                float dy = f16(a->d);                                                       \
                __m256i sy = _mm256_setzero_si256();                                        \
                if (OFF_##name)                                                             \
                    sy = _mm256_slli_epi32(                                                 \
                        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), ya),    \
                                          _mm256_set1_epi16(1)),                            \
                        OFF_##name);                                                        \
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                       \
                    __m256i s;                                                              \
                    if (OFF_##name)                                                         \
                        s = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(q[r], ya), \
                                                               _mm256_set1_epi16(1)),       \
                                             sy);                                           \
                    else                                                                    \
                        s = dot_ss(q[r], ya);                                               \
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dy),                 \
                                                _mm256_cvtepi32_ps(s), acc[r][c]);          \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                 \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) y[c * ys + r] = hsum8(acc[r][c]); \
    }                                                                                       \
    static void tile_##name(int64_t k, const void *w, size_t ws, int nr, const void *x,     \
                            size_t xs, int nc, float *y, size_t ys) {                       \
        if (nc == 1) {                                                                      \
            int r = 0;                                                                      \
            for (; r + 4 <= nr; r += 4) mk_##name(k, (const char *)w + r * ws, ws, x, xs, y + r, ys, 4, 1); \
            for (; r < nr; r++) mk_##name(k, (const char *)w + r * ws, ws, x, xs, y + r, ys, 1, 1); \
            return;                                                                         \
        }                                                                                   \
        for (int r = 0; r < nr; r += 2) {                                                   \
            const void *wr = (const char *)w + r * ws;                                      \
            if (r + 1 < nr) {                                                               \
                switch (nc) {                                                               \
                case 2: mk_##name(k, wr, ws, x, xs, y + r, ys, 2, 2); break;                \
                case 3: mk_##name(k, wr, ws, x, xs, y + r, ys, 2, 3); break;                \
                default: mk_##name(k, wr, ws, x, xs, y + r, ys, 2, 4); break;               \
                }                                                                           \
            } else {                                                                        \
                switch (nc) {                                                               \
                case 2: mk_##name(k, wr, ws, x, xs, y + r, ys, 1, 2); break;                \
                case 3: mk_##name(k, wr, ws, x, xs, y + r, ys, 1, 3); break;                \
                default: mk_##name(k, wr, ws, x, xs, y + r, ys, 1, 4); break;               \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }
MK_Q80(q4_0)
MK_Q80(q5_0)

/* Decode (one activation row) for Q4_0 / Q5_0, 4 weight rows at a time: the 16
 * nibble bytes of two rows share one register ([row a | row b]), the
 * activation block is broadcast as [y0..15 | y0..15] and [y16..31 |
 * y16..31], so one maddubs pair serves two rows; the four rows' scales are
 * converted together.  About 10 instructions per row-block instead of 15. */
AI __m256i pair16(const uint8_t *a, const uint8_t *b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                   _mm_loadu_si128((const __m128i *)b), 1);
}

/* 0x10 in each byte of [bits 0..15 of lo | bits 0..15 of hi] (sel 0) or
 * [bits 16..31 of lo | bits 16..31 of hi] (sel 1): the 5th bits of Q5_0
 * for a register holding two rows */
AI __m256i fifth_bits(uint32_t a, uint32_t b, const int sel) {
    __m256i v = _mm256_set1_epi64x((long long)((uint64_t)a | ((uint64_t)b << 32)));
    const __m256i shuf = sel ? _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
                                                6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7)
                             : _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i m = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, shuf), bit), bit);
    return _mm256_and_si256(m, _mm256_set1_epi8(0x10));
}

AI uint32_t qh32(const rg_block_q5_0 *b) {
    uint32_t v;
    memcpy(&v, b->qh, 4);
    return v;
}

/* Q4_0 (five = 0) or Q5_0 (five = 1), 4 rows x 1 activation */
AI void q40_rows4(int64_t k, const void *w, size_t ws, const void *x, float *y, const int five) {
    const size_t bs = five ? sizeof(rg_block_q5_0) : sizeof(rg_block_q4_0);
    const char *w0 = w, *w1 = (const char *)w + ws, *w2 = (const char *)w + 2 * ws,
               *w3 = (const char *)w + 3 * ws;
    const rg_block_q8_0 *a = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones8 = _mm256_set1_epi8(1),
                  ones16 = _mm256_set1_epi16(1);
    const __m256i lo_idx = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i hi_idx = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
    const int64_t nb = k / RG_QK;
    for (int64_t i = 0; i < nb; i++) {
        __m256i ylo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)a[i].qs));
        __m256i yhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(a[i].qs + 16)));
        /* 8 * sum(y) spread so that each 128-bit half sums to it */
        __m256i sy = _mm256_madd_epi16(
            _mm256_maddubs_epi16(ones8, _mm256_loadu_si256((const __m256i *)a[i].qs)), ones16);
        sy = _mm256_add_epi32(sy, _mm256_permute2x128_si256(sy, sy, 0x01));
        sy = five ? _mm256_slli_epi32(sy, 4) : _mm256_slli_epi32(sy, 3);
        const char *c0 = w0 + i * bs, *c1 = w1 + i * bs, *c2 = w2 + i * bs, *c3 = w3 + i * bs;
        prefetch_next(w3 + ws, (size_t)i * 4 * bs, 2);
        const size_t qo = five ? offsetof(rg_block_q5_0, qs) : offsetof(rg_block_q4_0, qs);
        uint16_t d0, d1, d2, d3;
        memcpy(&d0, c0, 2);
        memcpy(&d1, c1, 2);
        memcpy(&d2, c2, 2);
        memcpy(&d3, c3, 2);
        __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)d0, (short)d1, (short)d2, (short)d3, 0, 0, 0, 0));
        __m256 dd = _mm256_castps128_ps256(_mm_mul_ps(dw, _mm_set1_ps(f16(a[i].d))));
        __m256i v01 = pair16((const uint8_t *)c0 + qo, (const uint8_t *)c1 + qo);
        __m256i v23 = pair16((const uint8_t *)c2 + qo, (const uint8_t *)c3 + qo);
        __m256i l01 = _mm256_and_si256(v01, m4), h01 = _mm256_and_si256(_mm256_srli_epi16(v01, 4), m4);
        __m256i l23 = _mm256_and_si256(v23, m4), h23 = _mm256_and_si256(_mm256_srli_epi16(v23, 4), m4);
        if (five) {
            uint32_t q0 = qh32((const rg_block_q5_0 *)c0), q1 = qh32((const rg_block_q5_0 *)c1);
            uint32_t q2 = qh32((const rg_block_q5_0 *)c2), q3 = qh32((const rg_block_q5_0 *)c3);
            l01 = _mm256_or_si256(l01, fifth_bits(q0, q1, 0));
            h01 = _mm256_or_si256(h01, fifth_bits(q0, q1, 1));
            l23 = _mm256_or_si256(l23, fifth_bits(q2, q3, 0));
            h23 = _mm256_or_si256(h23, fifth_bits(q2, q3, 1));
        }
        /* maddubs pair sums stay below 2*31*127 = 7874, two of them fit int16 */
        __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(l01, ylo), _mm256_maddubs_epi16(h01, yhi));
        __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(l23, ylo), _mm256_maddubs_epi16(h23, yhi));
        __m256i s01 = _mm256_sub_epi32(_mm256_madd_epi16(p01, ones16), sy);
        __m256i s23 = _mm256_sub_epi32(_mm256_madd_epi16(p23, ones16), sy);
        acc01 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s01), _mm256_permutevar8x32_ps(dd, lo_idx), acc01);
        acc23 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s23), _mm256_permutevar8x32_ps(dd, hi_idx), acc23);
    }
    /* lanes 0-3: first row of the pair, 4-7: second */
    __m128 r01 = _mm_hadd_ps(_mm256_castps256_ps128(acc01), _mm256_extractf128_ps(acc01, 1));
    __m128 r23 = _mm_hadd_ps(_mm256_castps256_ps128(acc23), _mm256_extractf128_ps(acc23, 1));
    __m128 r = _mm_hadd_ps(r01, r23); /* [row0, row1, row2, row3] */
    _mm_storeu_ps(y, r);
}

static void q4_0_rows4(int64_t k, const void *w, size_t ws, const void *x, float *y) {
    q40_rows4(k, w, ws, x, y, 0);
}
static void q5_0_rows4(int64_t k, const void *w, size_t ws, const void *x, float *y) {
    q40_rows4(k, w, ws, x, y, 1);
}

/* Q8_0 decode, 4 weight rows x 1 activation.  The four rows' integer
 * block sums are folded into one register with three hadds ([r0 r1 r2 r3]
 * per 128-bit half) so the float work per block (convert, scale, fma) is
 * done once for four rows; the four f16 scales are gathered with scalar
 * loads (integer ports are idle here) and converted together. */
AI __m128 scales4(const char *c0, const char *c1, const char *c2, const char *c3) {
    uint16_t d0, d1, d2, d3;
    memcpy(&d0, c0, 2);
    memcpy(&d1, c1, 2);
    memcpy(&d2, c2, 2);
    memcpy(&d3, c3, 2);
    uint64_t v = d0 | (uint64_t)d1 << 16 | (uint64_t)d2 << 32 | (uint64_t)d3 << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* [r0 r1 r2 r3 | r0 r1 r2 r3]: sums of the low and high 4 lanes of each */
AI __m256i fold4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    return _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
}

AI __m128 unfold4(__m256 acc) {
    return _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
}

/* Q8_0 decode, R (1..4) weight rows x 1 activation; each row's block sum
 * is completed in integer ([r0 r1 r2 r3]: the two 128-bit halves of the
 * fold added) before one convert / scale / FMA per block for all rows, so
 * a row's result is bit-identical to the x8 path's (batch.c: same exact
 * block sums, acc = fma(sum, dw * dx, acc) over blocks in order).  That
 * makes a sequence's logits the same bits at every batch size. */
AI void q8_0_rows(int64_t k, const void *w, size_t ws, const void *x, float *y, const int R) {
    const rg_block_q8_0 *a = x;
    const rg_block_q8_0 *b[4];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
        b[r] = (const rg_block_q8_0 *)((const char *)w + (size_t)(r < R ? r : 0) * ws);
    const __m256i ones = _mm256_set1_epi16(1);
    const char *next = (const char *)w + 4 * ws;
    __m128 acc = _mm_setzero_ps();
    const int64_t nb = k / RG_QK;
    for (int64_t i = 0; i < nb; i++) {
        if (R == 4) prefetch_next(next, i * 4 * sizeof(rg_block_q8_0), 3);
        __m256i ya = _mm256_loadu_si256((const __m256i *)a[i].qs);
        __m256i s[4];
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            if (r < R) {
                __m256i q = _mm256_loadu_si256((const __m256i *)b[r][i].qs);
                s[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(ya, q)), ones);
            } else {
                s[r] = _mm256_setzero_si256();
            }
        }
        __m256i f = fold4(s[0], s[1], s[2], s[3]);
        __m128i si = _mm_add_epi32(_mm256_castsi256_si128(f), _mm256_extracti128_si256(f, 1));
        __m128 d = _mm_mul_ps(scales4((const char *)(b[0] + i), (const char *)(b[1] + i),
                                      (const char *)(b[2] + i), (const char *)(b[3] + i)),
                              _mm_set1_ps(f16(a[i].d)));
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(si), d, acc);
    }
    float o[4];
    _mm_storeu_ps(o, acc);
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) y[r] = o[r];
}

/* Q8_0 below the x8 path's batch (and batch 1): every activation row on
 * its own through q8_0_rows, which was also measured faster per
 * multiply-add than the 2x4 register tile (one activation load and one
 * float FMA per block for four rows). */
static void tile_q8_0_dec(int64_t k, const void *w, size_t ws, int nr, const void *x, size_t xs,
                          int nc, float *y, size_t ys) {
    for (int c = 0; c < nc; c++) {
        const void *xc = (const char *)x + (size_t)c * xs;
        float *yc = y + (size_t)c * ys;
        switch (nr) {
        case 4: q8_0_rows(k, w, ws, xc, yc, 4); break;
        case 3: q8_0_rows(k, w, ws, xc, yc, 3); break;
        case 2: q8_0_rows(k, w, ws, xc, yc, 2); break;
        default: q8_0_rows(k, w, ws, xc, yc, 1); break;
        }
    }
}

static void tile_q4_0_dec(int64_t k, const void *w, size_t ws, int nr, const void *x, size_t xs,
                          int nc, float *y, size_t ys) {
    if (nc == 1 && nr == 4) q4_0_rows4(k, w, ws, x, y);
    else tile_q4_0(k, w, ws, nr, x, xs, nc, y, ys);
}

static void tile_q5_0_dec(int64_t k, const void *w, size_t ws, int nr, const void *x, size_t xs,
                          int nc, float *y, size_t ys) {
    if (nc == 1 && nr == 4) q5_0_rows4(k, w, ws, x, y);
    else tile_q5_0(k, w, ws, nr, x, xs, nc, y, ys);
}

/* ---- K-quants x Q8_K ---- */

/* Q4_K / Q5_K 12-byte scales -> bytes 0..7 = 6-bit scales, 8..15 = mins */
AI void k4_scales(const uint8_t *s12, uint32_t u[4]) {
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    memcpy(u, s12, 12);
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    uint32_t mins_lo = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = mins_lo;
    u[0] &= m1;
}

/* sum over the 8 sub-blocks of m_j * (bsums[2j] + bsums[2j+1]) */
AI int k4_minsum(const uint32_t u[4], const int16_t *bsums) {
    __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(u + 2)));
    __m128i b = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums),
                               _mm_loadu_si128((const __m128i *)(bsums + 8)));
    __m128i p = _mm_madd_epi16(mins, b);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4e));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xb1));
    return _mm_cvtsi128_si32(p);
}

/* 16-bit broadcasts of the 8 sub-block scales (bytes 0..7 of u) */
AI void k4_scale_vecs(const uint32_t u[4], __m256i sv[8]) {
    __m256i s16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)u)));
    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
        sv[j] = _mm256_shuffle_epi8(s16, _mm256_set1_epi16((short)((2 * j) | ((2 * j + 1) << 8))));
}

/* Q4_K / Q5_K: chunk j (0..3) holds 64 values: low nibbles = sub-block
 * 2j, high nibbles = 2j+1 (+ the 5th bits 2j, 2j+1 of qh for Q5_K).  Each
 * chunk is unpacked once and used for all C activations at once (streamed,
 * so nothing beyond C integer accumulators stays live). */
AI void row_k4_n(int64_t k, const void *w, size_t bsize, const void *x, size_t xs, float *y,
                 size_t ys, const int nc, const int five) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    float accm[4] = {0, 0, 0, 0};
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const int64_t nb = k / RG_QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const char *blk = (const char *)w + (size_t)i * bsize;
        /* both block types start with d, dmin, scales[12]; qs is last */
        const rg_block_q4_K *b4 = (const rg_block_q4_K *)blk;
        const uint8_t *qs = five ? ((const rg_block_q5_K *)blk)->qs : b4->qs;
        uint32_t u[4];
        k4_scales(b4->scales, u);
        __m256i sv[8];
        k4_scale_vecs(u, sv);
        __m256i hb = five ? _mm256_loadu_si256((const __m256i *)((const rg_block_q5_K *)blk)->qh)
                          : _mm256_setzero_si256();
        __m256i sumi[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) sumi[c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i ql = _mm256_and_si256(v, m4);
            __m256i qh = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            if (five) {
                ql = _mm256_or_si256(ql, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                qh = _mm256_or_si256(
                    qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
                hb = _mm256_srli_epi16(hb, 2);
            }
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) {
                const int8_t *aq = ((const rg_block_q8_K *)((const char *)x + c * xs) + i)->qs;
                __m256i pl = _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)(aq + 64 * j)));
                __m256i ph = _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(aq + 64 * j + 32)));
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_madd_epi16(pl, sv[2 * j]),
                                                                     _mm256_madd_epi16(ph, sv[2 * j + 1])));
            }
        }
        const float d = f16(b4->d), dmin = f16(b4->dmin);
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) {
            const rg_block_q8_K *a = (const rg_block_q8_K *)((const char *)x + c * xs) + i;
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
            accm[c] += dmin * a->d * (float)k4_minsum(u, a->bsums);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) y[c * ys] = hsum8(acc[c]) - accm[c];
}

AI void row_q4_K_n(int64_t k, const void *w, const void *x, size_t xs, float *y, size_t ys,
                   const int nc) {
    row_k4_n(k, w, sizeof(rg_block_q4_K), x, xs, y, ys, nc, 0);
}
AI void row_q5_K_n(int64_t k, const void *w, const void *x, size_t xs, float *y, size_t ys,
                   const int nc) {
    row_k4_n(k, w, sizeof(rg_block_q5_K), x, xs, y, ys, nc, 1);
}

AI void row_q6_K_n(int64_t k, const void *w, const void *x, size_t xs, float *y, size_t ys,
                   const int nc) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    const int64_t nb = k / RG_QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const rg_block_q6_K *b = (const rg_block_q6_K *)w + i;
        __m256i sumi[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) sumi[c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            __m256i hh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            __m256i s16 = _mm256_broadcastsi128_si256(
                _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(b->scales + 8 * h))));
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
                /* chunk j of this half: values 32j..32j+31, scales 2j (first
                 * 16) and 2j+1 (next 16) */
                __m256i lo = j & 1 ? l1 : l0;
                __m256i q = j < 2 ? _mm256_and_si256(lo, m4)
                                  : _mm256_and_si256(_mm256_srli_epi16(lo, 4), m4);
                __m256i hi = j == 0   ? _mm256_slli_epi16(hh, 4)
                             : j == 1 ? _mm256_slli_epi16(hh, 2)
                             : j == 2 ? hh
                                      : _mm256_srli_epi16(hh, 2);
                q = _mm256_or_si256(q, _mm256_and_si256(hi, m2));
                __m256i sc = _mm256_shuffle_epi8(
                    s16, _mm256_setr_epi8(4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j,
                                          4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j,
                                          4 * j + 1, 4 * j, 4 * j + 1, 4 * j + 2, 4 * j + 3,
                                          4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2,
                                          4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3,
                                          4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3));
                _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) {
                    const int8_t *aq = ((const rg_block_q8_K *)((const char *)x + c * xs) + i)->qs;
                    __m256i p = _mm256_maddubs_epi16(
                        q, _mm256_loadu_si256((const __m256i *)(aq + 128 * h + 32 * j)));
                    sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(p, sc));
                }
            }
        }
        /* the -32 offset: 32 * sum_g sc_g * bsums_g */
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        const float d = f16(b->d);
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) {
            const rg_block_q8_K *a = (const rg_block_q8_K *)((const char *)x + c * xs) + i;
            __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)a->bsums));
            __m256i si = _mm256_sub_epi32(sumi[c], _mm256_slli_epi32(off, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(si), acc[c]);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) y[c * ys] = hsum8(acc[c]);
}

/* ---- F16 / BF16 / F32 ---- */

AI __m256 ld_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
AI __m256 ld_bf16(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
AI __m256 ld_f32(const float *p) { return _mm256_loadu_ps(p); }
AI float cvt1_f16(uint16_t h) { return f16(h); }
AI float cvt1_bf16(uint16_t h) { return rg_bf16_to_f32(h); }
AI float cvt1_f32(float v) { return v; }

#define ROW_FLOAT(name, T)                                                                  \
    AI void row_##name##_n(int64_t k, const void *vw, const void *x, size_t xs, float *y,   \
                           size_t ys, const int nc) {                                       \
        const T *w = vw;                                                                    \
        __m256 acc[4][4];                                                                   \
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)                                 \
            acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = _mm256_setzero_ps();            \
        int64_t i = 0;                                                                      \
        for (; i + 32 <= k; i += 32) {                                                      \
            __m256 w0 = ld_##name(w + i), w1 = ld_##name(w + i + 8);                        \
            __m256 w2 = ld_##name(w + i + 16), w3 = ld_##name(w + i + 24);                  \
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) {                          \
                const T *a = (const T *)((const char *)x + c * xs);                         \
                acc[c][0] = _mm256_fmadd_ps(w0, ld_##name(a + i), acc[c][0]);               \
                acc[c][1] = _mm256_fmadd_ps(w1, ld_##name(a + i + 8), acc[c][1]);           \
                acc[c][2] = _mm256_fmadd_ps(w2, ld_##name(a + i + 16), acc[c][2]);          \
                acc[c][3] = _mm256_fmadd_ps(w3, ld_##name(a + i + 24), acc[c][3]);          \
            }                                                                               \
        }                                                                                   \
        for (; i + 8 <= k; i += 8) {                                                        \
            __m256 w0 = ld_##name(w + i);                                                   \
            for (int c = 0; c < nc; c++) {                                                  \
                const T *a = (const T *)((const char *)x + c * xs);                         \
                acc[c][0] = _mm256_fmadd_ps(w0, ld_##name(a + i), acc[c][0]);               \
            }                                                                               \
        }                                                                                   \
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) {                              \
            const T *a = (const T *)((const char *)x + c * xs);                             \
            float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc[c][0], acc[c][1]),              \
                                          _mm256_add_ps(acc[c][2], acc[c][3])));            \
            for (int64_t j = i; j < k; j++) s += cvt1_##name(w[j]) * cvt1_##name(a[j]);     \
            y[c * ys] = s;                                                                  \
        }                                                                                   \
    }
ROW_FLOAT(f16, uint16_t)
ROW_FLOAT(bf16, uint16_t)
ROW_FLOAT(f32, float)

#define TILE_OF(name)                                                                       \
    static void tile_##name(int64_t k, const void *w, size_t ws, int nr, const void *x,     \
                            size_t xs, int nc, float *y, size_t ys) {                       \
        for (int r = 0; r < nr; r++) {                                                      \
            const void *wr = (const char *)w + r * ws;                                      \
            KERNEL_SWITCH(row_##name##_n, k, wr, x, xs, y + r, ys)                          \
        }                                                                                   \
    }
TILE_OF(q4_K)
TILE_OF(q5_K)
TILE_OF(q6_K)
TILE_OF(bf16)
TILE_OF(f32)

TILE_OF(f16)

/* F16 decode, 4 weight rows x 1 activation: the activation is converted
 * once per 8 elements for four rows, two accumulators per row hide the
 * FMA latency, and the four sums are folded with hadds at the end. */
static void f16_rows4(int64_t k, const void *vw, size_t ws, const void *vx, float *y) {
    const uint16_t *x = vx;
    const uint16_t *w0 = vw, *w1 = (const uint16_t *)((const char *)vw + ws),
                   *w2 = (const uint16_t *)((const char *)vw + 2 * ws),
                   *w3 = (const uint16_t *)((const char *)vw + 3 * ws);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        prefetch_next((const char *)vw + 4 * ws, (size_t)i * 8, 2);
        __m256 x0 = ld_f16(x + i), x1 = ld_f16(x + i + 8);
        a0 = _mm256_fmadd_ps(ld_f16(w0 + i), x0, a0);
        a1 = _mm256_fmadd_ps(ld_f16(w1 + i), x0, a1);
        a2 = _mm256_fmadd_ps(ld_f16(w2 + i), x0, a2);
        a3 = _mm256_fmadd_ps(ld_f16(w3 + i), x0, a3);
        b0 = _mm256_fmadd_ps(ld_f16(w0 + i + 8), x1, b0);
        b1 = _mm256_fmadd_ps(ld_f16(w1 + i + 8), x1, b1);
        b2 = _mm256_fmadd_ps(ld_f16(w2 + i + 8), x1, b2);
        b3 = _mm256_fmadd_ps(ld_f16(w3 + i + 8), x1, b3);
    }
    for (; i + 8 <= k; i += 8) {
        __m256 x0 = ld_f16(x + i);
        a0 = _mm256_fmadd_ps(ld_f16(w0 + i), x0, a0);
        a1 = _mm256_fmadd_ps(ld_f16(w1 + i), x0, a1);
        a2 = _mm256_fmadd_ps(ld_f16(w2 + i), x0, a2);
        a3 = _mm256_fmadd_ps(ld_f16(w3 + i), x0, a3);
    }
    a0 = _mm256_add_ps(a0, b0);
    a1 = _mm256_add_ps(a1, b1);
    a2 = _mm256_add_ps(a2, b2);
    a3 = _mm256_add_ps(a3, b3);
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    float r[4];
    _mm_storeu_ps(r, unfold4(h));
    for (; i < k; i++) {
        float xv = f16(x[i]);
        r[0] += f16(w0[i]) * xv;
        r[1] += f16(w1[i]) * xv;
        r[2] += f16(w2[i]) * xv;
        r[3] += f16(w3[i]) * xv;
    }
    memcpy(y, r, sizeof r);
}

static void tile_f16_dec(int64_t k, const void *w, size_t ws, int nr, const void *x, size_t xs,
                         int nc, float *y, size_t ys) {
    if (nc == 1 && nr == 4) f16_rows4(k, w, ws, x, y);
    else tile_f16(k, w, ws, nr, x, xs, nc, y, ys);
}

/* ---- activation conversion ---- */

AI __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

AI float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* 32 floats * id, rounded half to even, -> 32 int8 in order */
AI void round_store32(const float *x, __m256 id, int8_t *out) {
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)out, p);
}

static void act_q8_0(const float *src, void *dst, int64_t n) {
    rg_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / RG_QK; i++, src += RG_QK) {
        __m256 m = _mm256_max_ps(_mm256_max_ps(abs8(_mm256_loadu_ps(src)), abs8(_mm256_loadu_ps(src + 8))),
                                 _mm256_max_ps(abs8(_mm256_loadu_ps(src + 16)), abs8(_mm256_loadu_ps(src + 24))));
        float amax = hmax8(m);
        y[i].d = (uint16_t)_cvtss_sh(amax / 127.f, 0);
        round_store32(src, _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f), y[i].qs);
    }
}

static void act_q8_K(const float *src, void *dst, int64_t n) {
    rg_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / RG_QK_K; i++, src += RG_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < RG_QK_K; j += 8) m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(src + j)));
        float amax = hmax8(m);
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0;
        for (int j = 0; j < RG_QK_K; j++)
            if (src[j] == amax || src[j] == -amax) {
                max = src[j];
                break;
            }
        const float iscale = -127.f / max;
        /* iscale*x is within [-127, 127]: the pack saturation never bites,
         * matching the reference's MIN(127, v) */
        for (int j = 0; j < RG_QK_K; j += 32) round_store32(src + j, _mm256_set1_ps(iscale), y[i].qs + j);
        for (int g = 0; g < RG_QK_K / 16; g++) {
            __m128i q = _mm_loadu_si128((const __m128i *)(y[i].qs + 16 * g));
            __m128i s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), q), _mm_set1_epi16(1));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
            y[i].bsums[g] = (int16_t)_mm_cvtsi128_si32(s);
        }
        y[i].d = 1 / iscale;
    }
}

static void act_f16(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), 0));
    for (; i < n; i++) d[i] = (uint16_t)_cvtss_sh(src[i], 0);
}

/* ---- dequantization to f32 (large-batch path, gemm.c) ----
 * Same values as the scalar rg_nn_dequant_row: (q - offset) * d with the
 * f16 scale converted exactly, so results are bit-identical. */

static void deq_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld_f16(s + i));
    for (; i < n; i++) dst[i] = f16(s[i]);
}

static void deq_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld_bf16(s + i));
    for (; i < n; i++) dst[i] = rg_bf16_to_f32(s[i]);
}

/* 32 bytes of levels (element order), minus off, times d -> 32 floats */
AI void store_levels(__m256i q, int off, float d, float *y) {
    __m256 vd = _mm256_set1_ps(d);
    __m256i o = _mm256_set1_epi32(off);
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m256i v[4] = {_mm256_cvtepu8_epi32(lo), _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)),
                    _mm256_cvtepu8_epi32(hi), _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))};
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
        _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v[j], o)), vd));
}

static void deq_q4_0(const void *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n / RG_QK; i++)
        store_levels(wq_q4_0(src, i), 8, f16(wd_q4_0(src, i)), dst + i * RG_QK);
}

static void deq_q5_0(const void *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n / RG_QK; i++)
        store_levels(wq_q5_0(src, i), 16, f16(wd_q5_0(src, i)), dst + i * RG_QK);
}

static void deq_q8_0(const void *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n / RG_QK; i++) {
        const rg_block_q8_0 *b = (const rg_block_q8_0 *)src + i;
        __m256 vd = _mm256_set1_ps(f16(b->d));
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + 8 * j)));
            _mm256_storeu_ps(dst + i * RG_QK + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), vd));
        }
    }
}

/* ---- f32 helpers ---- */

static float dot_f32(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y += a*x with the same rounding as the scalar loop (mul, then add: no
 * FMA), so results do not depend on the level */
static void axpy_f32(float *y, float a, const float *x, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i),
                                              _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
    for (; i < n; i++) y[i] += a * x[i];
}

void rg__kernels_avx2(rg__kernels *k) {
    k->tile[RG_DTYPE_Q4_0] = tile_q4_0_dec;
    k->tile[RG_DTYPE_Q5_0] = tile_q5_0_dec;
    k->tile[RG_DTYPE_Q8_0] = tile_q8_0_dec;
    k->x8[RG_DTYPE_Q8_0] = rg__x8_q8_0_avx2;
    k->tile[RG_DTYPE_Q4_K] = tile_q4_K;
    k->tile[RG_DTYPE_Q5_K] = tile_q5_K;
    k->tile[RG_DTYPE_Q6_K] = tile_q6_K;
    k->tile[RG_DTYPE_F16] = tile_f16_dec;
    k->tile[RG_DTYPE_BF16] = tile_bf16;
    k->tile[RG_DTYPE_F32] = tile_f32;
    k->act[RG_DTYPE_Q8_0] = act_q8_0;
    k->act[RG_DTYPE_Q8_K] = act_q8_K;
    k->deq[RG_DTYPE_F16] = deq_f16;
    k->deq[RG_DTYPE_BF16] = deq_bf16;
    k->deq[RG_DTYPE_Q4_0] = deq_q4_0;
    k->deq[RG_DTYPE_Q5_0] = deq_q5_0;
    k->deq[RG_DTYPE_Q8_0] = deq_q8_0;
    k->act[RG_DTYPE_F16] = act_f16;
    k->dot_f32 = dot_f32;
    k->axpy_f32 = axpy_f32;
}
