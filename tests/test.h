/* test.h - ragd's test harness: registration, checks, fixtures.
 *
 * Each test runs in its own forked process with a timeout (libuv's
 * runner), so a crash or hang fails that test only.  The runner ends with
 * the line "N passed, N failed".  A test that needs something absent
 * (../shared fixtures, a tool) calls RG_SKIP with the reason. */
#ifndef RG_TESTS_TEST_H
#define RG_TESTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*rg_test_fn)(void);
void rg_test_register(const char *name, const char *file, rg_test_fn fn);

#define RG_TEST(name)                                                        \
    static void name(void);                                                  \
    __attribute__((constructor)) static void name##__reg(void) {            \
        rg_test_register(#name, __FILE__, name);                             \
    }                                                                        \
    static void name(void)

extern int rg_test_failures;

#define RG_SKIP_CODE 77

/* CHECK records a failure and goes on; REQUIRE stops the test. */
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            rg_test_failures++;                                              \
        }                                                                    \
    } while (0)
#define CHECKF(cond, ...)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            rg_test_failures++;                                              \
        }                                                                    \
    } while (0)
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                         \
        }                                                                    \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                   \
    do {                                                                     \
        long long _a = (long long)(a), _b = (long long)(b);                  \
        if (_a != _b) {                                                      \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, _a, _b);                                         \
            rg_test_failures++;                                              \
        }                                                                    \
    } while (0)
#define CHECK_STREQ(a, b)                                                    \
    do {                                                                     \
        const char *_a = (a), *_b = (b);                                     \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                             \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, \
                    __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
            rg_test_failures++;                                              \
        }                                                                    \
    } while (0)
#define RG_SKIP(...)                                                         \
    do {                                                                     \
        fprintf(stderr, "  skipped: ");                                      \
        fprintf(stderr, __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                 \
        exit(RG_SKIP_CODE);                                                  \
    } while (0)

/* ../shared/fixtures (or $RAGD_SHARED/fixtures) when it exists, else NULL.
 * Static storage. */
const char *rg_test_fixtures(void);
/* Skips the test with a printed reason when the fixtures are absent;
 * returns the fixtures dir otherwise. */
const char *rg_test_fixtures_or_skip(void);
/* A fresh empty directory for this test (removed after the run unless
 * RAGD_KEEP_TMP is set).  Static storage. */
const char *rg_test_tmpdir(void);
/* Path of the built ragd binary (repository root). */
const char *rg_test_ragd_bin(void);
/* Deterministic PRNG for generated test data. */
unsigned long long rg_test_rand(unsigned long long *state);
double rg_test_randf(unsigned long long *state); /* [0,1) */
double rg_test_randn(unsigned long long *state); /* N(0,1) */

#endif
