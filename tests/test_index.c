/* test_index.c - vector index: SIMD kernels vs the scalar reference, flat
 * search vs a naive brute force, HNSW recall on generated clustered data,
 * deletes/updates, filters during traversal, int8 vs float, save/load,
 * corrupt files, concurrent readers with a writer, .fvecs parsing. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpu.h"
#include "index/index.h"
#include "index/index_int.h"
#include "test.h"

/* n clustered vectors (nc centres), optionally normalised */
static float *gen(unsigned long long *st, size_t n, int d, int nc, bool norm) {
    float *c = malloc((size_t)nc * d * sizeof *c), *x = malloc(n * (size_t)d * sizeof *x);
    REQUIRE(c && x);
    for (size_t i = 0; i < (size_t)nc * d; i++) c[i] = (float)rg_test_randn(st);
    for (size_t i = 0; i < n; i++) {
        int k = (int)(rg_test_rand(st) % (unsigned long long)nc);
        double n2 = 0;
        for (int j = 0; j < d; j++) {
            float v = c[(size_t)k * d + j] + 0.45f * (float)rg_test_randn(st);
            x[i * d + j] = v;
            n2 += (double)v * v;
        }
        if (norm)
            for (int j = 0; j < d; j++) x[i * d + j] /= (float)sqrt(n2);
    }
    free(c);
    return x;
}

/* base (n) and queries (nq, *q, caller frees) from the same clusters */
static float *gen2(unsigned long long *st, size_t n, size_t nq, int d, int nc, bool norm, float **q) {
    float *all = gen(st, n + nq, d, nc, norm);
    *q = malloc(nq * (size_t)d * sizeof **q);
    REQUIRE(*q);
    memcpy(*q, all + n * (size_t)d, nq * (size_t)d * sizeof **q);
    return all;
}

static rg_index *make(rg_index_kind kind, rg_index_metric metric, rg_index_storage st, bool rerank,
                      int d, size_t n, const float *x, int threads) {
    rg_index_params p;
    rg_index_params_default(&p);
    p.kind = kind;
    p.metric = metric;
    p.storage = st;
    p.rerank = rerank;
    p.dim = d;
    p.M = 12;
    p.ef_construction = 100;
    rg_index *ix = NULL;
    rg_err err;
    REQUIRE(rg_index_new(&p, &ix, &err) == RG_OK);
    uint64_t *ids = malloc(n * sizeof *ids);
    REQUIRE(ids);
    for (size_t i = 0; i < n; i++) ids[i] = 1000 + i * 7; /* sparse external ids */
    rg_status s = rg_index_add_batch(ix, n, ids, x, threads, &err);
    if (s != RG_OK) fprintf(stderr, "  add_batch: %s\n", rg_err_text(&err));
    REQUIRE(s == RG_OK);
    free(ids);
    return ix;
}

/* naive double-precision distance with the index's conventions */
static double naive_dist(rg_index_metric m, const float *a, const float *b, int d) {
    double dot = 0, na = 0, nb = 0, l2 = 0;
    for (int j = 0; j < d; j++) {
        dot += (double)a[j] * b[j];
        na += (double)a[j] * a[j];
        nb += (double)b[j] * b[j];
        l2 += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    }
    if (m == RG_INDEX_L2) return l2;
    if (m == RG_INDEX_COSINE) return 1 - dot / sqrt(na * nb);
    return 1 - dot;
}

typedef struct {
    double d;
    uint64_t id;
} dpair;
static int dpair_cmp(const void *a, const void *b) {
    const dpair *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d;
}

/* brute-force top-k external ids (ids 1000 + 7i), skipping those for which
 * skip(i) is true */
static void brute(rg_index_metric m, const float *x, size_t n, int d, const float *q, int k,
                  bool (*skip)(size_t), uint64_t *out, double *dout) {
    dpair *a = malloc(n * sizeof *a);
    REQUIRE(a);
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip(i)) continue;
        a[c].d = naive_dist(m, q, x + i * d, d);
        a[c++].id = 1000 + i * 7;
    }
    qsort(a, c, sizeof *a, dpair_cmp);
    for (int j = 0; j < k; j++) {
        out[j] = (size_t)j < c ? a[j].id : UINT64_MAX;
        if (dout) dout[j] = (size_t)j < c ? a[j].d : INFINITY;
    }
    free(a);
}

static double recall_of(const rg_index_hit *h, int n, const uint64_t *truth, int k) {
    int f = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++)
            if (h[i].id == truth[j]) {
                f++;
                break;
            }
    return (double)f / k;
}

RG_TEST(index_kernels_match_scalar) {
    unsigned long long st = 1;
    const rg__index_kernels *ref = rg__index_kernels_for(RG_CPU_SCALAR);
    int tested = 0;
    for (int level = RG_CPU_AVX2; level <= RG_CPU_AVX512; level++) {
        if ((int)rg_cpu_level_get() < level) {
            fprintf(stderr, "  note: %s not available on this CPU, not tested\n",
                    rg_cpu_level_name((rg_cpu_level)level));
            continue;
        }
        const rg__index_kernels *k = rg__index_kernels_for(level);
        REQUIRE(k);
        tested++;
        static const int dims[] = {1, 3, 7, 8, 15, 16, 31, 33, 63, 64, 65, 100, 384, 785};
        for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
            int d = dims[t];
            float *a = malloc(d * sizeof *a), *b = malloc(d * sizeof *b);
            int8_t *qa = malloc(d), *qb = malloc(d);
            REQUIRE(a && b && qa && qb);
            for (int j = 0; j < d; j++) {
                a[j] = (float)rg_test_randn(&st);
                b[j] = (float)rg_test_randn(&st);
                qa[j] = (int8_t)((int)(rg_test_rand(&st) % 255) - 127);
                qb[j] = (int8_t)((int)(rg_test_rand(&st) % 255) - 127);
            }
            if (d > 2) qa[0] = qb[0] = -127; /* extremes */
            float r1 = ref->dot_f32(a, b, d), r2 = k->dot_f32(a, b, d);
            CHECKF(fabsf(r1 - r2) <= 1e-4f * (1 + fabsf(r1)) * sqrtf((float)d), "%s dot d=%d %g vs %g",
                   k->name, d, r1, r2);
            r1 = ref->l2_f32(a, b, d), r2 = k->l2_f32(a, b, d);
            CHECKF(fabsf(r1 - r2) <= 1e-4f * (1 + fabsf(r1)), "%s l2 d=%d %g vs %g", k->name, d, r1, r2);
            CHECKF(ref->dot_i8(qa, qb, d) == k->dot_i8(qa, qb, d), "%s i8 d=%d", k->name, d);
            free(a);
            free(b);
            free(qa);
            free(qb);
        }
    }
    if (!tested) RG_SKIP("no SIMD level on this CPU");
}

RG_TEST(index_quantize_roundtrip) {
    unsigned long long st = 2;
    float x[100];
    int8_t q[100];
    for (int i = 0; i < 100; i++) x[i] = (float)rg_test_randn(&st);
    float s = rg__quantize_i8(x, 100, q);
    for (int i = 0; i < 100; i++) {
        CHECK(q[i] >= -127 && q[i] <= 127);
        CHECK(fabsf(s * q[i] - x[i]) <= s * 0.5f + 1e-6f);
    }
    float z[4] = {0, 0, 0, 0};
    CHECK(rg__quantize_i8(z, 4, q) == 0 && q[0] == 0);
}

RG_TEST(index_flat_exact) {
    unsigned long long st = 3;
    int d = 37, k = 10;
    size_t n = 1500;
    float *q = NULL;
    float *x = gen2(&st, n, 30, d, 20, false, &q);
    for (int m = RG_INDEX_IP; m <= RG_INDEX_L2; m++) {
        for (int level = 0; level <= (int)rg_cpu_level_get(); level++) {
            rg_cpu_level_force(level);
            rg_index *ix = make(RG_INDEX_FLAT, (rg_index_metric)m, RG_INDEX_F32, false, d, n, x, 1);
            for (int i = 0; i < 30; i++) {
                uint64_t truth[10];
                double td[10];
                brute((rg_index_metric)m, x, n, d, q + i * d, k, NULL, truth, td);
                rg_index_hit h[10];
                int nh = 0;
                rg_err err;
                REQUIRE(rg_index_search(ix, q + i * d, k, 0, NULL, h, &nh, &err) == RG_OK);
                CHECK_EQ_INT(nh, k);
                for (int j = 0; j < nh; j++) {
                    /* same ranking up to float rounding: distances agree */
                    CHECKF(fabs(h[j].dist - td[j]) <= 1e-3 * (1 + fabs(td[j])),
                           "metric %d level %d q %d rank %d: %g vs %g", m, level, i, j, h[j].dist, td[j]);
                }
                CHECK(recall_of(h, nh, truth, k) >= 0.9);
            }
            rg_index_free(ix);
        }
        rg_cpu_level_force(-1);
    }
    free(x);
    free(q);
}

RG_TEST(index_hnsw_recall) {
    unsigned long long st = 4;
    int d = 48, k = 10, nq = 100;
    size_t n = 6000;
    float *q = NULL;
    float *x = gen2(&st, n, nq, d, 60, true, &q);
    for (int threads = 1; threads <= 2; threads++) {
        for (int m = RG_INDEX_IP; m <= RG_INDEX_L2; m += 2) {
            rg_index *ix = make(RG_INDEX_HNSW, (rg_index_metric)m, RG_INDEX_F32, false, d, n, x, threads);
            CHECK_EQ_INT(rg_index_count(ix), n);
            double rec = 0;
            for (int i = 0; i < nq; i++) {
                uint64_t truth[10];
                brute((rg_index_metric)m, x, n, d, q + i * d, k, NULL, truth, NULL);
                rg_index_hit h[10];
                int nh = 0;
                rg_err err;
                REQUIRE(rg_index_search(ix, q + i * d, k, 64, NULL, h, &nh, &err) == RG_OK);
                CHECK_EQ_INT(nh, k);
                for (int j = 1; j < nh; j++) CHECK(h[j - 1].dist <= h[j].dist);
                rec += recall_of(h, nh, truth, k);
            }
            rec /= nq;
            CHECKF(rec >= 0.95, "threads %d metric %d recall@10 %.3f", threads, m, rec);
            rg_index_free(ix);
        }
    }
    free(x);
    free(q);
}

static bool del_every_5th(size_t i) { return i % 5 == 0; }

RG_TEST(index_deletes_and_updates) {
    unsigned long long st = 5;
    int d = 32, k = 10, nq = 60;
    size_t n = 3000;
    float *q = NULL;
    float *x = gen2(&st, n, nq, d, 30, true, &q);
    rg_index *ix = make(RG_INDEX_HNSW, RG_INDEX_IP, RG_INDEX_F32, false, d, n, x, 2);
    rg_err err;
    for (size_t i = 0; i < n; i += 5) CHECK(rg_index_remove(ix, 1000 + i * 7, &err) == RG_OK);
    CHECK_EQ_INT(rg_index_remove(ix, 1000, &err), RG_NOTFOUND);
    CHECK_EQ_INT(rg_index_remove(ix, 999999, &err), RG_NOTFOUND);
    CHECK_EQ_INT(rg_index_count(ix), n - n / 5);
    CHECK(!rg_index_contains(ix, 1000));
    CHECK(rg_index_contains(ix, 1007));
    double rec = 0;
    for (int i = 0; i < nq; i++) {
        uint64_t truth[10];
        brute(RG_INDEX_IP, x, n, d, q + i * d, k, del_every_5th, truth, NULL);
        rg_index_hit h[10];
        int nh = 0;
        REQUIRE(rg_index_search(ix, q + i * d, k, 64, NULL, h, &nh, &err) == RG_OK);
        CHECK_EQ_INT(nh, k);
        for (int j = 0; j < nh; j++) CHECKF((h[j].id - 1000) / 7 % 5 != 0, "deleted id %llu returned",
                                            (unsigned long long)h[j].id);
        rec += recall_of(h, nh, truth, k);
        /* the exact path skips them too */
        REQUIRE(rg_index_search_exact(ix, q + i * d, k, NULL, h, &nh, &err) == RG_OK);
        for (int j = 0; j < nh; j++) CHECK((h[j].id - 1000) / 7 % 5 != 0);
    }
    CHECKF(rec / nq >= 0.9, "recall after deletes %.3f", rec / nq);
    /* update: id 1007 gets query 0's vector; searching it finds 1007 first,
     * and its old vector no longer returns 1007 */
    CHECK(rg_index_add(ix, 1007, q, &err) == RG_OK);
    CHECK_EQ_INT(rg_index_count(ix), n - n / 5);
    rg_index_hit h[10];
    int nh = 0;
    REQUIRE(rg_index_search(ix, q, k, 64, NULL, h, &nh, &err) == RG_OK);
    CHECK(nh > 0 && h[0].id == 1007 && h[0].dist < 1e-5f);
    REQUIRE(rg_index_search(ix, x + 1 * d, k, 64, NULL, h, &nh, &err) == RG_OK);
    for (int j = 0; j < nh; j++)
        if (h[j].id == 1007) CHECK(h[j].dist > 1e-4f);
    /* re-adding a deleted id brings it back */
    CHECK(rg_index_add(ix, 1000, x, &err) == RG_OK);
    REQUIRE(rg_index_search(ix, x, 1, 64, NULL, h, &nh, &err) == RG_OK);
    CHECK(nh == 1 && h[0].id == 1000);
    rg_index_free(ix);
    free(x);
    free(q);
}

static atomic_long g_pred_calls;
static bool pred_mod3(uint64_t id, void *ud) {
    (void)ud;
    atomic_fetch_add(&g_pred_calls, 1);
    return ((id - 1000) / 7) % 3 == 0;
}
static bool not_mod3(size_t i) { return i % 3 != 0; }
static bool not_mod100(size_t i) { return i % 100 != 0; }
static bool odd(size_t i) { return i % 2 != 0; }

RG_TEST(index_filters_during_search) {
    unsigned long long st = 6;
    int d = 32, k = 10, nq = 50;
    size_t n = 4000;
    float *q = NULL;
    float *x = gen2(&st, n, nq, d, 40, true, &q);
    rg_index *ix = make(RG_INDEX_HNSW, RG_INDEX_IP, RG_INDEX_F32, false, d, n, x, 2);
    /* bitsets over external ids: even rows (dense: graph path) and every
     * 100th row (sparse: exact scan of the allowed ids) */
    uint64_t bits = 1000 + n * 7 + 1;
    uint64_t *even = calloc((bits + 63) / 64, 8), *rare = calloc((bits + 63) / 64, 8);
    REQUIRE(even && rare);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = 1000 + i * 7;
        if (i % 2 == 0) even[id >> 6] |= 1ull << (id & 63);
        if (i % 100 == 0) rare[id >> 6] |= 1ull << (id & 63);
    }
    rg_index_filter fp = {.pred = pred_mod3};
    rg_index_filter fe = {.allow = even, .allow_bits = bits};
    rg_index_filter fr = {.allow = rare, .allow_bits = bits};
    double rp = 0, re = 0, rr = 0;
    rg_err err;
    for (int i = 0; i < nq; i++) {
        uint64_t truth[10];
        rg_index_hit h[10];
        int nh = 0;
        atomic_store(&g_pred_calls, 0);
        brute(RG_INDEX_IP, x, n, d, q + i * d, k, not_mod3, truth, NULL);
        REQUIRE(rg_index_search(ix, q + i * d, k, 64, &fp, h, &nh, &err) == RG_OK);
        CHECK_EQ_INT(nh, k);
        for (int j = 0; j < nh; j++) CHECK(((h[j].id - 1000) / 7) % 3 == 0);
        rp += recall_of(h, nh, truth, k);
        /* applied during the walk: far fewer predicate calls than vectors */
        CHECKF(atomic_load(&g_pred_calls) < (long)n / 2, "%ld predicate calls",
               atomic_load(&g_pred_calls));

        brute(RG_INDEX_IP, x, n, d, q + i * d, k, odd, truth, NULL);
        REQUIRE(rg_index_search(ix, q + i * d, k, 64, &fe, h, &nh, &err) == RG_OK);
        CHECK_EQ_INT(nh, k);
        for (int j = 0; j < nh; j++) CHECK(((h[j].id - 1000) / 7) % 2 == 0);
        re += recall_of(h, nh, truth, k);

        brute(RG_INDEX_IP, x, n, d, q + i * d, k, not_mod100, truth, NULL);
        REQUIRE(rg_index_search(ix, q + i * d, k, 64, &fr, h, &nh, &err) == RG_OK);
        CHECK_EQ_INT(nh, k);
        for (int j = 0; j < nh; j++) CHECK(((h[j].id - 1000) / 7) % 100 == 0);
        rr += recall_of(h, nh, truth, k);
    }
    CHECKF(rp / nq >= 0.9, "predicate recall %.3f", rp / nq);
    CHECKF(re / nq >= 0.9, "bitset recall %.3f", re / nq);
    CHECKF(rr / nq >= 0.999, "sparse bitset recall %.3f", rr / nq);
    /* a filter nothing passes gives no hits, not an error */
    uint64_t none = 0;
    rg_index_filter fn = {.allow = &none, .allow_bits = 64};
    rg_index_hit h[10];
    int nh = -1;
    CHECK(rg_index_search(ix, q, k, 64, &fn, h, &nh, &err) == RG_OK && nh == 0);
    rg_index_free(ix);
    free(even);
    free(rare);
    free(x);
    free(q);
}

RG_TEST(index_int8_close_to_float) {
    unsigned long long st = 7;
    int d = 64, k = 10, nq = 60;
    size_t n = 4000;
    float *q = NULL;
    float *x = gen2(&st, n, nq, d, 40, true, &q);
    for (int m = RG_INDEX_IP; m <= RG_INDEX_L2; m += 2) {
        rg_index *a = make(RG_INDEX_HNSW, (rg_index_metric)m, RG_INDEX_I8, false, d, n, x, 2);
        rg_index *b = make(RG_INDEX_HNSW, (rg_index_metric)m, RG_INDEX_I8, true, d, n, x, 2);
        rg_index *f = make(RG_INDEX_FLAT, (rg_index_metric)m, RG_INDEX_I8, false, d, n, x, 1);
        double ra = 0, rb = 0, rf = 0;
        rg_err err;
        for (int i = 0; i < nq; i++) {
            uint64_t truth[10];
            double td[10];
            brute((rg_index_metric)m, x, n, d, q + i * d, k, NULL, truth, td);
            rg_index_hit h[10];
            int nh = 0;
            REQUIRE(rg_index_search(a, q + i * d, k, 64, NULL, h, &nh, &err) == RG_OK);
            ra += recall_of(h, nh, truth, k);
            /* quantised distances stay close to the float ones */
            for (int j = 0; j < nh; j++) {
                double nd = naive_dist((rg_index_metric)m, q + i * d,
                                       x + (size_t)(h[j].id - 1000) / 7 * d, d);
                CHECKF(fabs(h[j].dist - nd) < 0.02 * (1 + fabs(nd)), "i8 dist %g vs %g", h[j].dist, nd);
            }
            REQUIRE(rg_index_search(b, q + i * d, k, 64, NULL, h, &nh, &err) == RG_OK);
            rb += recall_of(h, nh, truth, k);
            /* re-ranked: exact float distances */
            for (int j = 0; j < nh; j++) {
                size_t row = (size_t)(h[j].id - 1000) / 7;
                double nd = naive_dist((rg_index_metric)m, q + i * d, x + row * d, d);
                CHECKF(fabs(h[j].dist - nd) < 1e-4 * (1 + fabs(nd)), "rerank dist %g vs %g", h[j].dist, nd);
            }
            REQUIRE(rg_index_search(f, q + i * d, k, 0, NULL, h, &nh, &err) == RG_OK);
            rf += recall_of(h, nh, truth, k);
        }
        CHECKF(ra / nq >= 0.85, "metric %d int8 recall %.3f", m, ra / nq);
        CHECKF(rb / nq >= 0.95, "metric %d int8+rerank recall %.3f", m, rb / nq);
        CHECKF(rf / nq >= 0.85, "metric %d int8 flat recall %.3f", m, rf / nq);
        CHECK(rg_index_memory(a) < rg_index_memory(b));
        rg_index_free(a);
        rg_index_free(b);
        rg_index_free(f);
    }
    free(x);
    free(q);
}

static void same_results(rg_index *a, rg_index *b, const float *q, int nq, int d) {
    rg_err err;
    for (int i = 0; i < nq; i++) {
        rg_index_hit ha[10], hb[10];
        int na = 0, nb = 0;
        REQUIRE(rg_index_search(a, q + i * d, 10, 40, NULL, ha, &na, &err) == RG_OK);
        REQUIRE(rg_index_search(b, q + i * d, 10, 40, NULL, hb, &nb, &err) == RG_OK);
        CHECK_EQ_INT(na, nb);
        for (int j = 0; j < na && j < nb; j++) {
            CHECK(ha[j].id == hb[j].id);
            CHECK(memcmp(&ha[j].dist, &hb[j].dist, sizeof(float)) == 0);
        }
    }
}

RG_TEST(index_save_load_identical) {
    unsigned long long st = 8;
    int d = 24, nq = 50;
    size_t n = 2500;
    float *q = NULL;
    float *x = gen2(&st, n, nq, d, 25, true, &q);
    const char *dir = rg_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/a.idx", dir);
    struct {
        rg_index_kind kind;
        rg_index_metric m;
        rg_index_storage s;
        bool rr;
    } cases[] = {{RG_INDEX_HNSW, RG_INDEX_IP, RG_INDEX_F32, false},
                 {RG_INDEX_HNSW, RG_INDEX_COSINE, RG_INDEX_I8, true},
                 {RG_INDEX_HNSW, RG_INDEX_L2, RG_INDEX_I8, false},
                 {RG_INDEX_FLAT, RG_INDEX_L2, RG_INDEX_F32, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rg_index *a = make(cases[c].kind, cases[c].m, cases[c].s, cases[c].rr, d, n, x, 2);
        rg_err err;
        for (size_t i = 0; i < n; i += 11) REQUIRE(rg_index_remove(a, 1000 + i * 7, &err) == RG_OK);
        REQUIRE(rg_index_save(a, path, &err) == RG_OK);
        rg_index *b = NULL;
        rg_status s = rg_index_load(path, &b, &err);
        if (s != RG_OK) fprintf(stderr, "  load: %s\n", rg_err_text(&err));
        REQUIRE(s == RG_OK);
        CHECK_EQ_INT(rg_index_count(a), rg_index_count(b));
        CHECK(!rg_index_contains(b, 1000) && rg_index_contains(b, 1007));
        same_results(a, b, q, nq, d);
        /* the loaded index keeps accepting writes */
        CHECK(rg_index_add(b, 5, q, &err) == RG_OK);
        rg_index_hit h[1];
        int nh = 0;
        CHECK(rg_index_search(b, q, 1, 0, NULL, h, &nh, &err) == RG_OK && nh == 1 && h[0].id == 5);
        rg_index_free(a);
        rg_index_free(b);
    }
    /* empty index round-trips too */
    rg_index_params p;
    rg_index_params_default(&p);
    p.dim = 3;
    rg_index *e = NULL, *e2 = NULL;
    rg_err err;
    REQUIRE(rg_index_new(&p, &e, &err) == RG_OK);
    REQUIRE(rg_index_save(e, path, &err) == RG_OK);
    REQUIRE(rg_index_load(path, &e2, &err) == RG_OK);
    CHECK_EQ_INT(rg_index_count(e2), 0);
    rg_index_free(e);
    rg_index_free(e2);
    free(x);
    free(q);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    REQUIRE(b && fread(b, 1, *len, f) == *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(b, 1, len, f) == len);
    fclose(f);
}

RG_TEST(index_corrupt_file_rejected) {
    unsigned long long st = 9;
    int d = 16;
    size_t n = 800;
    float *x = gen(&st, n, d, 10, true);
    rg_index *a = make(RG_INDEX_HNSW, RG_INDEX_IP, RG_INDEX_F32, false, d, n, x, 1);
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/a.idx", rg_test_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad.idx", rg_test_tmpdir());
    rg_err err;
    REQUIRE(rg_index_save(a, path, &err) == RG_OK);
    size_t len;
    unsigned char *b = slurp(path, &len);
    rg_index *out = NULL;
    /* truncated at many points */
    for (size_t cut = 0; cut < len; cut += len / 37 + 1) {
        spit(bad, b, cut);
        CHECK_EQ_INT(rg_index_load(bad, &out, &err), RG_FORMAT);
        CHECK(out == NULL);
    }
    spit(bad, b, len - 1);
    CHECK_EQ_INT(rg_index_load(bad, &out, &err), RG_FORMAT);
    CHECK(strstr(rg_err_text(&err), "bad.idx") != NULL);
    /* one flipped byte anywhere: the checksum catches it */
    for (size_t off = 0; off < len; off += len / 53 + 1) {
        b[off] ^= 0x10;
        spit(bad, b, len);
        rg_status s = rg_index_load(bad, &out, &err);
        CHECKF(s == RG_FORMAT || s == RG_UNSUPPORTED, "flip at %zu: %d", off, s);
        CHECK(out == NULL);
        b[off] ^= 0x10;
    }
    /* a newer version is "unsupported", not "corrupt" */
    b[8] = 99;
    CHECK_EQ_INT(rg_index_load_mem(b, len, false, &out, &err), RG_UNSUPPORTED);
    b[8] = 1;
    /* structural checks without the checksum: a link past the end */
    size_t links = 96 + n * 8 + n + n * (size_t)d * 4; /* first layer-0 list */
    uint32_t cnt;
    memcpy(&cnt, b + links, 4);
    REQUIRE(cnt > 0);
    uint32_t big = 0x7fffffff;
    memcpy(b + links + 4, &big, 4);
    CHECK_EQ_INT(rg_index_load_mem(b, len, false, &out, &err), RG_FORMAT);
    CHECK(strstr(rg_err_text(&err), "link") != NULL);
    CHECK_EQ_INT(rg_index_load_mem(b, len, true, &out, &err), RG_FORMAT);
    /* garbage and empty files */
    memset(b, 'x', len);
    spit(bad, b, len);
    CHECK_EQ_INT(rg_index_load(bad, &out, &err), RG_FORMAT);
    spit(bad, b, 0);
    CHECK_EQ_INT(rg_index_load(bad, &out, &err), RG_FORMAT);
    /* the good file still loads */
    CHECK_EQ_INT(rg_index_load(path, &out, &err), RG_OK);
    rg_index_free(out);
    free(b);
    rg_index_free(a);
    free(x);
}

typedef struct {
    rg_index *ix;
    const float *q;
    int d, nq;
    atomic_int *stop;
    long searches, bad;
} reader_ctx;

static void *reader(void *v) {
    reader_ctx *c = v;
    rg_index_hit h[10];
    rg_err err;
    while (!atomic_load(c->stop)) {
        for (int i = 0; i < c->nq; i++) {
            int nh = 0;
            if (rg_index_search(c->ix, c->q + i * c->d, 10, 32, NULL, h, &nh, &err) != RG_OK) c->bad++;
            for (int j = 1; j < nh; j++)
                if (h[j - 1].dist > h[j].dist) c->bad++;
            c->searches++;
        }
    }
    return NULL;
}

RG_TEST(index_concurrent_readers_and_writer) {
    unsigned long long st = 10;
    int d = 32, nq = 20;
    size_t n = 3000, extra = 1000;
    float *x = gen(&st, n + extra, d, 30, true);
    float *q = gen(&st, nq, d, 30, true);
    rg_index *ix = make(RG_INDEX_HNSW, RG_INDEX_IP, RG_INDEX_F32, false, d, n, x, 1);
    atomic_int stop;
    atomic_init(&stop, 0);
    reader_ctx rc[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        rc[t] = (reader_ctx){ix, q, d, nq, &stop, 0, 0};
        REQUIRE(pthread_create(&th[t], NULL, reader, &rc[t]) == 0);
    }
    rg_err err;
    for (size_t i = 0; i < extra; i++) {
        CHECK(rg_index_add(ix, 1000 + (n + i) * 7, x + (n + i) * d, &err) == RG_OK);
        if (i % 4 == 0) CHECK(rg_index_remove(ix, 1000 + (i * 3) * 7, &err) == RG_OK);
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < 2; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ_INT(rc[t].bad, 0);
        CHECK(rc[t].searches > 0);
    }
    CHECK_EQ_INT(rg_index_count(ix), n + extra - extra / 4);
    /* every newly added vector is found as its own nearest neighbour */
    int self = 0;
    for (size_t i = 0; i < extra; i++) {
        rg_index_hit h[1];
        int nh = 0;
        REQUIRE(rg_index_search(ix, x + (n + i) * d, 1, 64, NULL, h, &nh, &err) == RG_OK);
        self += nh == 1 && h[0].id == 1000 + (n + i) * 7;
    }
    CHECKF(self >= (int)(extra * 97 / 100), "self-recall %d / %zu", self, extra);
    rg_index_free(ix);
    free(x);
    free(q);
}

RG_TEST(index_params_rejected) {
    rg_index_params p;
    rg_index_params_default(&p);
    rg_index *ix = NULL;
    rg_err err;
    p.dim = 0;
    CHECK_EQ_INT(rg_index_new(&p, &ix, &err), RG_INVALID);
    p.dim = 8;
    p.M = 1;
    CHECK_EQ_INT(rg_index_new(&p, &ix, &err), RG_INVALID);
    p.M = 16;
    REQUIRE(rg_index_new(&p, &ix, &err) == RG_OK);
    float v[8] = {1, 0, 0, 0, 0, 0, 0, NAN};
    CHECK_EQ_INT(rg_index_add(ix, 1, v, &err), RG_INVALID);
    rg_index_hit h[1];
    int nh = -1;
    CHECK_EQ_INT(rg_index_search(ix, v, 0, 0, NULL, h, &nh, &err), RG_INVALID);
    CHECK(rg_index_search(ix, v, 1, 0, NULL, h, &nh, &err) == RG_OK && nh == 0); /* empty */
    rg_index_free(ix);
}

RG_TEST(index_fvecs_parse) {
    unsigned char buf[64];
    int32_t d = 2;
    float v[2] = {1.5f, -2};
    for (int i = 0; i < 3; i++) {
        memcpy(buf + i * 12, &d, 4);
        memcpy(buf + i * 12 + 4, v, 8);
    }
    float *x = NULL;
    size_t n = 0;
    int dim = 0;
    rg_err err;
    CHECK(rg_fvecs_parse(buf, 36, &x, &n, &dim, &err) == RG_OK && n == 3 && dim == 2 &&
          x[5] == -2.0f);
    free(x);
    CHECK_EQ_INT(rg_fvecs_parse(buf, 35, &x, &n, &dim, &err), RG_FORMAT); /* truncated */
    CHECK(strstr(rg_err_text(&err), "truncated") != NULL);
    CHECK_EQ_INT(rg_fvecs_parse(buf, 0, &x, &n, &dim, &err), RG_FORMAT);
    int32_t d3 = 3;
    memcpy(buf + 12, &d3, 4); /* second vector disagrees */
    CHECK_EQ_INT(rg_fvecs_parse(buf, 36, &x, &n, &dim, &err), RG_FORMAT);
    int32_t neg = -1;
    memcpy(buf, &neg, 4);
    CHECK_EQ_INT(rg_fvecs_parse(buf, 36, &x, &n, &dim, &err), RG_FORMAT);
    int32_t huge = 0x7fffffff;
    memcpy(buf, &huge, 4);
    CHECK_EQ_INT(rg_ivecs_parse(buf, 36, (int32_t **)&x, &n, &dim, &err), RG_FORMAT);
    /* write + read back */
    char path[512];
    snprintf(path, sizeof path, "%s/v.ivecs", rg_test_tmpdir());
    int32_t g[6] = {1, 2, 3, 4, 5, 6};
    REQUIRE(rg_ivecs_write(path, g, 2, 3, &err) == RG_OK);
    int32_t *gi = NULL;
    CHECK(rg_ivecs_read(path, &gi, &n, &dim, &err) == RG_OK && n == 2 && dim == 3 && gi[5] == 6);
    free(gi);
}
