/* test_ragvec.c - the chunk-embedding file parser and weighted RRF. */
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
