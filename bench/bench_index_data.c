/* bench_index_data.c - datasets for bench/index.sh, written as .fvecs.
 *
 *   bench_index_data synth --n N --nq NQ --d D --k K [--seed S] --out PREFIX
 *       a C port of ../shared/fixtures/ann/gen_synth.py (same model and
 *       defaults; numpy's generator cannot be reproduced bit for bit, so the
 *       vectors differ but follow the same distribution): clustered,
 *       anisotropic, L2-normalised "sentence-embedding-like" vectors.
 *       Writes PREFIX_base.fvecs and PREFIX_query.fvecs.
 *   bench_index_data mnist t10k-images-idx3-ubyte PREFIX [NBASE]
 *       MNIST test images (IDX, uncompressed: gzip -dc the fixture first) as floats 0..255: the first NBASE
 *       (default 9000) as PREFIX_base.fvecs, the rest as PREFIX_query.fvecs.
 *
 * Model of synth (see gen_synth.py): Q random orthonormal (Gram-Schmidt
 * of a Gaussian matrix), spectrum s_j ~ (j+1)^-alpha scaled to mean
 * square 1, a global mean m of norm 0.4, K centres c_k = m + sc/sqrt(d) *
 * Q diag(s) z_k, log-normal cluster weights, per-cluster per-direction
 * log-normal scales R_k and a rank-r sub-space U_k; x = normalise(C_l +
 * noise/sqrt(d) * Q diag(s R_l) z + sub * U_l w). */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "index/index.h"

static uint64_t g_s[4];

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next_u64(void) { /* xoshiro256** */
    uint64_t r = rotl(g_s[1] * 5, 7) * 9, t = g_s[1] << 17;
    g_s[2] ^= g_s[0];
    g_s[3] ^= g_s[1];
    g_s[1] ^= g_s[2];
    g_s[0] ^= g_s[3];
    g_s[2] ^= t;
    g_s[3] = rotl(g_s[3], 45);
    return r;
}
static void seed_rng(uint64_t s) {
    for (int i = 0; i < 4; i++) {
        s += 0x9e3779b97f4a7c15ull;
        uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        g_s[i] = z ^ (z >> 31);
    }
}
static double unif(void) { return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0; }
static double gauss(void) {
    static int have;
    static double spare;
    if (have) {
        have = 0;
        return spare;
    }
    double u = unif(), v = unif(), r = sqrt(-2 * log(u));
    spare = r * sin(2 * M_PI * v);
    have = 1;
    return r * cos(2 * M_PI * v);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_index_data: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void save(const char *prefix, const char *suffix, const float *x, size_t n, int d) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s", prefix, suffix);
    rg_err err;
    if (rg_fvecs_write(path, x, n, d, &err) != RG_OK) {
        fprintf(stderr, "bench_index_data: %s\n", rg_err_text(&err));
        exit(1);
    }
}

typedef struct {
    int d, K, r;
    double noise, sub;
    float *Q, *s, *C, *R, *U;
    double *cw; /* cumulative weights */
} model;

static void sample(const model *m, size_t count, double mult, float *out) {
    int d = m->d, r = m->r;
    size_t bs = 4096;
    float *z = xmalloc(bs * (size_t)d * sizeof *z);
    int *lab = xmalloc(bs * sizeof *lab);
    for (size_t i0 = 0; i0 < count; i0 += bs) {
        size_t b = count - i0 < bs ? count - i0 : bs;
        for (size_t i = 0; i < b; i++) {
            double u = unif();
            int lo = 0, hi = m->K - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (m->cw[mid] < u) lo = mid + 1;
                else hi = mid;
            }
            lab[i] = lo;
            const float *Rl = m->R + (size_t)lo * d;
            for (int j = 0; j < d; j++) z[i * d + j] = (float)gauss() * m->s[j] * Rl[j];
        }
        /* x (b,d) = z (b,d) @ Q^T (d,d) */
        float *x = out + i0 * (size_t)d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, d, d,
                    (float)(m->noise * mult / sqrt(d)), z, d, m->Q, d, 0.0f, x, d);
        for (size_t i = 0; i < b; i++) {
            float *xi = x + i * (size_t)d;
            const float *U = m->U + (size_t)lab[i] * r * d, *C = m->C + (size_t)lab[i] * d;
            for (int t = 0; t < r; t++) {
                float w = (float)(gauss() * m->sub * mult);
                for (int j = 0; j < d; j++) xi[j] += w * U[(size_t)t * d + j];
            }
            double n2 = 0;
            for (int j = 0; j < d; j++) {
                xi[j] += C[j];
                n2 += (double)xi[j] * xi[j];
            }
            float inv = (float)(1.0 / sqrt(n2 > 0 ? n2 : 1));
            for (int j = 0; j < d; j++) xi[j] *= inv;
        }
    }
    free(z);
    free(lab);
}

static int synth(int argc, char **argv) {
    size_t n = 200000, nq = 1000;
    int d = 384, K = 1000, r = 8;
    uint64_t seed = 12345;
    double alpha = 0.5, mean = 0.40, center = 1.0, noise = 0.85, sub = 0.45, qnoise = 1.15;
    const char *out = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--n")) n = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--nq")) nq = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--d")) d = atoi(v);
        else if (!strcmp(a, "--k")) K = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--out")) out = v;
        else {
            fprintf(stderr, "bench_index_data synth: unknown option %s\n", a);
            return 2;
        }
    }
    if (!out || d < 1 || d > 4096 || K < 1 || n < 1 || nq < 1) {
        fprintf(stderr, "usage: bench_index_data synth --n N --nq NQ --d D --k K [--seed S] --out PREFIX\n");
        return 2;
    }
    seed_rng(seed);
    model m = {.d = d, .K = K, .r = r, .noise = noise, .sub = sub};
    /* Q: Gram-Schmidt (twice, for stability) on a Gaussian matrix; rows
     * orthonormal, so Q^T is orthonormal as well */
    m.Q = xmalloc((size_t)d * d * sizeof(float));
    double *G = xmalloc((size_t)d * d * sizeof(double));
    for (size_t i = 0; i < (size_t)d * d; i++) G[i] = gauss();
    for (int i = 0; i < d; i++) {
        double *gi = G + (size_t)i * d;
        for (int pass = 0; pass < 2; pass++)
            for (int j = 0; j < i; j++) {
                const double *gj = G + (size_t)j * d;
                double dot = 0;
                for (int t = 0; t < d; t++) dot += gi[t] * gj[t];
                for (int t = 0; t < d; t++) gi[t] -= dot * gj[t];
            }
        double nn = 0;
        for (int t = 0; t < d; t++) nn += gi[t] * gi[t];
        nn = 1.0 / sqrt(nn);
        for (int t = 0; t < d; t++) gi[t] *= nn;
    }
    for (size_t i = 0; i < (size_t)d * d; i++) m.Q[i] = (float)G[i];
    free(G);
    m.s = xmalloc((size_t)d * sizeof(float));
    double ss = 0;
    for (int j = 0; j < d; j++) ss += pow(j + 1.0, -2 * alpha);
    for (int j = 0; j < d; j++) m.s[j] = (float)(pow(j + 1.0, -alpha) / sqrt(ss) * sqrt(d));
    float *mv = xmalloc((size_t)d * sizeof(float));
    double mn = 0;
    for (int j = 0; j < d; j++) {
        mv[j] = (float)gauss();
        mn += (double)mv[j] * mv[j];
    }
    for (int j = 0; j < d; j++) mv[j] *= (float)(mean / sqrt(mn));
    /* centres C (K,d) = m + center/sqrt(d) * (zc * s) @ Q^T */
    float *zc = xmalloc((size_t)K * d * sizeof(float));
    for (size_t i = 0; i < (size_t)K * d; i++) zc[i] = (float)gauss() * m.s[i % d];
    m.C = xmalloc((size_t)K * d * sizeof(float));
    for (int k = 0; k < K; k++) memcpy(m.C + (size_t)k * d, mv, (size_t)d * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, d, d, (float)(center / sqrt(d)), zc, d,
                m.Q, d, 1.0f, m.C, d);
    free(zc);
    m.R = xmalloc((size_t)K * d * sizeof(float));
    for (size_t i = 0; i < (size_t)K * d; i++) m.R[i] = (float)exp(gauss() * 0.5);
    m.U = xmalloc((size_t)K * r * d * sizeof(float));
    for (size_t i = 0; i < (size_t)K * r * d; i++) m.U[i] = (float)(gauss() / sqrt(d));
    m.cw = xmalloc((size_t)K * sizeof(double));
    double tot = 0;
    for (int k = 0; k < K; k++) tot += (m.cw[k] = exp(gauss()));
    double acc = 0;
    for (int k = 0; k < K; k++) m.cw[k] = (acc += m.cw[k] / tot);
    m.cw[K - 1] = 1.0;

    float *base = xmalloc(n * (size_t)d * sizeof(float));
    float *qry = xmalloc(nq * (size_t)d * sizeof(float));
    sample(&m, n, 1.0, base);
    sample(&m, nq, qnoise, qry);
    save(out, "_base.fvecs", base, n, d);
    save(out, "_query.fvecs", qry, nq, d);
    fprintf(stderr, "wrote %s_base.fvecs (%zu x %d) and %s_query.fvecs (%zu x %d)\n", out, n, d, out,
            nq, d);
    free(base);
    free(qry);
    free(m.Q);
    free(m.s);
    free(mv);
    free(m.C);
    free(m.R);
    free(m.U);
    free(m.cw);
    return 0;
}

static int mnist(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_index_data mnist IMAGES.idx3 PREFIX [NBASE]\n");
        return 2;
    }
    size_t nbase = argc > 4 ? strtoull(argv[4], NULL, 10) : 9000;
    FILE *g = fopen(argv[2], "rb");
    if (!g) {
        fprintf(stderr, "bench_index_data: cannot open %s\n", argv[2]);
        return 1;
    }
    unsigned char h[16];
    if (fread(h, 1, 16, g) != 16 || h[0] || h[1] || h[2] != 8 || h[3] != 3) {
        fprintf(stderr, "bench_index_data: %s: not an IDX3 ubyte file\n", argv[2]);
        fclose(g);
        return 1;
    }
    uint32_t n = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
    uint32_t rows = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
    uint32_t cols = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
    if (n == 0 || n > 1000000 || rows * cols == 0 || rows > 256 || cols > 256 || nbase >= n) {
        fprintf(stderr, "bench_index_data: %s: bad header (%u x %u x %u)\n", argv[2], n, rows, cols);
        fclose(g);
        return 1;
    }
    size_t d = (size_t)rows * cols;
    unsigned char *px = xmalloc(n * d);
    if (fread(px, 1, n * d, g) != n * d) {
        fprintf(stderr, "bench_index_data: %s: truncated\n", argv[2]);
        fclose(g);
        return 1;
    }
    fclose(g);
    float *x = xmalloc(n * d * sizeof(float));
    for (size_t i = 0; i < n * d; i++) x[i] = px[i];
    free(px);
    save(argv[3], "_base.fvecs", x, nbase, (int)d);
    save(argv[3], "_query.fvecs", x + nbase * d, n - nbase, (int)d);
    fprintf(stderr, "wrote %s_base.fvecs (%zu x %zu) and %s_query.fvecs (%zu x %zu)\n", argv[3], nbase,
            d, argv[3], n - nbase, d);
    free(x);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "synth")) return synth(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "mnist")) return mnist(argc, argv);
    fprintf(stderr, "usage: bench_index_data synth|mnist ...\n");
    return 2;
}
