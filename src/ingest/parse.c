/* parse.c - type detection, the parse entry point, block helpers, and the
 * plain-text parser (paragraphs separated by blank lines). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/limits.h"
#include "core/utf8.h"
#include "ingest/ingest_int.h"

/* ---- types ---- */

static const struct {
    const char *ext;
    rg_doc_type t;
} exts[] = {
    {"txt", RG_DOC_TXT},   {"text", RG_DOC_TXT},     {"log", RG_DOC_TXT},  {"rst", RG_DOC_TXT},
    {"md", RG_DOC_MD},     {"markdown", RG_DOC_MD},  {"mdown", RG_DOC_MD}, {"html", RG_DOC_HTML},
    {"htm", RG_DOC_HTML},  {"xhtml", RG_DOC_HTML},   {"pdf", RG_DOC_PDF},  {"csv", RG_DOC_CSV},
    {"tsv", RG_DOC_TSV},
};

rg_doc_type rg_ingest_type_from_name(const char *name) {
    if (!name) return RG_DOC_UNKNOWN;
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) return RG_DOC_UNKNOWN;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot + 1, exts[i].ext)) return exts[i].t;
    return RG_DOC_UNKNOWN;
}

rg_doc_type rg_ingest_detect(const char *name, const void *head, size_t n) {
    rg_doc_type t = rg_ingest_type_from_name(name);
    if (t != RG_DOC_UNKNOWN || !head || n == 0) return t;
    const char *h = head;
    if (n >= 5 && !memcmp(h, "%PDF-", 5)) return RG_DOC_PDF;
    size_t i = 0;
    if (n >= 3 && !memcmp(h, "\xEF\xBB\xBF", 3)) i = 3;
    while (i < n && isspace((unsigned char)h[i])) i++;
    if (n - i >= 9 && !strncasecmp(h + i, "<!doctype", 9)) return RG_DOC_HTML;
    if (n - i >= 5 && !strncasecmp(h + i, "<html", 5)) return RG_DOC_HTML;
    if (memchr(h, 0, n)) return RG_DOC_UNKNOWN;
    /* the sample may end inside a code point: validate up to the floor */
    if (!rg_utf8_valid(h, rg_utf8_floor(h, n))) return RG_DOC_UNKNOWN;
    return RG_DOC_TXT;
}

const char *rg_doc_type_name(rg_doc_type t) {
    switch (t) {
    case RG_DOC_TXT: return "txt";
    case RG_DOC_MD: return "md";
    case RG_DOC_HTML: return "html";
    case RG_DOC_PDF: return "pdf";
    case RG_DOC_CSV: return "csv";
    case RG_DOC_TSV: return "tsv";
    default: return "unknown";
    }
}

const char *rg_doc_type_mime(rg_doc_type t) {
    switch (t) {
    case RG_DOC_TXT: return "text/plain";
    case RG_DOC_MD: return "text/markdown";
    case RG_DOC_HTML: return "text/html";
    case RG_DOC_PDF: return "application/pdf";
    case RG_DOC_CSV: return "text/csv";
    case RG_DOC_TSV: return "text/tab-separated-values";
    default: return "application/octet-stream";
    }
}

/* ---- parsed documents ---- */

void rg__parsed_init(rg_parsed *p) {
    memset(p, 0, sizeof *p);
    rg_arena_init(&p->arena, (size_t)RG_INGEST_MAX_TEXT * 2 + (64u << 20));
}

void rg_parsed_free(rg_parsed *p) {
    if (!p) return;
    rg_arena_free(&p->arena);
    free(p->blocks);
    memset(p, 0, sizeof *p);
}

static int is_space_byte(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

rg_status rg__parsed_add(rg_parsed *p, const char *text, size_t len, const char *heading, int page,
                         int64_t start, int64_t end, unsigned flags, rg_err *err) {
    /* trim, keeping offsets in step when the text is a slice of the source */
    size_t a = 0, b = len;
    while (a < b && is_space_byte((unsigned char)text[a])) a++;
    while (b > a && is_space_byte((unsigned char)text[b - 1])) b--;
    /* also trim U+3000 ideographic space / NBSP at the edges */
    if (a == b) return RG_OK;
    if (end - start == (int64_t)len) {
        start += (int64_t)a;
        end -= (int64_t)(len - b);
    }
    text += a;
    len = b - a;
    if (p->n >= RG_INGEST_MAX_BLOCKS)
        return rg_failf(err, RG_LIMIT, "more than %u blocks", (unsigned)RG_INGEST_MAX_BLOCKS);
    if (len > RG_INGEST_MAX_TEXT - p->text_bytes)
        return rg_failf(err, RG_LIMIT, "extracted text over %u bytes",
                        (unsigned)RG_INGEST_MAX_TEXT);
    /* sanitise: worst case every byte becomes U+FFFD (3 bytes) */
    if (len > (SIZE_MAX - 1) / 3) return rg_failf(err, RG_LIMIT, "block too large");
    char *out;
    size_t olen = 0;
    if (rg_utf8_valid(text, len) && !memchr(text, 0, len)) {
        out = rg_arena_strndup(&p->arena, text, len);
        olen = len;
    } else {
        out = rg_arena_alloc(&p->arena, len * 3 + 1);
        if (out) {
            size_t i = 0;
            while (i < len) {
                uint32_t cp;
                int l = rg_utf8_decode(text + i, len - i, &cp);
                if (cp == 0) cp = 0xFFFD; /* NUL would cut C strings */
                olen += (size_t)rg_utf8_encode(cp, out + olen);
                i += (size_t)l;
            }
            out[olen] = 0;
        }
    }
    if (!out) return rg_failf(err, RG_NOMEM, "out of memory for extracted text");
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        rg_block *nb = realloc(p->blocks, nc * sizeof *nb);
        if (!nb) return rg_failf(err, RG_NOMEM, "out of memory for blocks");
        p->blocks = nb;
        p->cap = nc;
    }
    if (end < start) end = start;
    p->blocks[p->n++] = (rg_block){out, olen, heading ? heading : "", page, start, end, flags};
    p->text_bytes += olen;
    return RG_OK;
}

void rg__headings_init(rg__headings *h) {
    memset(h, 0, sizeof *h);
    h->path = "";
}

void rg__headings_set(rg__headings *h, int level, const char *text, size_t len) {
    if (level < 1) level = 1;
    if (level > 6) level = 6;
    rg_buf b;
    rg_buf_init(&b, sizeof h->text[0] - 1);
    int sp = 1;
    rg__buf_append_collapsed(&b, text, len, &sp); /* LIMIT just truncates */
    size_t n = b.len;
    while (n && b.data[n - 1] == ' ') n--;
    n = b.data ? rg_utf8_floor(b.data, n) : 0;
    memcpy(h->text[level], b.data ? b.data : "", n);
    h->text[level][n] = 0;
    rg_buf_free(&b);
    for (int l = level + 1; l <= 6; l++) h->text[l][0] = 0;
    h->dirty = 1;
}

const char *rg__headings_path(rg__headings *h, rg_parsed *p) {
    if (!h->dirty) return h->path;
    char tmp[RG_INGEST_MAX_HEADING];
    size_t n = 0;
    for (int l = 1; l <= 6; l++) {
        if (!h->text[l][0]) continue;
        const char *parts[2] = {n ? " > " : "", h->text[l]};
        for (int k = 0; k < 2; k++) {
            size_t m = strlen(parts[k]);
            if (n + m >= sizeof tmp) m = sizeof tmp - 1 - n;
            memcpy(tmp + n, parts[k], m);
            n += m;
        }
    }
    n = rg_utf8_floor(tmp, n);
    tmp[n] = 0;
    const char *s = rg_arena_strndup(&p->arena, tmp, n);
    if (!s) return NULL;
    h->path = s;
    h->dirty = 0;
    return s;
}

rg_status rg__buf_append_collapsed(rg_buf *b, const char *s, size_t n, int *last_space) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_space_byte(c)) {
            if (!*last_space) {
                rg_status st = rg_buf_putc(b, ' ');
                if (st) return st;
                *last_space = 1;
            }
            continue;
        }
        /* U+00A0 no-break space */
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0) {
            i++;
            if (!*last_space) {
                rg_status st = rg_buf_putc(b, ' ');
                if (st) return st;
                *last_space = 1;
            }
            continue;
        }
        rg_status st = rg_buf_putc(b, (char)c);
        if (st) return st;
        *last_space = 0;
    }
    return RG_OK;
}

int rg__is_cjk(uint32_t cp) {
    return (cp >= 0x2E80 && cp <= 0x9FFF) ||  /* radicals, punctuation, kana, ideographs */
           (cp >= 0xAC00 && cp <= 0xD7AF) ||  /* hangul */
           (cp >= 0xF900 && cp <= 0xFAFF) ||  /* compatibility ideographs */
           (cp >= 0xFF00 && cp <= 0xFFEF) ||  /* full-width forms */
           (cp >= 0x20000 && cp <= 0x3FFFF);  /* extension B.. */
}

/* ---- plain text: paragraphs are separated by blank lines ---- */

rg_status rg__parse_txt(const char *data, size_t len, rg_parsed *p, rg_err *err) {
    size_t i = 0;
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) i = 3;
    size_t para = i;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t eol = nl ? (size_t)(nl - data) : len;
        size_t j = i;
        while (j < eol && is_space_byte((unsigned char)data[j])) j++;
        int blank = (j == eol);
        if (blank) {
            if (i > para) {
                rg_status st = rg__parsed_add(p, data + para, i - para, "", 0, (int64_t)para,
                                              (int64_t)i, 0, err);
                if (st) return st;
            }
            para = eol + 1;
        }
        i = eol + 1;
    }
    if (para < len)
        return rg__parsed_add(p, data + para, len - para, "", 0, (int64_t)para, (int64_t)len, 0,
                              err);
    return RG_OK;
}

/* ---- entry point ---- */

rg_status rg_ingest_parse(rg_doc_type t, const char *data, size_t len, rg_parsed *out,
                          rg_err *err) {
    rg__parsed_init(out);
    if (len > RG_INGEST_MAX_BYTES)
        return rg_failf(err, RG_LIMIT, "%zu bytes is over the parser limit of %u", len,
                        (unsigned)RG_INGEST_MAX_BYTES);
    if (!data && len) return rg_failf(err, RG_INVALID, "no data");
    if (!data) data = "";
    switch (t) {
    case RG_DOC_TXT: return rg__parse_txt(data, len, out, err);
    case RG_DOC_MD: return rg__parse_md(data, len, out, err);
    case RG_DOC_HTML: return rg__parse_html(data, len, out, err);
    case RG_DOC_PDF: return rg__parse_pdf(data, len, out, err);
    case RG_DOC_CSV: return rg__parse_csv(data, len, 0, out, err);
    case RG_DOC_TSV: return rg__parse_csv(data, len, '\t', out, err);
    default:
        return rg_failf(err, RG_UNSUPPORTED,
                        "unsupported file type (expected txt, md, html, pdf, csv or tsv)");
    }
}
