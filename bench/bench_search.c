/* bench_search.c - BM25 index build and query latency on a generated corpus.
 *
 *   bench_search gen   --out DIR [--chunks 100000] [--queries 1000] [--seed 42]
 *       writes DIR/corpus.tsv (id TAB source TAB title TAB body, the layout
 *       of fixtures/lex and fts5bench.c) and DIR/queries.txt (2-4 distinct
 *       words drawn from one chunk, so every query matches under AND too).
 *   bench_search run   --corpus DIR/corpus.tsv --queries DIR/queries.txt [--k 10]
 *       builds ragd's index over the bodies (like fts5bench: body only) and
 *       times top-k queries in OR mode (any word) and AND mode (+w1 +w2 ...)
 *       on one thread; prints build chunks/s, index size, QPS, mean, p99.
 *
 * Words are pronounceable pseudo-words with a Zipf (s = 1.07) frequency
 * over a 60,000-word vocabulary, so document frequencies spread like real
 * text; chunks are 100-300 words like the debdocs corpus. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "text/text.h"

static unsigned long long g_rng = 42;
static unsigned long long rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static double rndf(void) { return (rnd() >> 11) * (1.0 / 9007199254740992.0); }

#define VOCAB 60000
static char *g_words[VOCAB];
static double g_cdf[VOCAB];

static void make_vocab(void) {
    static const char *on[] = {"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s",
                               "t", "v", "w", "z", "br", "st", "tr", "pl", "gr", "ch", "sh"};
    static const char *nu[] = {"a", "e", "i", "o", "u", "ai", "ou", "ea"};
    for (int i = 0; i < VOCAB; i++) {
        char w[64];
        size_t n = 0;
        int syl = 1 + (int)(rnd() % 3) + (i > 2000) + (i > 20000);
        for (int s = 0; s < syl; s++) {
            n += (size_t)snprintf(w + n, sizeof w - n, "%s%s", on[rnd() % 24], nu[rnd() % 8]);
        }
        if (rnd() % 3 == 0) n += (size_t)snprintf(w + n, sizeof w - n, "%s", on[rnd() % 17]);
        g_words[i] = strdup(w);
    }
    double z = 0;
    for (int i = 0; i < VOCAB; i++) z += 1.0 / pow(i + 1, 1.07);
    double c = 0;
    for (int i = 0; i < VOCAB; i++) {
        c += 1.0 / pow(i + 1, 1.07) / z;
        g_cdf[i] = c;
    }
}

static int zipf(void) {
    double u = rndf();
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int m = (lo + hi) / 2;
        if (g_cdf[m] < u) lo = m + 1;
        else hi = m;
    }
    return lo;
}

static int cmd_gen(const char *out, long nchunks, long nq) {
    make_vocab();
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus.tsv", out);
    FILE *f = fopen(path, "w");
    snprintf(path, sizeof path, "%s/queries.txt", out);
    FILE *q = fopen(path, "w");
    if (!f || !q) {
        fprintf(stderr, "bench_search: cannot write into %s\n", out);
        return 1;
    }
    long qevery = nchunks / nq > 0 ? nchunks / nq : 1, written = 0;
    for (long i = 0; i < nchunks; i++) {
        int len = 100 + (int)(rnd() % 201);
        int *ids = malloc(sizeof(int) * (size_t)len);
        fprintf(f, "%ld\tgen/doc%ld.txt\t%s %s\t", i + 1, i / 8, g_words[zipf()], g_words[zipf()]);
        for (int j = 0; j < len; j++) {
            ids[j] = zipf();
            fprintf(f, "%s%s", j ? " " : "", g_words[ids[j]]);
            if (j % 17 == 16) fputc('.', f);
        }
        fputc('\n', f);
        if (i % qevery == 0 && written < nq) {
            /* 2-4 distinct words of this chunk, skipping the 100 most common */
            int want = 2 + (int)(rnd() % 3), got = 0, pick[4];
            for (int t = 0; t < 200 && got < want; t++) {
                int w = ids[rnd() % (unsigned)len], dup = w < 100;
                for (int k = 0; k < got && !dup; k++) dup = pick[k] == w;
                if (!dup) pick[got++] = w;
            }
            if (got >= 2) {
                for (int k = 0; k < got; k++) fprintf(q, "%s%s", k ? " " : "", g_words[pick[k]]);
                fputc('\n', q);
                written++;
            }
        }
        free(ids);
    }
    fclose(f);
    fclose(q);
    printf("generated %ld chunks, %ld queries in %s\n", nchunks, written, out);
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run_queries(rg_text_index *ix, rg_text_analyzer *a, char **qs, int nq, int and_mode,
                        int k) {
    double *lat = malloc(sizeof(double) * (size_t)nq);
    rg_text_hit *h = malloc(sizeof(rg_text_hit) * (size_t)k);
    long hits = 0;
    char buf[4096];
    for (int pass = 0; pass < 2; pass++) { /* pass 0 warms up */
        double t0 = rg_now_s();
        for (int i = 0; i < nq; i++) {
            const char *q = qs[i];
            if (and_mode) {
                size_t o = 0;
                buf[o++] = '+';
                for (const char *p = q; *p && o < sizeof buf - 3; p++) {
                    buf[o++] = *p;
                    if (*p == ' ') buf[o++] = '+';
                }
                buf[o] = 0;
                q = buf;
            }
            double s = rg_now_s();
            size_t n = 0;
            rg_text_search(ix, a, q, strlen(q), NULL, (size_t)k, h, &n, NULL);
            lat[i] = rg_now_s() - s;
            if (pass) hits += (long)n;
        }
        double total = rg_now_s() - t0;
        if (!pass) continue;
        qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
        double mean = 0;
        for (int i = 0; i < nq; i++) mean += lat[i];
        mean /= nq;
        int i99 = (int)ceil(0.99 * nq) - 1;
        printf("ragd  mode=%s queries=%d  QPS=%.1f  mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f  avg_hits=%.1f\n",
               and_mode ? "and" : "or ", nq, nq / total, mean * 1e3, lat[nq / 2] * 1e3, lat[i99] * 1e3,
               (double)hits / nq);
    }
    free(lat);
    free(h);
}

static int cmd_run(const char *corpus, const char *queries, int k) {
    rg_text_analyzer *a;
    rg_err err;
    if (rg_text_analyzer_new(NULL, &a, &err) != RG_OK) return 1;
    FILE *f = fopen(corpus, "r");
    if (!f) {
        fprintf(stderr, "bench_search: cannot open %s\n", corpus);
        return 1;
    }
    rg_text_builder *b;
    rg_text_builder_new(a, &b, NULL);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long n = 0;
    double bytes = 0, t0 = rg_now_s();
    while ((len = getline(&line, &cap, f)) > 0) {
        char *p = line;
        for (int i = 0; i < 3 && p; i++) {
            p = strchr(p, '\t');
            if (p) p++;
        }
        if (!p) continue;
        size_t bl = strlen(p);
        if (bl && p[bl - 1] == '\n') bl--;
        if (rg_text_builder_add(b, atol(line), p, bl, &err) != RG_OK) {
            fprintf(stderr, "bench_search: %s\n", rg_err_text(&err));
            return 1;
        }
        n++;
        bytes += (double)len;
    }
    fclose(f);
    rg_text_index *ix;
    if (rg_text_builder_finish(b, &ix, &err) != RG_OK) return 1;
    double bt = rg_now_s() - t0;
    printf("ragd  build: %ld chunks in %.2f s = %.0f chunks/s, %.1f MB/s; %zu terms, index %.1f MiB in memory\n",
           n, bt, n / bt, bytes / 1048576.0 / bt, rg_text_index_terms(ix),
           rg_text_index_bytes(ix) / 1048576.0);
    f = fopen(queries, "r");
    if (!f) return 1;
    char **qs = NULL;
    int nq = 0, qcap = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (nq == qcap) {
            qcap = qcap ? qcap * 2 : 1024;
            qs = realloc(qs, sizeof(char *) * (size_t)qcap);
        }
        qs[nq++] = strdup(line);
    }
    fclose(f);
    free(line);
    run_queries(ix, a, qs, nq, 1, k);
    run_queries(ix, a, qs, nq, 0, k);
    for (int i = 0; i < nq; i++) free(qs[i]);
    free(qs);
    rg_text_index_free(ix);
    rg_text_analyzer_free(a);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_search gen|run ... (see the top of bench_search.c)\n");
        return 2;
    }
    const char *out = NULL, *corpus = NULL, *queries = NULL;
    long nchunks = 100000, nq = 1000, k = 10;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--chunks")) nchunks = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) {
            if (!strcmp(argv[1], "gen")) nq = atol(argv[i + 1]);
            else queries = argv[i + 1];
        } else if (!strcmp(argv[i], "--corpus")) corpus = argv[i + 1];
        else if (!strcmp(argv[i], "--seed")) g_rng = (unsigned long long)atoll(argv[i + 1]) | 1;
        else if (!strcmp(argv[i], "--k")) k = atol(argv[i + 1]);
    }
    if (!strcmp(argv[1], "gen") && out && nchunks > 0 && nq > 0) return cmd_gen(out, nchunks, nq);
    if (!strcmp(argv[1], "run") && corpus && queries && k > 0 && k <= 1000)
        return cmd_run(corpus, queries, (int)k);
    fprintf(stderr, "bench_search: bad arguments\n");
    return 2;
}
