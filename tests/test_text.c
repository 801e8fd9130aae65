/* test_text.c - analyzers, query syntax, BM25 index, persistence. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "test.h"
#include "text/text.h"

typedef struct toks {
    char buf[4096];
    size_t len;
    int n;
} toks;

static int collect(void *ud, const char *t, size_t n, uint32_t pos, int extra) {
    toks *k = ud;
    int w = snprintf(k->buf + k->len, sizeof k->buf - k->len, "%s%.*s%s@%u", k->n ? " " : "",
                     (int)n, t, extra ? "+" : "", pos);
    if (w > 0 && (size_t)w < sizeof k->buf - k->len) k->len += (size_t)w;
    k->n++;
    return 0;
}

static const char *analyze(rg_text_analyzer *a, const char *s, toks *k) {
    memset(k, 0, sizeof *k);
    rg_err err;
    rg_status st = rg_text_analyze(a, s, strlen(s), collect, k, NULL, &err);
    CHECK(st == RG_OK);
    return k->buf;
}

RG_TEST(text_english_stem_stop) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    toks k;
    /* stop words leave position gaps; stems; full-width folded by NFKC; accents stripped */
    CHECK_STREQ(analyze(a, "The Running of the Bulls", &k), "run@1 bull@4");
    CHECK_STREQ(analyze(a, "ＡＢＣ Café's", &k), "abc@0 cafe@1");
    CHECK_STREQ(analyze(a, "don't stop-words 3.14", &k), "stop@1 word@2 3@3 14@4");
    rg_text_analyzer_free(a);
    rg_text_opts o = {.no_stem = 1, .no_stopwords = 1};
    REQUIRE(rg_text_analyzer_new(&o, &a, NULL) == RG_OK);
    CHECK_STREQ(analyze(a, "The Running", &k), "the@0 running@1");
    rg_text_analyzer_free(a);
}

/* The per-thread stem cache and the ASCII fast path give what the plain
 * per-character path and a fresh stemmer give: same tokens cold and warm,
 * words cut at RG_TEXT_MAX_TERM_BYTES, words beside CJK runs and
 * apostrophes, and long words that bypass the cache. */
RG_TEST(text_stem_cache_and_fast_path) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    toks k1, k2;
    const char *t = "Connections connecting connected internationalization's "
                    "antidisestablishmentarianisms running ran runs o'neil don't";
    char first[4096];
    snprintf(first, sizeof first, "%s", analyze(a, t, &k1));
    CHECK_STREQ(analyze(a, t, &k2), first); /* warm cache */
    CHECK_STREQ(first, "connect@0 connect@1 connect@2 internation@3 "
                       "antidisestablishmentarian@4 run@5 ran@6 run@7 o'neil@8");
    /* over-long words are cut at 64 bytes, digits and letters stay one word */
    char lw[200];
    memset(lw, 'a', 150);
    memcpy(lw + 150, "9 end", 6);
    CHECK_STREQ(analyze(a, lw, &k1),
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@0 end@1");
    /* Latin words around a Han run, and a Cyrillic word (not ASCII) */
    CHECK_STREQ(analyze(a, "abc年假def Москва", &k1), "abc@0 年假@1 def@2 москва@3");
    rg_text_analyzer_free(a);
}

RG_TEST(text_chinese_bigrams_words_t2s) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    toks k;
    /* bigrams at character positions; a lone character is a unigram */
    const char *t = analyze(a, "北京大学", &k);
    CHECK(strstr(t, "北京@0 京大@1 大学@2") != NULL);
    CHECK_STREQ(analyze(a, "水", &k), "水@0");
    /* traditional folds to simplified: same tokens either way */
    toks k2;
    analyze(a, "資料庫的檢索", &k);
    analyze(a, "资料库的检索", &k2);
    CHECK_STREQ(k.buf, k2.buf);
    /* mixed script: English word then Chinese bigrams, positions continue */
    const char *m = analyze(a, "iPhone手机", &k);
    CHECK(strstr(m, "iphon@0") != NULL);
    CHECK(strstr(m, "手机@1") != NULL);
    rg_text_analyzer_free(a);
}

RG_TEST(text_friso_words_are_extra) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    toks k;
    const char *t = analyze(a, "中华人民共和国", &k);
    /* friso knows this word: it comes as an extra term at position 0 */
    if (!strstr(t, "+@")) RG_SKIP("friso dictionary not installed (got: %s)", t);
    CHECK(strstr(t, "中华人民共和国+@0") != NULL || strstr(t, "人民共和国+@2") != NULL);
    rg_text_analyzer_free(a);
}

RG_TEST(text_invalid_utf8_is_safe) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    toks k;
    memset(&k, 0, sizeof k);
    const char bad[] = "ab\xff\xfe cd\0ef \xe4\xb8";
    CHECK(rg_text_analyze(a, bad, sizeof bad - 1, collect, &k, NULL, NULL) == RG_OK);
    CHECK(strstr(k.buf, "cd") != NULL);
    rg_text_analyzer_free(a);
}

RG_TEST(text_query_parse) {
    rg_text_query q;
    const char *s = "alpha \"exact phrase\" +must -not -\"no way\" “弯引号” 「引号」 \"open";
    REQUIRE(rg_text_query_parse(s, strlen(s), &q, NULL) == RG_OK);
    REQUIRE(q.n == 8);
    CHECK_STREQ(q.clauses[0].text, "alpha");
    CHECK(q.clauses[0].occur == RG_TEXT_SHOULD && !q.clauses[0].phrase);
    CHECK_STREQ(q.clauses[1].text, "exact phrase");
    CHECK(q.clauses[1].occur == RG_TEXT_MUST && q.clauses[1].phrase);
    CHECK(q.clauses[2].occur == RG_TEXT_MUST);
    CHECK_STREQ(q.clauses[3].text, "not");
    CHECK(q.clauses[3].occur == RG_TEXT_MUST_NOT);
    CHECK(q.clauses[4].occur == RG_TEXT_MUST_NOT && q.clauses[4].phrase);
    CHECK_STREQ(q.clauses[5].text, "弯引号");
    CHECK_STREQ(q.clauses[6].text, "引号");
    CHECK_STREQ(q.clauses[7].text, "open");
    rg_text_query_clear(&q);
    char *big = malloc(20000);
    memset(big, 'a', 20000);
    CHECK(rg_text_query_parse(big, 20000, &q, NULL) == RG_LIMIT);
    free(big);
}

static const char *docs[] = {
    "The quick brown fox jumps over the lazy dog.",
    "A fox is a small omnivorous mammal. Foxes live in dens.",
    "Dogs are loyal companions; the dog barks at night.",
    "Quick sort is a divide and conquer sorting algorithm.",
    "北京大学是中国的一所大学，位于北京。",
    "上海交通大学位于上海。",
    "資料庫檢索系統支持全文搜索。",
};
#define NDOCS (sizeof docs / sizeof docs[0])

static rg_text_index *build(rg_text_analyzer *a) {
    rg_text_builder *b;
    REQUIRE(rg_text_builder_new(a, &b, NULL) == RG_OK);
    for (size_t i = 0; i < NDOCS; i++)
        REQUIRE(rg_text_builder_add(b, (int64_t)(100 + i), docs[i], strlen(docs[i]), NULL) == RG_OK);
    rg_text_index *ix;
    REQUIRE(rg_text_builder_finish(b, &ix, NULL) == RG_OK);
    return ix;
}

static size_t search(rg_text_index *ix, rg_text_analyzer *a, const char *q, rg_text_hit *h) {
    size_t n = 0;
    rg_err err;
    rg_status st = rg_text_search(ix, a, q, strlen(q), NULL, 10, h, &n, &err);
    CHECKF(st == RG_OK, "%s", rg_err_text(&err));
    return n;
}

RG_TEST(text_search_bm25_phrase_must_not) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    rg_text_index *ix = build(a);
    CHECK_EQ_INT(rg_text_index_docs(ix), NDOCS);
    rg_text_hit h[10];
    /* "foxes" stems to fox: both fox documents; doc 1 mentions it twice */
    size_t n = search(ix, a, "foxes", h);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(h[0].key, 101);
    CHECK(h[0].score >= h[1].score && h[1].score > 0);
    /* OR: any word */
    n = search(ix, a, "dog sorting", h);
    CHECK_EQ_INT(n, 3);
    /* phrase: only the document with "quick brown" adjacent */
    n = search(ix, a, "\"quick brown\"", h);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(h[0].key, 100);
    n = search(ix, a, "\"brown quick\"", h);
    CHECK_EQ_INT(n, 0);
    /* phrase across a stop word keeps the gap */
    n = search(ix, a, "\"jumps over the lazy dog\"", h);
    CHECK_EQ_INT(n, 1);
    /* +must / -not */
    n = search(ix, a, "quick +sort", h);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(h[0].key, 103);
    n = search(ix, a, "quick -fox", h);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(h[0].key, 103);
    n = search(ix, a, "fox -\"small omnivorous\"", h);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(h[0].key, 100);
    n = search(ix, a, "+unknownword fox", h);
    CHECK_EQ_INT(n, 0);
    n = search(ix, a, "the of and", h);
    CHECK_EQ_INT(n, 0);
    /* Chinese: bigram matching, phrase, traditional query on simplified text and back */
    n = search(ix, a, "北京的大学", h);
    CHECK(n >= 1 && h[0].key == 104);
    n = search(ix, a, "\"交通大学\"", h);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(h[0].key, 105);
    n = search(ix, a, "+大學 -北京", h);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(h[0].key, 105);
    n = search(ix, a, "资料库检索", h);
    CHECK(n >= 1 && h[0].key == 106);
    rg_text_index_free(ix);
    rg_text_analyzer_free(a);
}

RG_TEST(text_index_save_load_corrupt) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    rg_text_index *ix = build(a);
    char path[4096];
    snprintf(path, sizeof path, "%s/t.idx", rg_test_tmpdir());
    REQUIRE(rg_text_index_save(ix, path, 42, NULL) == RG_OK);
    rg_text_index *ix2;
    int64_t gen = 0;
    rg_err err;
    REQUIRE(rg_text_index_load(path, &ix2, &gen, &err) == RG_OK);
    CHECK_EQ_INT(gen, 42);
    CHECK_EQ_INT(rg_text_index_docs(ix2), NDOCS);
    CHECK_EQ_INT(rg_text_index_terms(ix2), rg_text_index_terms(ix));
    rg_text_hit h1[10], h2[10];
    const char *qs[] = {"fox dog", "\"quick brown\"", "北京 大学", "quick -fox"};
    for (size_t i = 0; i < 4; i++) {
        size_t n1 = search(ix, a, qs[i], h1), n2 = search(ix2, a, qs[i], h2);
        CHECK_EQ_INT(n1, n2);
        for (size_t j = 0; j < n1 && j < n2; j++) {
            CHECK_EQ_INT(h1[j].key, h2[j].key);
            CHECK(h1[j].score == h2[j].score);
        }
    }
    rg_text_index_free(ix2);
    /* every flipped byte is caught (checksum or structure), never a crash */
    char *data;
    size_t len;
    REQUIRE(rg_file_read(path, 1 << 24, &data, &len, NULL) == RG_OK);
    for (size_t off = 0; off < len; off += 7) {
        data[off] ^= 0x5a;
        rg_text_index *bad = NULL;
        CHECK(rg_text_index_load_mem((unsigned char *)data, len, &bad, NULL, NULL) != RG_OK);
        rg_text_index_free(bad);
        data[off] ^= 0x5a;
    }
    CHECK(rg_text_index_load_mem((unsigned char *)data, len - 1, &ix2, NULL, &err) == RG_FORMAT);
    free(data);
    rg_text_index_free(ix);
    rg_text_analyzer_free(a);
}

typedef struct th_arg {
    rg_text_index *ix;
    rg_text_analyzer *a;
    int bad;
} th_arg;

static void *th_search(void *p) {
    th_arg *t = p;
    const char *qs[] = {"fox", "dog sorting", "\"quick brown\"", "北京大学", "quick -fox"};
    const size_t want[] = {2, 3, 1, 2, 1};
    for (int it = 0; it < 300; it++) {
        size_t i = (size_t)it % 5, n = 0;
        rg_text_hit h[10];
        if (rg_text_search(t->ix, t->a, qs[i], strlen(qs[i]), NULL, 10, h, &n, NULL) != RG_OK ||
            n != want[i])
            t->bad++;
    }
    return NULL;
}

RG_TEST(text_search_concurrent) {
    rg_text_analyzer *a;
    REQUIRE(rg_text_analyzer_new(NULL, &a, NULL) == RG_OK);
    rg_text_index *ix = build(a);
    rg_text_hit h[10];
    CHECK_EQ_INT(search(ix, a, "北京大学", h), 2);
    pthread_t th[4];
    th_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (th_arg){ix, a, 0};
        pthread_create(&th[i], NULL, th_search, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].bad, 0);
    }
    rg_text_index_free(ix);
    rg_text_analyzer_free(a);
}
