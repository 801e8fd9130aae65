/* test_nn.c - nn/ kernels: f16/bf16 conversion, dequant(quant(x)) error
 * per type, dot products against a float64 reference, every SIMD level
 * against the scalar reference, matmul tiling and threads, and the real
 * llama.cpp-quantized fixture files (bit-exact quantizers). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/file.h"
#include "gguf/dtype.h"
#include "nn/nn.h"
#include "nn/nn_int.h"
#include "test.h"

#include <immintrin.h>

static const rg_dtype k_wtypes[] = {RG_DTYPE_F32,  RG_DTYPE_F16,  RG_DTYPE_BF16,
                                    RG_DTYPE_Q8_0, RG_DTYPE_Q4_0, RG_DTYPE_Q5_0,
                                    RG_DTYPE_Q4_K, RG_DTYPE_Q5_K, RG_DTYPE_Q6_K};
#define N_WTYPES (sizeof k_wtypes / sizeof k_wtypes[0])

static size_t row_bytes(rg_dtype t, int64_t k) {
    uint64_t b = 0;
    REQUIRE(rg_dtype_row_bytes(t, (uint64_t)k, &b) == 0);
    return (size_t)b;
}

static void fill_randn(float *x, int64_t n, unsigned long long *st, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)rg_test_randn(st) * scale;
}

/* ---- conversions ---- */

__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f) {
    return (uint16_t)_cvtss_sh(f, 0);
}
__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

RG_TEST(nn_f16_roundtrip_all) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rg_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        CHECKF(rg_f32_to_f16(f) == h, "h=%04x f=%g back=%04x", h, f, rg_f32_to_f16(f));
    }
    CHECK(rg_f16_to_f32(0x3c00) == 1.0f);
    CHECK(rg_f16_to_f32(0xc000) == -2.0f);
    CHECK(rg_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(rg_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(rg_f32_to_f16(65520.0f) == 0x7c00); /* rounds to inf */
    CHECK(rg_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(rg_f32_to_f16(0x1p-25f) == 0);      /* tie to even: 0 */
    CHECK(rg_f32_to_f16(0x1.8p-24f) == 2);    /* 1.5 ulp -> 2 (even) */
    CHECK(isnan(rg_f16_to_f32(rg_f32_to_f16(NAN))));
}

RG_TEST(nn_f16_matches_f16c) {
    if (!rg_cpu_get()->f16c) RG_SKIP("no F16C on this CPU");
    unsigned long long st = 7;
    for (int i = 0; i < 2000000; i++) {
        uint32_t bits = (uint32_t)rg_test_rand(&st);
        /* bias half the draws towards the f16 range, subnormals included */
        if (i & 1) bits = (bits & 0x807fffff) | ((uint32_t)(96 + (bits >> 23) % 50) << 23);
        float f;
        memcpy(&f, &bits, 4);
        if (isnan(f)) continue;
        uint16_t a = rg_f32_to_f16(f), b = hw_f32_to_f16(f);
        if (a != b) {
            CHECKF(a == b, "f=%a ours=%04x f16c=%04x", f, a, b);
            break;
        }
    }
    for (uint32_t h = 0; h < 65536; h++) {
        float a = rg_f16_to_f32((uint16_t)h), b = hw_f16_to_f32((uint16_t)h);
        if (isnan(a) && isnan(b)) continue;
        CHECKF(memcmp(&a, &b, 4) == 0, "h=%04x", h);
    }
}

RG_TEST(nn_bf16) {
    CHECK(rg_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(rg_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(rg_bf16_to_f32(0xc040) == -3.0f);
    /* 1 + 2^-8 is halfway between 1 and 1+2^-7: ties to even (1.0) */
    CHECK(rg_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);
    CHECK(rg_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
    CHECK(rg_f32_to_bf16(1.0f + 0x1p-7f + 0x1p-8f) == 0x3f82); /* odd -> up */
    uint16_t n = rg_f32_to_bf16(NAN);
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f));
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rg_bf16_to_f32((uint16_t)h);
        if (!isnan(f)) CHECK(rg_f32_to_bf16(f) == h);
    }
}

/* ---- quantize / dequantize ---- */

/* Largest error relative to the block's absmax, per type: the half step of
 * the format plus the f16 rounding of its scales (K-quants also lose to
 * their 6-bit sub-scales and the min offset). */
static double quant_err_limit(rg_dtype t) {
    switch (t) {
    case RG_DTYPE_F16: return 1.0 / 2048;
    case RG_DTYPE_BF16: return 1.0 / 256;
    /* d is rounded to f16 (a subnormal one for tiny blocks: 1e-3 scale) */
    case RG_DTYPE_Q8_0: return 0.5 / 127 + 0.002;
    /* the extreme maps to -8 / -16; the other side clips at +7 / +15 */
    case RG_DTYPE_Q4_0: return 1.0 / 8 + 0.002;
    case RG_DTYPE_Q5_0: return 1.0 / 16 + 0.002;
    case RG_DTYPE_Q4_K: return 0.12;
    case RG_DTYPE_Q5_K: return 0.06;
    case RG_DTYPE_Q6_K: return 0.04;
    case RG_DTYPE_Q8_K: return 0.5 / 127 + 1e-6;
    default: return 0;
    }
}

/* RMS error relative to RMS of x, upper limits from the formats' step sizes
 * on Gaussian data (Q4_K's rms step ~ range/15/sqrt(12)). */
static double quant_rms_limit(rg_dtype t) {
    switch (t) {
    case RG_DTYPE_F16: return 4e-4;
    case RG_DTYPE_BF16: return 3e-3;
    case RG_DTYPE_Q8_0: return 0.006;
    case RG_DTYPE_Q4_0: return 0.10;
    case RG_DTYPE_Q5_0: return 0.05;
    case RG_DTYPE_Q4_K: return 0.08;
    case RG_DTYPE_Q5_K: return 0.04;
    case RG_DTYPE_Q6_K: return 0.022;
    case RG_DTYPE_Q8_K: return 0.008;
    default: return 0;
    }
}

RG_TEST(nn_quant_roundtrip_error) {
    static const rg_dtype types[] = {RG_DTYPE_F16,  RG_DTYPE_BF16, RG_DTYPE_Q8_0,
                                     RG_DTYPE_Q4_0, RG_DTYPE_Q5_0, RG_DTYPE_Q4_K,
                                     RG_DTYPE_Q5_K, RG_DTYPE_Q6_K, RG_DTYPE_Q8_K};
    const int64_t n = 4096;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    void *q = malloc(row_bytes(RG_DTYPE_F32, n));
    unsigned long long st = 42;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        rg_dtype t = types[ti];
        for (int trial = 0; trial < 4; trial++) {
            fill_randn(x, n, &st, trial == 3 ? 1e-3f : 1.0f);
            if (trial == 2) /* a block of zeros and an outlier */
                for (int i = 0; i < 256; i++) x[i] = i == 77 ? 9.0f : 0.0f;
            REQUIRE(rg_nn_quant_row(t, x, q, n) == RG_OK);
            rg_nn_dequant_row(t, q, y, n);
            int bs = rg_dtype_get(t)->block_size < 32 ? 32 : rg_dtype_get(t)->block_size;
            double se = 0, sx = 0, worst = 0;
            for (int64_t b = 0; b < n; b += bs) {
                double amax = 0, emax = 0;
                for (int i = 0; i < bs; i++) {
                    amax = fmax(amax, fabs(x[b + i]));
                    double e = fabs((double)x[b + i] - y[b + i]);
                    emax = fmax(emax, e);
                    se += e * e;
                    sx += (double)x[b + i] * x[b + i];
                }
                if (amax > 0) worst = fmax(worst, emax / amax);
                else CHECK(emax == 0);
            }
            double rms = sqrt(se / sx);
            CHECKF(worst <= quant_err_limit(t), "%s trial %d: max err/absmax %.5f > %.5f",
                   rg_dtype_name(t), trial, worst, quant_err_limit(t));
            CHECKF(rms <= quant_rms_limit(t), "%s trial %d: rms err %.5f > %.5f",
                   rg_dtype_name(t), trial, rms, quant_rms_limit(t));
        }
    }
    CHECK(rg_nn_quant_row(RG_DTYPE_Q2_K, x, q, 256) == RG_UNSUPPORTED);
    CHECK(rg_nn_quant_row(RG_DTYPE_Q8_0, x, q, 33) == RG_INVALID);
    free(x);
    free(y);
    free(q);
}

RG_TEST(nn_quant_zero_rows) {
    static const rg_dtype types[] = {RG_DTYPE_Q8_0, RG_DTYPE_Q4_0, RG_DTYPE_Q5_0, RG_DTYPE_Q4_K,
                                     RG_DTYPE_Q5_K, RG_DTYPE_Q6_K, RG_DTYPE_Q8_K};
    float x[256] = {0}, y[256];
    unsigned char q[512];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        memset(q, 0xAA, sizeof q);
        REQUIRE(rg_nn_quant_row(types[i], x, q, 256) == RG_OK);
        rg_nn_dequant_row(types[i], q, y, 256);
        for (int j = 0; j < 256; j++) CHECKF(y[j] == 0, "%s", rg_dtype_name(types[i]));
    }
}

/* ---- dot products and matmul ---- */

/* y_ref (batch,n) in float64 from dequantized weights and dequantized
 * activations (what the kernel actually multiplies); also the sum of
 * |w*x| for the error scale. */
static void ref_matmul(rg_dtype wt, const void *w, int64_t k, int64_t n, const float *x,
                       int64_t batch, double *yref, double *yabs) {
    rg_dtype at = rg__act_type(wt);
    float *wr = malloc(k * 4), *xr = malloc(k * 4);
    void *xa = malloc(row_bytes(RG_DTYPE_F32, k));
    size_t wrow = row_bytes(wt, k);
    const rg__kernels *sk = &(rg__kernels){0};
    rg__kernels tmp;
    rg__kernels_scalar(&tmp);
    sk = &tmp;
    for (int64_t b = 0; b < batch; b++) {
        sk->act[at](x + b * k, xa, k);
        rg_nn_dequant_row(at == RG_DTYPE_Q8_0 || at == RG_DTYPE_Q8_K || at == RG_DTYPE_F16 ||
                                  at == RG_DTYPE_BF16
                              ? at
                              : RG_DTYPE_F32,
                          xa, xr, k);
        for (int64_t r = 0; r < n; r++) {
            rg_nn_dequant_row(wt, (const char *)w + r * wrow, wr, k);
            double s = 0, a = 0;
            for (int64_t i = 0; i < k; i++) {
                s += (double)wr[i] * xr[i];
                a += fabs((double)wr[i] * xr[i]);
            }
            yref[b * n + r] = s;
            yabs[b * n + r] = a;
        }
    }
    free(wr);
    free(xr);
    free(xa);
}

static void *make_weights(rg_dtype wt, int64_t k, int64_t n, unsigned long long *st) {
    size_t wrow = row_bytes(wt, k);
    char *w = malloc(wrow * n);
    float *tmp = malloc(k * 4);
    for (int64_t r = 0; r < n; r++) {
        fill_randn(tmp, k, st, 0.05f);
        REQUIRE(rg_nn_quant_row(wt, tmp, w + r * wrow, k) == RG_OK);
    }
    free(tmp);
    return w;
}

/* relative to sum |w*x|: float accumulation of k terms (F16/BF16 dots in
 * float with k ~ 1e3 terms reach ~1e-6; allow slack) */
#define DOT_REL 2e-5

static void check_matmul(int threads, int level, int64_t k, int64_t n, int64_t batch) {
    rg_cpu_level_force(level);
    unsigned long long st = 1000 + (unsigned long long)(k * 31 + n * 7 + batch);
    rg_nn *nn = rg_nn_new(threads);
    REQUIRE(nn);
    float *x = malloc(k * batch * 4), *y = malloc(n * batch * 4), *y1 = malloc(n * 4);
    double *yr = malloc(n * batch * 8), *ya = malloc(n * batch * 8);
    fill_randn(x, k * batch, &st, 1.0f);
    for (size_t ti = 0; ti < N_WTYPES; ti++) {
        rg_dtype wt = k_wtypes[ti];
        if (k % rg_dtype_get(wt)->block_size || (rg__act_type(wt) == RG_DTYPE_Q8_K && k % 256))
            continue;
        void *w = make_weights(wt, k, n, &st);
        ref_matmul(wt, w, k, n, x, batch, yr, ya);
        for (int64_t i = 0; i < n * batch; i++) y[i] = NAN;
        REQUIRE(rg_nn_matmul(nn, wt, w, k, n, x, batch, y) == RG_OK);
        int bad = 0;
        for (int64_t i = 0; i < n * batch && bad < 3; i++) {
            double tol = DOT_REL * ya[i] + 1e-6;
            if (!(fabs(y[i] - yr[i]) <= tol)) {
                CHECKF(0, "%s level %d threads %d k %lld n %lld batch %lld [%lld]: %g vs %g",
                       rg_dtype_name(wt), level, threads, (long long)k, (long long)n,
                       (long long)batch, (long long)i, y[i], yr[i]);
                bad++;
            }
        }
        /* one activation row alone (the decode path) == the same row in the
         * batch (a batched path), up to summation order */
        int64_t b = batch / 2;
        REQUIRE(rg_nn_matmul(nn, wt, w, k, n, x + b * k, 1, y1) == RG_OK);
        for (int64_t r = 0; r < n && batch > 1; r++)
            if (!(fabs(y1[r] - y[b * n + r]) <= DOT_REL * ya[b * n + r] + 1e-6)) {
                CHECKF(0, "%s level %d: row alone %g, in batch %g", rg_dtype_name(wt), level,
                       y1[r], y[b * n + r]);
                break;
            }
        free(w);
    }
    free(x);
    free(y);
    free(y1);
    free(yr);
    free(ya);
    rg_nn_free(nn);
    rg_cpu_level_force(-1);
}

RG_TEST(nn_matmul_scalar_vs_f64) {
    check_matmul(1, RG_CPU_SCALAR, 256, 13, 1);
    check_matmul(2, RG_CPU_SCALAR, 512, 9, 6);
    check_matmul(2, RG_CPU_SCALAR, 96, 5, 3);
}

static void require_level(int level) {
    if ((int)rg_cpu_level_get() < level)
        RG_SKIP("CPU lacks %s (has: %s)", rg_cpu_level_name((rg_cpu_level)level),
                rg_cpu_describe());
}

RG_TEST(nn_matmul_avx2_vs_f64) {
    require_level(RG_CPU_AVX2);
    check_matmul(1, RG_CPU_AVX2, 256, 13, 1);
    check_matmul(2, RG_CPU_AVX2, 768, 17, 1);
    check_matmul(2, RG_CPU_AVX2, 512, 9, 11);
    check_matmul(1, RG_CPU_AVX2, 96, 5, 3);
}

RG_TEST(nn_matmul_avx512_vs_f64) {
    require_level(RG_CPU_AVX512);
    check_matmul(1, RG_CPU_AVX512, 256, 13, 1);
    check_matmul(2, RG_CPU_AVX512, 768, 17, 1);
    check_matmul(2, RG_CPU_AVX512, 512, 9, 11);
    check_matmul(1, RG_CPU_AVX512, 96, 5, 3);
}

/* Each SIMD level against the scalar reference on the same inputs: the
 * integer parts are exact, only float summation order differs. */
static void check_level_vs_scalar(int level) {
    const int64_t k = 1024, n = 21, batch = 6;
    unsigned long long st = 99;
    float *x = malloc(k * batch * 4), *y0 = malloc(n * batch * 4), *y1 = malloc(n * batch * 4);
    double *yr = malloc(n * batch * 8), *ya = malloc(n * batch * 8);
    fill_randn(x, k * batch, &st, 1.0f);
    rg_nn *nn = rg_nn_new(2);
    REQUIRE(nn);
    for (size_t ti = 0; ti < N_WTYPES; ti++) {
        rg_dtype wt = k_wtypes[ti];
        void *w = make_weights(wt, k, n, &st);
        ref_matmul(wt, w, k, n, x, batch, yr, ya);
        for (int64_t bt = 1; bt <= batch; bt += batch - 1) {
            rg_cpu_level_force(RG_CPU_SCALAR);
            REQUIRE(rg_nn_matmul(nn, wt, w, k, n, x, bt, y0) == RG_OK);
            rg_cpu_level_force(level);
            REQUIRE(rg_nn_matmul(nn, wt, w, k, n, x, bt, y1) == RG_OK);
            for (int64_t i = 0; i < n * bt; i++) {
                double tol = DOT_REL * ya[i] + 1e-6;
                if (!(fabs((double)y0[i] - y1[i]) <= tol)) {
                    CHECKF(0, "%s level %d batch %lld [%lld]: scalar %g simd %g", rg_dtype_name(wt),
                           level, (long long)bt, (long long)i, y0[i], y1[i]);
                    break;
                }
            }
        }
        free(w);
    }
    rg_cpu_level_force(-1);
    rg_nn_free(nn);
    free(x);
    free(y0);
    free(y1);
    free(yr);
    free(ya);
}

RG_TEST(nn_avx2_vs_scalar) {
    require_level(RG_CPU_AVX2);
    check_level_vs_scalar(RG_CPU_AVX2);
}

RG_TEST(nn_avx512_vs_scalar) {
    require_level(RG_CPU_AVX512);
    check_level_vs_scalar(RG_CPU_AVX512);
}

RG_TEST(nn_f32_helpers) {
    unsigned long long st = 5;
    float a[1000], b[1000], y[1000], y2[1000];
    fill_randn(a, 1000, &st, 1);
    fill_randn(b, 1000, &st, 1);
    for (int level = RG_CPU_SCALAR; level <= (int)rg_cpu_level_get(); level++) {
        rg_cpu_level_force(level);
        for (int n = 0; n <= 1000; n += 37) {
            double s = 0, sa = 0;
            for (int i = 0; i < n; i++) {
                s += (double)a[i] * b[i];
                sa += fabs((double)a[i] * b[i]);
            }
            CHECK(fabs(rg_nn_dot_f32(a, b, n) - s) <= 1e-6 * sa + 1e-6);
            memcpy(y, b, sizeof y);
            rg_nn_axpy_f32(y, 0.5f, a, n);
            for (int i = 0; i < 1000; i++) y2[i] = i < n ? b[i] + 0.5f * a[i] : b[i];
            CHECK(memcmp(y, y2, sizeof y) == 0);
        }
    }
    rg_cpu_level_force(-1);
}

RG_TEST(nn_matmul_errors) {
    rg_nn *nn = rg_nn_new(1);
    float x[32] = {0}, y[4];
    unsigned char w[256] = {0};
    CHECK(rg_nn_matmul(nn, RG_DTYPE_Q2_K, w, 256, 1, x, 1, y) == RG_UNSUPPORTED);
    CHECK(rg_nn_matmul(nn, RG_DTYPE_Q8_0, w, 33, 1, x, 1, y) == RG_INVALID);
    CHECK(rg_nn_matmul(nn, RG_DTYPE_Q4_K, w, 32, 1, x, 1, y) == RG_INVALID);
    CHECK(rg_nn_supports(RG_DTYPE_Q6_K) && !rg_nn_supports(RG_DTYPE_Q8_K));
    CHECK(rg_nn_threads(nn) == 1);
    rg_nn_free(nn);
}

RG_TEST(nn_get_row) {
    unsigned long long st = 3;
    float x[3 * 256], y[256], z[256];
    fill_randn(x, 3 * 256, &st, 1);
    unsigned char q[3 * 210];
    for (int r = 0; r < 3; r++) rg_nn_quant_row(RG_DTYPE_Q6_K, x + r * 256, q + r * 210, 256);
    rg_nn_get_row(RG_DTYPE_Q6_K, q, 256, 2, y);
    rg_nn_dequant_row(RG_DTYPE_Q6_K, q + 2 * 210, z, 256);
    CHECK(memcmp(y, z, sizeof y) == 0);
    /* types without a dequantizer give zeros, never a crash */
    CHECK(rg_nn_can_dequant(RG_DTYPE_Q6_K) && !rg_nn_can_dequant(RG_DTYPE_Q4_1));
    rg_nn_dequant_row(RG_DTYPE_Q4_1, q, y, 32);
    for (int i = 0; i < 32; i++) CHECK(y[i] == 0);
}

/* ---- fixtures: llama.cpp-quantized tiny-llama files ---- */

/* A minimal GGUF tensor-table reader for the test (the real reader lives
 * in gguf/); trusts the fixture files. */
typedef struct {
    char name[96];
    uint32_t type;
    int64_t ne[4];
    uint64_t off;
} fx_tensor;

typedef struct {
    unsigned char *buf;
    size_t len;
    fx_tensor t[64];
    int nt;
    size_t data;
} fx_file;

static uint64_t rd(const unsigned char **p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    return v;
}

static void skip_val(const unsigned char **p, uint32_t type) {
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
        uint64_t l = rd(p, 8);
        *p += l;
    } else if (type == 9) {
        uint32_t et = (uint32_t)rd(p, 4);
        uint64_t n = rd(p, 8);
        for (uint64_t i = 0; i < n; i++) skip_val(p, et);
    } else {
        *p += sz[type];
    }
}

static int fx_open(fx_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    f->len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc(f->len);
    REQUIRE(fread(f->buf, 1, f->len, fp) == f->len);
    fclose(fp);
    const unsigned char *p = f->buf;
    REQUIRE(memcmp(p, "GGUF", 4) == 0);
    p += 8;
    uint64_t nt = rd(&p, 8), nkv = rd(&p, 8);
    uint32_t align = 32;
    for (uint64_t i = 0; i < nkv; i++) {
        uint64_t kl = rd(&p, 8);
        int is_align = kl == 17 && memcmp(p, "general.alignment", 17) == 0;
        p += kl;
        uint32_t type = (uint32_t)rd(&p, 4);
        if (is_align && type == 4) align = (uint32_t)rd(&p, 4);
        else skip_val(&p, type);
    }
    REQUIRE(nt <= 64);
    for (uint64_t i = 0; i < nt; i++) {
        fx_tensor *t = &f->t[f->nt++];
        uint64_t l = rd(&p, 8);
        REQUIRE(l < sizeof t->name);
        memcpy(t->name, p, l);
        p += l;
        uint32_t nd = (uint32_t)rd(&p, 4);
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) t->ne[d] = (int64_t)rd(&p, 8);
        t->type = (uint32_t)rd(&p, 4);
        t->off = rd(&p, 8);
    }
    size_t pos = (size_t)(p - f->buf);
    f->data = (pos + align - 1) / align * align;
    return 0;
}

static const fx_tensor *fx_find(const fx_file *f, const char *name) {
    for (int i = 0; i < f->nt; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

static const void *fx_data(const fx_file *f, const fx_tensor *t) { return f->buf + f->data + t->off; }

/* Quantizing tiny-llama-f32.gguf's tensors must give the exact bytes of the
 * fixture that llama-quantize --pure made from it. */
static void check_fixture_type(const char *fname, rg_dtype t) {
    const char *fx = rg_test_fixtures_or_skip();
    char path[1024];
    fx_file src, dst;
    snprintf(path, sizeof path, "%s/models/tiny-llama-f32.gguf", fx);
    if (fx_open(&src, path)) RG_SKIP("%s missing", path);
    snprintf(path, sizeof path, "%s/models/%s", fx, fname);
    if (fx_open(&dst, path)) RG_SKIP("%s missing", path);
    int n2d = 0, mismatched = 0;
    for (int i = 0; i < dst.nt; i++) {
        const fx_tensor *dt = &dst.t[i];
        const fx_tensor *st = fx_find(&src, dt->name);
        REQUIRE(st && st->type == RG_DTYPE_F32);
        if (dt->ne[1] == 1) {
            CHECK_EQ_INT(dt->type, RG_DTYPE_F32);
            continue;
        }
        n2d++;
        CHECK_EQ_INT(dt->type, t);
        int64_t k = dt->ne[0], rows = dt->ne[1] * dt->ne[2] * dt->ne[3];
        size_t rb = row_bytes(t, k);
        unsigned char *q = malloc(rb * rows);
        const float *x = fx_data(&src, st);
        for (int64_t r = 0; r < rows; r++)
            REQUIRE(rg_nn_quant_row(t, x + r * k, q + r * rb, k) == RG_OK);
        const unsigned char *ref = fx_data(&dst, dt);
        if (memcmp(q, ref, rb * rows) != 0) {
            size_t diff = 0, first = 0;
            for (size_t j = rb * rows; j-- > 0;)
                if (q[j] != ref[j]) {
                    diff++;
                    first = j;
                }
            CHECKF(0, "%s %s: %zu of %zu bytes differ (first at %zu)", fname, dt->name, diff,
                   rb * rows, first);
            mismatched++;
        }
        /* and the dequantized fixture is close to the f32 original */
        float *y = malloc(k * 4);
        double se = 0, sx = 0;
        for (int64_t r = 0; r < rows; r++) {
            rg_nn_dequant_row(t, ref + r * rb, y, k);
            for (int64_t j = 0; j < k; j++) {
                double e = (double)y[j] - x[r * k + j];
                se += e * e;
                sx += (double)x[r * k + j] * x[r * k + j];
            }
        }
        CHECKF(sqrt(se / sx) <= quant_rms_limit(t), "%s %s rms %.4f", fname, dt->name,
               sqrt(se / sx));
        free(y);
        free(q);
    }
    CHECK_EQ_INT(n2d, 16);
    free(src.buf);
    free(dst.buf);
}

RG_TEST(nn_fixture_q8_0) { check_fixture_type("tiny-llama-q8_0.gguf", RG_DTYPE_Q8_0); }
RG_TEST(nn_fixture_q4_0) { check_fixture_type("tiny-llama-q4_0.gguf", RG_DTYPE_Q4_0); }
RG_TEST(nn_fixture_q5_0) { check_fixture_type("tiny-llama-q5_0.gguf", RG_DTYPE_Q5_0); }
RG_TEST(nn_fixture_q4_K) { check_fixture_type("tiny-llama-q4_k.gguf", RG_DTYPE_Q4_K); }
RG_TEST(nn_fixture_q5_K) { check_fixture_type("tiny-llama-q5_k.gguf", RG_DTYPE_Q5_K); }
RG_TEST(nn_fixture_q6_K) { check_fixture_type("tiny-llama-q6_k.gguf", RG_DTYPE_Q6_K); }
RG_TEST(nn_fixture_f16) { check_fixture_type("tiny-llama-f16.gguf", RG_DTYPE_F16); }
RG_TEST(nn_fixture_bf16) { check_fixture_type("tiny-llama-bf16.gguf", RG_DTYPE_BF16); }

/* The SIMD activation converters must give the scalar ones' exact bytes
 * (so results track llama.cpp whatever the level). */
RG_TEST(nn_act_bit_exact_per_level) {
    const int64_t n = 2048;
    unsigned long long st = 11;
    float *x = malloc(n * 4);
    unsigned char *a = malloc(n * 4), *b = malloc(n * 4);
    rg__kernels sk;
    rg__kernels_scalar(&sk);
    static const rg_dtype ats[] = {RG_DTYPE_Q8_0, RG_DTYPE_Q8_K, RG_DTYPE_F16, RG_DTYPE_BF16};
    for (int level = RG_CPU_AVX2; level <= (int)rg_cpu_level_get(); level++) {
        rg_cpu_level_force(level);
        const rg__kernels *kt = rg__kernels_get();
        for (int trial = 0; trial < 20; trial++) {
            fill_randn(x, n, &st, trial % 3 == 0 ? 1e-4f : 3.0f);
            if (trial == 1) memset(x, 0, 256 * 4); /* zero blocks */
            if (trial == 2) x[5] = 7.5f, x[9] = -7.5f; /* ties for the absmax */
            for (size_t ai = 0; ai < 4; ai++) {
                size_t rb = row_bytes(ats[ai], n);
                memset(a, 0x55, rb);
                memset(b, 0xAA, rb);
                sk.act[ats[ai]](x, a, n);
                kt->act[ats[ai]](x, b, n);
                CHECKF(memcmp(a, b, rb) == 0, "%s level %d trial %d", rg_dtype_name(ats[ai]),
                       level, trial);
            }
        }
    }
    rg_cpu_level_force(-1);
    free(x);
    free(a);
    free(b);
}

/* F32 at batch >= 16 goes through OpenBLAS sgemm. */
RG_TEST(nn_matmul_f32_blas) {
    const int64_t k = 96, n = 7, batch = 20;
    unsigned long long st = 8;
    float *w = malloc(k * n * 4), *x = malloc(k * batch * 4), *y = malloc(n * batch * 4);
    fill_randn(w, k * n, &st, 1);
    fill_randn(x, k * batch, &st, 1);
    rg_nn *nn = rg_nn_new(2);
    REQUIRE(rg_nn_matmul(nn, RG_DTYPE_F32, w, k, n, x, batch, y) == RG_OK);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t r = 0; r < n; r++) {
            double s = 0, sa = 0;
            for (int64_t i = 0; i < k; i++) {
                s += (double)w[r * k + i] * x[b * k + i];
                sa += fabs((double)w[r * k + i] * x[b * k + i]);
            }
            CHECK(fabs(y[b * n + r] - s) <= 1e-5 * sa);
        }
    rg_nn_free(nn);
    free(w);
    free(x);
    free(y);
}

/* ---- large batches (gemm.c): weights dequantized to f32, sgemm ---- */

/* The SIMD dequantizers give the scalar reference's floats bit for bit. */
RG_TEST(nn_deq_simd_bit_exact) {
    require_level(RG_CPU_AVX2);
    const int64_t k = 512;
    unsigned long long st = 21;
    float *a = malloc(k * 4), *b = malloc(k * 4);
    for (size_t ti = 0; ti < N_WTYPES; ti++) {
        rg_dtype wt = k_wtypes[ti];
        void *w = make_weights(wt, k, 3, &st);
        size_t wrow = row_bytes(wt, k);
        for (int lv = RG_CPU_AVX2; lv <= (int)rg_cpu_level_get(); lv++) {
            rg_cpu_level_force(lv);
            const rg__kernels *kt = rg__kernels_get();
            if (!kt->deq[wt]) continue;
            for (int r = 0; r < 3; r++) {
                rg_nn_dequant_row(wt, (const char *)w + r * wrow, a, k);
                kt->deq[wt]((const char *)w + r * wrow, b, k);
                CHECKF(memcmp(a, b, k * 4) == 0, "%s level %d row %d", rg_dtype_name(wt), lv, r);
            }
        }
        rg_cpu_level_force(-1);
        free(w);
    }
    free(a);
    free(b);
}

/* Large batches of the types that take the gemm path (weights converted
 * to f32, activations rounded through the activation type, sgemm) against
 * float64 on the same rounded values, with the dot-product path's error
 * limit; sizes give several row blocks per thread and a partial last one
 * (check_matmul also compares one row alone with the same row in the
 * batch). */
RG_TEST(nn_matmul_gemm_vs_f64) {
    check_matmul(1, RG_CPU_SCALAR, 256, 37, 40);
    check_matmul(2, RG_CPU_SCALAR, 512, 300, 33);
    if ((int)rg_cpu_level_get() >= RG_CPU_AVX2) {
        check_matmul(1, RG_CPU_AVX2, 256, 37, 40);
        check_matmul(2, RG_CPU_AVX2, 512, 300, 64);
        check_matmul(2, RG_CPU_AVX2, 2304, 70, 32);
    }
}
