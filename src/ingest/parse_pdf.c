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

/* Font sizes from poppler's text attributes, indexed by character of the
 * page text: the body size is the size covering the most characters; a
 * short line set at >= 1.2x the body size is a heading (>= 1.5x: level 1,
 * else level 2).  Without attributes no headings are found. */
typedef struct {
    GList *attrs, *cur;
    double body;
} font_info;

static void font_info_init(font_info *f, PopplerPage *pg, double prev_body) {
    f->attrs = f->cur = poppler_page_get_text_attributes(pg);
    f->body = 0;
    /* histogram over at most 64 distinct sizes */
    double sz[64];
    long cnt[64];
    int n = 0;
    long total = 0;
    for (GList *l = f->attrs; l; l = l->next) {
        PopplerTextAttributes *ta = l->data;
        long w = (long)ta->end_index - ta->start_index + 1;
        if (w <= 0 || !(ta->font_size > 0 && ta->font_size < 1000)) continue;
        total += w;
        int k = 0;
        while (k < n && (sz[k] - ta->font_size > 0.01 || ta->font_size - sz[k] > 0.01)) k++;
        if (k == n) {
            if (n == 64) continue;
            sz[n] = ta->font_size;
            cnt[n++] = 0;
        }
        cnt[k] += w;
    }
    int best = -1;
    for (int k = 0; k < n; k++)
        if (best < 0 || cnt[k] > cnt[best]) best = k;
    /* a page with little text (a title page) keeps the previous body size */
    f->body = (best >= 0 && (total >= 200 || prev_body <= 0)) ? sz[best] : prev_body;
}

/* Font size at character index ci (attributes are in increasing order). */
static double font_at(font_info *f, long ci) {
    while (f->cur) {
        PopplerTextAttributes *ta = f->cur->data;
        if (ci < ta->start_index) return 0;
        if (ci <= ta->end_index) return ta->font_size;
        f->cur = f->cur->next;
    }
    return 0;
}

static rg_status flush_para(rg_parsed *p, rg_buf *para, const char *heading, int page,
                            int64_t *off, rg_err *err) {
    if (!para->len) return RG_OK;
    size_t before = p->n;
    rg_status st = rg__parsed_add(p, para->data, para->len, heading, page, *off,
                                  *off + (int64_t)para->len, 0, err);
    if (!st && p->n > before) *off += (int64_t)p->blocks[p->n - 1].len + 1;
    rg_buf_reset(para);
    return st;
}

static rg_status page_blocks(rg_parsed *p, const char *text, size_t len, int page, int64_t *off,
                             font_info *fi, rg__headings *h, rg_err *err) {
    rg_buf para, head;
    rg_buf_init(&para, RG_INGEST_MAX_TEXT);
    rg_buf_init(&head, RG_INGEST_MAX_HEADING);
    rg_status st = RG_OK;
    size_t i = 0;
    long ci = 0; /* character index of text[i] */
    int head_level = 0;
    while (i <= len && !st) {
        const char *nl = i < len ? memchr(text + i, '\n', len - i) : NULL;
        size_t eol = nl ? (size_t)(nl - text) : len;
        size_t a = i, b = eol;
        long ca = ci;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r' || text[a] == '\f')) a++, ca++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r' || text[b - 1] == '\f')) b--;
        for (size_t k = i; k < eol + (eol < len); k++)
            if (((unsigned char)text[k] & 0xC0) != 0x80) ci++;
        int blank = (a == b);
        double fs = (!blank && fi->body > 0) ? font_at(fi, ca) : 0;
        int level = (fs >= fi->body * 1.5) ? 1 : (fs >= fi->body * 1.2) ? 2 : 0;
        if (level && b - a > 200) level = 0;
        if (!st && (level == 0 || level != head_level) && head.len) {
            /* a heading line run ended: it becomes the heading path */
            rg__headings_set(h, head_level, head.data, head.len);
            if (head_level == 1 && !p->title) p->title = rg_arena_strndup(&p->arena, head.data, head.len);
            rg_buf_reset(&head);
        }
        if (level) {
            st = flush_para(p, &para, rg__headings_path(h, p), page, off, err);
            if (!st && head.len) st = rg_buf_putc(&head, ' ');
            if (!st) st = rg_buf_append(&head, text + a, b - a);
            if (st == RG_LIMIT) st = RG_OK; /* an over-long heading is just truncated */
            head_level = level;
        } else {
            head_level = 0;
            if (!blank) {
                if (para.len) {
                    uint32_t lc = last_cp(para.data, para.len), fc;
                    rg_utf8_decode(text + a, b - a, &fc);
                    if (!(rg__is_cjk(lc) && rg__is_cjk(fc))) st = rg_buf_putc(&para, ' ');
                }
                if (!st) st = rg_buf_append(&para, text + a, b - a);
            }
            int end_para = blank || eol >= len || (para.len && ends_sentence(last_cp(para.data, para.len)));
            if (!st && end_para) {
                const char *path = rg__headings_path(h, p);
                st = path ? flush_para(p, &para, path, page, off, err)
                          : rg_failf(err, RG_NOMEM, "pdf: out of memory");
            }
        }
        if (st == RG_LIMIT && !(err && err->code == RG_LIMIT)) st = rg_failf(err, st, "pdf: text over the limit");
        if (eol >= len) break;
        i = eol + 1;
    }
    if (!st && head.len) rg__headings_set(h, head_level ? head_level : 2, head.data, head.len);
    if (!st) {
        const char *path = rg__headings_path(h, p);
        st = path ? flush_para(p, &para, path, page, off, err) : rg_failf(err, RG_NOMEM, "pdf: out of memory");
    }
    rg_buf_free(&para);
    rg_buf_free(&head);
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
    rg__headings h;
    rg__headings_init(&h);
    double body = 0;
    for (int i = 0; i < n && !st; i++) {
        PopplerPage *pg = poppler_document_get_page(doc, i);
        if (!pg) continue;
        gchar *text = poppler_page_get_text(pg);
        if (text) {
            font_info fi;
            font_info_init(&fi, pg, body);
            body = fi.body;
            st = page_blocks(p, text, strlen(text), i + 1, &off, &fi, &h, err);
            poppler_page_free_text_attributes(fi.attrs);
            g_free(text);
        }
        g_object_unref(pg);
    }
out:
    g_object_unref(doc);
    g_bytes_unref(bytes);
    return st;
}
