/* jsonw.c - a direct JSON writer for hot responses (search results).
 *
 * jansson validates every string when it is packed and walks it again code
 * point by code point when it is dumped; for a search response (five chunk
 * texts of ~1 KB) that was a third of the server's CPU per request.  These
 * helpers append to an rg_buf with one table-driven pass per string and
 * write exactly what json_dumps(JSON_COMPACT) writes for the same values:
 * the same escapes (\" \\ \b \f \n \r \t, other controls as \u00XX with
 * upper-case hex, '/' and non-ASCII unescaped) and the same reals (%.17g,
 * ".0" added to integral values, exponent without '+' or leading zeros).
 * Invalid UTF-8 (which jansson refuses) becomes U+FFFD, so the output is
 * always valid JSON. */
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "server/server_int.h"

/* 0: copy as is; 1: escape; 2: non-ASCII lead byte (validate) */
static const unsigned char k_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

rg_status rg__jw_str(rg_buf *b, const char *s, size_t n) {
    /* worst case: every byte a 6-byte \u00XX, or a 1-byte invalid -> 3-byte U+FFFD */
    if (n > ((size_t)-1 - 2) / 6) return RG_LIMIT;
    rg_status st = rg_buf_reserve(b, n * 6 + 2);
    if (st != RG_OK) return st;
    char *o = b->data + b->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    *o++ = '"';
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && !k_class[*p]) p++;
        if (p > run) {
            memcpy(o, run, (size_t)(p - run));
            o += p - run;
        }
        if (p >= end) break;
        unsigned char c = *p;
        if (k_class[c] == 2) {
            uint32_t cp;
            int l = rg_utf8_decode((const char *)p, (size_t)(end - p), &cp);
            if (l <= 0) l = 1;
            if (cp == 0xFFFD && !(l == 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xBD)) {
                o += rg_utf8_encode(0xFFFD, o); /* invalid sequence */
            } else {
                memcpy(o, p, (size_t)l);
                o += l;
            }
            p += l;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default: {
            static const char hex[] = "0123456789ABCDEF";
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
        }
        p++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
    return RG_OK;
}

rg_status rg__jw_cstr(rg_buf *b, const char *s) { return rg__jw_str(b, s ? s : "", s ? strlen(s) : 0); }

rg_status rg__jw_int(rg_buf *b, long long v) {
    char t[24], *e = t + sizeof t, *p = e;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return rg_buf_append(b, p, (size_t)(e - p));
}

/* jansson's jsonp_dtostr (precision 17) in the C locale. */
rg_status rg__jw_real(rg_buf *b, double v) {
    char t[64];
    int n = snprintf(t, sizeof t, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof t) return RG_LIMIT;
    if (!strpbrk(t, ".eE") && !strpbrk(t, "ni")) { /* integral (not inf/nan): add ".0" */
        t[n++] = '.';
        t[n++] = '0';
        t[n] = 0;
    }
    char *e = strchr(t, 'e');
    if (e) {
        char *q = e + 1, *w = e + 1;
        if (*q == '-') *w++ = *q++;
        else if (*q == '+') q++;
        while (*q == '0' && q[1]) q++;
        while (*q) *w++ = *q++;
        *w = 0;
        n = (int)(w - t);
    }
    return rg_buf_append(b, t, (size_t)n);
}
