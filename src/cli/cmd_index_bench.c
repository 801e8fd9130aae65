/* cmd_index_bench.c - `ragd index-bench`: builds a vector index over a
 * .fvecs file (or loads a saved one), computes exact ground truth when none
 * is given, and prints build time, memory and recall/QPS per ef, one line
 * per ef: `ef=64 recall=0.9551 qps=2704` (queries run one at a time on one
 * thread, like ANN-benchmarks' single-thread figures). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/limits.h"
#include "core/pool.h"
#include "index/index.h"

static const char *USAGE =
    "usage: ragd index-bench --base B.fvecs --queries Q.fvecs [options]\n"
    "\n"
    "Builds an index over B, runs Q against it and prints build seconds, index\n"
    "memory and, for each ef, recall@k and single-thread queries/s:\n"
    "  ef=64 recall=0.9551 qps=2704 cpu_qps=2810\n"
    "(qps: wall clock; cpu_qps: per second of the thread's CPU time, steadier\n"
    "on a busy machine)\n"
    "\n"
    "options:\n"
    "  --gt GT.ivecs          ground truth (row numbers of B, >= k per query);\n"
    "                         computed exactly when absent\n"
    "  --gt-out FILE.ivecs    write the (computed) ground truth\n"
    "  -k N                   neighbours per query (default 10)\n"
    "  --metric ip|cos|l2     distance (default ip)\n"
    "  -M N                   HNSW links per node (default 16)\n"
    "  --ef-construction N    HNSW build beam (default 200)\n"
    "  --ef LIST              comma-separated search beams (default 16,32,64,128,256)\n"
    "  -t N                   build threads (default: all CPUs)\n"
    "  --int8                 int8-quantised vectors, re-ranked with float copies\n"
    "  --int8-only            int8 vectors without float copies (least memory)\n"
    "  --flat                 exact flat index instead of HNSW\n"
    "  --save FILE            save the index after building\n"
    "  --load FILE            load a saved index instead of building (B still\n"
    "                         gives the ground truth when --gt is absent)\n"
    "  --limit N              use only the first N base vectors\n"
    "  --repeat N             time each ef N times, report the fastest pass\n"
    "                         (steadier on a shared machine; default 1)\n";

typedef struct {
    rg_index *ix;
    const float *q;
    size_t nq;
    int dim, k;
    int32_t *gt;
    atomic_int failed;
} gt_ctx;

static void gt_task(void *vctx, int ith, int nth) {
    gt_ctx *c = vctx;
    long lo, hi;
    rg_pool_split((long)c->nq, ith, nth, &lo, &hi);
    rg_index_hit *hits = malloc((size_t)c->k * sizeof *hits);
    if (!hits) {
        atomic_store(&c->failed, 1);
        return;
    }
    for (long i = lo; i < hi; i++) {
        int n = 0;
        rg_err err;
        if (rg_index_search_exact(c->ix, c->q + (size_t)i * c->dim, c->k, NULL, hits, &n, &err) !=
            RG_OK) {
            atomic_store(&c->failed, 1);
            break;
        }
        for (int j = 0; j < c->k; j++) c->gt[(size_t)i * c->k + j] = j < n ? (int32_t)hits[j].id : -1;
    }
    free(hits);
}

static double cpu_s(clockid_t which) {
    struct timespec ts;
    clock_gettime(which, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long pages = 0, res = 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int rg_cmd_index_bench(int argc, char **argv) {
    const char *cmd = "index-bench";
    if (rg_cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return RG_EXIT_OK;
    }
    const char *base_path = NULL, *q_path = NULL, *gt_path = NULL, *gt_out = NULL;
    const char *save_path = NULL, *load_path = NULL, *ef_list = "16,32,64,128,256";
    long k = 10, M = 16, efc = 200, threads = 0, limit = 0, repeat = 1;
    rg_index_params p;
    rg_index_params_default(&p);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                   \
    do {                                                                         \
        if (!v) return rg_cli_usage(cmd, "option %s needs a value", a);          \
        i++;                                                                     \
    } while (0)
        if (!strcmp(a, "--base")) { NEED(); base_path = v; }
        else if (!strcmp(a, "--queries")) { NEED(); q_path = v; }
        else if (!strcmp(a, "--gt")) { NEED(); gt_path = v; }
        else if (!strcmp(a, "--gt-out")) { NEED(); gt_out = v; }
        else if (!strcmp(a, "--save")) { NEED(); save_path = v; }
        else if (!strcmp(a, "--load")) { NEED(); load_path = v; }
        else if (!strcmp(a, "--ef")) { NEED(); ef_list = v; }
        else if (!strcmp(a, "-k")) {
            NEED();
            if (rg_cli_int(v, 1, RG_MAX_TOP_K, &k)) return rg_cli_usage(cmd, "-k: expected 1..%d, got '%s'", RG_MAX_TOP_K, v);
        } else if (!strcmp(a, "-M")) {
            NEED();
            if (rg_cli_int(v, 2, RG_INDEX_MAX_M, &M)) return rg_cli_usage(cmd, "-M: expected 2..%d, got '%s'", RG_INDEX_MAX_M, v);
        } else if (!strcmp(a, "--ef-construction")) {
            NEED();
            if (rg_cli_int(v, 1, RG_INDEX_MAX_EF, &efc)) return rg_cli_usage(cmd, "--ef-construction: expected 1..%d, got '%s'", RG_INDEX_MAX_EF, v);
        } else if (!strcmp(a, "-t")) {
            NEED();
            if (rg_cli_int(v, 1, RG_MAX_THREADS, &threads)) return rg_cli_usage(cmd, "-t: expected 1..%d, got '%s'", RG_MAX_THREADS, v);
        } else if (!strcmp(a, "--limit")) {
            NEED();
            if (rg_cli_int(v, 1, 2000000000L, &limit)) return rg_cli_usage(cmd, "--limit: expected a positive count, got '%s'", v);
        } else if (!strcmp(a, "--repeat")) {
            NEED();
            if (rg_cli_int(v, 1, 100, &repeat)) return rg_cli_usage(cmd, "--repeat: expected 1..100, got '%s'", v);
        } else if (!strcmp(a, "--metric")) {
            NEED();
            if (!strcmp(v, "ip")) p.metric = RG_INDEX_IP;
            else if (!strcmp(v, "cos") || !strcmp(v, "cosine")) p.metric = RG_INDEX_COSINE;
            else if (!strcmp(v, "l2")) p.metric = RG_INDEX_L2;
            else return rg_cli_usage(cmd, "--metric: expected ip, cos or l2, got '%s'", v);
        } else if (!strcmp(a, "--int8")) { p.storage = RG_INDEX_I8; p.rerank = true; }
        else if (!strcmp(a, "--int8-only")) { p.storage = RG_INDEX_I8; p.rerank = false; }
        else if (!strcmp(a, "--flat")) p.kind = RG_INDEX_FLAT;
        else return rg_cli_usage(cmd, "unknown option '%s'", a);
#undef NEED
    }
    if (!q_path) return rg_cli_usage(cmd, "--queries is required");
    if (!base_path && !load_path) return rg_cli_usage(cmd, "--base or --load is required");
    if (!gt_path && !base_path && !load_path) return rg_cli_usage(cmd, "--gt or --base is required");
    int efs[64], n_ef = 0;
    {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", ef_list);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            long e;
            if (n_ef == 64 || rg_cli_int(tok, 1, RG_INDEX_MAX_EF, &e))
                return rg_cli_usage(cmd, "--ef: expected up to 64 comma-separated values in 1..%d, got '%s'",
                                    RG_INDEX_MAX_EF, ef_list);
            efs[n_ef++] = (int)e;
        }
        if (!n_ef) return rg_cli_usage(cmd, "--ef: empty list");
    }

    rg_err err;
    rg_err_clear(&err);
    int rc = RG_EXIT_RUNTIME;
    float *base = NULL, *qs = NULL;
    int32_t *gt = NULL;
    size_t nb = 0, nq = 0, ngt = 0;
    int dim = 0, qdim = 0, gtk = 0;
    rg_index *ix = NULL;
    rg_index_hit *hits = NULL;
    uint64_t *ids = NULL;
    if (rg_fvecs_read(q_path, &qs, &nq, &qdim, &err) != RG_OK) goto fail;
    if (base_path) {
        if (rg_fvecs_read(base_path, &base, &nb, &dim, &err) != RG_OK) goto fail;
        if (limit && (size_t)limit < nb) nb = (size_t)limit;
        if (dim != qdim) {
            rg_failf(&err, RG_FORMAT, "%s has dimension %d but %s has %d", q_path, qdim, base_path, dim);
            goto fail;
        }
    }
    double t_build = 0;
    long rss0 = rss_kib();
    if (load_path) {
        double t0 = rg_now_s();
        if (rg_index_load(load_path, &ix, &err) != RG_OK) goto fail;
        rg_index_get_params(ix, &p);
        printf("loaded %s: %zu vectors in %.2f s\n", load_path, rg_index_count(ix), rg_now_s() - t0);
        if (p.dim != qdim) {
            rg_failf(&err, RG_FORMAT, "%s has dimension %d but %s has %d", q_path, qdim, load_path, p.dim);
            goto fail;
        }
        dim = p.dim;
    } else {
        p.dim = dim;
        p.M = (int)M;
        p.ef_construction = (int)efc;
        if (rg_index_new(&p, &ix, &err) != RG_OK) goto fail;
        ids = malloc(nb * sizeof *ids);
        if (!ids) {
            rg_failf(&err, RG_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < nb; i++) ids[i] = i;
        printf("base: %zu x %d, queries: %zu, k=%ld, metric=%s, %s M=%ld ef_construction=%ld, "
               "storage=%s%s, threads=%d\n",
               nb, dim, nq, k, p.metric == RG_INDEX_L2 ? "l2" : p.metric == RG_INDEX_IP ? "ip" : "cos",
               p.kind == RG_INDEX_FLAT ? "flat" : "hnsw", M, efc,
               p.storage == RG_INDEX_I8 ? "int8" : "f32", p.rerank ? "+rerank" : "",
               threads ? (int)threads : rg_cpu_count());
        fflush(stdout);
        double t0 = rg_now_s(), c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
        if (rg_index_add_batch(ix, nb, ids, base, (int)threads, &err) != RG_OK) goto fail;
        t_build = rg_now_s() - t0;
        printf("build: %.2f s (%.0f vectors/s, cpu %.1f s)\n", t_build,
               (double)nb / (t_build > 0 ? t_build : 1e-9), cpu_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
    }
    printf("memory: %.1f MiB (index), rss +%.1f MiB\n", (double)rg_index_memory(ix) / (1 << 20),
           (double)(rss_kib() - rss0) / 1024);
    if (save_path) {
        double t0 = rg_now_s();
        if (rg_index_save(ix, save_path, &err) != RG_OK) goto fail;
        printf("saved %s in %.2f s\n", save_path, rg_now_s() - t0);
    }
    fflush(stdout);

    if (gt_path) {
        if (rg_ivecs_read(gt_path, &gt, &ngt, &gtk, &err) != RG_OK) goto fail;
        if (ngt < nq || gtk < k) {
            rg_failf(&err, RG_FORMAT, "%s: %zu rows of %d neighbours, need %zu rows of >= %ld", gt_path,
                     ngt, gtk, nq, k);
            goto fail;
        }
    } else {
        /* exact ground truth from the index's own exact scan (float data) */
        gtk = (int)k;
        gt = malloc(nq * (size_t)k * sizeof *gt);
        if (!gt) {
            rg_failf(&err, RG_NOMEM, "out of memory");
            goto fail;
        }
        double t0 = rg_now_s();
        gt_ctx c = {.ix = ix, .q = qs, .nq = nq, .dim = dim, .k = (int)k, .gt = gt};
        atomic_init(&c.failed, 0);
        rg_pool *pool = rg_pool_new(threads ? (int)threads : 0);
        rg_pool_run(pool, gt_task, &c);
        rg_pool_free(pool);
        if (atomic_load(&c.failed)) {
            rg_failf(&err, RG_NOMEM, "exact search failed");
            goto fail;
        }
        printf("ground truth: exact scan, %.2f s\n", rg_now_s() - t0);
        if (gt_out && rg_ivecs_write(gt_out, gt, nq, (int)k, &err) != RG_OK) goto fail;
    }
    hits = malloc((size_t)k * sizeof *hits);
    if (!hits) {
        rg_failf(&err, RG_NOMEM, "out of memory");
        goto fail;
    }
    for (int e = 0; e < n_ef; e++) {
        size_t found = 0;
        double dt = 1e30, dc = 1e30;
        for (long r = 0; r < repeat; r++) {
            double t0 = rg_now_s(), c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
            for (size_t i = 0; i < nq; i++) {
                int n = 0;
                if (rg_index_search(ix, qs + i * (size_t)dim, (int)k, efs[e], NULL, hits, &n, &err) != RG_OK)
                    goto fail;
                (void)n;
            }
            double t = rg_now_s() - t0, c = cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0;
            if (t < dt) dt = t;
            if (c < dc) dc = c;
        }
        /* recall is computed in a second pass so the timing covers searches only */
        for (size_t i = 0; i < nq; i++) {
            int n = 0;
            if (rg_index_search(ix, qs + i * (size_t)dim, (int)k, efs[e], NULL, hits, &n, &err) != RG_OK)
                goto fail;
            const int32_t *g = gt + i * (size_t)gtk;
            for (int j = 0; j < n; j++)
                for (long t = 0; t < k; t++)
                    if ((int64_t)hits[j].id == g[t]) {
                        found++;
                        break;
                    }
        }
        printf("ef=%d recall=%.4f qps=%.0f cpu_qps=%.0f\n", efs[e],
               (double)found / ((double)nq * (double)k), (double)nq / (dt > 0 ? dt : 1e-9),
               (double)nq / (dc > 0 ? dc : 1e-9));
        fflush(stdout);
    }
    rc = RG_EXIT_OK;
    goto done;
fail:
    rg_cli_fail(cmd, &err);
done:
    rg_index_free(ix);
    free(base);
    free(qs);
    free(gt);
    free(hits);
    free(ids);
    return rc;
}
