/* test_ragvec.c - the chunk-embedding file parser, weighted RRF and the
 * per-collection vector index (flat / persisted HNSW). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "rag/rag.h"
#include "test.h"

/* Builds a .vec image: n rows of dim 2 with the given ids. */
static size_t build(unsigned char *b, const int64_t *ids, uint64_t n) {
    uint32_t ver = 1, dim = 2, mlen = 3;
    int64_t gen = 7;
    memcpy(b, "RGVEC\0\0\1", 8);
    memcpy(b + 8, &ver, 4);
    memcpy(b + 12, &dim, 4);
    memcpy(b + 16, &gen, 8);
    memcpy(b + 24, &n, 8);
    memcpy(b + 32, &mlen, 4);
    memcpy(b + 36, "m.g", 3);
    size_t o = 39;
    memcpy(b + o, ids, n * 8);
    o += n * 8;
    for (uint64_t i = 0; i < n * 2; i++) {
        float f = (float)i;
        memcpy(b + o, &f, 4);
        o += 4;
    }
    uint64_t h = rg_hash64(b, o, 0);
    memcpy(b + o, &h, 8);
    return o + 8;
}

RG_TEST(ragvec_parse_checks) {
    unsigned char b[256];
    int64_t ids[3] = {2, 5, 9};
    size_t len = build(b, ids, 3);
    rg_rag_vectors v;
    rg_err err;
    REQUIRE(rg_rag_vectors_parse(b, len, &v, &err) == RG_OK);
    CHECK_EQ_INT(v.dim, 2);
    CHECK_EQ_INT((int)v.n, 3);
    CHECK_EQ_INT((int)v.generation, 7);
    CHECK_STREQ(v.model, "m.g");
    CHECK(v.ids[2] == 9 && v.vecs[5] == 5.0f);
    rg_rag_vectors_clear(&v);
    /* every truncation fails cleanly */
    for (size_t l = 0; l < len; l++) CHECK(rg_rag_vectors_parse(b, l, &v, &err) != RG_OK);
    /* a flipped byte in the vectors fails the checksum */
    b[len - 12] ^= 1;
    CHECK(rg_rag_vectors_parse(b, len, &v, &err) == RG_FORMAT);
    /* ids out of order are refused even with a good checksum */
    int64_t bad[3] = {2, 9, 5};
    len = build(b, bad, 3);
    CHECK(rg_rag_vectors_parse(b, len, &v, &err) == RG_FORMAT);
    /* a row count that does not fit */
    len = build(b, ids, 3);
    uint64_t huge = (uint64_t)1 << 60;
    memcpy(b + 24, &huge, 8);
    CHECK(rg_rag_vectors_parse(b, len, &v, &err) == RG_FORMAT);
}

RG_TEST(ragvec_weighted_rrf) {
    rg_rag_hit a[3] = {{.chunk_id = 1}, {.chunk_id = 2}, {.chunk_id = 3}};
    rg_rag_hit b[2] = {{.chunk_id = 3}, {.chunk_id = 4}};
    rg_rag_results l[2] = {{a, 3}, {b, 2}};
    double w[2] = {1.0, 3.0};
    rg_rag_results out;
    rg_err err;
    REQUIRE(rg_rag_fuse_rrf_weighted(l, w, 2, 10, 3, &out, &err) == RG_OK);
    REQUIRE(out.n == 3);
    /* 3: 1/13 + 3/11; 4: 3/12; 1: 1/11 */
    CHECK(out.hits[0].chunk_id == 3 && out.hits[1].chunk_id == 4 && out.hits[2].chunk_id == 1);
    CHECK(out.hits[0].score > 1.0 / 13 + 3.0 / 11 - 1e-12 && out.hits[0].score < 1.0 / 13 + 3.0 / 11 + 1e-12);
    rg_rag_results_clear(&out);
    /* unweighted equals rg_rag_fuse_rrf */
    rg_rag_results o2;
    REQUIRE(rg_rag_fuse_rrf_weighted(l, NULL, 2, 60, 4, &out, &err) == RG_OK);
    REQUIRE(rg_rag_fuse_rrf(l, 2, 60, 4, &o2, &err) == RG_OK);
    REQUIRE(out.n == o2.n);
    for (size_t i = 0; i < out.n; i++)
        CHECK(out.hits[i].chunk_id == o2.hits[i].chunk_id && out.hits[i].score == o2.hits[i].score);
    rg_rag_results_clear(&out);
    rg_rag_results_clear(&o2);
}

/* n clustered, L2-normalised vectors of dim d with ascending ids 10, 13, ... */
static void make_vectors(rg_rag_vectors *v, size_t n, int d, unsigned long long seed) {
    memset(v, 0, sizeof *v);
    v->dim = d;
    v->n = n;
    v->model = strdup("test.gguf");
    v->ids = malloc(n * sizeof *v->ids);
    v->vecs = malloc(n * (size_t)d * sizeof *v->vecs);
    REQUIRE(v->model && v->ids && v->vecs);
    unsigned long long s = seed;
    float cent[16][64];
    REQUIRE(d <= 64);
    for (int c = 0; c < 16; c++)
        for (int j = 0; j < d; j++) cent[c][j] = (float)rg_test_randn(&s);
    for (size_t i = 0; i < n; i++) {
        v->ids[i] = 10 + 3 * (int64_t)i;
        int c = (int)(rg_test_rand(&s) % 16);
        float *x = v->vecs + i * (size_t)d, n2 = 0;
        for (int j = 0; j < d; j++) {
            x[j] = cent[c][j] + 0.6f * (float)rg_test_randn(&s);
            n2 += x[j] * x[j];
        }
        for (int j = 0; j < d; j++) x[j] /= sqrtf(n2);
    }
}

/* Above the threshold retrieval walks a persisted HNSW graph: it finds what
 * the exact scan finds, is reused while the vectors are unchanged, and is
 * rebuilt when they change or the file is damaged. */
RG_TEST(ragvec_hnsw_index_vs_flat) {
    const char *dir = rg_test_tmpdir();
    rg_rag_vectors v;
    make_vectors(&v, 3000, 32, 7);
    rg_err err;
    rg_err_clear(&err);
    rg_index *flat = NULL, *hn = NULL;
    int built = -1;
    REQUIRE(rg_rag_vec_index(dir, 5, &v, SIZE_MAX, 0, &flat, &built, &err) == RG_OK);
    CHECK_EQ_INT(built, 0);
    rg_index_params p;
    rg_index_get_params(flat, &p);
    CHECK_EQ_INT(p.kind, RG_INDEX_FLAT);
    REQUIRE(rg_rag_vec_index(dir, 5, &v, 1000, 0, &hn, &built, &err) == RG_OK);
    CHECK_EQ_INT(built, 1);
    rg_index_get_params(hn, &p);
    CHECK_EQ_INT(p.kind, RG_INDEX_HNSW);
    CHECK(rg_index_count(hn) == 3000);

    /* recall@10 of the graph walk against the exact scan (queries: stored
     * vectors, slightly perturbed) */
    unsigned long long s = 99;
    size_t found = 0, total = 0;
    rg_index_hit a[10], b[10], c[10];
    float q[32];
    rg_index *again = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/index/hnsw-5.idx", dir);
    REQUIRE(rg_rag_vec_index(dir, 5, &v, 1000, 0, &again, &built, &err) == RG_OK);
    CHECK_EQ_INT(built, 0); /* loaded from the file, not rebuilt */
    int same = 1;
    for (int t = 0; t < 200; t++) {
        size_t r = rg_test_rand(&s) % v.n;
        for (int j = 0; j < 32; j++) q[j] = v.vecs[r * 32 + j] + 0.05f * (float)rg_test_randn(&s);
        int na = 0, nb = 0, nc = 0;
        REQUIRE(rg_index_search(flat, q, 10, 0, NULL, a, &na, &err) == RG_OK);
        REQUIRE(rg_index_search(hn, q, 10, RG_RAG_HNSW_EF, NULL, b, &nb, &err) == RG_OK);
        REQUIRE(rg_index_search(again, q, 10, RG_RAG_HNSW_EF, NULL, c, &nc, &err) == RG_OK);
        REQUIRE(na == 10 && nb == 10 && nc == 10);
        for (int i = 0; i < 10; i++) {
            if (b[i].id != c[i].id || b[i].dist != c[i].dist) same = 0;
            for (int j = 0; j < 10; j++)
                if (b[i].id == a[j].id) {
                    found++;
                    break;
                }
        }
        total += 10;
    }
    CHECK(same); /* the saved graph answers exactly as the built one */
    double recall = (double)found / (double)total;
    printf("hnsw recall@10 vs flat: %.4f\n", recall);
    CHECK(recall >= 0.98);
    rg_index_free(again);

    /* a changed vector makes the file stale: rebuilt */
    v.vecs[17] = -v.vecs[17];
    REQUIRE(rg_rag_vec_index(dir, 5, &v, 1000, 0, &again, &built, &err) == RG_OK);
    CHECK_EQ_INT(built, 1);
    rg_index_free(again);
    /* a damaged file: rebuilt (with a warning), never an error */
    FILE *f = fopen(path, "r+b");
    REQUIRE(f);
    fseek(f, 200, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    REQUIRE(rg_rag_vec_index(dir, 5, &v, 1000, 0, &again, &built, &err) == RG_OK);
    CHECK_EQ_INT(built, 1);
    rg_index_free(again);
    rg_index_free(flat);
    rg_index_free(hn);
    rg_rag_vectors_clear(&v);
}
