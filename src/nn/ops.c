/* ops.c - scalar reference of the element-wise transformer ops (ops.h),
 * and the run-time dispatch to ops_avx2.c where SIMD pays (exp-heavy
 * activations, softmax, and the f16 KV-cache dot/axpy).
 *
 * Numerics follow ggml's CPU ops: RMSNorm/LayerNorm/softmax sums in
 * double, RoPE angles by repeated multiplication with
 * theta_scale = base^(-2/n_rot) in float, as ggml_rope_cache_init does. */
#include "nn/ops.h"

#include <math.h>

#include "core/cpu.h"
#include "nn/nn.h"
#include "nn/ops_int.h"

static int use_avx2(void) { return rg_cpu_level_get() >= RG_CPU_AVX2; }

void rg_nn_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * (double)x[i];
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale;
    }
}

void rg_nn_layernorm(float *out, const float *x, const float *w, const float *b, int64_t n,
                     float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    const float mean = (float)(sum / (double)n);
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - mean;
        out[i] = d;
        sum2 += (double)d * (double)d;
    }
    const float var = (float)(sum2 / (double)n);
    const float scale = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = out[i] * scale;
        if (w) v *= w[i];
        if (b) v += b[i];
        out[i] = v;
    }
}

void rg_nn_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    int64_t i = 0;
    if (use_avx2() && n >= 8) {
        sum = rg__ops_exp_sum_avx2(x, n & ~(int64_t)7, max);
        i = n & ~(int64_t)7;
    }
    for (; i < n; i++) {
        float e = expf(x[i] - max);
        x[i] = e;
        sum += e;
    }
    const float inv = (float)(1.0 / sum);
    for (i = 0; i < n; i++) x[i] *= inv;
}

void rg_nn_silu_mul(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    if (use_avx2() && n >= 8) {
        rg__ops_silu_mul_avx2(g, u, n & ~(int64_t)7);
        i = n & ~(int64_t)7;
    }
    for (; i < n; i++) {
        float v = g[i];
        g[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

void rg_nn_gelu(float *x, int64_t n) {
    /* ggml: 0.5*x*(1 + tanh(sqrt(2/pi)*x*(1 + 0.044715*x^2))), computed as
     * x / (1 + e^(-2u)): one expf instead of tanhf, which was a quarter of
     * the BERT encoder's time */
    const float c = -2.0f * 0.79788456080286535587989211986876f;
    int64_t i = 0;
    if (use_avx2() && n >= 8) {
        rg__ops_gelu_avx2(x, n & ~(int64_t)7);
        i = n & ~(int64_t)7;
    }
    for (; i < n; i++) {
        float v = x[i];
        x[i] = v / (1.0f + expf(c * v * (1.0f + 0.044715f * v * v)));
    }
}

void rg_nn_add(float *y, const float *b, int64_t n) {
    int64_t i = 0;
    if (use_avx2() && n >= 8) {
        rg__ops_add_avx2(y, b, n & ~(int64_t)7);
        i = n & ~(int64_t)7;
    }
    for (; i < n; i++) y[i] += b[i];
}

void rg_nn_scale(float *x, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

void rg_nn_rope_cache(float *cs, int n_rot, int64_t pos, float base, float freq_scale,
                      const float *freq_factors) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        float ff = freq_factors ? freq_factors[i] : 1.0f;
        float t = freq_scale * (theta / ff);
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void rg_nn_rope_apply(float *x, int n_head, int head_dim, int n_rot, const float *cs,
                      rg_rope_mode mode) {
    const int half = n_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim;
        if (mode == RG_ROPE_NEOX) {
            for (int i = 0; i < half; i++) {
                const float c = cs[2 * i], s = cs[2 * i + 1];
                const float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = a * s + b * c;
            }
        } else {
            for (int i = 0; i < half; i++) {
                const float c = cs[2 * i], s = cs[2 * i + 1];
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c - b * s;
                v[2 * i + 1] = a * s + b * c;
            }
        }
    }
}

float rg_nn_dot_f16_f32(const uint16_t *a, const float *b, int64_t n) {
    int64_t i = 0;
    float sum = 0.0f;
    if (use_avx2() && n >= 16) {
        i = n & ~(int64_t)15;
        sum = rg__ops_dot_f16_f32_avx2(a, b, i);
    }
    for (; i < n; i++) sum += rg_f16_to_f32(a[i]) * b[i];
    return sum;
}

void rg_nn_axpy_f16(float *y, float s, const uint16_t *x, int64_t n) {
    int64_t i = 0;
    if (use_avx2() && n >= 8) {
        i = n & ~(int64_t)7;
        rg__ops_axpy_f16_avx2(y, s, x, i);
    }
    for (; i < n; i++) y[i] += s * rg_f16_to_f32(x[i]);
}

void rg_nn_f32_to_f16_row(uint16_t *dst, const float *src, int64_t n) {
    int64_t i = 0;
    if (use_avx2() && n >= 8) {
        i = n & ~(int64_t)7;
        rg__ops_f32_to_f16_avx2(dst, src, i);
    }
    for (; i < n; i++) dst[i] = rg_f32_to_f16(src[i]);
}

void rg_nn_f16_to_f32_row(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    if (use_avx2() && n >= 8) {
        i = n & ~(int64_t)7;
        rg__ops_f16_to_f32_avx2(dst, src, i);
    }
    for (; i < n; i++) dst[i] = rg_f16_to_f32(src[i]);
}

void rg_nn_attn_block(const float *q, int nq, int hd, const float *kT, int ldk, const float *v,
                      int nk, const int *lim, float *m, float *l, float *o) {
    if (use_avx2() && hd % 8 == 0) {
        rg__ops_attn_block_avx2(q, nq, hd, kT, ldk, v, nk, lim, m, l, o);
        return;
    }
    float s[RG_NN_ATTN_BLOCK_MAX];
    for (int i = 0; i < nq; i++) {
        const int n = lim[i] < nk ? lim[i] : nk;
        if (n <= 0) continue;
        const float *qi = q + (size_t)i * hd;
        float *oi = o + (size_t)i * hd;
        float bm = -INFINITY;
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int d = 0; d < hd; d++) acc += qi[d] * kT[(size_t)d * ldk + j];
            s[j] = acc;
            if (acc > bm) bm = acc;
        }
        const float mn = m[i] > bm ? m[i] : bm;
        const float old = expf(m[i] - mn); /* 0 when m[i] = -inf */
        float sum = 0.0f;
        for (int j = 0; j < n; j++) {
            s[j] = expf(s[j] - mn);
            sum += s[j];
        }
        l[i] = l[i] * old + sum;
        m[i] = mn;
        for (int d = 0; d < hd; d++) oi[d] *= old;
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * hd;
            for (int d = 0; d < hd; d++) oi[d] += s[j] * vj[d];
        }
    }
}
