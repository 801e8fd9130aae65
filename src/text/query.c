/* query.c - the search query syntax: words, "phrases", +must, -not.
 *
 * Any byte string parses (hostile input is expected from HTTP clients):
 * the parser only splits and classifies; analysis happens at search time.
 * Quotes: ASCII " and the typographic pair U+201C/U+201D (also 「」 as
 * used in Chinese text).  An unterminated quote runs to the end. */
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "text/text.h"

static int is_space_at(const char *q, size_t n, size_t i, size_t *w) {
    unsigned char c = (unsigned char)q[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        *w = 1;
        return 1;
    }
    /* U+3000 ideographic space: E3 80 80 */
    if (c == 0xE3 && i + 2 < n && (unsigned char)q[i + 1] == 0x80 &&
        (unsigned char)q[i + 2] == 0x80) {
        *w = 3;
        return 1;
    }
    return 0;
}

/* Opening quote at i: returns its byte length and sets *close_kind. */
static size_t open_quote(const char *q, size_t n, size_t i, int *kind) {
    unsigned char c = (unsigned char)q[i];
    if (c == '"') {
        *kind = 0;
        return 1;
    }
    if (i + 2 < n && c == 0xE2 && (unsigned char)q[i + 1] == 0x80 &&
        (unsigned char)q[i + 2] == 0x9C) { /* U+201C */
        *kind = 1;
        return 3;
    }
    if (i + 2 < n && c == 0xE3 && (unsigned char)q[i + 1] == 0x80 &&
        (unsigned char)q[i + 2] == 0x8C) { /* U+300C 「 */
        *kind = 2;
        return 3;
    }
    return 0;
}

static size_t close_quote(const char *q, size_t n, size_t i, int kind) {
    unsigned char c = (unsigned char)q[i];
    if (c == '"') return 1; /* an ASCII quote closes any kind */
    if (i + 2 >= n || (i + 2 < n && c != 0xE2 && c != 0xE3)) return 0;
    unsigned char c1 = (unsigned char)q[i + 1], c2 = (unsigned char)q[i + 2];
    if (kind == 1 && c == 0xE2 && c1 == 0x80 && c2 == 0x9D) return 3; /* U+201D */
    if (kind == 2 && c == 0xE3 && c1 == 0x80 && c2 == 0x8D) return 3; /* U+300D 」 */
    return 0;
}

static rg_status add_clause(rg_text_query *out, size_t *cap, rg_text_occur occ, int phrase,
                            const char *t, size_t n, rg_err *err) {
    if (n == 0) return RG_OK;
    if (out->n >= RG_MAX_QUERY_TERMS) return RG_OK; /* the rest is dropped */
    if (out->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        rg_text_clause *c = realloc(out->clauses, nc * sizeof *c);
        if (!c) return rg_failf(err, RG_NOMEM, "query: out of memory");
        out->clauses = c;
        *cap = nc;
    }
    char *s = malloc(n + 1);
    if (!s) return rg_failf(err, RG_NOMEM, "query: out of memory");
    memcpy(s, t, n);
    s[n] = 0;
    out->clauses[out->n++] = (rg_text_clause){occ, phrase, s};
    return RG_OK;
}

rg_status rg_text_query_parse(const char *q, size_t len, rg_text_query *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    if (len > RG_MAX_QUERY_BYTES)
        return rg_failf(err, RG_LIMIT, "query: %zu bytes, more than the limit of %u", len,
                        (unsigned)RG_MAX_QUERY_BYTES);
    size_t cap = 0, i = 0, w;
    rg_status st = RG_OK;
    while (i < len && st == RG_OK) {
        if (is_space_at(q, len, i, &w)) {
            i += w;
            continue;
        }
        rg_text_occur occ = RG_TEXT_SHOULD;
        if ((q[i] == '+' || q[i] == '-') && i + 1 < len && !is_space_at(q, len, i + 1, &w)) {
            occ = q[i] == '+' ? RG_TEXT_MUST : RG_TEXT_MUST_NOT;
            i++;
        }
        int kind;
        size_t ql = open_quote(q, len, i, &kind);
        if (ql) {
            size_t start = i + ql, j = start, cl = 0;
            while (j < len && (cl = close_quote(q, len, j, kind)) == 0) j++;
            /* a quoted phrase is required unless it was marked -not */
            st = add_clause(out, &cap, occ == RG_TEXT_MUST_NOT ? occ : RG_TEXT_MUST, 1, q + start,
                            j - start, err);
            i = j < len ? j + cl : len;
            continue;
        }
        size_t start = i;
        while (i < len && !is_space_at(q, len, i, &w) && !open_quote(q, len, i, &kind)) i++;
        st = add_clause(out, &cap, occ, 0, q + start, i - start, err);
    }
    if (st != RG_OK) rg_text_query_clear(out);
    return st;
}

void rg_text_query_clear(rg_text_query *q) {
    for (size_t i = 0; i < q->n; i++) free(q->clauses[i].text);
    free(q->clauses);
    q->clauses = NULL;
    q->n = 0;
}
