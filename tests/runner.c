/* runner.c - runs every registered test (and every tests/e2e/<name>.sh) in its
 * own process with a timeout; prints one line per test and a summary.
 *
 *   build/test_ragd [-v] [-t SECONDS] [FILTER...]
 *
 * A FILTER matches when it is a substring of the test's name or file.
 * Exit status: 0 when nothing failed. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct {
    const char *name, *file;
    rg_test_fn fn;
    char *script; /* e2e script path, or NULL */
} test_entry;

static test_entry *g_tests;
static int g_ntests, g_cap;
int rg_test_failures;
static char g_tmpdir[PATH_MAX];

void rg_test_register(const char *name, const char *file, rg_test_fn fn) {
    if (g_ntests == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 64;
        g_tests = realloc(g_tests, (size_t)g_cap * sizeof *g_tests);
        if (!g_tests) abort();
    }
    g_tests[g_ntests++] = (test_entry){name, file, fn, NULL};
}

const char *rg_test_fixtures(void) {
    static char path[PATH_MAX];
    const char *env = getenv("RAGD_SHARED");
    snprintf(path, sizeof path, "%s/fixtures", env ? env : "../shared");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return path;
    return NULL;
}

const char *rg_test_fixtures_or_skip(void) {
    const char *f = rg_test_fixtures();
    if (!f) RG_SKIP("../shared/fixtures is absent (set RAGD_SHARED to its parent)");
    return f;
}

const char *rg_test_tmpdir(void) { return g_tmpdir; }

const char *rg_test_ragd_bin(void) {
    static char path[PATH_MAX];
    const char *env = getenv("RAGD_BIN");
    if (env) return env;
    if (!realpath("ragd", path)) snprintf(path, sizeof path, "./ragd");
    return path;
}

unsigned long long rg_test_rand(unsigned long long *s) {
    /* splitmix64 */
    unsigned long long z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double rg_test_randf(unsigned long long *s) { return (double)(rg_test_rand(s) >> 11) * 0x1.0p-53; }

double rg_test_randn(unsigned long long *s) {
    double u1 = rg_test_randf(s), u2 = rg_test_randf(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void rm_rf(const char *path) {
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

static void add_scripts(void) {
    DIR *d = opendir("tests/e2e");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".sh") != 0) continue;
        char *p = malloc(strlen("tests/e2e/") + n + 1);
        sprintf(p, "tests/e2e/%s", e->d_name);
        rg_test_register(strdup(e->d_name), p, NULL);
        g_tests[g_ntests - 1].script = p;
    }
    closedir(d);
}

static int cmp_tests(const void *a, const void *b) {
    const test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    int timeout = 600, verbose = 0, nfilter = 0;
    char **filters = calloc((size_t)argc, sizeof *filters);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) timeout = atoi(argv[++i]);
        else filters[nfilter++] = argv[i];
    }
    if (!getenv("RAGD_NO_E2E")) add_scripts();
    qsort(g_tests, (size_t)g_ntests, sizeof *g_tests, cmp_tests);
    setvbuf(stdout, NULL, _IONBF, 0);
    int passed = 0, failed = 0, skipped = 0;
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/ragd-test-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    mkdir(base, 0755);
    for (int i = 0; i < g_ntests; i++) {
        test_entry *t = &g_tests[i];
        if (nfilter) {
            int ok = 0;
            for (int f = 0; f < nfilter; f++)
                if (strstr(t->name, filters[f]) || strstr(t->file, filters[f])) ok = 1;
            if (!ok) continue;
        }
        if (snprintf(g_tmpdir, sizeof g_tmpdir, "%s/%d", base, i) >= (int)sizeof g_tmpdir) continue;
        mkdir(g_tmpdir, 0755);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0);
            if (t->script) {
                setenv("RAGD_TEST_TMP", g_tmpdir, 1);
                setenv("RAGD_BIN", rg_test_ragd_bin(), 1);
                execlp("bash", "bash", t->script, (char *)NULL);
                _exit(127);
            }
            alarm((unsigned)timeout);
            t->fn();
            fflush(stdout);
            _exit(rg_test_failures ? 1 : 0);
        }
        int status = 0;
        time_t start = time(NULL);
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) break;
            if (time(NULL) - start > timeout) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                fprintf(stderr, "  timed out after %d s\n", timeout);
                status = -1;
                break;
            }
            usleep(2000);
        }
        kill(-pid, SIGKILL); /* leftovers of e2e scripts (servers) */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        const char *verdict;
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) verdict = "ok", passed++;
        else if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == RG_SKIP_CODE)
            verdict = "skip", skipped++;
        else verdict = "FAIL", failed++;
        if (status != -1 && WIFSIGNALED(status))
            fprintf(stderr, "  killed by signal %d\n", WTERMSIG(status));
        printf("%-4s %-44s %s (%.2fs)\n", verdict, t->name, t->file, secs);
        (void)verbose;
        if (!getenv("RAGD_KEEP_TMP")) rm_rf(g_tmpdir);
    }
    if (!getenv("RAGD_KEEP_TMP")) rm_rf(base);
    printf("%d skipped\n", skipped);
    printf("%d passed, %d failed\n", passed, failed);
    free(filters);
    return failed ? 1 : 0;
}
