/* test_store.c - the SQLite document store: schema, collections, atomic
 * document puts, no-op re-puts, generations, iteration, threads, crashes. */
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/limits.h"
#include "store/store.h"
#include "test.h"

static rg_store *open_tmp(void) {
    rg_store *s = NULL;
    rg_err err = {0};
    rg_status st = rg_store_open(rg_test_tmpdir(), NULL, &s, &err);
    if (st) fprintf(stderr, "  open: %s\n", rg_err_text(&err));
    REQUIRE(st == RG_OK && s);
    return s;
}

static void sha_of(const char *s, char out[65]) { rg_sha256_hex(s, strlen(s), out); }

static rg_status put_doc(rg_store *s, int64_t cid, const char *src, const char *content,
                         int nchunks, int64_t *id, int *changed) {
    char sha[65];
    sha_of(content, sha);
    rg_store_chunk_in ch[64];
    char texts[64][64];
    REQUIRE(nchunks <= 64);
    for (int i = 0; i < nchunks; i++) {
        snprintf(texts[i], sizeof texts[i], "%s chunk %d of %s", content, i, src);
        ch[i] = (rg_store_chunk_in){texts[i], strlen(texts[i]), i * 10, i * 10 + 10, "H1 > H2", i + 1};
    }
    rg_store_doc_in d = {src, sha, "text/plain", "{\"lang\":\"en\"}", (int64_t)strlen(content)};
    rg_err err = {0};
    rg_status st = rg_store_doc_put(s, cid, &d, ch, (size_t)nchunks, id, changed, &err);
    if (st) fprintf(stderr, "  put: %s\n", rg_err_text(&err));
    return st;
}

RG_TEST(store_open_creates_schema) {
    rg_store *s = open_tmp();
    CHECK_EQ_INT(rg_store_schema_version(s), RG_STORE_SCHEMA_VERSION);
    char want[4096];
    snprintf(want, sizeof want, "%s/ragd.db", rg_test_tmpdir());
    CHECK_STREQ(rg_store_path(s), want);
    rg_err err = {0};
    CHECK_EQ_INT(rg_store_check(s, &err), RG_OK);
    rg_store_close(s);
    /* reopen: no migration, same version; WAL mode is persistent */
    s = open_tmp();
    CHECK_EQ_INT(rg_store_schema_version(s), RG_STORE_SCHEMA_VERSION);
    rg_store_close(s);
    sqlite3 *db;
    REQUIRE(sqlite3_open(want, &db) == SQLITE_OK);
    sqlite3_stmt *q;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK);
    REQUIRE(sqlite3_step(q) == SQLITE_ROW);
    CHECK_STREQ((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

RG_TEST(store_refuses_newer_schema_and_foreign_db) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ragd.db", rg_test_tmpdir());
    rg_store *s = open_tmp();
    rg_store_close(s);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    rg_err err = {0};
    CHECK_EQ_INT(rg_store_open(rg_test_tmpdir(), NULL, &s, &err), RG_UNSUPPORTED);
    CHECK(strstr(err.msg, "99") != NULL);
    CHECK(s == NULL);

    snprintf(path, sizeof path, "%s/other.db", rg_test_tmpdir());
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA application_id=42; CREATE TABLE t(x)", NULL, NULL, NULL) ==
            SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(rg_store_open_file(path, NULL, &s, &err), RG_FORMAT);
    CHECK(strstr(err.msg, "not a ragd database") != NULL);

    /* garbage file */
    snprintf(path, sizeof path, "%s/junk.db", rg_test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    for (int i = 0; i < 4096; i++) fputc(i * 7, f);
    fclose(f);
    CHECK(rg_store_open_file(path, NULL, &s, &err) != RG_OK);
    CHECK(s == NULL);
}

RG_TEST(store_collections) {
    rg_store *s = open_tmp();
    rg_err err = {0};
    int64_t a = 0, b = 0, c = 0;
    CHECK_EQ_INT(rg_store_collection_create(s, "docs", "{\"redact\":true}", &a, &err), RG_OK);
    CHECK_EQ_INT(rg_store_collection_create(s, "docs", NULL, NULL, &err), RG_EXISTS);
    CHECK_EQ_INT(rg_store_collection_create(s, "", NULL, NULL, &err), RG_INVALID);
    CHECK_EQ_INT(rg_store_collection_create(s, "a b", NULL, NULL, &err), RG_INVALID);
    CHECK_EQ_INT(rg_store_collection_create(s, "-x", NULL, NULL, &err), RG_INVALID);
    CHECK_EQ_INT(rg_store_collection_create(s, "x", "[1]", NULL, &err), RG_INVALID);
    CHECK_EQ_INT(rg_store_collection_create(s, "x", "{bad", NULL, &err), RG_INVALID);
    CHECK_EQ_INT(rg_store_collection_ensure(s, "alpha", &b, &err), RG_OK);
    CHECK_EQ_INT(rg_store_collection_ensure(s, "alpha", &c, &err), RG_OK);
    CHECK_EQ_INT(b, c);
    CHECK(a != b);

    rg_store_collection *list;
    size_t n;
    REQUIRE(rg_store_collection_list(s, &list, &n, &err) == RG_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STREQ(list[0].name, "alpha");
        CHECK_STREQ(list[1].name, "docs");
        CHECK_STREQ(list[1].settings_json, "{\"redact\":true}");
        CHECK_STREQ(list[0].settings_json, "{}");
        CHECK(list[1].created > 1600000000);
    }
    rg_store_collections_free(list, n);

    rg_store_collection col;
    CHECK_EQ_INT(rg_store_collection_get(s, "nope", &col, &err), RG_NOTFOUND);
    REQUIRE(rg_store_collection_get(s, "docs", &col, &err) == RG_OK);
    CHECK_EQ_INT(col.id, a);
    int64_t g0 = col.generation;
    rg_store_collection_clear(&col);
    CHECK_EQ_INT(rg_store_collection_set_settings(s, a, "{\"redact\":false}", &err), RG_OK);
    REQUIRE(rg_store_collection_get_id(s, a, &col, &err) == RG_OK);
    CHECK_STREQ(col.settings_json, "{\"redact\":false}");
    CHECK(col.generation > g0);
    rg_store_collection_clear(&col);

    REQUIRE(put_doc(s, a, "x.txt", "hello", 3, NULL, NULL) == RG_OK);
    CHECK_EQ_INT(rg_store_collection_delete(s, "docs", &err), RG_OK);
    CHECK_EQ_INT(rg_store_collection_delete(s, "docs", &err), RG_NOTFOUND);
    CHECK_EQ_INT(rg_store_collection_get(s, "docs", &col, &err), RG_NOTFOUND);
    /* recreated under the same name: a new id, never reused */
    int64_t a2 = 0;
    CHECK_EQ_INT(rg_store_collection_create(s, "docs", NULL, &a2, &err), RG_OK);
    CHECK(a2 > a);
    int64_t nd = -1, nc = -1;
    CHECK_EQ_INT(rg_store_count(s, a2, &nd, &nc, &err), RG_OK);
    CHECK_EQ_INT(nd, 0);
    CHECK_EQ_INT(nc, 0);
    /* the deleted collection's chunks are gone from the table */
    CHECK_EQ_INT(rg_store_count(s, a, &nd, &nc, &err), RG_OK);
    CHECK_EQ_INT(nc, 0);
    CHECK_EQ_INT(rg_store_check(s, &err), RG_OK);
    rg_store_close(s);
}

typedef struct {
    int n;
    int64_t last_id;
    int ordered;
    char first_text[128];
    int64_t doc_of_first;
    int stop_after;
} iter_state;

static int count_chunk(void *ud, const rg_store_chunk *c) {
    iter_state *it = ud;
    if (c->id <= it->last_id) it->ordered = 0;
    if (it->n == 0) {
        snprintf(it->first_text, sizeof it->first_text, "%s", c->text);
        it->doc_of_first = c->doc_id;
    }
    if (strlen(c->text) != c->text_len) it->ordered = 0;
    it->last_id = c->id;
    it->n++;
    return it->stop_after && it->n >= it->stop_after;
}

RG_TEST(store_put_unchanged_changed) {
    rg_store *s = open_tmp();
    rg_err err = {0};
    int64_t cid;
    REQUIRE(rg_store_collection_ensure(s, "c", &cid, &err) == RG_OK);
    int64_t g0, g1, g2, g3;
    REQUIRE(rg_store_generation(s, cid, &g0, &err) == RG_OK);

    int64_t id1 = 0, id2 = 0;
    int changed = -1;
    REQUIRE(put_doc(s, cid, "a.md", "version one", 5, &id1, &changed) == RG_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK(id1 > 0);
    REQUIRE(rg_store_generation(s, cid, &g1, &err) == RG_OK);
    CHECK(g1 > g0);

    /* same content: no-op, same id, generation unchanged */
    REQUIRE(put_doc(s, cid, "a.md", "version one", 5, &id2, &changed) == RG_OK);
    CHECK_EQ_INT(changed, 0);
    CHECK_EQ_INT(id2, id1);
    REQUIRE(rg_store_generation(s, cid, &g2, &err) == RG_OK);
    CHECK_EQ_INT(g2, g1);

    /* collect old chunk ids */
    iter_state it = {0, 0, 1, "", 0, 0};
    REQUIRE(rg_store_chunks_foreach(s, cid, 0, count_chunk, &it, &err) == RG_OK);
    CHECK_EQ_INT(it.n, 5);
    CHECK(it.ordered);
    int64_t old_max = it.last_id;

    /* changed: chunks replaced, same doc id, new chunk ids */
    REQUIRE(put_doc(s, cid, "a.md", "version two", 2, &id2, &changed) == RG_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(id2, id1);
    REQUIRE(rg_store_generation(s, cid, &g3, &err) == RG_OK);
    CHECK(g3 > g2);
    it = (iter_state){0, 0, 1, "", 0, 0};
    REQUIRE(rg_store_chunks_foreach(s, cid, 0, count_chunk, &it, &err) == RG_OK);
    CHECK_EQ_INT(it.n, 2);
    CHECK(strstr(it.first_text, "version two chunk 0") != NULL);
    /* ids are never reused: after_id = old_max still sees the new chunks */
    it = (iter_state){0, 0, 1, "", 0, 0};
    REQUIRE(rg_store_chunks_foreach(s, cid, old_max, count_chunk, &it, &err) == RG_OK);
    CHECK_EQ_INT(it.n, 2);

    rg_store_doc d;
    REQUIRE(rg_store_doc_get(s, id1, &d, &err) == RG_OK);
    CHECK_STREQ(d.source, "a.md");
    CHECK_STREQ(d.mime, "text/plain");
    CHECK_STREQ(d.metadata_json, "{\"lang\":\"en\"}");
    CHECK_EQ_INT(d.n_chunks, 2);
    CHECK_EQ_INT(d.bytes, strlen("version two"));
    char sha[65];
    sha_of("version two", sha);
    CHECK_STREQ(d.sha256, sha);
    CHECK(d.updated >= d.created);
    rg_store_doc_clear(&d);
    REQUIRE(rg_store_doc_find(s, cid, "a.md", &d, &err) == RG_OK);
    CHECK_EQ_INT(d.id, id1);
    rg_store_doc_clear(&d);
    CHECK_EQ_INT(rg_store_doc_find(s, cid, "b.md", &d, &err), RG_NOTFOUND);

    /* empty document (zero chunks) is fine */
    int64_t id3;
    REQUIRE(put_doc(s, cid, "empty.txt", "", 0, &id3, &changed) == RG_OK);
    CHECK_EQ_INT(changed, 1);
    int64_t nd, nc;
    REQUIRE(rg_store_count(s, cid, &nd, &nc, &err) == RG_OK);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(nc, 2);

    /* delete */
    CHECK_EQ_INT(rg_store_doc_delete(s, id1, &err), RG_OK);
    CHECK_EQ_INT(rg_store_doc_delete(s, id1, &err), RG_NOTFOUND);
    REQUIRE(rg_store_count(s, cid, &nd, &nc, &err) == RG_OK);
    CHECK_EQ_INT(nd, 1);
    CHECK_EQ_INT(nc, 0);
    int64_t g4;
    REQUIRE(rg_store_generation(s, cid, &g4, &err) == RG_OK);
    CHECK(g4 > g3);
    CHECK_EQ_INT(rg_store_generation(s, 9999, &g4, &err), RG_NOTFOUND);
    rg_store_close(s);
}

RG_TEST(store_put_rejects_bad_input) {
    rg_store *s = open_tmp();
    rg_err err = {0};
    int64_t cid;
    REQUIRE(rg_store_collection_ensure(s, "c", &cid, &err) == RG_OK);
    char sha[65];
    sha_of("x", sha);
    rg_store_chunk_in ch = {"abc", 3, 0, 3, NULL, 0};
    rg_store_doc_in d = {"a.txt", sha, "text/plain", NULL, 1};
    CHECK_EQ_INT(rg_store_doc_put(s, 9999, &d, &ch, 1, NULL, NULL, &err), RG_NOTFOUND);
    rg_store_doc_in bad = d;
    bad.sha256 = "xyz";
    CHECK_EQ_INT(rg_store_doc_put(s, cid, &bad, &ch, 1, NULL, NULL, &err), RG_INVALID);
    bad = d;
    bad.source = "";
    CHECK_EQ_INT(rg_store_doc_put(s, cid, &bad, &ch, 1, NULL, NULL, &err), RG_INVALID);
    bad = d;
    bad.metadata_json = "{\"a\":";
    CHECK_EQ_INT(rg_store_doc_put(s, cid, &bad, &ch, 1, NULL, NULL, &err), RG_INVALID);
    rg_store_chunk_in big = {"abc", (size_t)RG_MAX_CHUNK_BYTES + 1, 0, 3, NULL, 0};
    CHECK_EQ_INT(rg_store_doc_put(s, cid, &d, &big, 1, NULL, NULL, &err), RG_LIMIT);
    rg_store_chunk_in neg = {"abc", 3, 5, 2, NULL, 0};
    CHECK_EQ_INT(rg_store_doc_put(s, cid, &d, &neg, 1, NULL, NULL, &err), RG_INVALID);
    int64_t nd, nc;
    REQUIRE(rg_store_count(s, cid, &nd, &nc, &err) == RG_OK);
    CHECK_EQ_INT(nd, 0);
    CHECK_EQ_INT(nc, 0);
    /* binary-safe text with embedded UTF-8 */
    const char *zh = "差旅报销：每晚住宿不超过六百元。";
    rg_store_chunk_in cz = {zh, strlen(zh), 0, (int64_t)strlen(zh), "政策 > 住宿", 2};
    int64_t id;
    REQUIRE(rg_store_doc_put(s, cid, &d, &cz, 1, &id, NULL, &err) == RG_OK);
    iter_state it = {0, 0, 1, "", 0, 0};
    REQUIRE(rg_store_doc_chunks_foreach(s, id, count_chunk, &it, &err) == RG_OK);
    CHECK_EQ_INT(it.n, 1);
    CHECK_STREQ(it.first_text, zh);
    rg_store_close(s);
}

static int64_t g_first_chunk;
static int grab_first(void *ud, const rg_store_chunk *c) {
    (void)ud;
    g_first_chunk = c->id;
    return 1;
}

RG_TEST(store_chunk_get_and_iter_stop) {
    rg_store *s = open_tmp();
    rg_err err = {0};
    int64_t c1, c2, d1;
    REQUIRE(rg_store_collection_ensure(s, "one", &c1, &err) == RG_OK);
    REQUIRE(rg_store_collection_ensure(s, "two", &c2, &err) == RG_OK);
    REQUIRE(put_doc(s, c1, "dir/a.txt", "alpha", 4, &d1, NULL) == RG_OK);
    REQUIRE(put_doc(s, c2, "b.txt", "beta", 7, NULL, NULL) == RG_OK);
    REQUIRE(put_doc(s, c1, "dir/c.txt", "gamma", 3, NULL, NULL) == RG_OK);
    iter_state it = {0, 0, 1, "", 0, 0};
    REQUIRE(rg_store_chunks_foreach(s, c1, 0, count_chunk, &it, &err) == RG_OK);
    CHECK_EQ_INT(it.n, 7); /* only c1's chunks */
    CHECK(it.ordered);
    it = (iter_state){0, 0, 1, "", 0, 2};
    REQUIRE(rg_store_chunks_foreach(s, c2, 0, count_chunk, &it, &err) == RG_OK);
    CHECK_EQ_INT(it.n, 2); /* stopped early */

    REQUIRE(rg_store_doc_chunks_foreach(s, d1, grab_first, NULL, &err) == RG_OK);
    rg_store_chunk c;
    REQUIRE(rg_store_chunk_get(s, g_first_chunk, &c, &err) == RG_OK);
    CHECK_STREQ(c.source, "dir/a.txt");
    CHECK_STREQ(c.text, "alpha chunk 0 of dir/a.txt");
    CHECK_EQ_INT(c.text_len, strlen("alpha chunk 0 of dir/a.txt"));
    CHECK_STREQ(c.heading, "H1 > H2");
    CHECK_EQ_INT(c.page, 1);
    CHECK_EQ_INT(c.ordinal, 0);
    CHECK_EQ_INT(c.start, 0);
    CHECK_EQ_INT(c.end, 10);
    CHECK_EQ_INT(c.doc_id, d1);
    CHECK_EQ_INT(c.collection_id, c1);
    rg_store_chunk_clear(&c);
    CHECK_EQ_INT(rg_store_chunk_get(s, 123456, &c, &err), RG_NOTFOUND);

    /* several at once: the same rows as one by one, in the order asked */
    int64_t ids[3] = {g_first_chunk + 2, g_first_chunk, g_first_chunk + 1};
    rg_store_chunk cs[3];
    REQUIRE(rg_store_chunks_get(s, ids, 3, cs, &err) == RG_OK);
    for (int i = 0; i < 3; i++) {
        rg_store_chunk one;
        REQUIRE(rg_store_chunk_get(s, ids[i], &one, &err) == RG_OK);
        CHECK_EQ_INT(cs[i].id, ids[i]);
        CHECK_STREQ(cs[i].text, one.text);
        CHECK_STREQ(cs[i].source, one.source);
        CHECK_STREQ(cs[i].heading, one.heading);
        CHECK_EQ_INT(cs[i].ordinal, one.ordinal);
        rg_store_chunk_clear(&one);
        rg_store_chunk_clear(&cs[i]);
    }
    ids[1] = 123456;
    CHECK_EQ_INT(rg_store_chunks_get(s, ids, 3, cs, &err), RG_NOTFOUND);
    CHECK(cs[0].priv_ == NULL && cs[2].priv_ == NULL); /* cleared on failure */
    /* inside an open batch (its write transaction) it reads the batch's state */
    REQUIRE(rg_store_batch_begin(s, &err) == RG_OK);
    ids[1] = g_first_chunk;
    REQUIRE(rg_store_chunks_get(s, ids + 1, 1, cs, &err) == RG_OK);
    CHECK_STREQ(cs[0].text, "alpha chunk 0 of dir/a.txt");
    rg_store_chunk_clear(&cs[0]);
    REQUIRE(rg_store_batch_commit(s, &err) == RG_OK);
    rg_store_close(s);
}

typedef struct {
    rg_store *s;
    int64_t cid;
    int t;
    int fails;
} thr_arg;

static void *thr_put(void *p) {
    thr_arg *a = p;
    for (int i = 0; i < 40; i++) {
        char src[64], body[64];
        snprintf(src, sizeof src, "t%d/doc%d.txt", a->t, i);
        snprintf(body, sizeof body, "thread %d doc %d", a->t, i);
        if (put_doc(a->s, a->cid, src, body, 3, NULL, NULL) != RG_OK) a->fails++;
        rg_store_chunk c;
        rg_err err;
        if (rg_store_chunk_get(a->s, 1, &c, &err) == RG_OK) rg_store_chunk_clear(&c);
    }
    return NULL;
}

RG_TEST(store_shared_handle_threads) {
    rg_store_opts o = {.sync_normal = 1};
    rg_store *s;
    rg_err err = {0};
    REQUIRE(rg_store_open(rg_test_tmpdir(), &o, &s, &err) == RG_OK);
    int64_t cid;
    REQUIRE(rg_store_collection_ensure(s, "c", &cid, &err) == RG_OK);
    pthread_t th[4];
    thr_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (thr_arg){s, cid, t, 0};
        pthread_create(&th[t], NULL, thr_put, &args[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ_INT(args[t].fails, 0);
    }
    int64_t nd, nc;
    REQUIRE(rg_store_count(s, cid, &nd, &nc, &err) == RG_OK);
    CHECK_EQ_INT(nd, 160);
    CHECK_EQ_INT(nc, 480);
    CHECK_EQ_INT(rg_store_check(s, &err), RG_OK);
    rg_store_close(s);
}

RG_TEST(store_two_handles_one_file) {
    rg_store *a = open_tmp(), *b = open_tmp();
    rg_err err = {0};
    int64_t cid;
    REQUIRE(rg_store_collection_ensure(a, "c", &cid, &err) == RG_OK);
    REQUIRE(put_doc(a, cid, "x.txt", "from a", 2, NULL, NULL) == RG_OK);
    int64_t nd = 0, nc = 0, g = 0;
    REQUIRE(rg_store_count(b, cid, &nd, &nc, &err) == RG_OK);
    CHECK_EQ_INT(nc, 2);
    REQUIRE(rg_store_generation(b, cid, &g, &err) == RG_OK);
    REQUIRE(put_doc(b, cid, "y.txt", "from b", 1, NULL, NULL) == RG_OK);
    int64_t g2 = 0;
    REQUIRE(rg_store_generation(a, cid, &g2, &err) == RG_OK);
    CHECK(g2 > g);
    rg_store_close(a);
    rg_store_close(b);
}

/* A child commits some documents and dies by SIGKILL in the middle of the
 * next put loop; every put that returned before the kill must be there. */
RG_TEST(store_commit_survives_kill9) {
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        rg_store *s;
        rg_err err;
        if (rg_store_open(rg_test_tmpdir(), NULL, &s, &err)) _exit(3);
        int64_t cid;
        if (rg_store_collection_ensure(s, "k", &cid, &err)) _exit(3);
        for (int i = 0;; i++) {
            char src[32], body[32];
            snprintf(src, sizeof src, "d%d", i);
            snprintf(body, sizeof body, "body %d", i);
            if (put_doc(s, cid, src, body, 20, NULL, NULL)) _exit(4);
            int32_t v = i;
            if (write(pfd[1], &v, sizeof v) != sizeof v) _exit(5);
        }
    }
    close(pfd[1]);
    int32_t last = -1, v;
    while (last < 30 && read(pfd[0], &v, sizeof v) == sizeof v) last = v;
    kill(pid, SIGKILL);
    while (read(pfd[0], &v, sizeof v) == sizeof v) last = v; /* reported before death */
    close(pfd[0]);
    int wst;
    waitpid(pid, &wst, 0);
    CHECK(WIFSIGNALED(wst));
    rg_store *s = open_tmp();
    rg_err err = {0};
    CHECK_EQ_INT(rg_store_check(s, &err), RG_OK);
    rg_store_collection c;
    REQUIRE(rg_store_collection_get(s, "k", &c, &err) == RG_OK);
    for (int i = 0; i <= last; i++) {
        char src[32];
        snprintf(src, sizeof src, "d%d", i);
        rg_store_doc d;
        CHECKF(rg_store_doc_find(s, c.id, src, &d, &err) == RG_OK, "%s missing", src);
        CHECK_EQ_INT(d.n_chunks, 20);
        iter_state it = {0, 0, 1, "", 0, 0};
        CHECK_EQ_INT(rg_store_doc_chunks_foreach(s, d.id, count_chunk, &it, &err), RG_OK);
        CHECK_EQ_INT(it.n, 20);
        rg_store_doc_clear(&d);
    }
    /* nothing partial: every document has exactly its chunks */
    CHECK_EQ_INT(c.n_chunks, c.n_documents * 20);
    rg_store_collection_clear(&c);
    rg_store_close(s);
}

RG_TEST(store_batch_group_commit) {
    rg_store *a = open_tmp(), *b = open_tmp();
    rg_err err = {0};
    int64_t cid, nd = -1;
    REQUIRE(rg_store_collection_ensure(a, "c", &cid, &err) == RG_OK);
    REQUIRE(rg_store_batch_begin(a, &err) == RG_OK);
    CHECK_EQ_INT(rg_store_batch_begin(a, &err), RG_INVALID);
    REQUIRE(put_doc(a, cid, "one", "1", 2, NULL, NULL) == RG_OK);
    REQUIRE(put_doc(a, cid, "two", "2", 3, NULL, NULL) == RG_OK);
    /* a failing write inside the batch rolls back alone */
    CHECK_EQ_INT(put_doc(a, 9999, "bad", "x", 1, NULL, NULL), RG_NOTFOUND);
    int changed = -1;
    REQUIRE(put_doc(a, cid, "one", "1", 2, NULL, &changed) == RG_OK); /* unchanged in batch */
    CHECK_EQ_INT(changed, 0);
    /* not visible to another connection before the commit */
    REQUIRE(rg_store_count(b, cid, &nd, NULL, &err) == RG_OK);
    CHECK_EQ_INT(nd, 0);
    REQUIRE(rg_store_batch_commit(a, &err) == RG_OK);
    CHECK_EQ_INT(rg_store_batch_commit(a, &err), RG_INVALID);
    int64_t nc = 0;
    REQUIRE(rg_store_count(b, cid, &nd, &nc, &err) == RG_OK);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(nc, 5);
    /* rollback drops the whole batch */
    REQUIRE(rg_store_batch_begin(a, &err) == RG_OK);
    REQUIRE(put_doc(a, cid, "three", "3", 1, NULL, NULL) == RG_OK);
    rg_store_batch_rollback(a);
    REQUIRE(rg_store_count(a, cid, &nd, &nc, &err) == RG_OK);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(nc, 5);
    CHECK_EQ_INT(rg_store_check(a, &err), RG_OK);
    rg_store_close(a);
    rg_store_close(b);
}
