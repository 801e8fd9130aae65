/* test_guard.c - the compliance guard: detection quality on a generated
 * labelled set (the acceptance figures), checksum vectors, operators,
 * policy parsing, vault round trips, the log filter, and invariants on
 * random input. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "guard/guard.h"
#include "guard_testset.h"
#include "test.h"

static rg_guard *open_policy(const char *json) {
    rg_guard *g = NULL;
    rg_err err;
    rg_status st = rg_guard_open(&g, json, json ? strlen(json) : 0, &err);
    if (st) fprintf(stderr, "  policy error: %s\n", rg_err_text(&err));
    REQUIRE(st == RG_OK && g);
    return g;
}

static char *redact(const rg_guard *g, const char *text, rg_guard_stats *st) {
    rg_buf b;
    rg_buf_init(&b, 0);
    REQUIRE(rg_guard_redact(g, text, strlen(text), &b, st) == RG_OK);
    return rg_buf_detach(&b, NULL);
}

/* The acceptance check: >= 1,000 positives and >= 1,000 hard negatives;
 * checksum types precision and recall >= 0.99, pattern types recall >=
 * 0.95, each type on its own.  Two seeds so the figures are not tuned to
 * one draw. */
RG_TEST(guard_labelled_set_quality) {
    rg_guard *g = open_policy(NULL);
    unsigned long long seeds[2] = {1, 777};
    for (int si = 0; si < 2; si++) {
        gt_set t;
        gt_build(&t, seeds[si], 80);
        CHECKF(t.npos >= 1000, "positives %zu", t.npos);
        CHECKF(t.nneg >= 1000, "negatives %zu", t.nneg);
        gt_score sc;
        gt_eval(g, &t, &sc, stderr);
        for (int k = 0; k < RG_PII__COUNT; k++) {
            unsigned tp = sc.tp[k], fp = sc.fp[k], fn = sc.fn[k];
            double p = tp + fp ? (double)tp / (tp + fp) : 1, r = tp + fn ? (double)tp / (tp + fn) : 0;
            CHECKF(tp + fn >= 50, "%s: only %u positives", rg_pii_type_name(k), tp + fn);
            if (rg_pii_type_checksummed(k)) {
                CHECKF(p >= 0.99 && r >= 0.99, "seed %llu %s: precision %.4f recall %.4f", seeds[si],
                       rg_pii_type_name(k), p, r);
            } else {
                CHECKF(r >= 0.95, "seed %llu %s: recall %.4f", seeds[si], rg_pii_type_name(k), r);
            }
        }
        gt_free(&t);
    }
    rg_guard_free(g);
}

static int scan1(const rg_guard *g, const char *text, rg_guard_finding *one) {
    rg_guard_finding *f;
    size_t n;
    rg_err err;
    REQUIRE(rg_guard_scan(g, text, strlen(text), &f, &n, &err) == RG_OK);
    if (n && one) *one = f[0];
    free(f);
    return (int)n;
}

RG_TEST(guard_checksum_vectors) {
    rg_guard *g = open_policy(NULL);
    rg_guard_finding f;
    /* GB 11643 example ID (check digit X) */
    CHECK_EQ_INT(scan1(g, "ID 11010519491231002X ok", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_CN_ID);
    CHECK_EQ_INT(f.start, 3);
    CHECK_EQ_INT(f.end, 21);
    CHECK_EQ_INT(scan1(g, "ID 110105194912310021 ok", NULL), 0); /* wrong check digit */
    CHECK_EQ_INT(scan1(g, "ID 11010519491331002X ok", NULL), 0); /* month 13 */
    /* full-width digits and spaces inside */
    CHECK_EQ_INT(scan1(g, "身份证：１１０１０５１９４９１２３１００２Ｘ。", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_CN_ID);
    CHECK_EQ_INT(scan1(g, "身份证 110105 19491231 002X 已核验", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_CN_ID);
    /* Luhn */
    CHECK_EQ_INT(scan1(g, "card 4111 1111 1111 1111.", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_CARD);
    CHECK_EQ_INT(scan1(g, "card 4111 1111 1111 1112.", NULL), 0);
    CHECK_EQ_INT(scan1(g, "银联卡 6222021234567890128 号", NULL) <= 1, 1);
    /* IBAN mod 97 */
    CHECK_EQ_INT(scan1(g, "IBAN GB82 WEST 1234 5698 7654 32 please", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_IBAN);
    CHECK_EQ_INT(scan1(g, "IBAN GB83 WEST 1234 5698 7654 32 please", NULL), 0);
    /* USCC (GB 32100) */
    CHECK_EQ_INT(scan1(g, "代码 91350100M000100Y43 。", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_CN_USCC);
    CHECK_EQ_INT(scan1(g, "代码 91350100M000100Y44 。", NULL), 0);
    /* mobiles: 11 digits not starting 1[3-9] are not mobiles */
    CHECK_EQ_INT(scan1(g, "电话13800138000。", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_CN_MOBILE);
    CHECK_EQ_INT(scan1(g, "编号12800138000。", NULL), 0);
    CHECK_EQ_INT(scan1(g, "x138001380001y", NULL), 0); /* inside a longer token */
    /* an email that starts with a mobile number is one email */
    CHECK_EQ_INT(scan1(g, "mail 13800138000@163.com now", &f), 1);
    CHECK_EQ_INT(f.type, RG_PII_EMAIL);
    CHECK_EQ_INT(f.start, 5);
    rg_guard_free(g);
}

RG_TEST(guard_mask_example_from_issue) {
    /* find an ID of the form 110...1234 and check the documented mask */
    char id[48]; /* room for any int the format could print (-Wformat-truncation) */
    int found = 0;
    for (int day = 1; day <= 28 && !found; day++)
        for (int mon = 1; mon <= 12 && !found; mon++) {
            snprintf(id, sizeof id, "110101%04d%02d%02d123", 1980, mon, day);
            if (gt_id_check(id) == '4') {
                id[17] = '4';
                id[18] = 0;
                found = 1;
            }
        }
    REQUIRE(found);
    rg_guard *g = open_policy(NULL);
    char text[64];
    snprintf(text, sizeof text, "身份证%s。", id);
    char *out = redact(g, text, NULL);
    CHECK_STREQ(out, "身份证110***********1234。");
    free(out);
    out = redact(g, "手机 138-0013-8000", NULL);
    CHECK_STREQ(out, "手机 138-****-8000");
    free(out);
    rg_guard_free(g);
}

RG_TEST(guard_operators) {
    rg_guard *g = open_policy("{\"hash_key\":\"k1\",\"types\":{"
                              "\"cn_mobile\":{\"op\":\"hash\"},"
                              "\"email\":{\"op\":\"drop\"},"
                              "\"ipv4\":{\"op\":\"keep\"},"
                              "\"cn_id\":{\"op\":\"tag\",\"tag\":\"<身份证>\"},"
                              "\"card\":{\"op\":\"mask\",\"keep_first\":6,\"keep_last\":4,\"mask_char\":\"#\"}}}");
    rg_guard_stats st;
    char *out = redact(g, "a 13800138000 b x@example.com c 10.0.0.1 d 11010519491231002X e 4111111111111111", &st);
    CHECK(strstr(out, "13800138000") == NULL);
    CHECK(strstr(out, "[CN_MOBILE:") != NULL);
    CHECK(strstr(out, "x@example.com") == NULL);
    CHECK(strstr(out, "b  c") != NULL); /* dropped */
    CHECK(strstr(out, "10.0.0.1") != NULL);
    CHECK(strstr(out, "<身份证>") != NULL);
    CHECK(strstr(out, "411111######1111") != NULL);
    CHECK_EQ_INT(st.total, 5);
    CHECK_EQ_INT(st.count[RG_PII_CN_MOBILE], 1);
    /* the keyed hash ignores formatting and depends on the key */
    char *o2 = redact(g, "a 138 0013 8000", NULL);
    char *h1 = strstr(out, "[CN_MOBILE:"), *h2 = strstr(o2, "[CN_MOBILE:");
    REQUIRE(h1 && h2);
    CHECK(strncmp(h1, h2, 28) == 0);
    rg_guard *g2 = open_policy("{\"hash_key\":\"k2\",\"types\":{\"cn_mobile\":{\"op\":\"hash\"}}}");
    char *o3 = redact(g2, "a 13800138000", NULL);
    char *h3 = strstr(o3, "[CN_MOBILE:");
    REQUIRE(h3);
    CHECK(strncmp(h1, h3, 28) != 0);
    free(out);
    free(o2);
    free(o3);
    rg_guard_free(g);
    rg_guard_free(g2);
}

RG_TEST(guard_pseudonym_vault_roundtrip) {
    rg_guard *g = open_policy("{\"default\":{\"op\":\"pseudonym\"}}");
    rg_guard_vault *v = rg_guard_vault_new();
    REQUIRE(v);
    const char *prompt = "患者张伟，手机13800138000，邮箱 zw@example.com；复诊手机 138 0013 8000。";
    rg_buf b;
    rg_buf_init(&b, 0);
    REQUIRE(rg_guard_redact_vault(g, v, prompt, strlen(prompt), &b, NULL) == RG_OK);
    CHECK(strstr(b.data, "13800138000") == NULL);
    CHECK(strstr(b.data, "张伟") == NULL);
    CHECK(strstr(b.data, "[CN_MOBILE_1]") != NULL);
    CHECK(strstr(b.data, "[CN_MOBILE_2]") == NULL); /* same number, same placeholder */
    CHECK_EQ_INT(rg_guard_vault_count(v), 3);
    /* an upstream answer that uses the placeholders is restored */
    const char *answer = "已通知[CN_NAME_1]，将致电[CN_MOBILE_1]并抄送[EMAIL_1]；[CARD_9]未知。";
    rg_buf r;
    rg_buf_init(&r, 0);
    REQUIRE(rg_guard_vault_restore(v, answer, strlen(answer), &r) == RG_OK);
    CHECK_STREQ(r.data, "已通知张伟，将致电13800138000并抄送zw@example.com；[CARD_9]未知。");
    rg_buf_free(&b);
    rg_buf_free(&r);
    rg_guard_vault_free(v);
    rg_guard_free(g);
}

RG_TEST(guard_policy_errors) {
    rg_guard *g = NULL;
    rg_err err;
    const char *bad[] = {"{\"types\":{\"nope\":{}}}", "{\"types\":{\"email\":{\"op\":\"zap\"}}}",
                         "{\"min_confidence\":2}", "[1,2]", "{\"types\":{\"email\":{\"keep_first\":-1}}}",
                         "{\"version\":9}", "{\"bogus\":1}", "{\"types\":{\"email\":{\"mask_char\":\"ab\"}}}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CHECKF(rg_guard_open(&g, bad[k], strlen(bad[k]), &err) != RG_OK, "%s accepted", bad[k]);
        CHECK(g == NULL);
    }
    const char *broken = "{\n  \"types\": {\n    \"email\": {\"op\": \"tag\",}\n  }\n}";
    CHECK(rg_guard_open(&g, broken, strlen(broken), &err) == RG_FORMAT);
    CHECKF(strstr(rg_err_text(&err), "line 3") != NULL, "%s", rg_err_text(&err));
    /* disabling a type stops its detection */
    g = open_policy("{\"types\":{\"email\":{\"enabled\":false}}}");
    CHECK_EQ_INT(scan1(g, "mail a@example.com", NULL), 0);
    rg_guard_free(g);
    g = open_policy("{\"min_confidence\":0.7}");
    CHECK_EQ_INT(scan1(g, "王女士到了", NULL), 0); /* names are 0.65 */
    rg_guard_free(g);
}

RG_TEST(guard_log_filter_redacts_lines) {
    rg_guard *g = open_policy(NULL);
    char out[64];
    rg_guard_log_filter("user 11010519491231002X logged in from 10.1.2.3", out, sizeof out, g);
    CHECK(strstr(out, "11010519491231002X") == NULL);
    CHECK(strstr(out, "10.1.2.3") == NULL);
    char tiny[8];
    rg_guard_log_filter("电话13800138000电话13800138000", tiny, sizeof tiny, g);
    CHECK(strlen(tiny) < sizeof tiny);
    /* through core/log.h: stderr to a file, then grep it */
    const char *dir = rg_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/log.txt", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    rg_log_set_filter(rg_guard_log_filter, g);
    rg_log_set_level(RG_LOG_INFO);
    rg_info("payment from card 4111111111111111 by zhang.san@example.com");
    rg_log_set_filter(NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    char buf[1024] = {0};
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    CHECK(n > 0);
    CHECK(strstr(buf, "payment from card") != NULL);
    CHECK(strstr(buf, "4111111111111111") == NULL);
    CHECK(strstr(buf, "zhang.san@example.com") == NULL);
    rg_guard_free(g);
}

/* Random byte soup and random mixes of PII fragments: findings stay in
 * bounds, sorted, non-overlapping, on UTF-8 boundaries; redaction never
 * fails. */
RG_TEST(guard_random_input_invariants) {
    rg_guard *g = open_policy(NULL);
    unsigned long long s = 42;
    static const char *frag[] = {"1", "8", "X", "-", " ", "@", ".", ":", "+86", "(", ")", "京A",
                                 "患者", "先生", "出生", "０", "9", "ff", "::", "a", "E", "http://",
                                 "\xe4\xb8", "\xef\xbc", "身份证", "GB82"};
    char buf[512];
    for (int it = 0; it < 4000; it++) {
        size_t n = 0;
        if (it % 2) {
            n = (size_t)(rg_test_rand(&s) % sizeof buf);
            for (size_t k = 0; k < n; k++) buf[k] = (char)rg_test_rand(&s);
        } else {
            while (n < sizeof buf - 16) {
                const char *p = frag[rg_test_rand(&s) % (sizeof frag / sizeof frag[0])];
                size_t l = strlen(p);
                memcpy(buf + n, p, l);
                n += l;
                if (rg_test_rand(&s) % 9 == 0) break;
            }
        }
        rg_guard_finding *f;
        size_t nf;
        rg_err err;
        REQUIRE(rg_guard_scan(g, buf, n, &f, &nf, &err) == RG_OK);
        size_t prev = 0;
        for (size_t k = 0; k < nf; k++) {
            CHECK(f[k].start >= prev && f[k].end > f[k].start && f[k].end <= n);
            CHECK(f[k].confidence > 0 && f[k].confidence <= 1);
            prev = f[k].end;
        }
        free(f);
        rg_buf b;
        rg_buf_init(&b, 0);
        CHECK(rg_guard_redact(g, buf, n, &b, NULL) == RG_OK);
        rg_buf_free(&b);
    }
    rg_guard_free(g);
}

RG_TEST(guard_findings_json_has_no_raw_values) {
    rg_guard *g = open_policy(NULL);
    const char *text = "邮箱 li@example.com 手机 13912345678";
    rg_guard_finding *f;
    size_t n;
    rg_err err;
    REQUIRE(rg_guard_scan(g, text, strlen(text), &f, &n, &err) == RG_OK);
    rg_buf b;
    rg_buf_init(&b, 0);
    REQUIRE(rg_guard_findings_json(f, n, &b) == RG_OK);
    CHECK(strstr(b.data, "\"type\":\"email\"") != NULL);
    CHECK(strstr(b.data, "\"counts\":{\"cn_mobile\":1,\"email\":1}") != NULL);
    CHECK(strstr(b.data, "example") == NULL);
    CHECK(strstr(b.data, "13912345678") == NULL);
    free(f);
    rg_buf_free(&b);
    rg_guard_free(g);
}
