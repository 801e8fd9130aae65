/* cmd_redact.c - `ragd redact [--json] [--policy FILE]`: reads stdin,
 * writes the redacted text (or the findings as JSON) to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/limits.h"
#include "guard/guard.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ragd redact [--json] [--policy FILE] [--filter LIST] [--audit LOG]\n"
            "\n"
            "Reads text from stdin and writes it with personal data redacted\n"
            "(Chinese resident IDs, credit codes, bank cards, IBANs, phones, email,\n"
            "IPs, MACs, passports, permits, plates, URLs, birth dates, US SSNs,\n"
            "Chinese names).  See docs/guard.md.\n"
            "\n"
            "  --json          write the findings as JSON (types, byte spans,\n"
            "                  confidence, counts) instead of the text; never\n"
            "                  the raw values\n"
            "  --policy FILE   policy JSON: per-type op (mask|tag|hash|pseudonym|\n"
            "                  drop|keep), keep_first/keep_last, tag, hash_key,\n"
            "                  min_confidence\n"
            "  --filter LIST   also apply a word/pattern list (lines '[block|mask|flag]\n"
            "                  WORD' or '[action] re:PCRE2'); a block match exits 1\n"
            "  --audit LOG     append one audit line (types and counts, never values)\n"
            "                  to the hash-chained log LOG; check it with\n"
            "                  'ragd audit verify LOG'\n"
            "  --injection     score stdin for prompt-injection text; prints\n"
            "                  'score RULE' and exits 3 when flagged\n"
            "  --stats         print per-type counts to stderr\n");
}

int rg_cmd_redact(int argc, char **argv) {
    if (rg_cli_wants_help(argc, argv)) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    int json = 0, stats = 0, inj = 0;
    const char *policy = NULL, *filter = NULL, *audit = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--stats")) stats = 1;
        else if (!strcmp(argv[i], "--policy") && i + 1 < argc) policy = argv[++i];
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--audit") && i + 1 < argc) audit = argv[++i];
        else if (!strcmp(argv[i], "--injection")) inj = 1;
        else return rg_cli_usage("redact", "unknown or incomplete option '%s'", argv[i]);
    }
    rg_err err = {0};
    rg_guard *g = NULL;
    rg_status st = policy ? rg_guard_open_file(&g, policy, &err) : rg_guard_open(&g, NULL, 0, &err);
    if (st) return rg_cli_fail("redact", &err);

    rg_buf in, out;
    rg_buf_init(&in, RG_MAX_FILE_BYTES);
    rg_buf_init(&out, 0);
    char chunk[1 << 16];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (rg_buf_append(&in, chunk, r)) {
            fprintf(stderr, "ragd: redact: stdin: larger than %llu bytes\n",
                    (unsigned long long)RG_MAX_FILE_BYTES);
            rg_guard_free(g);
            rg_buf_free(&in);
            return RG_EXIT_RUNTIME;
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "ragd: redact: error reading stdin\n");
        rg_guard_free(g);
        rg_buf_free(&in);
        return RG_EXIT_RUNTIME;
    }
    const char *text = in.data ? in.data : "";
    int rc = RG_EXIT_OK;
    rg_guard_stats s;
    if (inj) {
        rg_injection_result ir;
        rg_guard_injection_check(text, in.len, 0, &ir);
        printf("%.2f %s\n", (double)ir.score, ir.first ? ir.first : "-");
        rg_guard_free(g);
        rg_buf_free(&in);
        rg_buf_free(&out);
        return ir.flagged ? 3 : RG_EXIT_OK;
    }
    rg_filter_list *fl = NULL;
    if (filter && rg_filter_list_open(&fl, filter, &err) != RG_OK) {
        rg_guard_free(g);
        rg_buf_free(&in);
        return rg_cli_fail("redact", &err);
    }
    if (json) {
        rg_guard_finding *f;
        size_t n;
        st = rg_guard_scan(g, text, in.len, &f, &n, &err);
        if (!st) st = rg_guard_findings_json(f, n, &out);
        if (!st) st = rg_buf_putc(&out, '\n');
        memset(&s, 0, sizeof s);
        for (size_t k = 0; k < n; k++) s.count[f[k].type]++, s.total++;
        free(f);
    } else if (fl) {
        /* the filter runs the guard too; count PII separately for --stats */
        rg_guard_finding *f;
        size_t n;
        memset(&s, 0, sizeof s);
        if (rg_guard_scan(g, text, in.len, &f, &n, &err) == RG_OK) {
            for (size_t k = 0; k < n; k++) s.count[f[k].type]++, s.total++;
            free(f);
        }
        uint32_t c[3];
        st = rg_filter_text(fl, g, text, in.len, &out, c);
        if (stats) fprintf(stderr, "filter: %u blocked, %u masked, %u flagged\n", c[2], c[1], c[0]);
        if (st == RG_DENIED) {
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
            rg_buf_reset(&out);
            fprintf(stderr, "ragd: redact: blocked by %s\n", filter);
        }
    } else {
        st = rg_guard_redact(g, text, in.len, &out, &s);
    }
    if (audit) {
        rg_audit *a;
        rg_err aerr = {0};
        rg_audit_record ar = {NULL, "cli:redact", NULL, NULL, 0, &s, st == RG_OK ? 0 : 1};
        rg_status ast = rg_audit_open(&a, audit, NULL, 0, &aerr);
        if (!ast) {
            ast = rg_audit_append(a, &ar, &aerr);
            rg_audit_close(a);
        }
        if (ast) {
            rg_filter_list_free(fl);
            rg_guard_free(g);
            rg_buf_free(&in);
            rg_buf_free(&out);
            return rg_cli_fail("redact", &aerr);
        }
    }
    rg_filter_list_free(fl);
    if (st == RG_DENIED) {
        rc = RG_EXIT_RUNTIME;
    } else if (st) {
        rg_failf(&err, st, "redaction failed: %s", rg_status_message(st));
        rc = rg_cli_fail("redact", &err);
    } else {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        if (stats) {
            rg_buf sj;
            rg_buf_init(&sj, 0);
            rg_guard_stats_json(&s, &sj);
            fprintf(stderr, "%s\n", sj.data);
            rg_buf_free(&sj);
        }
    }
    rg_guard_free(g);
    rg_buf_free(&in);
    rg_buf_free(&out);
    return rc;
}
