/* test_core.c - status table, errors, arena, buffers, pool, utf8, hashes. */
#include <stdatomic.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/cpu.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/pool.h"
#include "core/status.h"
#include "core/utf8.h"
#include "test.h"

RG_TEST(core_status_table) {
    CHECK_STREQ(rg_status_name(RG_OK), "OK");
    CHECK_STREQ(rg_status_name(RG_NOTFOUND), "NOTFOUND");
    CHECK_STREQ(rg_status_message(RG_NOMEM), "out of memory");
    CHECK_EQ_INT(RG_FORMAT, 6); /* numbers never change */
    rg_err e;
    rg_err_clear(&e);
    CHECK_EQ_INT(rg_failf(&e, RG_FORMAT, "gguf: offset %d past end", 42), RG_FORMAT);
    CHECK_STREQ(e.msg, "gguf: offset 42 past end");
    rg_err_prefix(&e, "%s", "model.gguf");
    CHECK_STREQ(rg_err_text(&e), "model.gguf: gguf: offset 42 past end");
}

RG_TEST(core_arena_cap) {
    rg_arena a;
    rg_arena_init(&a, 1000);
    char *p = rg_arena_alloc(&a, 500);
    REQUIRE(p);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(rg_arena_alloc(&a, 600) == NULL);
    CHECK(rg_arena_calloc(&a, SIZE_MAX / 2, 4) == NULL);
    CHECK_STREQ(rg_arena_strdup(&a, "hello"), "hello");
    rg_arena_reset(&a);
    CHECK(rg_arena_alloc(&a, 900) != NULL);
    rg_arena_free(&a);
}

RG_TEST(core_buf_cap) {
    rg_buf b;
    rg_buf_init(&b, 10);
    CHECK_EQ_INT(rg_buf_puts(&b, "hello"), RG_OK);
    CHECK_EQ_INT(rg_buf_printf(&b, "%d", 12345), RG_OK);
    CHECK_EQ_INT(rg_buf_putc(&b, 'x'), RG_LIMIT);
    CHECK_STREQ(b.data, "hello12345");
    size_t n;
    char *s = rg_buf_detach(&b, &n);
    CHECK_EQ_INT(n, 10);
    free(s);
    rg_buf_free(&b);
}

static atomic_long g_sum;
static void sum_task(void *ctx, int ith, int nth) {
    long lo, hi;
    rg_pool_split(*(long *)ctx, ith, nth, &lo, &hi);
    long s = 0;
    for (long i = lo; i < hi; i++) s += i;
    atomic_fetch_add(&g_sum, s);
}

RG_TEST(core_pool_parallel_for) {
    rg_pool *p = rg_pool_new(3);
    REQUIRE(p);
    CHECK_EQ_INT(rg_pool_size(p), 3);
    for (int rep = 0; rep < 2000; rep++) {
        long n = 1000 + rep;
        atomic_store(&g_sum, 0);
        rg_pool_run(p, sum_task, &n);
        CHECK_EQ_INT(atomic_load(&g_sum), n * (n - 1) / 2);
    }
    rg_pool_free(p);
}

/* shared runs: work from a counter, any subset of workers, distinct ith;
 * interleaved with static runs on the same pool */
typedef struct {
    atomic_long next, sum;
    atomic_int seen[8];
    long n;
} shared_job;

static void shared_task(void *ctx, int ith, int nth) {
    shared_job *j = ctx;
    if (ith < 0 || ith >= nth || ith >= 8) {
        atomic_fetch_add(&j->sum, -1000000000L);
        return;
    }
    atomic_fetch_add(&j->seen[ith], 1);
    for (;;) {
        long i = atomic_fetch_add(&j->next, 7);
        if (i >= j->n) break;
        long s = 0;
        for (long k = i; k < i + 7 && k < j->n; k++) s += k;
        atomic_fetch_add(&j->sum, s);
    }
}

RG_TEST(core_pool_shared_runs) {
    for (int nt = 1; nt <= 4; nt++) {
        rg_pool *p = rg_pool_new(nt);
        REQUIRE(p);
        for (int rep = 0; rep < 3000; rep++) {
            shared_job j = {.n = 100 + rep % 500};
            rg_pool_run_shared(p, shared_task, &j);
            CHECK_EQ_INT(atomic_load(&j.sum), j.n * (j.n - 1) / 2);
            CHECK_EQ_INT(atomic_load(&j.seen[0]), 1); /* the caller always runs */
            for (int i = 1; i < 8; i++) CHECK(atomic_load(&j.seen[i]) <= 1);
            if (rep % 3 == 0) { /* a static run still reaches every thread */
                long n = 1000 + rep;
                atomic_store(&g_sum, 0);
                rg_pool_run(p, sum_task, &n);
                CHECK_EQ_INT(atomic_load(&g_sum), n * (n - 1) / 2);
            }
        }
        rg_pool_free(p);
    }
    rg_pool_run_shared(NULL, shared_task, &(shared_job){.n = 10});
}

RG_TEST(core_utf8) {
    uint32_t cp;
    CHECK_EQ_INT(rg_utf8_decode("\xe4\xb8\xad", 3, &cp), 3);
    CHECK_EQ_INT(cp, 0x4e2d);
    CHECK_EQ_INT(rg_utf8_decode("\xe4\xb8", 2, &cp), 1);
    CHECK_EQ_INT(cp, 0xFFFD);
    CHECK(!rg_utf8_valid("\xc0\x80", 2)); /* overlong */
    CHECK(!rg_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    CHECK(rg_utf8_valid("ok \xe4\xb8\xad", 6));
    CHECK_EQ_INT(rg_utf8_floor("a\xe4\xb8\xad", 3), 1);
    CHECK_EQ_INT(rg_utf8_floor("a\xe4\xb8\xad", 4), 4);
    char out[4];
    CHECK_EQ_INT(rg_utf8_encode(0x1F600, out), 4);
}

RG_TEST(core_sha256_known_vector) {
    char hex[65];
    rg_sha256_hex("abc", 3, hex);
    CHECK_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(rg_ct_equal("abcd", "abcd", 4));
    CHECK(!rg_ct_equal("abcd", "abce", 4));
    CHECK(rg_hash64("a", 1, 0) != rg_hash64("b", 1, 0));
}

RG_TEST(core_file_atomic_write) {
    char path[4096];
    snprintf(path, sizeof path, "%s/sub/dir/f.txt", rg_test_tmpdir());
    rg_err e;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sub/dir", rg_test_tmpdir());
    REQUIRE(rg_mkdirs(dir, &e) == RG_OK);
    REQUIRE(rg_file_write_atomic(path, "data", 4, &e) == RG_OK);
    char *d;
    size_t n;
    REQUIRE(rg_file_read(path, 100, &d, &n, &e) == RG_OK);
    CHECK_EQ_INT(n, 4);
    CHECK_STREQ(d, "data");
    free(d);
    CHECK_EQ_INT(rg_file_read(path, 2, &d, &n, &e), RG_LIMIT);
    CHECK(strstr(e.msg, "over the limit") != NULL);
    CHECK_EQ_INT(rg_file_read("/nonexistent/x", 2, &d, &n, &e), RG_IO);
}

RG_TEST(core_cpu_detect) {
    const rg_cpu_features *f = rg_cpu_get();
    rg_cpu_level l = rg_cpu_level_get();
    if (l >= RG_CPU_AVX2) CHECK(f->avx2 && f->fma);
    if (l == RG_CPU_AVX512) CHECK(f->avx512f && f->avx512bw);
    rg_cpu_level_force(RG_CPU_SCALAR);
    CHECK_EQ_INT(rg_cpu_level_get(), RG_CPU_SCALAR);
    rg_cpu_level_force(-1);
}
