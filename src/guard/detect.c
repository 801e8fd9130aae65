/* detect.c - the PII detector: one hand-written pass over UTF-8 text.
 *
 * The main loop classifies each byte with a table and only does work at
 * candidate starts: a digit or letter at a word boundary, '+', '(', '@',
 * ':' and CJK characters present in a trigger bitmap (licence-plate
 * provinces, name context words, date-of-birth keywords).  Everything
 * else is skipped a token at a time.
 *
 * Invariants: findings are appended in increasing start order and never
 * overlap (every emit has start >= the previous end); every read of s[i]
 * is preceded by a check i < n; spans never split a UTF-8 sequence.
 * Full-width digits (U+FF10..FF19), full-width 'X', spaces and dashes
 * inside numbers are accepted. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard_int.h"

typedef unsigned char U;

typedef struct scan {
    const U *s;
    size_t n;
    size_t last_end; /* end of the last emitted finding */
    uint32_t en;     /* enabled types */
    rg__fvec *out;
} scan;

#define EN(sc, t) (((sc)->en >> (t)) & 1u)

static void emit(scan *sc, rg_pii_type t, size_t a, size_t b, float conf) {
    rg__fvec *o = sc->out;
    if (!EN(sc, t) || a < sc->last_end || b <= a) return;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 16;
        if (nc > RG_GUARD_MAX_FINDINGS) {
            o->oom = 1;
            return;
        }
        rg_guard_finding *v = realloc(o->v, nc * sizeof *v);
        if (!v) {
            o->oom = 1;
            return;
        }
        o->v = v;
        o->cap = nc;
    }
    o->v[o->n++] = (rg_guard_finding){t, a, b, conf};
    sc->last_end = b;
}

/* ---- character helpers ------------------------------------------------- */

static inline int is_digit(U c) { return c >= '0' && c <= '9'; }
static inline int is_upper(U c) { return c >= 'A' && c <= 'Z'; }
static inline int is_lower(U c) { return c >= 'a' && c <= 'z'; }
static inline int is_alpha(U c) { return is_upper(c) || is_lower(c); }
static inline int is_alnum(U c) { return is_digit(c) || is_alpha(c); }
static inline int is_hex(U c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static inline int hexval(U c) {
    return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Digit at i (ASCII or full-width): value 0-9 and *len bytes, else -1. */
static inline int dig(const scan *sc, size_t i, int *len) {
    if (i >= sc->n) return -1;
    U c = sc->s[i];
    if (is_digit(c)) {
        *len = 1;
        return c - '0';
    }
    if (c == 0xEF && i + 2 < sc->n && sc->s[i + 1] == 0xBC && sc->s[i + 2] >= 0x90 &&
        sc->s[i + 2] <= 0x99) {
        *len = 3;
        return sc->s[i + 2] - 0x90;
    }
    return -1;
}

/* Full-width ASCII letter or digit at i (EF BC 90-99 / A1-BA, EF BD 81-9A). */
static inline int fw_alnum(const scan *sc, size_t i) {
    if (i + 2 >= sc->n || sc->s[i] != 0xEF) return 0;
    U b = sc->s[i + 1], c = sc->s[i + 2];
    return (b == 0xBC && ((c >= 0x90 && c <= 0x99) || (c >= 0xA1 && c <= 0xBA))) ||
           (b == 0xBD && c >= 0x81 && c <= 0x9A);
}

/* 1 when the text before i continues a word/number (so i is no start). */
static int left_blocked(const scan *sc, size_t i) {
    if (i == 0) return 0;
    U c = sc->s[i - 1];
    if (is_alnum(c) || c == '_') return 1;
    if (c == '.' && i >= 2 && is_digit(sc->s[i - 2])) return 1; /* decimals */
    if (i >= 3 && c >= 0x80 && fw_alnum(sc, i - 3)) return 1;
    return 0;
}

/* 1 when the text at i continues the token (so the candidate ends badly). */
static int right_blocked(const scan *sc, size_t i) {
    if (i >= sc->n) return 0;
    U c = sc->s[i];
    if (is_alnum(c) || c == '_' || c == '@') return 1;
    if ((c == '.' || c == ',') && i + 1 < sc->n && is_digit(sc->s[i + 1])) return 1;
    if (c == 0xEF && fw_alnum(sc, i)) return 1;
    return 0;
}

/* Separator allowed inside a number: ' ', '-', full-width space/hyphen.
 * Returns its byte length and kind (' ' or '-'), or 0. */
static int num_sep(const scan *sc, size_t i, char *kind) {
    if (i >= sc->n) return 0;
    U c = sc->s[i];
    if (c == ' ' || c == '-') {
        *kind = (char)c;
        return 1;
    }
    if (i + 2 < sc->n) {
        if (c == 0xE3 && sc->s[i + 1] == 0x80 && sc->s[i + 2] == 0x80) {
            *kind = ' ';
            return 3;
        }
        if (c == 0xEF && sc->s[i + 1] == 0xBC && sc->s[i + 2] == 0x8D) {
            *kind = '-';
            return 3;
        }
    }
    return 0;
}

static int ascii_ieq(const U *a, const char *b, size_t n) {
    for (size_t k = 0; k < n; k++) {
        U c = a[k];
        if (c >= 'A' && c <= 'Z') c = (U)(c | 0x20);
        if (c != (U)b[k]) return 0;
    }
    return 1;
}

/* 1 when any keyword occurs in the window of w bytes before i (ASCII
 * keywords lowercase, compared case-insensitively). */
static int ctx_before(const scan *sc, size_t i, size_t w, const char *const *kw) {
    size_t a = i > w ? i - w : 0;
    for (const char *const *k = kw; *k; k++) {
        size_t kl = strlen(*k);
        if (kl > i - a) continue;
        for (size_t p = a; p + kl <= i; p++)
            if (sc->s[p] == (U)(*k)[0] || (sc->s[p] | 0x20) == (U)(*k)[0])
                if (ascii_ieq(sc->s + p, *k, kl)) return 1;
    }
    return 0;
}

/* Same, in the window of w bytes after i. */
static int ctx_after(const scan *sc, size_t i, size_t w, const char *const *kw) {
    size_t b = i + w < sc->n ? i + w : sc->n;
    for (const char *const *k = kw; *k; k++) {
        size_t kl = strlen(*k);
        for (size_t p = i; p + kl <= b; p++)
            if (ascii_ieq(sc->s + p, *k, kl)) return 1;
    }
    return 0;
}

static const char *const KW_ID[] = {"身份证", "证件", "公民身份", "id card", "id no", "identity",
                                    "id number", "resident id", NULL};
static const char *const KW_CARD[] = {"卡号", "银行卡", "信用卡", "借记卡", "储蓄卡", "账号",
                                      "帐号", "银联", "card", "visa", "mastercard", "account",
                                      "unionpay", "amex", NULL};
static const char *const KW_NEG[] = {"订单", "单号", "编号", "流水", "交易号", "发票", "快递",
                                     "运单", "批次", "序列号", "工单", "order", "invoice",
                                     "tracking", "serial", "sku", "txn", "transaction",
                                     "ref", "isbn", "batch", "ticket", NULL};
static const char *const KW_PASSPORT[] = {"护照", "passport", NULL};
static const char *const KW_PERMIT[] = {"通行证", "回乡证", "permit", NULL};

/* ---- checksums and validators ------------------------------------------ */

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
static int valid_date(int y, int m, int d) {
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1) return 0;
    return d <= dim[m - 1] + (m == 2 && leap(y));
}

static int cn_province(int p) {
    static const unsigned char ok[100] = {
        [11] = 1, [12] = 1, [13] = 1, [14] = 1, [15] = 1, [21] = 1, [22] = 1, [23] = 1,
        [31] = 1, [32] = 1, [33] = 1, [34] = 1, [35] = 1, [36] = 1, [37] = 1, [41] = 1,
        [42] = 1, [43] = 1, [44] = 1, [45] = 1, [46] = 1, [50] = 1, [51] = 1, [52] = 1,
        [53] = 1, [54] = 1, [61] = 1, [62] = 1, [63] = 1, [64] = 1, [65] = 1, [71] = 1,
        [81] = 1, [82] = 1, [83] = 1};
    return p >= 0 && p < 100 && ok[p];
}

/* d: 18 values (last may be 10 for 'X'). Region, birth date, MOD 11-2. */
static int cn_id18_valid(const U *d) {
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const int map[11] = {1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2};
    if (!cn_province(d[0] * 10 + d[1])) return 0;
    for (int k = 0; k < 17; k++)
        if (d[k] > 9) return 0;
    int y = d[6] * 1000 + d[7] * 100 + d[8] * 10 + d[9], m = d[10] * 10 + d[11],
        dd = d[12] * 10 + d[13];
    if (!valid_date(y, m, dd) || y > 2030) return 0;
    int s = 0;
    for (int k = 0; k < 17; k++) s += d[k] * w[k];
    return map[s % 11] == d[17];
}

/* 18 digits that look like an ID (region + date), checksum aside. */
static int cn_id18_shape(const U *d) {
    if (!cn_province(d[0] * 10 + d[1])) return 0;
    int y = d[6] * 1000 + d[7] * 100 + d[8] * 10 + d[9], m = d[10] * 10 + d[11],
        dd = d[12] * 10 + d[13];
    return valid_date(y, m, dd);
}

static int cn_id15_valid(const U *d) {
    if (!cn_province(d[0] * 10 + d[1])) return 0;
    int y = 1900 + d[6] * 10 + d[7], m = d[8] * 10 + d[9], dd = d[10] * 10 + d[11];
    return valid_date(y, m, dd);
}

static int luhn(const U *d, int n) {
    int s = 0;
    for (int k = 0; k < n; k++) {
        int v = d[n - 1 - k];
        if (k & 1) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        s += v;
    }
    return s % 10 == 0;
}

/* Issuer prefix plausible for a card of n digits. */
static int card_iin(const U *d, int n) {
    int p2 = d[0] * 10 + d[1], p3 = p2 * 10 + d[2], p4 = p3 * 10 + d[3];
    if (d[0] == 4) return n == 13 || n == 16 || n == 19;          /* Visa */
    if (p2 >= 51 && p2 <= 55) return n == 16;                     /* Mastercard */
    if (p4 >= 2221 && p4 <= 2720) return n == 16;                 /* Mastercard 2-series */
    if (p2 == 34 || p2 == 37) return n == 15;                     /* Amex */
    if (p2 == 62) return n >= 16 && n <= 19;                      /* UnionPay */
    if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;      /* JCB */
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return n >= 16 && n <= 19;
    if (p2 == 36 || p2 == 38 || (p3 >= 300 && p3 <= 305)) return n >= 14 && n <= 19;
    if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 60 || p2 == 63 || p2 == 67)
        return n >= 16 && n <= 19; /* Maestro / domestic debit */
    return 0;
}

/* ---- number runs --------------------------------------------------------- */

#define RUN_MAX 40
typedef struct nrun {
    int nd;             /* digits */
    U d[RUN_MAX + 1];   /* values; 10 = trailing 'X' */
    size_t dend[RUN_MAX + 1]; /* byte offset after digit k */
    int ng;             /* groups */
    int gend[RUN_MAX];  /* cumulative digit count at the end of group g */
    char gsep[RUN_MAX]; /* separator kind before group g (0 for g = 0) */
    int x;              /* last digit is an 'X' */
    int toolong;
} nrun;

static void collect_run(const scan *sc, size_t i, nrun *r) {
    memset(r, 0, offsetof(nrun, dend));
    r->ng = 0;
    r->x = 0;
    r->toolong = 0;
    size_t p = i;
    char kind = 0;
    for (;;) {
        int len, v;
        int start_nd = r->nd;
        while ((v = dig(sc, p, &len)) >= 0) {
            if (r->nd >= RUN_MAX) {
                r->toolong = 1;
                return;
            }
            r->d[r->nd] = (U)v;
            p += (size_t)len;
            r->dend[r->nd++] = p;
        }
        r->gsep[r->ng] = kind;
        r->gend[r->ng++] = r->nd;
        (void)start_nd;
        /* 'X' check digit of an 18-digit ID */
        if (r->nd == 17 && p < sc->n &&
            (sc->s[p] == 'X' || sc->s[p] == 'x' ||
             (p + 2 < sc->n && sc->s[p] == 0xEF && sc->s[p + 1] == 0xBC && sc->s[p + 2] == 0xB8))) {
            p += sc->s[p] == 0xEF ? 3 : 1;
            r->d[r->nd] = 10;
            r->dend[r->nd++] = p;
            r->gend[r->ng - 1] = r->nd;
            r->x = 1;
            return;
        }
        int sl = num_sep(sc, p, &kind);
        if (!sl || dig(sc, p + (size_t)sl, &len) < 0 || r->ng >= RUN_MAX) return;
        p += (size_t)sl;
    }
}

static int groups_are(const nrun *r, int k, const int *lens, int nl) {
    if (k + 1 != nl) return 0;
    int prev = 0;
    for (int g = 0; g <= k; g++) {
        if (r->gend[g] - prev != lens[g]) return 0;
        prev = r->gend[g];
    }
    return 1;
}

static int glen(const nrun *r, int g) { return r->gend[g] - (g ? r->gend[g - 1] : 0); }

static int card_grouping_ok(const nrun *r, int k) {
    if (k == 0) return 1;
    static const int amex[3] = {4, 6, 5}, diners[3] = {4, 6, 4};
    if (groups_are(r, k, amex, 3) || groups_are(r, k, diners, 3)) return 1;
    for (int g = 0; g < k; g++)
        if (glen(r, g) != 4) return 0;
    return glen(r, k) >= 1 && glen(r, k) <= 4;
}

static int mobile_ok(const U *d) { return d[0] == 1 && d[1] >= 3 && d[1] <= 9; }

static int mobile_grouping_ok(const nrun *r, int first, int k) {
    /* groups first..k must be 11 | 3-4-4 | 3-8 | 7-4 */
    int lens[4], nl = 0;
    for (int g = first; g <= k && nl < 4; g++) lens[nl++] = glen(r, g);
    if (k - first + 1 != nl) return 0;
    if (nl == 1) return lens[0] == 11;
    if (nl == 2) return (lens[0] == 3 && lens[1] == 8) || (lens[0] == 7 && lens[1] == 4);
    if (nl == 3) return lens[0] == 3 && lens[1] == 4 && lens[2] == 4;
    return 0;
}

/* Area code length of a Chinese landline starting with 0, or 0. */
static int cn_area_len(const U *d, int n) {
    if (n < 3 || d[0] != 0) return 0;
    if (d[1] == 1) return d[2] == 0 ? 3 : 0;
    if (d[1] == 2) return 3;
    if (d[1] >= 3 && d[1] <= 9) return 4;
    return 0;
}

/* Tries the classifications of run r's prefix of k+1 groups. */
static int classify(scan *sc, size_t start, const nrun *r, int k) {
    int L = r->gend[k];
    const U *d = r->d;
    size_t end = r->dend[L - 1];
    if (right_blocked(sc, end) && k == r->ng - 1) return 0;
    if (r->x && L != 18) return 0;
    if (L == 18 && cn_id18_valid(d)) {
        emit(sc, RG_PII_CN_ID, start, end, 0.99f);
        return 1;
    }
    if (r->x) return 0;
    if (L == 15 && cn_id15_valid(d) &&
        (ctx_before(sc, start, 36, KW_ID) || ctx_after(sc, end, 36, KW_ID))) {
        emit(sc, RG_PII_CN_ID, start, end, 0.9f);
        return 1;
    }
    if (L >= 13 && L <= 19 && card_grouping_ok(r, k) && card_iin(d, L) && luhn(d, L)) {
        int pos = ctx_before(sc, start, 40, KW_CARD);
        int neg = !pos && ctx_before(sc, start, 40, KW_NEG);
        int idlike = L == 18 && (cn_id18_shape(d) || ctx_before(sc, start, 40, KW_ID));
        if (!neg && (!idlike || pos)) {
            emit(sc, RG_PII_CARD, start, end, pos ? 0.99f : 0.95f);
            return 1;
        }
    }
    int neg = -1;
#define NEG() (neg < 0 ? (neg = ctx_before(sc, start, 30, KW_NEG)) : neg)
    if (L == 11 && mobile_ok(d) && mobile_grouping_ok(r, 0, k) && !NEG()) {
        emit(sc, RG_PII_CN_MOBILE, start, end, 0.9f);
        return 1;
    }
    /* 86 / 0086 prefix */
    if ((L == 13 && d[0] == 8 && d[1] == 6 && glen(r, 0) == 2 && mobile_ok(d + 2) &&
         mobile_grouping_ok(r, 1, k)) ||
        (L == 15 && d[0] == 0 && d[1] == 0 && d[2] == 8 && d[3] == 6 && glen(r, 0) == 4 &&
         mobile_ok(d + 4) && mobile_grouping_ok(r, 1, k))) {
        emit(sc, RG_PII_CN_MOBILE, start, end, 0.9f);
        return 1;
    }
    int al = cn_area_len(d, L);
    if (al && L - al >= 7 && L - al <= 8 && d[al] >= 2 && d[al] <= 8 && !NEG()) {
        int ok = 0;
        if (k == 0) ok = 1;
        else if (glen(r, 0) == al && k == 1) ok = 1;
        else if (glen(r, 0) == al && k == 2 && glen(r, 1) >= 3 && glen(r, 2) == 4) ok = 1;
        if (ok) {
            emit(sc, RG_PII_CN_LANDLINE, start, end, k ? 0.8f : 0.7f);
            return 1;
        }
    }
    static const int ssn[3] = {3, 2, 4}, nanp[3] = {3, 3, 4};
    if (L == 9 && groups_are(r, k, ssn, 3) && r->gsep[1] == r->gsep[2]) {
        int a = d[0] * 100 + d[1] * 10 + d[2], g = d[3] * 10 + d[4],
            s = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
        if (a != 0 && a != 666 && a < 900 && g != 0 && s != 0) {
            emit(sc, RG_PII_US_SSN, start, end, 0.85f);
            return 1;
        }
    }
    if (L == 10 && groups_are(r, k, nanp, 3) && d[0] >= 2 && d[3] >= 2 && r->gsep[1] == '-' &&
        r->gsep[2] == '-' && !NEG()) {
        emit(sc, RG_PII_PHONE, start, end, 0.7f);
        return 1;
    }
#undef NEG
    return 0;
}

/* A run of digits at i (left boundary already checked). */
static size_t try_number(scan *sc, size_t i) {
    nrun r;
    collect_run(sc, i, &r);
    if (r.toolong || r.nd < 7) return 0;
    for (int k = r.ng - 1; k >= 0; k--) {
        if (r.gend[k] < 7) break;
        if (classify(sc, i, &r, k)) return sc->last_end;
    }
    return 0;
}

/* ---- structured tokens --------------------------------------------------- */

static size_t try_ipv4(scan *sc, size_t i) {
    size_t p = i;
    for (int part = 0; part < 4; part++) {
        int v = 0, nd = 0;
        while (p < sc->n && is_digit(sc->s[p]) && nd < 4) v = v * 10 + (sc->s[p++] - '0'), nd++;
        if (nd == 0 || nd > 3 || v > 255) return 0;
        if (part < 3) {
            if (p >= sc->n || sc->s[p] != '.') return 0;
            p++;
        }
    }
    if (right_blocked(sc, p) || (p < sc->n && sc->s[p] == '.' && p + 1 < sc->n &&
                                 is_alnum(sc->s[p + 1])))
        return 0;
    emit(sc, RG_PII_IPV4, i, p, 0.9f);
    return sc->last_end == p ? p : 0;
}

static size_t try_mac(scan *sc, size_t i) {
    if (i + 17 > sc->n) return 0;
    const U *s = sc->s + i;
    U sep = s[2];
    if (sep != ':' && sep != '-') return 0;
    for (int g = 0; g < 6; g++) {
        if (!is_hex(s[g * 3]) || !is_hex(s[g * 3 + 1])) return 0;
        if (g < 5 && s[g * 3 + 2] != sep) return 0;
    }
    if (right_blocked(sc, i + 17) || (i + 17 < sc->n && (sc->s[i + 17] == ':' ||
                                                         sc->s[i + 17] == '-')))
        return 0;
    emit(sc, RG_PII_MAC, i, i + 17, 0.9f);
    return sc->last_end == i + 17 ? i + 17 : 0;
}

static int letters_in(const scan *sc, size_t a, size_t b) {
    for (size_t k = a; k < b; k++)
        if (!is_digit(sc->s[k])) return 1;
    return 0;
}

static size_t try_ipv6(scan *sc, size_t i) {
    size_t p = i;
    int groups = 0, dbl = 0, letters = 0;
    if (p + 1 < sc->n && sc->s[p] == ':' && sc->s[p + 1] == ':') {
        dbl = 1;
        p += 2;
    }
    for (;;) {
        size_t q = p;
        int nh = 0;
        while (q < sc->n && is_hex(sc->s[q]) && nh < 5) {
            letters |= !is_digit(sc->s[q]);
            q++, nh++;
        }
        if (nh == 0) break;
        if (nh > 4) return 0;
        /* embedded IPv4 tail: ::ffff:192.0.2.1 */
        if (q < sc->n && sc->s[q] == '.' && (dbl || groups == 6) && nh <= 3 && !letters_in(sc, p, q)) {
            size_t save = sc->last_end;
            rg__fvec *o = sc->out;
            size_t on = o->n;
            uint32_t en = sc->en;
            sc->en |= 1u << RG_PII_IPV4;
            size_t e4 = try_ipv4(sc, p);
            sc->en = en;
            o->n = on;
            sc->last_end = save;
            if (!e4) return 0;
            groups += 2;
            p = e4;
            break;
        }
        groups++;
        p = q;
        if (p + 1 < sc->n && sc->s[p] == ':' && sc->s[p + 1] == ':') {
            if (dbl) return 0;
            dbl = 1;
            p += 2;
            continue;
        }
        if (p + 1 < sc->n && sc->s[p] == ':' && is_hex(sc->s[p + 1])) {
            p++;
            continue;
        }
        break;
    }
    if (groups > 8 || (!dbl && groups != 8) || (dbl && groups > 7) || groups < 1) return 0;
    if (dbl && groups < 2 && !(groups == 1 && sc->s[i] == ':')) return 0;
    if (!letters && groups < 3 && !(sc->s[i] == ':')) return 0;
    if (right_blocked(sc, p) || (p < sc->n && sc->s[p] == ':')) return 0;
    emit(sc, RG_PII_IPV6, i, p, 0.85f);
    return sc->last_end == p ? p : 0;
}

/* Length of the ASCII alnum token at i. */
static size_t tok_len(const scan *sc, size_t i) {
    size_t p = i;
    while (p < sc->n && is_alnum(sc->s[p])) p++;
    return p - i;
}

static int uscc_char(U c) {
    static const char cs[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const char *q = c ? strchr(cs, c) : NULL;
    return q ? (int)(q - cs) : -1;
}

static size_t try_uscc(scan *sc, size_t i, size_t tl) {
    if (tl != 18) return 0;
    static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    const U *s = sc->s + i;
    if (!strchr("123456789ABCDEFGNY", s[0]) || !is_digit(s[2])) return 0;
    for (int k = 2; k < 8; k++)
        if (!is_digit(s[k])) return 0;
    int sum = 0;
    for (int k = 0; k < 17; k++) {
        int v = uscc_char(s[k]);
        if (v < 0) return 0;
        sum += v * w[k];
    }
    int c = 31 - sum % 31;
    if (c == 31) c = 0;
    if (uscc_char(s[17]) != c) return 0;
    if (!cn_province((s[2] - '0') * 10 + (s[3] - '0'))) return 0;
    int letters = 0;
    for (int k = 0; k < 18; k++) letters += !is_digit(s[k]);
    if (!letters) {
        /* all digits: the checksum alone is 1 in 31; also demand a
         * registration category and no ID shape, no order-number context */
        U d[18];
        for (int k = 0; k < 18; k++) d[k] = (U)(s[k] - '0');
        if (!strchr("1239", s[1]) || cn_id18_shape(d) || ctx_before(sc, i, 30, KW_NEG) ||
            ctx_before(sc, i, 30, KW_ID))
            return 0;
    }
    emit(sc, RG_PII_CN_USCC, i, i + 18, 0.99f);
    return sc->last_end == i + 18 ? i + 18 : 0;
}

static int iban_len(const U *cc) {
    static const struct {
        char c[3];
        int len;
    } t[] = {{"AD", 24}, {"AE", 23}, {"AT", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
             {"BR", 29}, {"CH", 21}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18},
             {"EE", 20}, {"ES", 24}, {"FI", 18}, {"FR", 27}, {"GB", 22}, {"GR", 27},
             {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27},
             {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21}, {"LT", 20}, {"LU", 20},
             {"LV", 21}, {"MC", 27}, {"MT", 31}, {"NL", 18}, {"NO", 15}, {"PK", 24},
             {"PL", 28}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"SA", 24}, {"SE", 24},
             {"SI", 19}, {"SK", 24}, {"SM", 27}, {"TR", 26}, {"UA", 29}};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        if (t[k].c[0] == cc[0] && t[k].c[1] == cc[1]) return t[k].len;
    return 0;
}

static int iban_mod97(const U *c, int n) {
    int r = 0;
    for (int k = 0; k < n; k++) {
        U ch = c[(k + 4) % n];
        if (is_digit(ch))
            r = (r * 10 + (ch - '0')) % 97;
        else
            r = (r * 100 + (ch - 'A' + 10)) % 97;
    }
    return r == 1;
}

static size_t try_iban(scan *sc, size_t i) {
    const U *s = sc->s;
    if (i + 15 > sc->n || !is_upper(s[i]) || !is_upper(s[i + 1]) || !is_digit(s[i + 2]) ||
        !is_digit(s[i + 3]))
        return 0;
    U c[34];
    size_t cend[34];
    int nc = 0;
    size_t p = i;
    int want = iban_len(s + i);
    while (p < sc->n && nc < 34) {
        if (is_digit(s[p]) || is_upper(s[p])) {
            c[nc] = s[p++];
            cend[nc++] = p;
        } else if (s[p] == ' ' && p + 1 < sc->n && (is_digit(s[p + 1]) || is_upper(s[p + 1])) &&
                   nc >= 4 && (nc % 4) == 0) {
            p++;
        } else {
            break;
        }
    }
    for (int len = nc; len >= 15; len--) {
        if (want && len != want) continue;
        if (len < nc && len % 4 != 0 && s[cend[len - 1]] != ' ') continue;
        if (len < nc && s[cend[len - 1]] != ' ') continue;
        if (len == nc && right_blocked(sc, cend[len - 1])) continue;
        if (iban_mod97(c, len)) {
            emit(sc, RG_PII_IBAN, i, cend[len - 1], 0.99f);
            return sc->last_end == cend[len - 1] ? cend[len - 1] : 0;
        }
    }
    return 0;
}

/* Chinese passport, HK/Macau permits: letter(s) + digits, token-bounded. */
static size_t try_doc(scan *sc, size_t i, size_t tl) {
    const U *s = sc->s + i;
    int nd = 0;
    for (size_t k = 1; k < tl; k++) nd += is_digit(s[k]);
    int digits_from1 = nd == (int)tl - 1;
    int letter2 = tl >= 2 && is_upper(s[1]) && nd == (int)tl - 2;
    rg_pii_type t;
    if ((s[0] == 'E' || s[0] == 'G') && tl == 9 && digits_from1) t = RG_PII_CN_PASSPORT;
    else if (s[0] == 'E' && tl == 9 && letter2 && s[1] != 'I' && s[1] != 'O') t = RG_PII_CN_PASSPORT;
    else if ((s[0] == 'D' || s[0] == 'S' || s[0] == 'P') && (tl == 8 || tl == 9) && digits_from1)
        t = RG_PII_CN_PASSPORT;
    else if ((s[0] == 'C' || s[0] == 'W') && tl == 9 && digits_from1) t = RG_PII_HKMO_PERMIT;
    else if (s[0] == 'C' && tl == 9 && letter2) t = RG_PII_HKMO_PERMIT;
    else if ((s[0] == 'H' || s[0] == 'M') && (tl == 9 || tl == 11) && digits_from1)
        t = RG_PII_HKMO_PERMIT;
    else
        return 0;
    if (right_blocked(sc, i + tl)) return 0;
    int ctx = ctx_before(sc, i, 40, t == RG_PII_CN_PASSPORT ? KW_PASSPORT : KW_PERMIT);
    if (!ctx && ctx_before(sc, i, 30, KW_NEG)) return 0;
    emit(sc, t, i, i + tl, ctx ? 0.9f : 0.6f);
    return sc->last_end == i + tl ? i + tl : 0;
}

/* URL starting at i ("http://", "https://", "ftp://", "www."). */
static size_t try_url(scan *sc, size_t i) {
    const U *s = sc->s;
    size_t rest = sc->n - i, p;
    if (rest >= 8 && ascii_ieq(s + i, "https://", 8)) p = i + 8;
    else if (rest >= 7 && ascii_ieq(s + i, "http://", 7)) p = i + 7;
    else if (rest >= 6 && ascii_ieq(s + i, "ftp://", 6)) p = i + 6;
    else if (rest >= 5 && ascii_ieq(s + i, "www.", 4) && is_alnum(s[i + 4])) p = i + 4;
    else return 0;
    size_t host = p;
    while (p < sc->n) {
        U c = s[p];
        if (c <= ' ' || c >= 0x80 || c == '"' || c == '<' || c == '>' || c == '\'' ||
            c == '`' || c == '{' || c == '}' || c == '|' || c == '\\' || c == '^')
            break;
        p++;
    }
    while (p > host && strchr(".,;:!?)]", s[p - 1])) p--;
    if (p - host < 3) return 0;
    emit(sc, RG_PII_URL, i, p, 0.95f);
    return sc->last_end == p ? p : 0;
}

/* Email around the '@' at i: local part backwards, domain forwards. */
static size_t try_email(scan *sc, size_t at) {
    const U *s = sc->s;
    size_t a = at;
    while (a > sc->last_end && at - a < 64) {
        U c = s[a - 1];
        if (is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-') a--;
        else break;
    }
    while (a < at && (s[a] == '.' || s[a] == '-')) a++;
    if (a == at) return 0;
    size_t p = at + 1, last_dot = 0;
    int labels = 0;
    for (;;) {
        size_t q = p;
        while (q < sc->n && (is_alnum(s[q]) || s[q] == '-') && q - p < 63) q++;
        if (q == p) break;
        labels++;
        p = q;
        if (p + 1 < sc->n && s[p] == '.' && is_alnum(s[p + 1])) {
            last_dot = p;
            p++;
            continue;
        }
        break;
    }
    if (labels < 2 || !last_dot) return 0;
    for (size_t k = last_dot + 1; k < p; k++)
        if (!is_alpha(s[k])) return 0;
    if (p - last_dot - 1 < 2) return 0;
    emit(sc, RG_PII_EMAIL, a, p, 0.95f);
    return sc->last_end == p ? p : 0;
}

/* '+' international numbers: +86 mobile/landline, else E.164 8-15 digits. */
static size_t try_plus(scan *sc, size_t i) {
    int len;
    size_t p = i + 1;
    if (dig(sc, p, &len) < 1) return 0;
    /* +86 */
    int a, b, l2;
    if ((a = dig(sc, p, &len)) == 8 && (b = dig(sc, p + (size_t)len, &l2)) == 6) {
        size_t q = p + (size_t)len + (size_t)l2;
        char kind;
        int sl = num_sep(sc, q, &kind);
        if (!sl && q < sc->n && sc->s[q] == '(') sl = 0;
        q += (size_t)sl;
        if (dig(sc, q, &len) >= 0) {
            nrun r;
            collect_run(sc, q, &r);
            if (!r.toolong) {
                for (int k = r.ng - 1; k >= 0; k--) {
                    int L = r.gend[k];
                    size_t end = r.dend[L - 1];
                    if (k == r.ng - 1 && right_blocked(sc, end)) continue;
                    if (L == 11 && mobile_ok(r.d) && mobile_grouping_ok(&r, 0, k)) {
                        emit(sc, RG_PII_CN_MOBILE, i, end, 0.95f);
                        return sc->last_end == end ? end : 0;
                    }
                    /* landline without the trunk 0: 10 / 2x / 3-9xx */
                    int al = r.d[0] == 1 ? (r.d[1] == 0 ? 2 : 0) : r.d[0] == 2 ? 2 : r.d[0] >= 3 ? 3 : 0;
                    if (al && L - al >= 7 && L - al <= 8 && r.d[al] >= 2 && r.d[al] <= 8 &&
                        (k == 0 || glen(&r, 0) == al)) {
                        emit(sc, RG_PII_CN_LANDLINE, i, end, 0.9f);
                        return sc->last_end == end ? end : 0;
                    }
                }
            }
        }
    }
    /* generic E.164: digits with single separators ' ', '-', '.', '(', ')' */
    int nd = 0;
    size_t end = 0;
    while (p < sc->n) {
        int v = dig(sc, p, &len);
        if (v >= 0) {
            nd++;
            p += (size_t)len;
            end = p;
            continue;
        }
        U c = sc->s[p];
        if ((c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') && p + 1 < sc->n) {
            U c2 = sc->s[p + 1];
            if (is_digit(c2) || ((c == ')' || c == ' ') && (c2 == ' ' || c2 == '(' || c2 == '-')) ||
                (c == '(' && is_digit(c2)))
                {
                p++;
                continue;
            }
        }
        break;
    }
    if (nd < 8 || nd > 15 || right_blocked(sc, end)) return 0;
    emit(sc, RG_PII_PHONE, i, end, 0.8f);
    return sc->last_end == end ? end : 0;
}

/* "(010) 1234 5678", "(0755)12345678", "(555) 123-4567". */
static size_t try_paren(scan *sc, size_t i) {
    size_t p = i + 1;
    U ad[5];
    int an = 0, len, v;
    while (an < 5 && (v = dig(sc, p, &len)) >= 0) ad[an++] = (U)v, p += (size_t)len;
    if (p >= sc->n || sc->s[p] != ')' || an < 3 || an > 4) return 0;
    p++;
    if (p < sc->n && (sc->s[p] == ' ' || sc->s[p] == '-')) p++;
    if (dig(sc, p, &len) < 0) return 0;
    nrun r;
    collect_run(sc, p, &r);
    if (r.toolong || r.x) return 0;
    int L = r.nd;
    size_t end = r.dend[L - 1];
    if (right_blocked(sc, end)) return 0;
    if (ad[0] == 0) {
        int al = cn_area_len(ad, an);
        if (al == an && L >= 7 && L <= 8 && r.d[0] >= 2 && r.d[0] <= 8) {
            emit(sc, RG_PII_CN_LANDLINE, i, end, 0.85f);
            return sc->last_end == end ? end : 0;
        }
        return 0;
    }
    if (an == 3 && ad[0] >= 2 && L == 7 && r.d[0] >= 2 && (r.ng == 1 || glen(&r, 0) == 3)) {
        emit(sc, RG_PII_PHONE, i, end, 0.8f);
        return sc->last_end == end ? end : 0;
    }
    return 0;
}

/* ---- dates (after a birth keyword) --------------------------------------- */

static int read_num(const scan *sc, size_t *p, int maxd, int *nd) {
    int v = 0, len, x;
    *nd = 0;
    while (*nd < maxd && (x = dig(sc, *p, &len)) >= 0) {
        v = v * 10 + x;
        *p += (size_t)len;
        (*nd)++;
    }
    return v;
}

/* Date separator at p: '-', '/', '.', or 年/月 (E5 B9 B4 / E6 9C 88). */
static int date_sep(const scan *sc, size_t p, int *cjk) {
    if (p >= sc->n) return 0;
    U c = sc->s[p];
    if (c == '-' || c == '/' || c == '.') return 1;
    if (p + 2 < sc->n && ((c == 0xE5 && sc->s[p + 1] == 0xB9 && sc->s[p + 2] == 0xB4) ||
                          (c == 0xE6 && sc->s[p + 1] == 0x9C && sc->s[p + 2] == 0x88))) {
        *cjk = 1;
        return 3;
    }
    if (c == 0xEF && p + 2 < sc->n && sc->s[p + 1] == 0xBC &&
        (sc->s[p + 2] == 0x8D || sc->s[p + 2] == 0x8F || sc->s[p + 2] == 0x8E))
        return 3; /* full-width - / . */
    return 0;
}

static int month_name(const U *s, size_t n, size_t *len) {
    static const char *m[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                "jul", "aug", "sep", "oct", "nov", "dec"};
    static const char *full[12] = {"january", "february", "march",     "april",
                                   "may",     "june",     "july",      "august",
                                   "september", "october", "november", "december"};
    for (int k = 0; k < 12; k++) {
        size_t fl = strlen(full[k]);
        if (n >= fl && ascii_ieq(s, full[k], fl) && (n == fl || !is_alpha(s[fl]))) {
            *len = fl;
            return k + 1;
        }
        if (n >= 3 && ascii_ieq(s, m[k], 3) && (n == 3 || !is_alpha(s[3]) || s[3] == '.')) {
            *len = 3 + (n > 3 && s[3] == '.');
            return k + 1;
        }
    }
    return 0;
}

/* Parses a date at p; returns its end or 0. */
static size_t parse_date(const scan *sc, size_t p) {
    size_t q = p;
    int n1, n2, n3, cjk = 0;
    int a = read_num(sc, &q, 4, &n1);
    if (n1 == 0) {
        /* "March 5, 1990" */
        size_t ml;
        int m = month_name(sc->s + q, sc->n - q, &ml);
        if (!m) return 0;
        q += ml;
        if (q < sc->n && sc->s[q] == ' ') q++;
        int d = read_num(sc, &q, 2, &n2);
        if (!n2) return 0;
        if (q < sc->n && sc->s[q] == ',') q++;
        if (q < sc->n && sc->s[q] == ' ') q++;
        int y = read_num(sc, &q, 4, &n3);
        if (n3 != 4 || !valid_date(y, m, d)) return 0;
        return q;
    }
    int sl = date_sep(sc, q, &cjk);
    if (!sl) {
        /* "5 March 1990" */
        if (n1 <= 2 && q < sc->n && sc->s[q] == ' ') {
            size_t ml, r = q + 1;
            int m = month_name(sc->s + r, sc->n - r, &ml);
            if (!m) return 0;
            r += ml;
            if (r < sc->n && sc->s[r] == ' ') r++;
            int y = read_num(sc, &r, 4, &n3);
            if (n3 != 4 || !valid_date(y, m, a)) return 0;
            return r;
        }
        /* 19900307 */
        if (n1 == 4 && dig(sc, q, &sl) >= 0) {
            int md = read_num(sc, &q, 4, &n2);
            if (n2 != 4 || !valid_date(a, md / 100, md % 100)) return 0;
            return q;
        }
        return 0;
    }
    q += (size_t)sl;
    int b = read_num(sc, &q, 2, &n2);
    if (!n2) return 0;
    int sl2 = date_sep(sc, q, &cjk);
    if (!sl2) return 0;
    q += (size_t)sl2;
    int c = read_num(sc, &q, 4, &n3);
    if (!n3) return 0;
    int ok;
    if (n1 == 4) ok = n3 <= 2 && valid_date(a, b, c);
    else ok = n3 == 4 && n1 <= 2 && (valid_date(c, b, a) || valid_date(c, a, b));
    if (!ok) return 0;
    /* 日 / 号 */
    if (q + 2 < sc->n && ((sc->s[q] == 0xE6 && sc->s[q + 1] == 0x97 && sc->s[q + 2] == 0xA5) ||
                          (sc->s[q] == 0xE5 && sc->s[q + 1] == 0x8F && sc->s[q + 2] == 0xB7)))
        q += 3;
    else if (right_blocked(sc, q))
        return 0;
    return q;
}

/* After a birth keyword ending at p: skips ": ：是为于在 on" etc. */
static size_t dob_after(scan *sc, size_t p) {
    size_t lim = p + 16 < sc->n ? p + 16 : sc->n;
    while (p < lim) {
        U c = sc->s[p];
        if (is_digit(c) || (c == 0xEF && sc->s[p + 1 < sc->n ? p + 1 : p] == 0xBC &&
                            p + 2 < sc->n && sc->s[p + 2] >= 0x90 && sc->s[p + 2] <= 0x99))
            break;
        if (is_alpha(c)) {
            size_t ml;
            if (month_name(sc->s + p, sc->n - p, &ml)) break;
            if (p + 2 <= sc->n && ascii_ieq(sc->s + p, "on", 2) && p + 2 < sc->n &&
                sc->s[p + 2] == ' ') {
                p += 3;
                continue;
            }
            if (p + 4 <= sc->n && ascii_ieq(sc->s + p, "date", 4)) {
                p += 4;
                continue;
            }
            return 0;
        }
        if (c == ' ' || c == ':' || c == '(' || c == '=' || c == '\t' || c == ',') {
            p++;
            continue;
        }
        if (c >= 0x80) {
            /* ：（ 是 为 于 在 日期 */
            static const char *const skip[] = {"：", "（", "是", "为", "于", "在", "日期", "年月",
                                               "　", NULL};
            int hit = 0;
            for (const char *const *k = skip; *k; k++) {
                size_t kl = strlen(*k);
                if (p + kl <= sc->n && memcmp(sc->s + p, *k, kl) == 0) {
                    p += kl;
                    hit = 1;
                    break;
                }
            }
            if (hit) continue;
        }
        return 0;
    }
    if (p >= lim) return 0;
    size_t e = parse_date(sc, p);
    if (!e) return 0;
    emit(sc, RG_PII_DOB, p, e, 0.85f);
    return sc->last_end == e ? e : 0;
}

/* ---- CJK triggers: plates, names, birth keywords --------------------------- */

static const char PROVINCES[] = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
static const char SURNAMES[] =
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘"
    "祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟"
    "艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞"
    "姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝";
static const char *const COMPOUND[] = {"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟",
                                       "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐",
                                       "端木", "西门", "南宫", "独孤", NULL};
/* Characters that end a given name (function words, verbs, units). */
static const char NAME_STOP[] =
    "的了是在和与及或等于为说今昨年月日岁男女先生士小姐我你他她它们这那有来去到就也都而被把从向对但"
    "如请已将会要能可不没很再又还之其此个位名号因所以并且该后前里上下中内外性别电话手机住址码"
    "证件院诊病历患者医护理师职务单签确认联系客户姓请问您";
/* Common words that start with a surname character: never a name. */
static const char *const NOT_NAMES[] = {
    "车牌", "车辆", "车主", "时间", "时候", "方式", "方案", "方面", "金额", "高血压", "高度",
    "关系", "关于", "文件", "文化", "安全", "安排", "全部", "全称", "应该", "应当", "成功",
    "成为", "商品", "万元", "司机", "信息", "华为", "常规", "温度", "康复", "单位", "申请",
    "江苏", "南京", "上海", "北京", "任务", "程序", "武汉", "江西", "黄色", "白色", "蓝色",
    "明天", "明细", "和平", "于是", "向前", "石油", "钱款", "路线", "路径", "田地", "邮箱",
    NULL};
static const char *const NAME_PREFIX[] = {"姓名", "患者", "病人", "联系人", "客户", "申请人",
                                          "收件人", "收货人", "持卡人", "户名", "法定代表人",
                                          "经办人", "被保险人", "投保人", "借款人", "签名",
                                          "就诊人", "委托人", "当事人", "乘客", NULL};
static const char *const NAME_SUFFIX[] = {"先生", "女士", "小姐", "同志", "老师", "医生", "教授",
                                          "经理", "律师", "主任", NULL};
static const char *const DOB_CJK[] = {"出生日期", "出生年月", "出生于", "出生", "生日", "生于",
                                      NULL};

/* Keyword lists with precomputed lengths and first code points, so a
 * trigger character compares only against keywords that start with it. */
typedef struct kw {
    const char *s;
    size_t len;
    uint32_t cp;
} kw;
typedef struct kwlist {
    kw v[64];
    int n;
} kwlist;

enum { F_PROVINCE = 1, F_PREFIX = 2, F_SUFFIX = 4, F_DOB = 8, F_SURNAME = 16, F_STOP = 32,
       F_NOTNAME = 64, F_COMPOUND = 128 };

typedef struct tables {
    uint8_t flags[65536]; /* F_* per BMP code point */
    kwlist prefix, suffix, dob, compound, notname;
} tables;
static tables T;
static int tables_ready;

static uint32_t cp3(const U *s) { return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu); }
static void setbits(tables *t, const char *str, uint8_t f) {
    const U *s = (const U *)str;
    while (*s) {
        int l = rg__u8len(*s);
        if (l == 3) t->flags[cp3(s)] |= f;
        s += l;
    }
}
static void setlist(tables *t, kwlist *kl, const char *const *list, uint8_t f) {
    kl->n = 0;
    for (; *list && kl->n < 64; list++) {
        uint32_t c = cp3((const U *)*list);
        kl->v[kl->n++] = (kw){*list, strlen(*list), c};
        t->flags[c] |= f;
    }
}

static void init_tables(void) {
    if (__atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE)) return;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (!tables_ready) {
        memset(&T, 0, sizeof T);
        setbits(&T, PROVINCES, F_PROVINCE);
        setbits(&T, SURNAMES, F_SURNAME);
        setbits(&T, NAME_STOP, F_STOP);
        setlist(&T, &T.prefix, NAME_PREFIX, F_PREFIX);
        setlist(&T, &T.suffix, NAME_SUFFIX, F_SUFFIX);
        setlist(&T, &T.dob, DOB_CJK, F_DOB);
        setlist(&T, &T.compound, COMPOUND, F_COMPOUND);
        setlist(&T, &T.notname, NOT_NAMES, F_NOTNAME);
        __atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&mu);
}
#define TRIG (F_PROVINCE | F_PREFIX | F_SUFFIX | F_DOB)

/* Code point of the 3-byte CJK char at p, or 0. */
static uint32_t cjk_at(const scan *sc, size_t p) {
    if (p + 2 >= sc->n) return 0;
    U c = sc->s[p];
    if (c < 0xE0 || c > 0xEF || (sc->s[p + 1] & 0xC0) != 0x80 || (sc->s[p + 2] & 0xC0) != 0x80)
        return 0;
    return cp3(sc->s + p);
}
static int is_ideo(uint32_t c) { return c >= 0x4E00 && c <= 0x9FFF; }

static size_t match_kw(const scan *sc, size_t i, uint32_t cp, const kwlist *l) {
    for (int k = 0; k < l->n; k++)
        if (l->v[k].cp == cp && i + l->v[k].len <= sc->n && !memcmp(sc->s + i, l->v[k].s, l->v[k].len))
            return l->v[k].len;
    return 0;
}

/* Surname at p: returns its byte length (3 or 6 for compound), or 0. */
static size_t surname_at(const scan *sc, size_t p) {
    uint32_t c = cjk_at(sc, p);
    if (!c) return 0;
    uint8_t f = T.flags[c];
    if ((f & F_NOTNAME) && match_kw(sc, p, c, &T.notname)) return 0;
    size_t l;
    if ((f & F_COMPOUND) && (l = match_kw(sc, p, c, &T.compound))) return l;
    return (f & F_SURNAME) ? 3 : 0;
}

static int given_char(const scan *sc, size_t p) {
    uint32_t c = cjk_at(sc, p);
    return c && is_ideo(c) && !(T.flags[c] & F_STOP);
}

static size_t try_name_prefix(scan *sc, size_t i, size_t kl) {
    size_t p = i + kl;
    /* ：: space 为 是 */
    for (int k = 0; k < 3 && p < sc->n; k++) {
        if (sc->s[p] == ':' || sc->s[p] == ' ') p++;
        else if (p + 2 < sc->n && (!memcmp(sc->s + p, "：", 3) || !memcmp(sc->s + p, "　", 3) ||
                                   !memcmp(sc->s + p, "为", 3) || !memcmp(sc->s + p, "是", 3)))
            p += 3;
        else break;
    }
    size_t sl = surname_at(sc, p);
    if (!sl) return 0;
    size_t e = p + sl;
    int g = 0;
    while (g < 2 && given_char(sc, e)) e += 3, g++;
    if (g == 0) return 0;
    emit(sc, RG_PII_CN_NAME, p, e, 0.75f);
    return sc->last_end == e ? e : 0;
}

/* Name before a suffix keyword at i (张伟先生, 王女士, 诸葛亮先生): the
 * longest window of 1-4 characters that is surname + 0-2 given chars. */
static void try_name_suffix(scan *sc, size_t i) {
    for (int len = 4; len >= 1; len--) {
        size_t need = (size_t)len * 3;
        if (i < need) continue;
        size_t a = i - need;
        if (a < sc->last_end) continue;
        size_t sl = surname_at(sc, a);
        if (!sl || sl > need || need - sl > 6) continue;
        int ok = 1;
        for (size_t p = a + sl; p < i; p += 3)
            if (!given_char(sc, p)) ok = 0;
        if (!ok) continue;
        emit(sc, RG_PII_CN_NAME, a, i, 0.65f);
        return;
    }
}

static size_t try_plate(scan *sc, size_t i) {
    size_t p = i + 3;
    if (p >= sc->n || !is_upper(sc->s[p]) || sc->s[p] == 'I' || sc->s[p] == 'O') return 0;
    p++;
    if (p + 1 < sc->n && sc->s[p] == 0xC2 && sc->s[p + 1] == 0xB7) p += 2; /* · */
    else if (p + 2 < sc->n && sc->s[p] == 0xE2 && sc->s[p + 1] == 0x80 && sc->s[p + 2] == 0xA2)
        p += 3; /* • */
    else if (p < sc->n && (sc->s[p] == ' ' || sc->s[p] == '-')) p++;
    size_t q = p;
    int nd = 0;
    while (q < sc->n && (is_digit(sc->s[q]) || is_upper(sc->s[q])) && q - p < 7) {
        nd += is_digit(sc->s[q]);
        q++;
    }
    size_t l = q - p;
    if ((l != 5 && l != 6) || nd < 2 || right_blocked(sc, q)) return 0;
    for (size_t k = p; k < q; k++)
        if (sc->s[k] == 'I' || sc->s[k] == 'O') return 0;
    emit(sc, RG_PII_CN_PLATE, i, q, 0.85f);
    return sc->last_end == q ? q : 0;
}

/* Returns the new scan position after a CJK trigger at i, or 0. */
static size_t try_cjk(scan *sc, size_t i, uint32_t c) {
    size_t e, kl;
    uint8_t f = T.flags[c];
    if ((f & F_PROVINCE) && EN(sc, RG_PII_CN_PLATE) && (e = try_plate(sc, i))) return e;
    if ((f & F_DOB) && EN(sc, RG_PII_DOB) && (kl = match_kw(sc, i, c, &T.dob)) &&
        (e = dob_after(sc, i + kl)))
        return e;
    if (EN(sc, RG_PII_CN_NAME)) {
        if ((f & F_PREFIX) && (kl = match_kw(sc, i, c, &T.prefix)) &&
            (e = try_name_prefix(sc, i, kl)))
            return e;
        if ((f & F_SUFFIX) && match_kw(sc, i, c, &T.suffix)) try_name_suffix(sc, i);
    }
    return 0;
}

/* ---- ASCII word starts ---------------------------------------------------- */

static size_t try_word(scan *sc, size_t i) {
    const U *s = sc->s;
    U c = s[i];
    size_t e;
    size_t tl = tok_len(sc, i);
    U lc = (U)(c | 0x20);
    if ((lc == 'h' || lc == 'f' || lc == 'w') && EN(sc, RG_PII_URL) && (e = try_url(sc, i))) return e;
    if (is_hex(c) && i + tl < sc->n && (s[i + tl] == ':' || s[i + tl] == '-')) {
        if (tl == 2 && EN(sc, RG_PII_MAC) && (e = try_mac(sc, i))) return e;
        if (tl <= 4 && s[i + tl] == ':' && EN(sc, RG_PII_IPV6) && (e = try_ipv6(sc, i))) return e;
    }
    if (is_upper(c)) {
        if (tl == 18 && EN(sc, RG_PII_CN_USCC) && (e = try_uscc(sc, i, tl))) return e;
        if (tl >= 4 && EN(sc, RG_PII_IBAN) && (e = try_iban(sc, i))) return e;
        if (tl >= 8 && tl <= 11 && (e = try_doc(sc, i, tl))) return e;
    }
    if (EN(sc, RG_PII_DOB) && tl >= 3 && tl <= 8) {
        const U *w = s + i;
        int kw = (tl == 3 && ascii_ieq(w, "dob", 3)) || (tl == 4 && ascii_ieq(w, "born", 4)) ||
                 (tl == 5 && ascii_ieq(w, "birth", 5)) || (tl == 8 && ascii_ieq(w, "birthday", 8));
        if (kw) {
            size_t p = i + tl;
            if (p + 5 < sc->n && ascii_ieq(s + p, " date", 5)) p += 5;
            if ((e = dob_after(sc, p))) return e;
        }
        if (tl == 1 && 0) return 0;
    }
    if (tl == 1 && (c == 'D' || c == 'd') && i + 6 <= sc->n && ascii_ieq(s + i, "d.o.b", 5) &&
        EN(sc, RG_PII_DOB)) {
        size_t p = i + 5;
        if (p < sc->n && s[p] == '.') p++;
        if ((e = dob_after(sc, p))) return e;
    }
    return 0;
}

static size_t try_digit(scan *sc, size_t i) {
    const U *s = sc->s;
    size_t e;
    if (s[i] < 0x80) {
        size_t tl = tok_len(sc, i);
        U nx = i + tl < sc->n ? s[i + tl] : 0;
        if (tl == 2 && (nx == ':' || nx == '-') && EN(sc, RG_PII_MAC) && (e = try_mac(sc, i))) return e;
        if (tl <= 4 && nx == ':' && EN(sc, RG_PII_IPV6) && (e = try_ipv6(sc, i))) return e;
        if (tl <= 3 && nx == '.' && EN(sc, RG_PII_IPV4) && (e = try_ipv4(sc, i))) return e;
        if (tl == 18 && EN(sc, RG_PII_CN_USCC) && (e = try_uscc(sc, i, tl))) return e;
    }
    return try_number(sc, i);
}

/* Byte classes for the main loop. */
enum { K_SKIP = 0, K_DIGIT, K_ALPHA, K_AT, K_PLUS, K_PAREN, K_COLON, K_CJK, K_EF };
static U KLASS[256];
static void init_klass(void) {
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE)) return;
    for (int c = 0; c < 256; c++) {
        U k = K_SKIP;
        if (c >= '0' && c <= '9') k = K_DIGIT;
        else if (is_alpha((U)c)) k = K_ALPHA;
        else if (c == '@') k = K_AT;
        else if (c == '+') k = K_PLUS;
        else if (c == '(') k = K_PAREN;
        else if (c == ':') k = K_COLON;
        else if (c >= 0xE3 && c <= 0xE9) k = K_CJK;
        else if (c == 0xEF) k = K_EF;
        KLASS[c] = k;
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

void rg__guard_detect(const char *text, size_t n, uint32_t enabled, rg__fvec *out) {
    init_tables();
    init_klass();
    scan sc = {(const U *)text, n, 0, enabled, out};
    const U *s = sc.s;
    int want_num = (enabled & ((1u << RG_PII_CN_ID) | (1u << RG_PII_CN_USCC) | (1u << RG_PII_CARD) |
                               (1u << RG_PII_CN_MOBILE) | (1u << RG_PII_CN_LANDLINE) |
                               (1u << RG_PII_PHONE) | (1u << RG_PII_IPV4) | (1u << RG_PII_IPV6) |
                               (1u << RG_PII_MAC) | (1u << RG_PII_US_SSN))) != 0;
    size_t i = 0;
    while (i < n && !out->oom) {
        U c = s[i];
        size_t e;
        switch (KLASS[c]) {
        case K_SKIP:
            i++;
            break;
        case K_DIGIT:
            if (want_num && !left_blocked(&sc, i) && (e = try_digit(&sc, i))) {
                i = e;
                break;
            }
            while (i < n && is_alnum(s[i])) i++;
            break;
        case K_ALPHA:
            if (!left_blocked(&sc, i) && (e = try_word(&sc, i))) {
                i = e;
                break;
            }
            while (i < n && is_alnum(s[i])) i++;
            break;
        case K_AT:
            if (EN(&sc, RG_PII_EMAIL) && (e = try_email(&sc, i))) {
                i = e;
                break;
            }
            i++;
            break;
        case K_PLUS:
            if (want_num && !left_blocked(&sc, i) && (e = try_plus(&sc, i))) {
                i = e;
                break;
            }
            i++;
            break;
        case K_PAREN:
            if (want_num && (e = try_paren(&sc, i))) {
                i = e;
                break;
            }
            i++;
            break;
        case K_COLON:
            if (i + 1 < n && s[i + 1] == ':' && !left_blocked(&sc, i) && EN(&sc, RG_PII_IPV6) &&
                (e = try_ipv6(&sc, i))) {
                i = e;
                break;
            }
            i++;
            break;
        case K_CJK: {
            uint32_t cp = cjk_at(&sc, i);
            if (cp && (T.flags[cp] & TRIG) && (e = try_cjk(&sc, i, cp))) {
                i = e;
                break;
            }
            i += cp ? 3 : 1;
            break;
        }
        case K_EF: {
            int len;
            if (want_num && dig(&sc, i, &len) >= 0 && !left_blocked(&sc, i) &&
                (e = try_number(&sc, i))) {
                i = e;
                break;
            }
            i += (i + 2 < n) ? 3 : 1;
            break;
        }
        }
    }
}
