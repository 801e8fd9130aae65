/* bench_guard.c - PII detection quality (per-type precision/recall on the
 * generated labelled set of tests/guard_testset.h) and redaction
 * throughput on one core.
 *
 * usage: bench_guard [--per-type N] [--mb MB] [--misses]  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/guard_testset.h"
#include "core/buf.h"
#include "core/clock.h"
#include "guard/guard.h"

static double ratio(unsigned a, unsigned b) { return b ? (double)a / b : 1.0; }

/* Realistic mixed text: mostly prose (Chinese and English) with PII at a
 * rate of about one value per 400 bytes. */
static char *make_corpus(const gt_set *t, size_t want, size_t *len) {
    static const char *prose[] = {
        "The quarterly report shows revenue growth across all regions, with the strongest "
        "demand in enterprise storage and managed services. ",
        "本季度报告显示各地区收入均有增长，其中企业存储和托管服务需求最为强劲，"
        "客户满意度持续提升，团队将继续优化交付流程。",
        "Please review the attached contract before Friday and send comments to the legal "
        "team; the meeting room is booked from 10:30 to 12:00. ",
        "根据《个人信息保护法》的要求，处理敏感个人信息应当取得个人的单独同意，"
        "并采取严格的保护措施。"};
    char *buf = malloc(want + 1024);
    size_t n = 0, i = 0;
    while (n < want) {
        const char *p = prose[i % 4];
        size_t pl = strlen(p);
        memcpy(buf + n, p, pl);
        n += pl;
        if (i % 2 == 0) {
            const char *s = t->v[(i * 7) % t->n].text;
            size_t sl = strlen(s);
            memcpy(buf + n, s, sl);
            n += sl;
            buf[n++] = '\n';
        }
        i++;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    int per = 100, misses = 0;
    double mb = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--per-type") && i + 1 < argc) per = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--misses")) misses = 1;
    }
    rg_guard *g;
    rg_err err;
    if (rg_guard_open(&g, NULL, 0, &err)) {
        fprintf(stderr, "bench_guard: %s\n", rg_err_text(&err));
        return 1;
    }
    gt_set t;
    gt_build(&t, 20261128, per);
    gt_score sc;
    gt_eval(g, &t, &sc, misses ? stderr : NULL);
    printf("labelled set: %zu positives, %zu hard negatives (seed 20261128)\n", t.npos, t.nneg);
    printf("%-12s %5s %5s %5s %9s %7s %s\n", "type", "TP", "FP", "FN", "precision", "recall",
           "kind");
    unsigned ctp = 0, cfp = 0, cfn = 0, ptp = 0, pfp = 0, pfn = 0;
    for (int k = 0; k < RG_PII__COUNT; k++) {
        printf("%-12s %5u %5u %5u %9.4f %7.4f %s\n", rg_pii_type_name(k), sc.tp[k], sc.fp[k],
               sc.fn[k], ratio(sc.tp[k], sc.tp[k] + sc.fp[k]), ratio(sc.tp[k], sc.tp[k] + sc.fn[k]),
               rg_pii_type_checksummed(k) ? "checksum" : "pattern");
        if (rg_pii_type_checksummed(k)) ctp += sc.tp[k], cfp += sc.fp[k], cfn += sc.fn[k];
        else ptp += sc.tp[k], pfp += sc.fp[k], pfn += sc.fn[k];
    }
    printf("%-12s %5u %5u %5u %9.4f %7.4f\n", "checksum", ctp, cfp, cfn, ratio(ctp, ctp + cfp),
           ratio(ctp, ctp + cfn));
    printf("%-12s %5u %5u %5u %9.4f %7.4f\n", "pattern", ptp, pfp, pfn, ratio(ptp, ptp + pfp),
           ratio(ptp, ptp + pfn));

    /* throughput: scan only, and scan + redact, one core */
    size_t len;
    char *text = make_corpus(&t, (size_t)(mb * 1e6), &len);
    rg_buf out;
    rg_buf_init(&out, 0);
    rg_guard_stats st;
    double best_scan = 1e9, best_red = 1e9, cpu_scan = 1e9, cpu_red = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        rg_guard_finding *f;
        size_t n;
        /* this thread's CPU seconds beside wall time: on a loaded machine
         * wall time measures the neighbours */
        double c0 = rg_thread_cpu_s(), t0 = rg_now_s();
        rg_guard_scan(g, text, len, &f, &n, &err);
        double t1 = rg_now_s(), c1 = rg_thread_cpu_s();
        free(f);
        rg_buf_reset(&out);
        double c2 = rg_thread_cpu_s(), t2 = rg_now_s();
        rg_guard_redact(g, text, len, &out, &st);
        double t3 = rg_now_s(), c3 = rg_thread_cpu_s();
        if (c1 - c0 < cpu_scan) cpu_scan = c1 - c0;
        if (c3 - c2 < cpu_red) cpu_red = c3 - c2;
        if (t1 - t0 < best_scan) best_scan = t1 - t0;
        if (t3 - t2 < best_red) best_red = t3 - t2;
    }
    printf("throughput, 1 thread, %.1f MB mixed zh/en text, %u findings:\n"
           "  per CPU-second: detect %.0f MB/s, redact %.0f MB/s   (goal >= 100 MB/s)\n"
           "  wall clock:     detect %.0f MB/s, redact %.0f MB/s   (shared machine: includes "
           "waiting for a core)\n"
           "  peer: Presidio has regex recognizers in Python and no Chinese types; not in "
           "BASELINES.md, not measured here\n",
           len / 1e6, st.total, len / 1e6 / cpu_scan, len / 1e6 / cpu_red, len / 1e6 / best_scan,
           len / 1e6 / best_red);
    free(text);
    rg_buf_free(&out);
    gt_free(&t);
    rg_guard_free(g);
    return 0;
}
