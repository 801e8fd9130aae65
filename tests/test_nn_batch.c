/* test_nn_batch.c - the small-batch (batched decode) matmul path of nn/
 * (batch.c, batch_avx2.c): the x8 packing, the AVX2 kernel against its
 * scalar reference, rg_nn_matmul at batches 8..64 against a float64
 * reference, and per-column independence (a sequence's row of the result
 * does not depend on which other rows share the batch). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "gguf/dtype.h"
#include "nn/nn.h"
#include "nn/nn_int.h"
#include "test.h"

static void randn(float *x, int64_t n, unsigned long long *st, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)rg_test_randn(st) * scale;
}

static void *q8_weights(int64_t k, int64_t n, unsigned long long *st) {
    const size_t wrow = (size_t)(k / 32) * sizeof(rg_block_q8_0);
    char *w = malloc(wrow * (size_t)n);
    float *tmp = malloc((size_t)k * 4);
    for (int64_t r = 0; r < n; r++) {
        randn(tmp, k, st, 0.05f);
        REQUIRE(rg_nn_quant_row(RG_DTYPE_Q8_0, tmp, w + (size_t)r * wrow, k) == RG_OK);
    }
    free(tmp);
    return w;
}

/* x8 packing: every byte and scale lands where batch.c says, padding is 0 */
RG_TEST(nn_batch_x8_pack_layout) {
    const int64_t k = 64, batch = 11;
    unsigned long long st = 3;
    const size_t arow = (size_t)(k / 32) * sizeof(rg_block_q8_0);
    float *x = malloc((size_t)(k * batch) * 4);
    randn(x, k * batch, &st, 1.0f);
    char *xa = malloc(arow * batch);
    for (int64_t c = 0; c < batch; c++) rg__quant_act_q8_0(x + c * k, xa + c * arow, k);
    size_t bytes = rg__x8_bytes(k, batch);
    CHECK_EQ_INT((long long)bytes, 2LL * 2 * RG_NN_X8_BLOCK);
    uint8_t *p = malloc(bytes);
    memset(p, 0xAB, bytes);
    rg__x8_pack(xa, arow, k, batch, p);
    for (int64_t c = 0; c < 16; c++)
        for (int64_t b = 0; b < 2; b++) {
            const uint8_t *o = p + (size_t)(c / 8) * 2 * RG_NN_X8_BLOCK + (size_t)b * RG_NN_X8_BLOCK;
            float d;
            memcpy(&d, o + 256 + 4 * (c % 8), 4);
            if (c >= batch) {
                CHECK(d == 0.0f);
                for (int e = 0; e < 32; e++) CHECK_EQ_INT(o[32 * (e / 4) + 4 * (c % 8) + e % 4], 0);
                continue;
            }
            const rg_block_q8_0 *a = (const rg_block_q8_0 *)(xa + (size_t)c * arow) + b;
            CHECK(d == rg_f16_to_f32(a->d));
            for (int e = 0; e < 32; e++)
                CHECK_EQ_INT((int8_t)o[32 * (e / 4) + 4 * (c % 8) + e % 4], a->qs[e]);
        }
    free(x), free(xa), free(p);
}

/* The AVX2 x8 kernel against the scalar x8 reference: integer block sums
 * are exact and each column's float sum runs over blocks in the same
 * order, so results agree to float rounding of the same operations. */
RG_TEST(nn_batch_x8_avx2_vs_scalar) {
    if ((int)rg_cpu_level_get() < RG_CPU_AVX2) RG_SKIP("CPU lacks avx2 (has: %s)", rg_cpu_describe());
    unsigned long long st = 17;
    const int64_t ks[] = {32, 96, 1024};
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        const int64_t k = ks[ki];
        const size_t arow = (size_t)(k / 32) * sizeof(rg_block_q8_0);
        for (int64_t batch = 1; batch <= 33; batch += 4) {
            const int ng = (int)((batch + 7) / 8);
            float *x = malloc((size_t)(k * batch) * 4);
            randn(x, k * batch, &st, 1.0f);
            char *xa = malloc(arow * (size_t)batch);
            for (int64_t c = 0; c < batch; c++) rg__quant_act_q8_0(x + c * k, xa + (size_t)c * arow, k);
            void *xp = aligned_alloc(64, (rg__x8_bytes(k, batch) + 63) & ~(size_t)63);
            rg__x8_pack(xa, arow, k, batch, xp);
            void *w = q8_weights(k, 4, &st);
            for (int nr = 1; nr <= 4; nr++) {
                float y0[4 * 40], y1[4 * 40];
                for (int i = 0; i < 4 * 40; i++) y0[i] = y1[i] = -1234.5f;
                rg__x8_q8_0_scalar(k, w, arow, nr, xp, ng, y0, 4, (int)batch);
                rg__x8_q8_0_avx2(k, w, arow, nr, xp, ng, y1, 4, (int)batch);
                for (int64_t c = 0; c < batch; c++)
                    for (int r = 0; r < 4; r++) {
                        float a = y0[c * 4 + r], b = y1[c * 4 + r];
                        if (r >= nr) {
                            CHECKF(a == -1234.5f && b == -1234.5f, "row %d past nr %d written", r, nr);
                            continue;
                        }
                        CHECKF(fabsf(a - b) <= 1e-5f * (1.0f + fabsf(a)), "k %lld batch %lld nr %d [%lld,%d]: %g vs %g",
                               (long long)k, (long long)batch, nr, (long long)c, r, a, b);
                    }
                for (int64_t c = batch; c < 40; c++) CHECK(y1[c * 4] == -1234.5f); /* columns past nc untouched */
            }
            free(x), free(xa), free(xp), free(w);
        }
    }
}

/* y (batch, n) in float64 from dequantized weights and Q8_0 activations */
static void ref_q8(const void *w, int64_t k, int64_t n, const float *x, int64_t batch, double *y, double *yabs) {
    const size_t arow = (size_t)(k / 32) * sizeof(rg_block_q8_0);
    char *xa = malloc(arow);
    float *xr = malloc((size_t)k * 4), *wr = malloc((size_t)k * 4);
    for (int64_t c = 0; c < batch; c++) {
        rg__quant_act_q8_0(x + c * k, xa, k);
        rg_nn_dequant_row(RG_DTYPE_Q8_0, xa, xr, k);
        for (int64_t r = 0; r < n; r++) {
            rg_nn_dequant_row(RG_DTYPE_Q8_0, (const char *)w + (size_t)r * arow, wr, k);
            double s = 0, a = 0;
            for (int64_t i = 0; i < k; i++) {
                s += (double)wr[i] * xr[i];
                a += fabs((double)wr[i] * xr[i]);
            }
            y[c * n + r] = s;
            yabs[c * n + r] = a;
        }
    }
    free(xa), free(xr), free(wr);
}

/* rg_nn_matmul on the x8 path (batch >= 8) at every level against float64,
 * 1 and 2 threads, row counts that leave partial row tiles */
RG_TEST(nn_batch_matmul_q8_0_vs_f64) {
    unsigned long long st = 5;
    const int64_t shapes[][3] = {{896, 37, 16}, {256, 13, 8}, {96, 5, 9}, {512, 22, 33}, {1024, 9, 64}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t k = shapes[si][0], n = shapes[si][1], batch = shapes[si][2];
        void *w = q8_weights(k, n, &st);
        float *x = malloc((size_t)(k * batch) * 4), *y = malloc((size_t)(n * batch) * 4);
        double *yr = malloc((size_t)(n * batch) * 8), *ya = malloc((size_t)(n * batch) * 8);
        randn(x, k * batch, &st, 1.0f);
        ref_q8(w, k, n, x, batch, yr, ya);
        for (int level = RG_CPU_SCALAR; level <= (int)rg_cpu_level_get(); level++)
            for (int th = 1; th <= 2; th++) {
                rg_cpu_level_force(level);
                rg_nn *nn = rg_nn_new(th);
                REQUIRE(nn);
                for (int64_t i = 0; i < n * batch; i++) y[i] = NAN;
                REQUIRE(rg_nn_matmul(nn, RG_DTYPE_Q8_0, w, k, n, x, batch, y) == RG_OK);
                int bad = 0;
                for (int64_t i = 0; i < n * batch && bad < 3; i++)
                    if (!(fabs(y[i] - yr[i]) <= 2e-5 * ya[i] + 1e-6)) {
                        CHECKF(0, "level %d threads %d k %lld n %lld batch %lld [%lld]: %g vs %g", level, th,
                               (long long)k, (long long)n, (long long)batch, (long long)i, y[i], yr[i]);
                        bad++;
                    }
                rg_nn_free(nn);
            }
        rg_cpu_level_force(-1);
        free(w), free(x), free(y), free(yr), free(ya);
    }
}

/* A row of X gives bit-identical output whatever else is in the batch and
 * whatever the batch size (batch 1 and < 8: q8_0_rows per row; >= 8: the
 * x8 path, same exact block sums and float order): what makes batched
 * greedy decoding of one request equal to decoding it alone. */
RG_TEST(nn_batch_rows_independent) {
    if ((int)rg_cpu_level_get() < RG_CPU_AVX2) RG_SKIP("CPU lacks avx2 (has: %s)", rg_cpu_describe());
    unsigned long long st = 11;
    const int64_t k = 512, ns[] = {29, 32};
    for (int ni = 0; ni < 2; ni++) {
        const int64_t n = ns[ni];
        void *w = q8_weights(k, n, &st);
        float *x = malloc((size_t)(k * 40) * 4), *y1 = malloc((size_t)(n * 40) * 4), *y2 = malloc((size_t)(n * 40) * 4);
        randn(x, k * 40, &st, 1.0f);
        for (int th = 1; th <= 2; th++) {
            rg_nn *nn = rg_nn_new(th);
            REQUIRE(nn);
            REQUIRE(rg_nn_matmul(nn, RG_DTYPE_Q8_0, w, k, n, x, 40, y1) == RG_OK);
            /* rows 5..14 of the same X as batches of 10, 3 and 1 */
            const int sizes[] = {10, 3, 1};
            for (int si = 0; si < 3; si++) {
                for (int r0 = 5; r0 < 15; r0 += sizes[si]) {
                    int b = r0 + sizes[si] <= 15 ? sizes[si] : 15 - r0;
                    REQUIRE(rg_nn_matmul(nn, RG_DTYPE_Q8_0, w, k, n, x + r0 * k, b, y2 + (r0 - 5) * n) == RG_OK);
                }
                CHECKF(memcmp(y1 + 5 * n, y2, sizeof(float) * (size_t)(10 * n)) == 0,
                       "n %lld threads %d: batch 40 vs batches of %d differ", (long long)n, th, sizes[si]);
            }
            rg_nn_free(nn);
        }
        free(w), free(x), free(y1), free(y2);
    }
}

/* rg_llm_argmax (run per sequence over the vocabulary every batched step)
 * against the plain first-maximum scan: ties, NaNs, infinities, -0.0 */
#include "llm/llm.h"
static int32_t scan_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

RG_TEST(llm_argmax_matches_scan) {
    unsigned long long st = 23;
    const int V = 151936;
    float *x = malloc(sizeof(float) * V);
    for (int trial = 0; trial < 400; trial++) {
        int n = trial < 300 ? 1 + trial % 100 : V - (trial % 9);
        int levels = 1 + (int)(rg_test_rand(&st) % 6); /* few distinct values: many ties */
        for (int i = 0; i < n; i++) {
            x[i] = (float)(rg_test_rand(&st) % (unsigned long long)levels) - 2.0f;
            unsigned long long u = rg_test_rand(&st) % 1000;
            if (u == 0) x[i] = NAN;
            else if (u == 1) x[i] = -INFINITY;
            else if (u == 2) x[i] = -0.0f;
            else if (u == 3 && trial % 7 == 0) x[i] = INFINITY;
        }
        if (trial % 11 == 0) x[0] = NAN;
        CHECKF(rg_llm_argmax(x, n) == scan_argmax(x, n), "trial %d n %d: %d vs %d", trial, n,
               rg_llm_argmax(x, n), scan_argmax(x, n));
    }
    free(x);
}
