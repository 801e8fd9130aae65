/* parse_html.c - HTML via libxml2's forgiving HTML parser.
 *
 * Dropped: script, style, nav, header, footer, noscript, template, svg,
 * iframe, object, form controls and <head> (except <title>).  h1..h6 set
 * the heading path; block elements (p, div, li, pre, blockquote, ...) end
 * a block; table rows become "col: value; ..." blocks using the <th>
 * header row.  Whitespace is collapsed except inside <pre>.  The walk is
 * recursive with a depth cap; deeper content is flattened into its
 * ancestor's text.  Offsets are into the extracted text. */
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "core/limits.h"
#include "core/utf8.h"
#include "ingest/ingest_int.h"

typedef struct {
    rg_parsed *p;
    rg__headings h;
    rg_buf buf;
    int last_space;
    int pre;
    int64_t off; /* running offset in the extracted text */
    rg_err *err;
    rg_status st;
} html_ctx;

static const char *const dropped[] = {"script", "style",  "nav",    "header",   "footer",
                                      "noscript", "template", "svg", "iframe", "object",
                                      "head",   "select", "button", "textarea", "math",
                                      "canvas", "embed",  NULL};
static const char *const blocks[] = {
    "p",       "div",     "section", "article", "main",   "li",     "ul",     "ol",
    "dl",      "dt",      "dd",      "blockquote", "pre", "figure", "figcaption", "address",
    "hr",      "body",    "html",    "form",    "fieldset", "details", "summary", "caption",
    "aside",   "center",  "tr",      "td",      "th",     "br",     "table",  NULL};

static int in_list(const char *name, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (!strcasecmp(name, list[i])) return 1;
    return 0;
}

static int heading_level(const char *name) {
    if ((name[0] == 'h' || name[0] == 'H') && name[1] >= '1' && name[1] <= '6' && !name[2])
        return name[1] - '0';
    return 0;
}

static void flush(html_ctx *c) {
    if (c->st) return;
    const char *path = rg__headings_path(&c->h, c->p);
    if (!path) {
        c->st = rg_failf(c->err, RG_NOMEM, "out of memory");
        return;
    }
    size_t before = c->p->n;
    c->st = rg__parsed_add(c->p, c->buf.data ? c->buf.data : "", c->buf.len, path, 0, c->off,
                           c->off + (int64_t)c->buf.len, 0, c->err);
    if (!c->st && c->p->n > before) c->off += (int64_t)c->p->blocks[c->p->n - 1].len + 1;
    rg_buf_reset(&c->buf);
    c->last_space = 1;
}

static void append(html_ctx *c, const char *s, size_t n) {
    if (c->st) return;
    rg_status st = c->pre ? rg_buf_append(&c->buf, s, n)
                          : rg__buf_append_collapsed(&c->buf, s, n, &c->last_space);
    if (st) c->st = rg_failf(c->err, st, "html: text block over %u bytes", (unsigned)RG_INGEST_MAX_TEXT);
}

/* All visible text below n (dropped elements skipped), depth-capped. */
static void text_of(html_ctx *c, xmlNode *n, int depth) {
    for (xmlNode *k = n->children; k && !c->st; k = k->next) {
        if (k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) {
            if (k->content) append(c, (const char *)k->content, strlen((const char *)k->content));
        } else if (k->type == XML_ELEMENT_NODE && k->name) {
            if (in_list((const char *)k->name, dropped)) continue;
            if (!strcasecmp((const char *)k->name, "br")) append(c, " ", 1);
            if (depth < RG_INGEST_MAX_DEPTH) text_of(c, k, depth + 1);
        }
    }
}

static void table_row(html_ctx *c, xmlNode *tr, char **names, int *n_names) {
    int col = 0, all_th = 1, any = 0;
    rg_buf row;
    rg_buf_init(&row, RG_MAX_CHUNK_BYTES);
    char *cells[64] = {0};
    for (xmlNode *k = tr->children; k && !c->st; k = k->next) {
        if (k->type != XML_ELEMENT_NODE || !k->name) continue;
        const char *nm = (const char *)k->name;
        if (strcasecmp(nm, "td") && strcasecmp(nm, "th")) continue;
        if (strcasecmp(nm, "th")) all_th = 0;
        rg_buf_reset(&c->buf);
        c->last_space = 1;
        text_of(c, k, 0);
        while (c->buf.len && c->buf.data[c->buf.len - 1] == ' ') c->buf.data[--c->buf.len] = 0;
        if (col < 64 && c->buf.len) cells[col] = strdup(c->buf.data);
        col++;
        any = 1;
    }
    rg_buf_reset(&c->buf);
    if (any && all_th && *n_names == 0) {
        for (int i = 0; i < col && i < 64; i++) names[i] = cells[i] ? cells[i] : strdup("");
        *n_names = col < 64 ? col : 64;
        rg_buf_free(&row);
        return;
    }
    for (int i = 0; i < col && i < 64; i++) {
        if (!cells[i]) continue;
        if (row.len) rg_buf_puts(&row, "; ");
        if (i < *n_names && names[i] && *names[i]) rg_buf_printf(&row, "%s: ", names[i]);
        rg_buf_puts(&row, cells[i]);
        free(cells[i]);
    }
    if (row.len) {
        rg_buf_append(&c->buf, row.data, row.len);
        flush(c);
    }
    rg_buf_free(&row);
}

static void table(html_ctx *c, xmlNode *t, int depth) {
    char *names[64] = {0};
    int n_names = 0;
    flush(c);
    /* rows directly below the table or one level down (thead/tbody/tfoot) */
    for (xmlNode *k = t->children; k && !c->st; k = k->next) {
        if (k->type != XML_ELEMENT_NODE || !k->name) continue;
        if (!strcasecmp((const char *)k->name, "tr")) {
            table_row(c, k, names, &n_names);
        } else if (!strcasecmp((const char *)k->name, "caption")) {
            text_of(c, k, depth);
            flush(c);
        } else if (!in_list((const char *)k->name, dropped)) {
            for (xmlNode *r = k->children; r && !c->st; r = r->next)
                if (r->type == XML_ELEMENT_NODE && r->name && !strcasecmp((const char *)r->name, "tr"))
                    table_row(c, r, names, &n_names);
        }
    }
    for (int i = 0; i < 64; i++) free(names[i]);
}

static void walk(html_ctx *c, xmlNode *n, int depth) {
    for (xmlNode *k = n->children; k && !c->st; k = k->next) {
        if (k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) {
            if (k->content) append(c, (const char *)k->content, strlen((const char *)k->content));
            continue;
        }
        if (k->type != XML_ELEMENT_NODE || !k->name) continue;
        const char *name = (const char *)k->name;
        if (!strcasecmp(name, "head")) {
            /* only the title */
            for (xmlNode *t = k->children; t; t = t->next) {
                if (t->type == XML_ELEMENT_NODE && t->name && !strcasecmp((const char *)t->name, "title") && !c->p->title) {
                    rg_buf save = c->buf;
                    rg_buf_init(&c->buf, 1024);
                    c->last_space = 1;
                    text_of(c, t, 0);
                    if (c->buf.len) c->p->title = rg_arena_strndup(&c->p->arena, c->buf.data, c->buf.len);
                    rg_buf_free(&c->buf);
                    c->buf = save;
                }
            }
            continue;
        }
        if (!strcasecmp(name, "title")) continue;
        if (in_list(name, dropped)) continue;
        int lvl = heading_level(name);
        if (lvl) {
            flush(c);
            text_of(c, k, depth);
            rg__headings_set(&c->h, lvl, c->buf.data ? c->buf.data : "", c->buf.len);
            if (!c->p->title && lvl == 1 && c->buf.len)
                c->p->title = rg_arena_strndup(&c->p->arena, c->buf.data, c->buf.len);
            rg_buf_reset(&c->buf);
            c->last_space = 1;
            continue;
        }
        if (!strcasecmp(name, "table")) {
            table(c, k, depth);
            continue;
        }
        int blk = in_list(name, blocks);
        int is_pre = !strcasecmp(name, "pre");
        if (blk) flush(c);
        if (is_pre) c->pre++;
        if (depth < RG_INGEST_MAX_DEPTH)
            walk(c, k, depth + 1);
        if (is_pre) c->pre--;
        if (blk) flush(c);
    }
}

/* libxml2 must be initialised once before use from several threads. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

rg_status rg__parse_html(const char *data, size_t len, rg_parsed *p, rg_err *err) {
    pthread_once(&xml_once, xml_init);
    if (len > (size_t)INT32_MAX) return rg_failf(err, RG_LIMIT, "html: file too large");
    /* libxml2 falls back to Latin-1 without a declared charset: tell it UTF-8
     * when the bytes are valid UTF-8 (the common case for CJK pages) */
    const char *enc = rg_utf8_valid(data, len) ? "UTF-8" : NULL;
    htmlDocPtr doc = htmlReadMemory(data, (int)len, NULL, enc,
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET | HTML_PARSE_COMPACT);
    if (!doc) {
        if (len == 0) return RG_OK;
        return rg_failf(err, RG_FORMAT, "html: libxml2 could not parse the document");
    }
    html_ctx c = {.p = p, .last_space = 1, .err = err};
    rg__headings_init(&c.h);
    rg_buf_init(&c.buf, RG_INGEST_MAX_TEXT);
    xmlNode *root = xmlDocGetRootElement(doc);
    if (root) {
        /* walk the root element itself as a child of a virtual parent */
        xmlNode fake;
        memset(&fake, 0, sizeof fake);
        fake.children = root;
        xmlNode *save_next = root->next;
        root->next = NULL;
        walk(&c, &fake, 0);
        root->next = save_next;
        flush(&c);
    }
    rg_buf_free(&c.buf);
    xmlFreeDoc(doc);
    return c.st;
}
