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

/* ---- the embedding log (veclog.c) ---- */

#include <sys/stat.h>
#include <unistd.h>

#include "ingest/ingest.h"

static size_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (size_t)sb.st_size : 0;
}

static unsigned char *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(l > 0 ? (size_t)l : 1);
    *n = b ? fread(b, 1, (size_t)l, f) : 0;
    fclose(f);
    return b;
}

static void put_doc(rg_store *s, int64_t cid, int i, int round) {
    char src[64], text[512];
    snprintf(src, sizeof src, "doc%03d.txt", i);
    snprintf(text, sizeof text,
             "Document %d round %d talks about topic%d and river stone.\n\nA second paragraph "
             "%d mentions lantern%d in the valley of %d.\n",
             i, round, i, i, i % 7, round);
    rg_ingest_result r;
    rg_ingest_opts o = {0};
    o.chunk.size = 64;
    rg_err err;
    REQUIRE(rg_ingest_bytes(s, cid, src, text, strlen(text), &o, &r, &err) == RG_OK);
}

static int64_t store_chunks(rg_store *s, int64_t cid) {
    int64_t nc = -1;
    rg_err err;
    REQUIRE(rg_store_count(s, cid, NULL, &nc, &err) == RG_OK);
    return nc;
}

/* Syncs after adds append one record (the old bytes stay as they were and
 * only the new chunks are embedded); deletes append a delete record; a
 * torn append is cut and repaired; many deletes compact the file. */
RG_TEST(ragvec_log_sync_appends) {
    const char *fx = rg_test_fixtures_or_skip();
    char mpath[4096], vpath[4096];
    snprintf(mpath, sizeof mpath, "%s/models/tiny-bert-f32.gguf", fx);
    const char *dir = rg_test_tmpdir();
    rg_err err;
    rg_err_clear(&err);
    rg_embedder *e = NULL;
    REQUIRE(rg_embed_open(mpath, 1, &e, &err) == RG_OK);
    rg_store *s;
    REQUIRE(rg_store_open(dir, NULL, &s, &err) == RG_OK);
    int64_t cid;
    REQUIRE(rg_store_collection_ensure(s, "c", &cid, &err) == RG_OK);
    snprintf(vpath, sizeof vpath, "%s/index/vec-%lld.vec", dir, (long long)cid);
    for (int i = 0; i < 20; i++) put_doc(s, cid, i, 0);
    rg_rag_vectors v0, v1;
    size_t ne = 0;
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", &v0, &ne, &err) == RG_OK);
    CHECK_EQ_INT(v0.version, 2);
    CHECK(v0.n == (size_t)store_chunks(s, cid) && ne == v0.n);
    CHECK_EQ_INT((int)v0.nmarks, 2);
    size_t n0 = 0, sz0 = file_size(vpath);
    unsigned char *b0 = slurp(vpath, &n0);
    REQUIRE(b0 && n0 == sz0);

    /* unchanged store: nothing embedded, nothing written */
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", NULL, &ne, &err) == RG_OK);
    CHECK(ne == 0 && file_size(vpath) == sz0);

    /* adds: one appended record, the old bytes untouched, O(new) embedding */
    int64_t before = store_chunks(s, cid);
    for (int i = 20; i < 25; i++) put_doc(s, cid, i, 0);
    size_t added = (size_t)(store_chunks(s, cid) - before);
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", NULL, &ne, &err) == RG_OK);
    CHECK(ne == added);
    size_t d = (size_t)v0.dim, sz1 = file_size(vpath);
    CHECK(sz1 == sz0 + 40 + added * (8 + 4 * d) + 24);
    size_t n1 = 0;
    unsigned char *b1 = slurp(vpath, &n1);
    REQUIRE(b1 && n1 == sz1);
    CHECK(memcmp(b0, b1, sz0) == 0);
    REQUIRE(rg_rag_vectors_load(dir, cid, &v1, &err) == RG_OK);
    CHECK(v1.n == v0.n + added && !v1.damaged && v1.nmarks == 3);
    CHECK(memcmp(v1.ids, v0.ids, v0.n * 8) == 0);
    CHECK(memcmp(v1.vecs, v0.vecs, v0.n * d * 4) == 0);
    rg_rag_vectors_clear(&v1);

    /* a replaced document: its old chunks deleted, new ones added */
    put_doc(s, cid, 3, 1);
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", &v1, &ne, &err) == RG_OK);
    CHECK(ne >= 1 && v1.ndels >= 1 && v1.n == (size_t)store_chunks(s, cid));
    CHECK(file_size(vpath) > sz1 && v1.nmarks == 5); /* delete + add record */
    size_t sz2 = file_size(vpath);
    int64_t ndel_before = (int64_t)v1.ndels;
    rg_rag_vectors_clear(&v1);

    /* a torn append (kill -9 in the middle of one): the valid prefix loads,
     * the next sync cuts the tail and catches up */
    for (int i = 25; i < 28; i++) put_doc(s, cid, i, 0);
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", NULL, &ne, &err) == RG_OK);
    size_t sz3 = file_size(vpath);
    REQUIRE(sz3 > sz2 + 64);
    for (size_t cut = sz2 + 1; cut < sz3; cut += (sz3 - sz2) / 7 + 1) {
        REQUIRE(truncate(vpath, (off_t)cut) == 0);
        REQUIRE(rg_rag_vectors_load(dir, cid, &v1, &err) == RG_OK);
        CHECK(v1.damaged && v1.bytes == sz2);
        rg_rag_vectors_clear(&v1);
        REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", &v1, &ne, &err) == RG_OK);
        CHECK(!v1.damaged && v1.n == (size_t)store_chunks(s, cid));
        CHECK(file_size(vpath) == sz3);
        rg_rag_vectors_clear(&v1);
    }
    /* garbage after the last record: cut, nothing re-embedded */
    FILE *f = fopen(vpath, "ab");
    REQUIRE(f);
    fputs("garbage that is not a record at all, longer than a trailer", f);
    fclose(f);
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", &v1, &ne, &err) == RG_OK);
    CHECK(ne == 0 && !v1.damaged && file_size(vpath) == sz3 + 64); /* + an empty record */
    rg_rag_vectors_clear(&v1);

    /* many deletes: the file is compacted (rewritten with the live rows) */
    for (int i = 0; i < 12; i++) {
        int64_t did;
        rg_store_doc doc;
        char src[64];
        snprintf(src, sizeof src, "doc%03d.txt", i);
        REQUIRE(rg_store_doc_find(s, cid, src, &doc, &err) == RG_OK);
        did = doc.id;
        rg_store_doc_clear(&doc);
        REQUIRE(rg_store_doc_delete(s, did, &err) == RG_OK);
    }
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "m", &v1, &ne, &err) == RG_OK);
    CHECK(ne == 0 && v1.n == (size_t)store_chunks(s, cid));
    CHECK(v1.ndels == 0 && v1.nmarks == 2 && ndel_before > 0); /* rewritten */
    CHECK(file_size(vpath) < sz3);
    rg_rag_vectors_clear(&v1);

    /* another model name: everything re-embedded, file rewritten */
    REQUIRE(rg_rag_vectors_sync(s, dir, cid, e, "other", &v1, &ne, &err) == RG_OK);
    CHECK(ne == v1.n && v1.n == (size_t)store_chunks(s, cid));
    CHECK_STREQ(v1.model, "other");
    rg_rag_vectors_clear(&v1);

    free(b0);
    free(b1);
    rg_rag_vectors_clear(&v0);
    rg_store_close(s);
    rg_embed_close(e);
}

/* recall@10 of ix against the exact scan over the same rows (queries:
 * stored vectors, perturbed) */
static double recall_vs_exact(rg_index *ix, rg_index *exact, const rg_rag_vectors *v, int nq,
                              unsigned long long seed) {
    unsigned long long s = seed;
    size_t found = 0, total = 0;
    rg_index_hit a[10], b[10];
    float q[64];
    rg_err err;
    for (int t = 0; t < nq; t++) {
        size_t r = rg_test_rand(&s) % v->n;
        for (int j = 0; j < v->dim; j++)
            q[j] = v->vecs[r * (size_t)v->dim + j] + 0.05f * (float)rg_test_randn(&s);
        int na = 0, nb = 0;
        REQUIRE(rg_index_search_exact(exact, q, 10, NULL, a, &na, &err) == RG_OK);
        REQUIRE(rg_index_search(ix, q, 10, RG_RAG_HNSW_EF, NULL, b, &nb, &err) == RG_OK);
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < na; j++)
                if (b[i].id == a[j].id) {
                    found++;
                    break;
                }
        total += (size_t)na;
    }
    return total ? (double)found / (double)total : 0;
}

/* A graph that covers an earlier record of the log is caught up by
 * inserting the rows added since (in place, or after loading the saved
 * graph) - not rebuilt - and finds what a graph built in one go finds;
 * logged deletes become tombstones until they pass a fifth of the nodes. */
RG_TEST(ragvec_graph_append_recall) {
    const char *dir = rg_test_tmpdir();
    rg_rag_vectors all;
    make_vectors(&all, 4000, 32, 11);
    rg_rag_vec_mark marks[5] = {{101, 0, 0}, {202, all.ids[2999], 0}, {303, all.ids[3999], 0}};
    rg_rag_vectors v1 = all, v2 = all, one = all;
    v1.n = 3000;
    v1.marks = v2.marks = marks;
    v1.nmarks = 2;
    v2.nmarks = 3;
    one.marks = NULL; /* no log: tagged by a hash of the rows */
    rg_err err;
    rg_err_clear(&err);
    rg_index *ix = NULL, *ix2 = NULL, *oneshot = NULL, *exact = NULL;
    size_t uns = 0;
    int how = -1, built = -1;
    REQUIRE(rg_rag_vec_index_update(dir, 7, &v1, 1000, 0, 0, &ix, &uns, &how, &err) == RG_OK);
    CHECK_EQ_INT(how, RG_RAG_VIX_BUILT);
    /* a fresh open finds the saved graph one record behind: loaded and caught up */
    REQUIRE(rg_rag_vec_index_update(dir, 7, &v2, 1000, 0, 100000, &ix2, &uns, &how, &err) == RG_OK);
    CHECK_EQ_INT(how, RG_RAG_VIX_APPENDED);
    CHECK(uns == 1000 && rg_index_count(ix2) == 4000); /* not written back: under save_min */
    rg_index_free(ix2);
    ix2 = NULL;
    /* in place: the same index object, 1000 inserts, written back (>= save_min) */
    rg_index *before = ix;
    uns = 0;
    REQUIRE(rg_rag_vec_index_update(dir, 7, &v2, 1000, 0, RG_RAG_HNSW_SAVE_MIN, &ix, &uns, &how,
                                    &err) == RG_OK);
    CHECK(how == RG_RAG_VIX_APPENDED && ix == before && uns == 0);
    CHECK(rg_index_count(ix) == 4000);
    REQUIRE(rg_rag_vec_index_update(dir, 7, &v2, 1000, 0, 0, &ix2, NULL, &how, &err) == RG_OK);
    CHECK_EQ_INT(how, RG_RAG_VIX_LOADED); /* the written-back graph covers the last record */
    rg_index_free(ix2);

    REQUIRE(rg_rag_vec_index(dir, 8, &one, 1000, 0, &oneshot, &built, &err) == RG_OK);
    CHECK_EQ_INT(built, 1);
    REQUIRE(rg_rag_vec_index(dir, 9, &one, SIZE_MAX, 1, &exact, &built, &err) == RG_OK);
    double ra = recall_vs_exact(ix, exact, &all, 300, 5), ro = recall_vs_exact(oneshot, exact, &all, 300, 5);
    printf("recall@10 vs exact: appended %.4f, built in one go %.4f\n", ra, ro);
    CHECK(ra >= 0.98 && ra >= ro - 0.01);

    /* deletes of 10%: tombstones, never returned */
    rg_rag_vectors v3 = all;
    int64_t dels[4000];
    size_t nd = 0, w = 0;
    float *vv = malloc(all.n * 32 * sizeof *vv);
    int64_t *ii = malloc(all.n * sizeof *ii);
    REQUIRE(vv && ii);
    for (size_t i = 0; i < all.n; i++) {
        if (i % 10 == 3) {
            dels[nd++] = all.ids[i];
            continue;
        }
        ii[w] = all.ids[i];
        memcpy(vv + w * 32, all.vecs + i * 32, 32 * sizeof *vv);
        w++;
    }
    v3.ids = ii;
    v3.vecs = vv;
    v3.n = w;
    v3.dels = dels;
    v3.ndels = nd;
    marks[3] = (rg_rag_vec_mark){404, all.ids[3999], nd};
    v3.marks = marks;
    v3.nmarks = 4;
    before = ix;
    REQUIRE(rg_rag_vec_index_update(dir, 7, &v3, 1000, 0, 0, &ix, NULL, &how, &err) == RG_OK);
    CHECK(how == RG_RAG_VIX_APPENDED && ix == before);
    CHECK(rg_index_count(ix) == w && rg_index_deleted(ix) == nd);
    rg_index *exact3 = NULL;
    REQUIRE(rg_rag_vec_index(dir, 9, &v3, SIZE_MAX, 1, &exact3, &built, &err) == RG_OK);
    double rd = recall_vs_exact(ix, exact3, &v3, 300, 6);
    printf("recall@10 vs exact with 10%% tombstones: %.4f\n", rd);
    CHECK(rd >= 0.98);
    /* more than a fifth deleted: rebuilt without them */
    size_t w2 = 0;
    for (size_t i = 0; i < v3.n; i++)
        if (i % 4 == 1) dels[nd++] = v3.ids[i];
        else {
            ii[w2] = v3.ids[i];
            memmove(vv + w2 * 32, vv + i * 32, 32 * sizeof *vv);
            w2++;
        }
    v3.n = w2;
    v3.ndels = nd;
    marks[4] = (rg_rag_vec_mark){505, all.ids[3999], nd};
    v3.nmarks = 5;
    REQUIRE(rg_rag_vec_index_update(dir, 7, &v3, 1000, 0, 0, &ix, NULL, &how, &err) == RG_OK);
    CHECK(how == RG_RAG_VIX_BUILT && ix != before);
    CHECK(rg_index_count(ix) == w2 && rg_index_deleted(ix) == 0);
    rg_index_free(before);
    rg_index_free(ix);
    rg_index_free(oneshot);
    rg_index_free(exact);
    rg_index_free(exact3);
    free(vv);
    free(ii);
    rg_rag_vectors_clear(&all);
}
