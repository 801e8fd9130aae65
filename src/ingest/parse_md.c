/* parse_md.c - Markdown via cmark-gfm (with the GFM table extension).
 *
 * Headings set the heading path of the blocks that follow; paragraphs,
 * code blocks and list items become blocks; each table row becomes one
 * block "col: value; col: value" (header cells name the columns).  Raw
 * HTML blocks are dropped.  Offsets come from cmark's source positions
 * (1-based line, byte column), converted through a line-start table. */
#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "ingest/ingest_int.h"

typedef struct {
    const char *data;
    size_t len;
    size_t *line_start; /* line_start[i] = offset of line i+1 */
    size_t n_lines;
    rg_parsed *p;
    rg__headings h;
    rg_buf buf;
} md_ctx;

static int64_t pos_to_off(const md_ctx *c, int line, int col) {
    if (line < 1 || (size_t)line > c->n_lines) return line < 1 ? 0 : (int64_t)c->len;
    size_t off = c->line_start[line - 1] + (size_t)(col > 0 ? col - 1 : 0);
    return (int64_t)(off > c->len ? c->len : off);
}

static void node_span(const md_ctx *c, cmark_node *n, int64_t *s, int64_t *e) {
    *s = pos_to_off(c, cmark_node_get_start_line(n), cmark_node_get_start_column(n));
    *e = pos_to_off(c, cmark_node_get_end_line(n), cmark_node_get_end_column(n) + 1);
    if (*e < *s) *e = *s;
}

/* Plain text of an inline subtree into c->buf (appends). */
static rg_status inline_text(md_ctx *c, cmark_node *root) {
    cmark_iter *it = cmark_iter_new(root);
    if (!it) return RG_NOMEM;
    rg_status st = RG_OK;
    cmark_event_type ev;
    while (!st && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        if (ev != CMARK_EVENT_ENTER) continue;
        cmark_node *n = cmark_iter_get_node(it);
        switch (cmark_node_get_type(n)) {
        case CMARK_NODE_TEXT:
        case CMARK_NODE_CODE: {
            const char *l = cmark_node_get_literal(n);
            if (l) st = rg_buf_puts(&c->buf, l);
            break;
        }
        case CMARK_NODE_SOFTBREAK: st = rg_buf_putc(&c->buf, ' '); break;
        case CMARK_NODE_LINEBREAK: st = rg_buf_putc(&c->buf, '\n'); break;
        default: break;
        }
    }
    cmark_iter_free(it);
    return st;
}

static rg_status add_buf(md_ctx *c, cmark_node *n, unsigned flags, rg_err *err) {
    int64_t s, e;
    node_span(c, n, &s, &e);
    const char *path = rg__headings_path(&c->h, c->p);
    if (!path) return rg_failf(err, RG_NOMEM, "out of memory");
    rg_status st = rg__parsed_add(c->p, c->buf.data ? c->buf.data : "", c->buf.len, path, 0, s, e,
                                  flags, err);
    rg_buf_reset(&c->buf);
    return st;
}

static int is_type(cmark_node *n, const char *name) {
    const char *t = cmark_node_get_type_string(n);
    return t && !strcmp(t, name);
}

static rg_status table(md_ctx *c, cmark_node *tbl, rg_err *err) {
    char *names[64] = {0};
    int n_names = 0;
    rg_status st = RG_OK;
    rg_buf cell;
    rg_buf_init(&cell, RG_MAX_CHUNK_BYTES);
    for (cmark_node *row = cmark_node_first_child(tbl); row && !st; row = cmark_node_next(row)) {
        int header = cmark_gfm_extensions_get_table_row_is_header(row);
        int col = 0;
        rg_buf_reset(&c->buf);
        for (cmark_node *cl = cmark_node_first_child(row); cl && !st; cl = cmark_node_next(cl), col++) {
            size_t before = c->buf.len;
            if ((st = inline_text(c, cl))) {
                st = rg_failf(err, st, "markdown: table cell over the limit");
                break;
            }
            /* the cell's text is now at the end of buf: take it out */
            rg_buf_reset(&cell);
            if (c->buf.data) { /* NULL until the first append */
                rg_buf_append(&cell, c->buf.data + before, c->buf.len - before);
                c->buf.len = before;
                c->buf.data[before] = 0;
            }
            int sp = 1;
            rg_buf tmp;
            rg_buf_init(&tmp, RG_MAX_CHUNK_BYTES);
            rg__buf_append_collapsed(&tmp, cell.data ? cell.data : "", cell.len, &sp);
            while (tmp.len && tmp.data[tmp.len - 1] == ' ') tmp.data[--tmp.len] = 0;
            if (header) {
                if (col < 64) {
                    names[col] = tmp.len ? strdup(tmp.data) : NULL;
                    if (col + 1 > n_names) n_names = col + 1;
                }
            } else if (tmp.len) {
                if (c->buf.len) st = rg_buf_puts(&c->buf, "; ");
                if (!st && col < n_names && names[col] && *names[col])
                    st = rg_buf_printf(&c->buf, "%s: ", names[col]);
                if (!st) st = rg_buf_append(&c->buf, tmp.data, tmp.len);
                if (st) st = rg_failf(err, st, "markdown: table row over the limit");
            }
            rg_buf_free(&tmp);
        }
        if (st) break;
        if (!header) st = add_buf(c, row, 0, err);
        rg_buf_reset(&c->buf);
    }
    for (int i = 0; i < 64; i++) free(names[i]);
    rg_buf_free(&cell);
    return st;
}

static pthread_once_t ext_once = PTHREAD_ONCE_INIT;
static void ext_init(void) { cmark_gfm_core_extensions_ensure_registered(); }

rg_status rg__parse_md(const char *data, size_t len, rg_parsed *p, rg_err *err) {
    pthread_once(&ext_once, ext_init);
    md_ctx c = {.data = data, .len = len, .p = p};
    rg__headings_init(&c.h);
    rg_buf_init(&c.buf, RG_INGEST_MAX_TEXT);
    /* line table: count first, so the allocation is bounded by len */
    size_t nl = 1;
    for (const char *q = data; (q = memchr(q, '\n', (size_t)(data + len - q))); q++) nl++;
    c.line_start = malloc(nl * sizeof *c.line_start);
    if (!c.line_start) return rg_failf(err, RG_NOMEM, "out of memory");
    c.line_start[0] = 0;
    c.n_lines = 1;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n') c.line_start[c.n_lines++] = i + 1;

    rg_status st = RG_OK;
    cmark_parser *parser = cmark_parser_new(CMARK_OPT_SOURCEPOS | CMARK_OPT_VALIDATE_UTF8);
    cmark_syntax_extension *tab = cmark_find_syntax_extension("table");
    if (!parser) {
        free(c.line_start);
        return rg_failf(err, RG_NOMEM, "out of memory");
    }
    if (tab) cmark_parser_attach_syntax_extension(parser, tab);
    cmark_parser_feed(parser, data, len);
    cmark_node *doc = cmark_parser_finish(parser);
    if (!doc) {
        st = rg_failf(err, RG_FORMAT, "markdown parser failed");
        goto out;
    }
    cmark_iter *it = cmark_iter_new(doc);
    cmark_event_type ev;
    while (!st && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        if (ev != CMARK_EVENT_ENTER) continue;
        cmark_node *n = cmark_iter_get_node(it);
        cmark_node_type t = cmark_node_get_type(n);
        if (t == CMARK_NODE_HEADING) {
            rg_buf_reset(&c.buf);
            if ((st = inline_text(&c, n))) {
                rg_failf(err, st, "markdown: extracted text over the limit or out of memory");
                break;
            }
            rg__headings_set(&c.h, cmark_node_get_heading_level(n), c.buf.data ? c.buf.data : "",
                             c.buf.len);
            if (!p->title && cmark_node_get_heading_level(n) == 1 && c.buf.len)
                p->title = rg_arena_strndup(&p->arena, c.buf.data, c.buf.len);
            rg_buf_reset(&c.buf);
            cmark_iter_reset(it, n, CMARK_EVENT_EXIT);
        } else if (t == CMARK_NODE_PARAGRAPH) {
            rg_buf_reset(&c.buf);
            if ((st = inline_text(&c, n))) {
                rg_failf(err, st, "markdown: extracted text over the limit or out of memory");
                break;
            }
            st = add_buf(&c, n, 0, err);
            cmark_iter_reset(it, n, CMARK_EVENT_EXIT);
        } else if (t == CMARK_NODE_CODE_BLOCK) {
            rg_buf_reset(&c.buf);
            const char *l = cmark_node_get_literal(n);
            if (l && (st = rg_buf_puts(&c.buf, l))) {
                rg_failf(err, st, "markdown: code block over the limit");
                break;
            }
            st = add_buf(&c, n, 0, err);
        } else if (t == CMARK_NODE_HTML_BLOCK) {
            /* dropped: may carry scripts; not document text */
        } else if (is_type(n, "table")) {
            st = table(&c, n, err);
            cmark_iter_reset(it, n, CMARK_EVENT_EXIT);
        }
    }
    cmark_iter_free(it);
    cmark_node_free(doc);
out:
    cmark_parser_free(parser);
    rg_buf_free(&c.buf);
    free(c.line_start);
    return st;
}
