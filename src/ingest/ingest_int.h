/* ingest_int.h - helpers shared by the parsers (not part of the API).
 *
 * Parsers append blocks through rg__parsed_add, which copies the text into
 * the document's arena as valid UTF-8 (invalid bytes -> U+FFFD), trims
 * surrounding whitespace, drops empty blocks and enforces the limits. */
#ifndef RG_INGEST_INT_H
#define RG_INGEST_INT_H

#include "core/buf.h"
#include "ingest/ingest.h"

void rg__parsed_init(rg_parsed *p);
rg_status rg__parsed_add(rg_parsed *p, const char *text, size_t len, const char *heading, int page,
                         int64_t start, int64_t end, unsigned flags, rg_err *err);

/* Heading stack h1..h6 -> interned "A > B > C" path. */
typedef struct rg__headings {
    char text[7][256];
    const char *path; /* in the parsed arena; "" when empty */
    int dirty;
} rg__headings;
void rg__headings_init(rg__headings *h);
/* Sets level (1..6) to text (truncated, whitespace collapsed), clears deeper levels. */
void rg__headings_set(rg__headings *h, int level, const char *text, size_t len);
/* Current path, interned in p's arena (NULL on out of memory). */
const char *rg__headings_path(rg__headings *h, rg_parsed *p);

/* Appends s[0..n) to b with runs of whitespace collapsed to one space
 * (*last_space carries state across calls).  Returns RG_LIMIT/RG_NOMEM. */
rg_status rg__buf_append_collapsed(rg_buf *b, const char *s, size_t n, int *last_space);

/* One function per format; data is NOT NUL-terminated necessarily. */
rg_status rg__parse_txt(const char *data, size_t len, rg_parsed *p, rg_err *err);
rg_status rg__parse_md(const char *data, size_t len, rg_parsed *p, rg_err *err);
rg_status rg__parse_html(const char *data, size_t len, rg_parsed *p, rg_err *err);
rg_status rg__parse_pdf(const char *data, size_t len, rg_parsed *p, rg_err *err);
rg_status rg__parse_csv(const char *data, size_t len, char delim, rg_parsed *p, rg_err *err);

/* 1 when the code point is CJK (ideographs, kana, hangul, CJK punctuation). */
int rg__is_cjk(uint32_t cp);

#endif
