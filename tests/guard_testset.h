/* guard_testset.h - a generated, labelled PII test set for the guard:
 * positives of every type (valid checksums, several formats, full-width
 * digits, separators) embedded in Chinese and English sentences, and hard
 * negatives (order numbers, timestamps, IDs/cards/codes/IBANs with a wrong
 * check character, versions, times, prices, UUIDs...).  Shared by
 * tests/test_guard.c (asserts the figures) and bench/bench_guard.c
 * (prints them).  Header-only: everything is static. */
#ifndef RG_TESTS_GUARD_TESTSET_H
#define RG_TESTS_GUARD_TESTSET_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"

typedef struct gt_sample {
    char text[600];
    int ngold;
    int gtype[2];
    size_t gs[2], ge[2];
    int neg_kind; /* 0 for positives; >0 names a hard-negative family */
} gt_sample;

typedef struct gt_set {
    gt_sample *v;
    size_t n, cap;
    size_t npos, nneg;
} gt_set;

static unsigned long long gt_rng(unsigned long long *s) {
    unsigned long long z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int gt_r(unsigned long long *s, int n) { return (int)(gt_rng(s) % (unsigned long long)n); }

static gt_sample *gt_push(gt_set *t) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        if (!t->v) abort();
    }
    gt_sample *s = &t->v[t->n++];
    memset(s, 0, sizeof *s);
    return s;
}

/* Appends formatted text to a sample. */
static void gt_cat(gt_sample *s, const char *fmt, ...) {
    size_t l = strlen(s->text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->text + l, sizeof s->text - l, fmt, ap);
    va_end(ap);
}
/* Appends a value and records it as gold of type t. */
static void gt_val(gt_sample *s, int t, const char *v) {
    size_t l = strlen(s->text);
    gt_cat(s, "%s", v);
    s->gtype[s->ngold] = t;
    s->gs[s->ngold] = l;
    s->ge[s->ngold] = strlen(s->text);
    s->ngold++;
}

/* ---- value generators (valid) --------------------------------------------- */

static const int GT_PROV[] = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42,
                              43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65};

static void gt_digits(unsigned long long *r, char *out, int n) {
    for (int k = 0; k < n; k++) out[k] = (char)('0' + gt_r(r, 10));
    out[n] = 0;
}

static char gt_id_check(const char *d17) {
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int s = 0;
    for (int k = 0; k < 17; k++) s += (d17[k] - '0') * w[k];
    return "10X98765432"[s % 11];
}

/* 18-digit resident ID; bad: 1 wrong check digit, 2 impossible date. */
static void gt_cn_id(unsigned long long *r, char *out, int bad) {
    int y = 1940 + gt_r(r, 70), m = 1 + gt_r(r, 12), d = 1 + gt_r(r, 28);
    if (bad == 2) m = 13 + gt_r(r, 7);
    char reg[8];
    gt_digits(r, reg, 4);
    char seq[4];
    gt_digits(r, seq, 3);
    snprintf(out, 64, "%02d%s%04d%02d%02d%s", GT_PROV[gt_r(r, 31)], reg, y, m, d, seq);
    char c = gt_id_check(out);
    if (bad == 1) {
        const char *all = "0123456789X";
        char c2;
        do c2 = all[gt_r(r, 11)];
        while (c2 == c);
        c = c2;
    }
    out[17] = c;
    out[18] = 0;
}

static void gt_cn_id15(unsigned long long *r, char *out) {
    char reg[8], seq[4];
    gt_digits(r, reg, 4);
    gt_digits(r, seq, 3);
    snprintf(out, 64, "%02d%s%02d%02d%02d%s", GT_PROV[gt_r(r, 31)], reg, 40 + gt_r(r, 59),
             1 + gt_r(r, 12), 1 + gt_r(r, 28), seq);
}

static void gt_uscc(unsigned long long *r, char *out, int bad) {
    static const char cs[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    out[0] = "159"[gt_r(r, 3)];
    out[1] = "1239"[gt_r(r, 4)];
    snprintf(out + 2, 3, "%02d", GT_PROV[gt_r(r, 31)]); /* region code */
    for (int k = 4; k < 8; k++) out[k] = (char)('0' + gt_r(r, 10));
    for (int k = 8; k < 17; k++) out[k] = gt_r(r, 3) ? (char)('0' + gt_r(r, 10)) : cs[10 + gt_r(r, 21)];
    int s = 0;
    for (int k = 0; k < 17; k++) s += (int)(strchr(cs, out[k]) - cs) * w[k];
    int c = 31 - s % 31;
    if (c == 31) c = 0;
    if (bad) c = (c + 1 + gt_r(r, 30)) % 31;
    out[17] = cs[c];
    out[18] = 0;
}

static int gt_luhn_digit(const char *d, int n) { /* check digit for d[0..n) */
    int s = 0;
    for (int k = 0; k < n; k++) {
        int v = d[n - 1 - k] - '0';
        if (!(k & 1)) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        s += v;
    }
    return (10 - s % 10) % 10;
}

static void gt_card(unsigned long long *r, char *out, int *len, int bad) {
    static const struct {
        const char *pre;
        int len;
    } b[] = {{"4", 16}, {"4", 16}, {"51", 16}, {"55", 16}, {"2223", 16}, {"34", 15}, {"37", 15},
             {"62", 16}, {"62", 19}, {"6222", 19}, {"6228", 19}, {"6217", 19}, {"353", 16},
             {"6011", 16}, {"65", 16}, {"36", 14}, {"4", 13}};
    int k = gt_r(r, (int)(sizeof b / sizeof b[0]));
    int n = b[k].len;
    size_t pl = strlen(b[k].pre);
    memcpy(out, b[k].pre, pl);
    gt_digits(r, out + pl, n - 1 - (int)pl);
    int c = gt_luhn_digit(out, n - 1);
    if (bad) c = (c + 1 + gt_r(r, 9)) % 10;
    out[n - 1] = (char)('0' + c);
    out[n] = 0;
    *len = n;
}

static void gt_iban(unsigned long long *r, char *out, int bad) {
    static const struct {
        const char *cc;
        const char *shape; /* n digit, a upper letter */
    } c[] = {{"DE", "nnnnnnnnnnnnnnnnnn"}, {"GB", "aaaannnnnnnnnnnnnn"}, {"FR", "nnnnnnnnnnnnnnnnnnnnnnn"},
             {"NL", "aaaannnnnnnnnn"}, {"ES", "nnnnnnnnnnnnnnnnnnnn"}, {"IT", "annnnnnnnnnnnnnnnnnnnnn"},
             {"CH", "nnnnnnnnnnnnnnnnn"}, {"BE", "nnnnnnnnnnnn"}, {"AT", "nnnnnnnnnnnnnnnn"}};
    int k = gt_r(r, 9);
    char bban[40];
    size_t n = strlen(c[k].shape);
    for (size_t i = 0; i < n; i++)
        bban[i] = c[k].shape[i] == 'n' ? (char)('0' + gt_r(r, 10)) : (char)('A' + gt_r(r, 26));
    bban[n] = 0;
    /* check digits: 98 - (BBAN + CC + "00") mod 97 */
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%s%s00", bban, c[k].cc);
    int m = 0;
    for (char *p = tmp; *p; p++) {
        if (*p >= '0' && *p <= '9') m = (m * 10 + (*p - '0')) % 97;
        else m = (m * 100 + (*p - 'A' + 10)) % 97;
    }
    int chk = 98 - m;
    if (bad) chk = (chk + 1 + gt_r(r, 90)) % 97 + 2;
    snprintf(out, 64, "%s%02d%.34s", c[k].cc, chk, bban);
}

/* Inserts sep every g chars (g > 0) */
static void gt_group(const char *in, int g, const char *sep, char *out, size_t cap) {
    size_t w = 0, n = strlen(in);
    for (size_t k = 0; k < n && w + 8 < cap; k++) {
        if (k && g && k % (size_t)g == 0) w += (size_t)snprintf(out + w, cap - w, "%s", sep);
        out[w++] = in[k];
    }
    out[w] = 0;
}

/* ASCII digits -> full-width */
static void gt_fullwidth(const char *in, char *out, size_t cap) {
    size_t w = 0;
    for (const char *p = in; *p && w + 4 < cap; p++) {
        if (*p >= '0' && *p <= '9') {
            out[w++] = (char)0xEF;
            out[w++] = (char)0xBC;
            out[w++] = (char)(0x90 + (*p - '0'));
        } else if (*p == 'X') {
            out[w++] = (char)0xEF;
            out[w++] = (char)0xBC;
            out[w++] = (char)0xB8;
        } else {
            out[w++] = *p;
        }
    }
    out[w] = 0;
}

static void gt_mobile(unsigned long long *r, char *d11) {
    static const char *pre[] = {"130", "131", "132", "133", "135", "136", "137", "138", "139",
                                "145", "147", "150", "151", "152", "155", "156", "157", "158",
                                "159", "166", "170", "173", "176", "177", "178", "180", "181",
                                "182", "183", "185", "186", "187", "188", "189", "191", "198", "199"};
    memcpy(d11, pre[gt_r(r, 37)], 3);
    gt_digits(r, d11 + 3, 8);
}

/* ---- sentence templates ----------------------------------------------------- */

typedef struct gt_tpl {
    const char *pre, *post;
} gt_tpl;
static const gt_tpl GT_ZH[] = {{"我的%s是", "，请帮我核实一下。"},
                               {"%s：", "。"},
                               {"经核对，客户%s为", "，已登记在案。"},
                               {"", " 是他上周留下的%s"},
                               {"请把", "（%s）填入表格第三栏"}};
static const gt_tpl GT_EN[] = {{"My %s is ", ", please verify it."},
                               {"%s: ", "."},
                               {"The customer gave ", " as the %s yesterday."},
                               {"", " was recorded as the %s"},
                               {"Please write (", ") into the %s field"}};

static void gt_embed(unsigned long long *r, gt_set *t, int type, const char *zh, const char *en,
                     const char *value, int tpl_lo) {
    gt_sample *s = gt_push(t);
    int en_lang = gt_r(r, 2);
    int k = tpl_lo + gt_r(r, 5 - tpl_lo);
    const gt_tpl *tp = en_lang ? &GT_EN[k] : &GT_ZH[k];
    const char *label = en_lang ? en : zh;
    if (strstr(tp->pre, "%s")) gt_cat(s, tp->pre, label);
    else gt_cat(s, "%s", tp->pre);
    gt_val(s, type, value);
    if (strstr(tp->post, "%s")) gt_cat(s, tp->post, label);
    else gt_cat(s, "%s", tp->post);
    t->npos++;
}

static void gt_neg(gt_set *t, int kind, const char *fmt, ...) {
    gt_sample *s = gt_push(t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->text, sizeof s->text, fmt, ap);
    va_end(ap);
    s->neg_kind = kind;
    t->nneg++;
}

static const char GT_SUR[][7] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
                                 "徐", "孙", "马", "朱", "胡", "郭", "林", "罗", "郑", "梁",
                                 "谢", "宋", "唐", "韩", "冯", "邓", "曹", "彭", "曾", "欧阳",
                                 "诸葛", "司马"};
static const char GT_GIVEN[][4] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋",
                                   "勇", "艳", "杰", "娟", "涛", "明", "超", "秀", "霞", "平",
                                   "刚", "桂", "英", "华", "玉", "兰", "萍", "红", "建", "志",
                                   "辉", "宇", "浩", "欣", "怡", "佳", "涵", "梓", "轩", "博",
                                   "晨", "雪", "琳", "晓", "鹏", "飞", "斌", "峰", "凯", "婷"};

/* Builds the whole set (deterministic for a seed). */
static void gt_build(gt_set *t, unsigned long long seed, int per_type) {
    unsigned long long rs = seed, *r = &rs;
    char v[128], g[160];
    memset(t, 0, sizeof *t);
    for (int i = 0; i < per_type; i++) {
        /* resident ID: plain, 6-8-4 spaced, full-width, lowercase x; legacy 15 */
        gt_cn_id(r, v, 0);
        int f = gt_r(r, 5);
        if (f == 1) {
            snprintf(g, sizeof g, "%.6s %.8s %.4s", v, v + 6, v + 14);
        } else if (f == 2) {
            gt_fullwidth(v, g, sizeof g);
        } else if (f == 3 && v[17] == 'X') {
            snprintf(g, sizeof g, "%.17sx", v);
        } else if (f == 4 && i % 4 == 0) {
            gt_cn_id15(r, v);
            snprintf(g, sizeof g, "%s", v);
            gt_embed(r, t, RG_PII_CN_ID, "身份证号", "ID card number", g, 0);
            continue;
        } else {
            snprintf(g, sizeof g, "%s", v);
        }
        gt_embed(r, t, RG_PII_CN_ID, "身份证号", "ID number", g, 0);

        gt_uscc(r, v, 0);
        gt_embed(r, t, RG_PII_CN_USCC, "统一社会信用代码", "credit code", v, 0);

        int cl;
        gt_card(r, v, &cl, 0);
        f = gt_r(r, 4);
        if (f == 1 && cl == 16) gt_group(v, 4, " ", g, sizeof g);
        else if (f == 2 && cl == 16) gt_group(v, 4, "-", g, sizeof g);
        else if (f == 3 && cl == 19) gt_group(v, 4, " ", g, sizeof g);
        else snprintf(g, sizeof g, "%s", v);
        gt_embed(r, t, RG_PII_CARD, "银行卡号", "card number", g, 0);

        gt_iban(r, v, 0);
        if (gt_r(r, 2)) gt_group(v, 4, " ", g, sizeof g);
        else snprintf(g, sizeof g, "%s", v);
        gt_embed(r, t, RG_PII_IBAN, "国际银行账号", "IBAN", g, 0);

        char d[16];
        gt_mobile(r, d);
        f = gt_r(r, 6);
        if (f == 1) snprintf(g, sizeof g, "%.3s %.4s %.4s", d, d + 3, d + 7);
        else if (f == 2) snprintf(g, sizeof g, "%.3s-%.4s-%.4s", d, d + 3, d + 7);
        else if (f == 3) snprintf(g, sizeof g, "+86 %s", d);
        else if (f == 4) gt_fullwidth(d, g, sizeof g);
        else if (f == 5) snprintf(g, sizeof g, "+86-%.3s-%.4s-%.4s", d, d + 3, d + 7);
        else snprintf(g, sizeof g, "%s", d);
        gt_embed(r, t, RG_PII_CN_MOBILE, "手机号", "mobile number", g, 0);

        static const char *area[] = {"010", "021", "020", "022", "023", "024", "025", "027", "028",
                                     "029", "0755", "0571", "0512", "0731", "0898", "0351"};
        int a = gt_r(r, 16);
        int ll = strlen(area[a]) == 3 ? 8 : (gt_r(r, 2) ? 8 : 7);
        gt_digits(r, d, ll);
        d[0] = (char)('2' + gt_r(r, 7));
        f = gt_r(r, 4);
        if (f == 0) snprintf(g, sizeof g, "%s-%s", area[a], d);
        else if (f == 1) snprintf(g, sizeof g, "(%s)%s", area[a], d);
        else if (f == 2) snprintf(g, sizeof g, "%s %s", area[a], d);
        else snprintf(g, sizeof g, "+86 %s %s", area[a] + 1, d);
        gt_embed(r, t, RG_PII_CN_LANDLINE, "座机", "office phone", g, 0);

        static const char *intl[] = {"+1 415 555 %04d", "+44 20 7946 %04d", "+49 30 1234%04d",
                                     "+81 3-1234-%04d", "(415) 555-%04d", "212-555-%04d",
                                     "+33 1 42 68 %02d 00", "+61 2 9374 %04d", "+852 2345 %04d"};
        snprintf(g, sizeof g, intl[gt_r(r, 9)], gt_r(r, 100) + (gt_r(r, 2) ? 1000 : 0));
        gt_embed(r, t, RG_PII_PHONE, "电话", "phone", g, 0);

        static const char *users[] = {"zhang.san", "li_si", "wangwu88", "john.doe", "mary+news",
                                      "chen-lei", "admin", "x.y.z"};
        static const char *doms[] = {"example.com", "163.com", "qq.com", "mail.example.cn",
                                     "corp.example.co.uk", "gmail.com"};
        snprintf(g, sizeof g, "%s%d@%s", users[gt_r(r, 8)], gt_r(r, 100), doms[gt_r(r, 6)]);
        gt_embed(r, t, RG_PII_EMAIL, "邮箱", "email", g, 0);

        snprintf(g, sizeof g, "%d.%d.%d.%d", 1 + gt_r(r, 223), gt_r(r, 256), gt_r(r, 256),
                 1 + gt_r(r, 254));
        gt_embed(r, t, RG_PII_IPV4, "IP地址", "IP address", g, 0);

        if (gt_r(r, 2))
            snprintf(g, sizeof g, "2001:db8:%x:%x:%x:%x:%x:%x", gt_r(r, 65536), gt_r(r, 65536),
                     gt_r(r, 65536), gt_r(r, 65536), gt_r(r, 65536), gt_r(r, 65536));
        else
            snprintf(g, sizeof g, "fe80::%x:%x:%x", gt_r(r, 65536), gt_r(r, 65536), gt_r(r, 65536));
        gt_embed(r, t, RG_PII_IPV6, "IPv6地址", "IPv6 address", g, 0);

        const char *hx = gt_r(r, 2) ? "0123456789ABCDEF" : "0123456789abcdef";
        char sep = gt_r(r, 2) ? ':' : '-';
        size_t w = 0;
        for (int k = 0; k < 6; k++) {
            g[w++] = hx[gt_r(r, 16)];
            g[w++] = hx[gt_r(r, 16)];
            if (k < 5) g[w++] = sep;
        }
        g[w] = 0;
        gt_embed(r, t, RG_PII_MAC, "MAC地址", "MAC address", g, 0);

        gt_digits(r, d, 8);
        f = gt_r(r, 3);
        if (f == 0) snprintf(g, sizeof g, "E%s", d);
        else if (f == 1) snprintf(g, sizeof g, "E%c%.7s", "ABCDEFGH"[gt_r(r, 8)], d);
        else snprintf(g, sizeof g, "G%s", d);
        gt_embed(r, t, RG_PII_CN_PASSPORT, "护照号", "passport", g, 0);

        gt_digits(r, d, 10);
        f = gt_r(r, 3);
        if (f == 0) snprintf(g, sizeof g, "C%.8s", d);
        else if (f == 1) snprintf(g, sizeof g, "H%.8s", d);
        else snprintf(g, sizeof g, "M%.8s", d);
        gt_embed(r, t, RG_PII_HKMO_PERMIT, "港澳通行证", "HK/Macau permit", g, 0);

        static const char *prov[] = {"京", "沪", "粤", "苏", "浙", "川", "鄂", "鲁", "豫", "闽"};
        static const char pl[] = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
        char tail[8];
        for (int k = 0; k < 5; k++) tail[k] = pl[gt_r(r, 34)];
        tail[0] = (char)('0' + gt_r(r, 10));
        tail[4] = (char)('0' + gt_r(r, 10));
        tail[5] = 0;
        if (gt_r(r, 4) == 0) snprintf(g, sizeof g, "%sA·%s", prov[gt_r(r, 10)], tail);
        else if (gt_r(r, 3) == 0) snprintf(g, sizeof g, "%s%cD%s", prov[gt_r(r, 10)], "ABCE"[gt_r(r, 4)], tail);
        else snprintf(g, sizeof g, "%s%c%s", prov[gt_r(r, 10)], "ABCDEFG"[gt_r(r, 7)], tail);
        gt_embed(r, t, RG_PII_CN_PLATE, "车牌号", "plate", g, 0);

        static const char *urls[] = {"https://example.com/user/%d?ref=mail", "http://intranet.example.cn/hr/%d",
                                     "www.example.org/p/%d", "https://www.example.com/a/b/%d.html"};
        snprintf(g, sizeof g, urls[gt_r(r, 4)], gt_r(r, 100000));
        gt_embed(r, t, RG_PII_URL, "网址", "link", g, 0);

        int ssa = 1 + gt_r(r, 898);
        if (ssa == 666) ssa = 667;
        snprintf(g, sizeof g, "%03d-%02d-%04d", ssa, 1 + gt_r(r, 99), 1 + gt_r(r, 9999));
        gt_embed(r, t, RG_PII_US_SSN, "社会安全号", "SSN", g, 0);

        /* date of birth near a keyword */
        {
            static const char *mon[] = {"January", "February", "March", "April", "May", "June",
                                        "July", "August", "September", "October", "November",
                                        "December"};
            int y = 1940 + gt_r(r, 70), m = 1 + gt_r(r, 12), dd = 1 + gt_r(r, 28);
            f = gt_r(r, 7);
            if (f == 0) snprintf(g, sizeof g, "%04d-%02d-%02d", y, m, dd);
            else if (f == 1) snprintf(g, sizeof g, "%04d/%d/%d", y, m, dd);
            else if (f == 2) snprintf(g, sizeof g, "%04d年%d月%d日", y, m, dd);
            else if (f == 3) snprintf(g, sizeof g, "%02d/%02d/%04d", dd, m, y);
            else if (f == 4) snprintf(g, sizeof g, "%s %d, %04d", mon[m - 1], dd, y);
            else if (f == 5) snprintf(g, sizeof g, "%d %s %04d", dd, mon[m - 1], y);
            else snprintf(g, sizeof g, "%04d%02d%02d", y, m, dd);
            static const gt_tpl dob[] = {{"出生日期：", "，籍贯浙江。"}, {"他的生日是", "。"},
                                         {"该患者出生于", "，既往体健。"}, {"Date of birth: ", "."},
                                         {"DOB ", " (verified)"}, {"She was born on ", " in Wuhan."},
                                         {"Birthday: ", ", married"}};
            int k = gt_r(r, 7);
            gt_sample *s = gt_push(t);
            gt_cat(s, "%s", dob[k].pre);
            gt_val(s, RG_PII_DOB, g);
            gt_cat(s, "%s", dob[k].post);
            t->npos++;
        }
        /* Chinese names with context */
        {
            char name[32];
            snprintf(name, sizeof name, "%s%s%s", GT_SUR[gt_r(r, 32)], GT_GIVEN[gt_r(r, 50)],
                     gt_r(r, 3) ? GT_GIVEN[gt_r(r, 50)] : "");
            static const gt_tpl nm[] = {{"患者", "，男，45岁，因胸痛入院。"},
                                        {"姓名：", "  性别：女"},
                                        {"您好，", "先生，您的快递已到。"},
                                        {"请", "女士到3号窗口办理。"},
                                        {"联系人：", "，电话见附件。"},
                                        {"Patient 患者", " was discharged."},
                                        {"申请人", "于2023年提交材料。"},
                                        {"收件人 ", " 北京市海淀区"}};
            int k = gt_r(r, 8);
            gt_sample *s = gt_push(t);
            gt_cat(s, "%s", nm[k].pre);
            gt_val(s, RG_PII_CN_NAME, name);
            gt_cat(s, "%s", nm[k].post);
            t->npos++;
        }
    }

    /* ---- hard negatives ---- */
    int nn = per_type * 16;
    for (int i = 0; i < nn; i++) {
        char d[64];
        int kind = 1 + i % 16, cl;
        switch (kind) {
        case 1: /* date-prefixed order number */
            gt_digits(r, d, 8);
            gt_neg(t, kind, "订单号：2023%02d%02d%s，请于三日内付款。", 1 + gt_r(r, 12),
                   1 + gt_r(r, 28), d);
            break;
        case 2: /* order/tracking numbers with context */
            gt_digits(r, d, 12 + gt_r(r, 8));
            gt_neg(t, kind, gt_r(r, 2) ? "Order #%s has shipped." : "快递单号 %s 已签收", d);
            break;
        case 3: /* timestamps */
            gt_neg(t, kind, "2023-%02d-%02d %02d:%02d:%02d 服务重启，epoch %d%03d",
                   1 + gt_r(r, 12), 1 + gt_r(r, 28), gt_r(r, 24), gt_r(r, 60), gt_r(r, 60),
                   1600000000 + gt_r(r, 100000000), gt_r(r, 1000));
            break;
        case 4: /* IDs with a wrong check digit or date */
            gt_cn_id(r, d, 1 + gt_r(r, 2));
            gt_neg(t, kind, "身份证号：%s（校验失败）", d);
            break;
        case 5: /* cards failing Luhn */
            gt_card(r, d, &cl, 1);
            gt_neg(t, kind, "卡号 %s 无效", d);
            break;
        case 6: /* USCC with a wrong check char */
            gt_uscc(r, d, 1);
            gt_neg(t, kind, "统一社会信用代码：%s", d);
            break;
        case 7: /* IBAN with wrong check digits */
            gt_iban(r, d, 1);
            gt_neg(t, kind, "IBAN %s rejected", d);
            break;
        case 8: /* versions, decimals, prices */
            gt_neg(t, kind, "Upgrade to v%d.%d.%d; pi is 3.%d; total ¥%d,%03d.%02d", gt_r(r, 9),
                   gt_r(r, 30), gt_r(r, 50), 14159265 + gt_r(r, 1000), 1 + gt_r(r, 999),
                   gt_r(r, 1000), gt_r(r, 100));
            break;
        case 9: /* clock times, ratios, scores */
            gt_neg(t, kind, "会议 %02d:%02d:%02d 开始，比分 %d:%d，比例 16:9", gt_r(r, 24),
                   gt_r(r, 60), gt_r(r, 60), gt_r(r, 5), gt_r(r, 5));
            break;
        case 10: /* UUIDs, hashes */
            gt_neg(t, kind, "request %08x-%04x-4%03x-a%03x-%08x%04x commit %08x%08x",
                   (unsigned)gt_rng(r), gt_r(r, 65536), gt_r(r, 4096), gt_r(r, 4096),
                   (unsigned)gt_rng(r), gt_r(r, 65536), (unsigned)gt_rng(r), (unsigned)gt_rng(r));
            break;
        case 11: /* not-a-mobile 11 digits (second digit 0-2), postcodes, counts */
            gt_digits(r, d, 9);
            gt_neg(t, kind, "编号 1%c%s，邮编 %06d，阅读量 %d", "012"[gt_r(r, 3)], d,
                   100000 + gt_r(r, 800000), gt_r(r, 10000000));
            break;
        case 12: /* dates without a birth keyword */
            gt_neg(t, kind, "合同于%d年%d月%d日签订，%04d-%02d-%02d 生效。", 2000 + gt_r(r, 24),
                   1 + gt_r(r, 12), 1 + gt_r(r, 28), 2000 + gt_r(r, 24), 1 + gt_r(r, 12),
                   1 + gt_r(r, 28));
            break;
        case 13: /* text with surnames but no name context */
            gt_neg(t, kind, "%s", (const char *[]){"王者荣耀是一款游戏，张家界风景很美。",
                                                   "黄河和长江是中国的两条大河。",
                                                   "周末我们去高新区的林荫道散步。",
                                                   "李子和杨梅都是夏天的水果。"}[gt_r(r, 4)]);
            break;
        case 14: /* almost-emails, almost-IPs */
            gt_neg(t, kind, "mention @team, user@localhost, %d.%d.%d, 999.%d.%d.%d, a@b",
                   gt_r(r, 10), gt_r(r, 10), gt_r(r, 10), gt_r(r, 256), gt_r(r, 256), gt_r(r, 256));
            break;
        case 15: /* product codes, SKUs, invalid SSNs */
            gt_digits(r, d, 8);
            gt_neg(t, kind, "SKU E%s in stock; ref 000-%02d-%04d; 型号 X%.6s", d, gt_r(r, 100),
                   gt_r(r, 10000), d);
            break;
        case 16: /* 18-digit reference numbers and 15-digit numbers without ID context */
            gt_digits(r, d, 18);
            d[0] = '9';
            gt_neg(t, kind, "交易流水号 %s，批次 %.15s", d, d + 1);
            break;
        }
    }
}

static void gt_free(gt_set *t) {
    free(t->v);
    memset(t, 0, sizeof *t);
}

typedef struct gt_score {
    unsigned tp[RG_PII__COUNT], fp[RG_PII__COUNT], fn[RG_PII__COUNT];
} gt_score;

/* A gold span counts as found when a finding of its type covers it (the
 * raw value is then fully redacted); every other finding is a false
 * positive of its type. */
static void gt_eval(const rg_guard *g, const gt_set *t, gt_score *sc, FILE *misses) {
    memset(sc, 0, sizeof *sc);
    for (size_t i = 0; i < t->n; i++) {
        const gt_sample *s = &t->v[i];
        rg_guard_finding *f = NULL;
        size_t n = 0;
        rg_err err;
        if (rg_guard_scan(g, s->text, strlen(s->text), &f, &n, &err) != RG_OK) abort();
        int used[64] = {0};
        for (int k = 0; k < s->ngold; k++) {
            int hit = 0;
            for (size_t j = 0; j < n && j < 64; j++)
                if ((int)f[j].type == s->gtype[k] && f[j].start <= s->gs[k] && f[j].end >= s->ge[k]) {
                    hit = 1;
                    used[j] = 1;
                }
            if (hit) sc->tp[s->gtype[k]]++;
            else {
                sc->fn[s->gtype[k]]++;
                if (misses) fprintf(misses, "FN %s: %s\n", rg_pii_type_name(s->gtype[k]), s->text);
            }
        }
        for (size_t j = 0; j < n && j < 64; j++)
            if (!used[j]) {
                sc->fp[f[j].type]++;
                if (misses)
                    fprintf(misses, "FP %s [%.*s]: %s\n", rg_pii_type_name(f[j].type),
                            (int)(f[j].end - f[j].start), s->text + f[j].start, s->text);
            }
        free(f);
    }
}

#endif
