/* test_gguf.c - GGUF reader/writer: round trips, every fixture model and
 * vocabulary loads, and every hostile seed file is rejected with a message
 * naming the field. */
#include <dirent.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/file.h"
#include "gguf/gguf.h"
#include "test.h"

static char *path_in(const char *dir, const char *name) {
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

RG_TEST(gguf_roundtrip) {
    rg_gguf_writer *w = rg_gguf_writer_new();
    REQUIRE(w);
    CHECK_EQ_INT(rg_gguf_writer_set_str(w, "general.architecture", "llama"), RG_OK);
    CHECK_EQ_INT(rg_gguf_writer_set_u32(w, "llama.block_count", 7), RG_OK);
    CHECK_EQ_INT(rg_gguf_writer_set_i32(w, "neg", -5), RG_OK);
    CHECK_EQ_INT(rg_gguf_writer_set_u64(w, "big", 1ull << 40), RG_OK);
    CHECK_EQ_INT(rg_gguf_writer_set_f32(w, "eps", 1e-5f), RG_OK);
    CHECK_EQ_INT(rg_gguf_writer_set_bool(w, "flag", true), RG_OK);
    const char *toks[] = {"<unk>", "", "h\xc3\xa9llo"};
    CHECK_EQ_INT(rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3), RG_OK);
    int32_t ti[] = {1, -2, 3};
    CHECK_EQ_INT(rg_gguf_writer_set_arr_i32(w, "types", ti, 3), RG_OK);
    float tf[] = {0.5f, -1.25f};
    CHECK_EQ_INT(rg_gguf_writer_set_arr_f32(w, "scores", tf, 2), RG_OK);
    CHECK_EQ_INT(rg_gguf_writer_set_u32(w, "llama.block_count", 8), RG_OK); /* replaces */
    CHECK_EQ_INT(rg_gguf_writer_set_u32(w, "general.alignment", 64), RG_OK);

    float a[3 * 5];
    for (int i = 0; i < 15; i++) a[i] = (float)i * 0.5f;
    int64_t ne_a[2] = {3, 5};
    CHECK_EQ_INT(rg_gguf_writer_add_tensor(w, "a", RG_DTYPE_F32, 2, ne_a, a, sizeof a), RG_OK);
    unsigned char q[2 * 34];
    for (size_t i = 0; i < sizeof q; i++) q[i] = (unsigned char)(i * 7);
    int64_t ne_q[2] = {32, 2};
    CHECK_EQ_INT(rg_gguf_writer_add_tensor(w, "q", RG_DTYPE_Q8_0, 2, ne_q, q, sizeof q), RG_OK);
    unsigned char k[144];
    memset(k, 0xab, sizeof k);
    int64_t ne_k[1] = {256};
    CHECK_EQ_INT(rg_gguf_writer_add_tensor(w, "k", RG_DTYPE_Q4_K, 1, ne_k, k, sizeof k), RG_OK);
    /* misuse is refused */
    CHECK(rg_gguf_writer_add_tensor(w, "k", RG_DTYPE_Q4_K, 1, ne_k, k, sizeof k) != RG_OK);
    rg_gguf_writer *w2 = rg_gguf_writer_new();
    CHECK(rg_gguf_writer_add_tensor(w2, "bad", RG_DTYPE_Q8_0, 1, ne_a, q, 34) != RG_OK);
    rg_err e2;
    CHECK(rg_gguf_writer_write(w2, path_in(rg_test_tmpdir(), "bad.gguf"), &e2) != RG_OK);
    rg_gguf_writer_free(w2);

    char path[4096];
    snprintf(path, sizeof path, "%s/rt.gguf", rg_test_tmpdir());
    rg_err err;
    /* the duplicate add above left a sticky error: write must fail */
    CHECK(rg_gguf_writer_write(w, path, &err) != RG_OK);
    rg_gguf_writer_free(w);

    /* redo without the misuse */
    w = rg_gguf_writer_new();
    rg_gguf_writer_set_str(w, "general.architecture", "llama");
    rg_gguf_writer_set_u32(w, "llama.block_count", 8);
    rg_gguf_writer_set_i32(w, "neg", -5);
    rg_gguf_writer_set_u64(w, "big", 1ull << 40);
    rg_gguf_writer_set_f32(w, "eps", 1e-5f);
    rg_gguf_writer_set_bool(w, "flag", true);
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    rg_gguf_writer_set_arr_i32(w, "types", ti, 3);
    rg_gguf_writer_set_arr_f32(w, "scores", tf, 2);
    rg_gguf_writer_set_u32(w, "general.alignment", 64);
    rg_gguf_writer_add_tensor(w, "a", RG_DTYPE_F32, 2, ne_a, a, sizeof a);
    rg_gguf_writer_add_tensor(w, "q", RG_DTYPE_Q8_0, 2, ne_q, q, sizeof q);
    rg_gguf_writer_add_tensor(w, "k", RG_DTYPE_Q4_K, 1, ne_k, k, sizeof k);
    REQUIRE(rg_gguf_writer_write(w, path, &err) == RG_OK);
    rg_gguf_writer_free(w);

    rg_gguf *g;
    rg_status s = rg_gguf_open(path, &g, &err);
    if (s) fprintf(stderr, "  %s\n", rg_err_text(&err));
    REQUIRE(s == RG_OK);
    CHECK_EQ_INT(rg_gguf_version(g), 3);
    CHECK_EQ_INT(rg_gguf_alignment(g), 64);
    CHECK_EQ_INT(rg_gguf_n_kv(g), 10);
    CHECK_STREQ(rg_gguf_get_str(g, "general.architecture", NULL), "llama");
    uint32_t u;
    CHECK(rg_gguf_get_u32(g, "llama.block_count", &u) && u == 8);
    CHECK(!rg_gguf_get_u32(g, "neg", &u));
    CHECK(!rg_gguf_get_u32(g, "big", &u));
    int64_t i64;
    CHECK(rg_gguf_get_i64(g, "neg", &i64) && i64 == -5);
    CHECK(rg_gguf_get_i64(g, "big", &i64) && i64 == (1ll << 40));
    float f;
    CHECK(rg_gguf_get_f32(g, "eps", &f) && f == 1e-5f);
    bool b;
    CHECK(rg_gguf_get_bool(g, "flag", &b) && b);
    CHECK(!rg_gguf_get_bool(g, "missing", &b));
    CHECK_EQ_INT(rg_gguf_find_kv(g, "missing"), -1);
    rg_gguf_type et;
    uint64_t n;
    CHECK(rg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && et == RG_GGUF_STRING && n == 3);
    size_t len;
    CHECK_STREQ(rg_gguf_arr_str(g, "tokenizer.ggml.tokens", 2, &len), "h\xc3\xa9llo");
    CHECK_EQ_INT(len, 6);
    CHECK_STREQ(rg_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &len), "");
    CHECK(rg_gguf_arr_str(g, "tokenizer.ggml.tokens", 3, &len) == NULL);
    CHECK(rg_gguf_arr_i64(g, "types", 1, &i64) && i64 == -2);
    double d;
    CHECK(rg_gguf_arr_f64(g, "scores", 1, &d) && d == -1.25);
    CHECK(!rg_gguf_arr_f64(g, "scores", 2, &d));
    CHECK_EQ_INT(rg_gguf_n_tensors(g), 3);
    const rg_gguf_tensor *t = rg_gguf_find_tensor(g, "a");
    REQUIRE(t);
    CHECK_EQ_INT(t->n_dims, 2);
    CHECK_EQ_INT(t->ne[0], 3);
    CHECK_EQ_INT(t->ne[1], 5);
    CHECK_EQ_INT(t->ne[2], 1);
    CHECK_EQ_INT(t->nbytes, sizeof a);
    CHECK(memcmp(t->data, a, sizeof a) == 0);
    t = rg_gguf_find_tensor(g, "q");
    REQUIRE(t);
    CHECK_EQ_INT(t->type, RG_DTYPE_Q8_0);
    CHECK_EQ_INT(t->offset % 64, 0);
    CHECK(memcmp(t->data, q, sizeof q) == 0);
    t = rg_gguf_find_tensor(g, "k");
    REQUIRE(t);
    CHECK(memcmp(t->data, k, sizeof k) == 0);
    CHECK_EQ_INT((rg_gguf_data_offset(g) + t->offset) % 64, 0);
    CHECK(rg_gguf_find_tensor(g, "nope") == NULL);

    rg_buf jb;
    rg_buf_init(&jb, 0);
    rg_gguf_kv_format(g, rg_gguf_find_kv(g, "tokenizer.ggml.tokens"), 2, &jb);
    CHECK_STREQ(jb.data, "[\"<unk>\", \"\", \"... 1 more\"]");
    rg_buf_free(&jb);

    /* copy_kv + tensors reproduce the file byte for byte */
    rg_gguf_writer *w3 = rg_gguf_writer_new();
    CHECK_EQ_INT(rg_gguf_writer_copy_kv(w3, g), RG_OK);
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const rg_gguf_tensor *ti2 = rg_gguf_tensor_at(g, i);
        CHECK_EQ_INT(rg_gguf_writer_add_tensor(w3, ti2->name, ti2->type, ti2->n_dims, ti2->ne,
                                               ti2->data, ti2->nbytes), RG_OK);
    }
    char path2[4096];
    snprintf(path2, sizeof path2, "%s/rt2.gguf", rg_test_tmpdir());
    REQUIRE(rg_gguf_writer_write(w3, path2, &err) == RG_OK);
    rg_gguf_writer_free(w3);
    char *d1, *d2;
    size_t l1, l2;
    REQUIRE(rg_file_read(path, 1 << 20, &d1, &l1, &err) == RG_OK);
    REQUIRE(rg_file_read(path2, 1 << 20, &d2, &l2, &err) == RG_OK);
    CHECK_EQ_INT(l1, l2);
    CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);

    /* every truncation before the end of the last tensor is rejected (the
     * trailing alignment padding is optional) */
    int accepted = 0;
    size_t end = (size_t)(rg_gguf_data_offset(g) + t->offset + t->nbytes);
    rg_gguf_close(g);
    for (size_t cut = 0; cut < end; cut++) {
        rg_gguf *gt;
        if (rg_gguf_open_memory(d1, cut, &gt, &err) == RG_OK) {
            accepted++;
            rg_gguf_close(gt);
        } else {
            CHECK(err.msg[0] != '\0');
        }
    }
    CHECK_EQ_INT(accepted, 0);
    /* random byte corruption: must never crash (result either way) */
    unsigned long long st = 42;
    for (int it = 0; it < 3000; it++) {
        char *c = malloc(l1);
        memcpy(c, d1, l1);
        int nflip = 1 + (int)(rg_test_rand(&st) % 4);
        for (int j = 0; j < nflip; j++) c[rg_test_rand(&st) % l1] = (char)rg_test_rand(&st);
        rg_gguf *gt;
        if (rg_gguf_open_memory(c, l1, &gt, &err) == RG_OK) rg_gguf_close(gt);
        free(c);
    }
    free(d1);
    free(d2);
}

RG_TEST(gguf_open_missing_file) {
    rg_gguf *g;
    rg_err err;
    CHECK_EQ_INT(rg_gguf_open("/nonexistent/x.gguf", &g, &err), RG_IO);
    CHECK(g == NULL);
    CHECK(strstr(err.msg, "/nonexistent/x.gguf") != NULL);
}

/* Every crafted file of the seed corpus, with the words its error must contain. */
static const struct {
    const char *file, *expect;
} hostile[] = {
    {"bad-magic.gguf", "bad magic"},
    {"version-1.gguf", "version 1"},
    {"version-big-endian.gguf", "big-endian"},
    {"truncated-header.gguf", "kv count"},
    {"huge-kv-count.gguf", "kv count 1152921504606846976 exceeds the limit"},
    {"huge-tensor-count.gguf", "tensor count 4611686018427387904 exceeds the limit"},
    {"kv-count-vs-size.gguf", "kv count 1000"},
    {"key-length-overflow.gguf", "key length 18446744073709551615"},
    {"string-length-past-eof.gguf", "string value length 1099511627776"},
    {"string-length-wrap.gguf", "string value length 18446744073709551600"},
    {"array-count-overflow.gguf", "array count 2305843009213693952"},
    {"array-string-count-huge.gguf", "array count 1099511627776"},
    {"array-string-elem-overflow.gguf", "array string length 18446744073709551615"},
    {"array-unknown-elem-type.gguf", "array element type 77"},
    {"nested-array-deep.gguf", "nesting depth"},
    {"nested-array-wide.gguf", "array count 1099511627776"},
    {"unknown-kv-type.gguf", "value type 13"},
    {"duplicate-key.gguf", "duplicate key 'a.b'"},
    {"alignment-zero.gguf", "general.alignment = 0"},
    {"alignment-not-pow2.gguf", "general.alignment = 48"},
    {"alignment-wrong-type.gguf", "general.alignment has type str"},
    {"tensor-dims-product-overflow.gguf", "element count overflows"},
    {"tensor-bytes-overflow.gguf", "byte size overflows"},
    {"tensor-huge-size.gguf", "size 9223372036854775808 is past the end of the data section"},
    {"tensor-dim-negative.gguf", "negative"},
    {"tensor-ndims-too-many.gguf", "n_dims 5"},
    {"tensor-ndims-huge.gguf", "n_dims 4294967295"},
    {"tensor-offset-past-eof.gguf", "offset 1048576"},
    {"tensor-offset-size-wrap.gguf", "offset 18446744073709551584"},
    {"tensor-size-past-eof.gguf", "size 4194304"},
    {"tensor-misaligned-offset.gguf", "not a multiple of the alignment"},
    {"tensor-unknown-type.gguf", "type 4 is not a known"},
    {"tensor-block-size.gguf", "not a multiple of the q8_0 block size"},
    {"tensor-name-too-long.gguf", "tensor name length 300"},
    {"tensor-name-length-overflow.gguf", "tensor name length 18446744073709551615"},
    {"tensor-duplicate-name.gguf", "duplicate tensor name 'w'"},
    {"tensor-overlap.gguf", "overlap"},
    {"data-section-past-eof.gguf", "data section starts"},
};

RG_TEST(gguf_hostile_corpus_rejected) {
    const char *dir = "fuzz/corpus/fuzz_gguf";
    size_t nh = sizeof hostile / sizeof hostile[0];
    for (size_t i = 0; i < nh; i++) {
        rg_gguf *g = NULL;
        rg_err err;
        rg_err_clear(&err);
        const char *p = path_in(dir, hostile[i].file);
        rg_status s = rg_gguf_open(p, &g, &err);
        CHECKF(s == RG_FORMAT, "%s: status %s (%s)", hostile[i].file, rg_status_name(s), rg_err_text(&err));
        CHECKF(g == NULL, "%s", hostile[i].file);
        CHECKF(strstr(err.msg, hostile[i].expect) != NULL, "%s: message '%s' lacks '%s'",
               hostile[i].file, err.msg, hostile[i].expect);
        if (g) rg_gguf_close(g);
    }
    /* every non-valid file in the corpus directory is covered by the table */
    DIR *d = opendir(dir);
    REQUIRE(d);
    struct dirent *e;
    int valid = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!strncmp(e->d_name, "valid-", 6)) {
            rg_gguf *g;
            rg_err err;
            rg_status s = rg_gguf_open(path_in(dir, e->d_name), &g, &err);
            CHECKF(s == RG_OK, "%s: %s", e->d_name, rg_err_text(&err));
            if (!s) rg_gguf_close(g);
            valid++;
            continue;
        }
        int found = 0;
        for (size_t i = 0; i < nh; i++) found |= !strcmp(hostile[i].file, e->d_name);
        CHECKF(found, "corpus file %s has no expected error in test_gguf.c", e->d_name);
    }
    closedir(d);
    CHECK(valid >= 2);
}

static int open_all_in(const char *dir, int *n_ok) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int bad = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        rg_gguf *g;
        rg_err err;
        rg_status s = rg_gguf_open(p, &g, &err);
        CHECKF(s == RG_OK, "%s: %s", p, rg_err_text(&err));
        if (s) {
            bad++;
            continue;
        }
        (*n_ok)++;
        /* basic sanity: architecture or tokenizer present; tensors lie in the file */
        CHECKF(rg_gguf_get_str(g, "general.architecture", NULL) ||
                   rg_gguf_get_str(g, "tokenizer.ggml.model", NULL),
               "%s has neither general.architecture nor tokenizer.ggml.model", p);
        uint64_t total = 0;
        for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) total += rg_gguf_tensor_at(g, i)->nbytes;
        CHECK(rg_gguf_data_offset(g) + total <= rg_gguf_file_size(g));
        rg_gguf_close(g);
    }
    closedir(d);
    return bad;
}

RG_TEST(gguf_fixture_models_load) {
    const char *fx = rg_test_fixtures_or_skip();
    char dir[4096];
    int n = 0;
    snprintf(dir, sizeof dir, "%s/models", fx);
    CHECK_EQ_INT(open_all_in(dir, &n), 0);
    CHECK(n >= 10);
    snprintf(dir, sizeof dir, "%s/vocab", fx);
    int nv = 0;
    CHECK_EQ_INT(open_all_in(dir, &nv), 0);
    CHECK(nv >= 6);

    /* a known model: tiny-llama-q8_0 has its tensors and tokenizer */
    snprintf(dir, sizeof dir, "%s/models/tiny-llama-q8_0.gguf", fx);
    rg_gguf *g;
    rg_err err;
    REQUIRE(rg_gguf_open(dir, &g, &err) == RG_OK);
    CHECK_STREQ(rg_gguf_get_str(g, "general.architecture", NULL), "llama");
    CHECK(rg_gguf_find_tensor(g, "token_embd.weight") != NULL);
    rg_gguf_type et;
    uint64_t n_tok;
    CHECK(rg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n_tok) && et == RG_GGUF_STRING && n_tok > 0);

    /* copy_kv + tensors of a real model reproduce a file that loads identically */
    rg_gguf_writer *w = rg_gguf_writer_new();
    CHECK_EQ_INT(rg_gguf_writer_copy_kv(w, g), RG_OK);
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i);
        CHECK_EQ_INT(rg_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes), RG_OK);
    }
    char out[4096];
    snprintf(out, sizeof out, "%s/copy.gguf", rg_test_tmpdir());
    REQUIRE(rg_gguf_writer_write(w, out, &err) == RG_OK);
    rg_gguf_writer_free(w);
    rg_gguf *g2;
    REQUIRE(rg_gguf_open(out, &g2, &err) == RG_OK);
    CHECK_EQ_INT(rg_gguf_n_kv(g2), rg_gguf_n_kv(g));
    CHECK_EQ_INT(rg_gguf_n_tensors(g2), rg_gguf_n_tensors(g));
    for (int64_t i = 0; i < rg_gguf_n_kv(g); i++) {
        rg_buf a, b;
        rg_buf_init(&a, 0);
        rg_buf_init(&b, 0);
        rg_gguf_kv_format(g, i, 1u << 30, &a);
        rg_gguf_kv_format(g2, i, 1u << 30, &b);
        CHECK_STREQ(rg_gguf_kv_key(g2, i), rg_gguf_kv_key(g, i));
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        rg_buf_free(&a);
        rg_buf_free(&b);
    }
    for (int64_t i = 0; i < rg_gguf_n_tensors(g); i++) {
        const rg_gguf_tensor *t = rg_gguf_tensor_at(g, i), *t2 = rg_gguf_find_tensor(g2, t->name);
        REQUIRE(t2);
        CHECK(t2->nbytes == t->nbytes && memcmp(t2->data, t->data, t->nbytes) == 0);
    }
    rg_gguf_close(g2);
    rg_gguf_close(g);
}
