/* parse_pdf.c - PDF text via poppler-glib, from memory.
 *
 * Each page's text is split into paragraphs: a blank line, or a line that
 * ends with sentence punctuation, ends a paragraph; other line breaks are
 * joined (with a space, or nothing between two CJK characters).  Every
 * block carries its 1-based page number for citations.  Offsets are into
 * the extracted text of all pages.  Encrypted PDFs without a password are
 * reported, not guessed. */
#include <glib.h>
#include <poppler.h>
#include <string.h>

#include "core/limits.h"
#include "core/utf8.h"
#include "ingest/ingest_int.h"

static uint32_t last_cp(const char *s, size_t n) {
    if (!n) return 0;
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80 && n - i < 4) i--;
    uint32_t cp;
    rg_utf8_decode(s + i, n - i, &cp);
    return cp;
}

static int ends_sentence(uint32_t cp) {
    return cp == '.' || cp == '!' || cp == '?' || cp == ':' || cp == 0x3002 || cp == 0xFF01 ||
           cp == 0xFF1F || cp == 0xFF1B || cp == 0xFF1A;
}

static rg_status page_blocks(rg_parsed *p, const char *text, size_t len, int page, int64_t *off,
                             rg_err *err) {
    rg_buf para;
    rg_buf_init(&para, RG_INGEST_MAX_TEXT);
    rg_status st = RG_OK;
    size_t i = 0;
    while (i <= len && !st) {
        const char *nl = i < len ? memchr(text + i, '\n', len - i) : NULL;
        size_t eol = nl ? (size_t)(nl - text) : len;
        size_t a = i, b = eol;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r' || text[a] == '\f')) a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r' || text[b - 1] == '\f')) b--;
        int blank = (a == b);
        if (!blank) {
            if (para.len) {
                uint32_t lc = last_cp(para.data, para.len), fc;
                rg_utf8_decode(text + a, b - a, &fc);
                if (!(rg__is_cjk(lc) && rg__is_cjk(fc))) st = rg_buf_putc(&para, ' ');
            }
            if (!st) st = rg_buf_append(&para, text + a, b - a);
        }
        int end_para = blank || eol >= len || (para.len && ends_sentence(last_cp(para.data, para.len)));
        if (!st && end_para && para.len) {
            size_t before = p->n;
            st = rg__parsed_add(p, para.data, para.len, "", page, *off, *off + (int64_t)para.len, 0,
                                err);
            if (!st && p->n > before) *off += (int64_t)p->blocks[p->n - 1].len + 1;
            rg_buf_reset(&para);
        }
        if (st == RG_LIMIT && !(err && err->code == RG_LIMIT)) st = rg_failf(err, st, "pdf: text over the limit");
        if (eol >= len) break;
        i = eol + 1;
    }
    rg_buf_free(&para);
    return st;
}

rg_status rg__parse_pdf(const char *data, size_t len, rg_parsed *p, rg_err *err) {
    if (len < 5 || memcmp(data, "%PDF", 4) != 0)
        if (!(len >= 1024 ? memmem(data, 1024, "%PDF", 4) : memmem(data, len, "%PDF", 4)))
            return rg_failf(err, RG_FORMAT, "pdf: no %%PDF header");
    GError *gerr = NULL;
    GBytes *bytes = g_bytes_new_static(data, len);
    PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &gerr);
    if (!doc) {
        rg_status st = rg_failf(err, RG_FORMAT, "pdf: %s",
                                gerr && gerr->message ? gerr->message : "cannot open document");
        if (gerr) g_error_free(gerr);
        g_bytes_unref(bytes);
        return st;
    }
    int n = poppler_document_get_n_pages(doc);
    rg_status st = RG_OK;
    if (n < 0 || n > RG_INGEST_MAX_PDF_PAGES) {
        st = rg_failf(err, RG_LIMIT, "pdf: %d pages (max %d)", n, RG_INGEST_MAX_PDF_PAGES);
        goto out;
    }
    p->pages = n;
    gchar *title = poppler_document_get_title(doc);
    if (title) {
        if (*title && rg_utf8_valid(title, strlen(title)))
            p->title = rg_arena_strndup(&p->arena, title, strnlen(title, 512));
        g_free(title);
    }
    int64_t off = 0;
    for (int i = 0; i < n && !st; i++) {
        PopplerPage *pg = poppler_document_get_page(doc, i);
        if (!pg) continue;
        gchar *text = poppler_page_get_text(pg);
        if (text) {
            st = page_blocks(p, text, strlen(text), i + 1, &off, err);
            g_free(text);
        }
        g_object_unref(pg);
    }
out:
    g_object_unref(doc);
    g_bytes_unref(bytes);
    return st;
}
