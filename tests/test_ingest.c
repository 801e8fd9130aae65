/* test_ingest.c - parsers (txt, md, html, pdf, csv), the chunker and the
 * ingest pipeline on generated documents. */
#include <cairo-pdf.h>
#include <cairo.h>
#include <stdint.h>

#include "core/file.h"
#include "core/limits.h"
#include "core/utf8.h"
#include "ingest/ingest.h"
#include "store/store.h"
#include "test.h"

static rg_parsed parse_ok(rg_doc_type t, const char *s, size_t n) {
    rg_parsed p;
    rg_err err = {0};
    rg_status st = rg_ingest_parse(t, s, n, &p, &err);
    if (st) fprintf(stderr, "  parse: %s\n", rg_err_text(&err));
    REQUIRE(st == RG_OK);
    return p;
}

static const rg_block *find_block(const rg_parsed *p, const char *needle) {
    for (size_t i = 0; i < p->n; i++)
        if (strstr(p->blocks[i].text, needle)) return &p->blocks[i];
    return NULL;
}

RG_TEST(ingest_detect_types) {
    CHECK_EQ_INT(rg_ingest_detect("a/b/readme.MD", NULL, 0), RG_DOC_MD);
    CHECK_EQ_INT(rg_ingest_detect("x.htm", NULL, 0), RG_DOC_HTML);
    CHECK_EQ_INT(rg_ingest_detect("x.tsv", NULL, 0), RG_DOC_TSV);
    CHECK_EQ_INT(rg_ingest_detect("x.pdf", "junk", 4), RG_DOC_PDF);
    CHECK_EQ_INT(rg_ingest_detect("noext", "%PDF-1.4\n", 9), RG_DOC_PDF);
    CHECK_EQ_INT(rg_ingest_detect("noext", "  <!DOCTYPE html><p>x", 21), RG_DOC_HTML);
    CHECK_EQ_INT(rg_ingest_detect("noext", "<html>", 6), RG_DOC_HTML);
    CHECK_EQ_INT(rg_ingest_detect("noext", "plain 文本", strlen("plain 文本")), RG_DOC_TXT);
    CHECK_EQ_INT(rg_ingest_detect("noext", "a\0b", 3), RG_DOC_UNKNOWN);
    CHECK_EQ_INT(rg_ingest_detect("x.bin", "\xff\xfe\x00", 3), RG_DOC_UNKNOWN);
    /* a sample that ends inside a code point is still text */
    CHECK_EQ_INT(rg_ingest_detect(".hidden", "文本", 4), RG_DOC_TXT);
    CHECK_STREQ(rg_doc_type_mime(RG_DOC_MD), "text/markdown");
    rg_parsed p;
    rg_err err = {0};
    CHECK_EQ_INT(rg_ingest_parse(RG_DOC_UNKNOWN, "x", 1, &p, &err), RG_UNSUPPORTED);
    rg_parsed_free(&p);
}

RG_TEST(ingest_txt_paragraphs_offsets) {
    const char *s = "\xEF\xBB\xBF" "First para\nline two.\n\n  \n\tSecond 段落。\n\n\nThird\xff bad";
    rg_parsed p = parse_ok(RG_DOC_TXT, s, strlen(s));
    REQUIRE(p.n == 3);
    CHECK_STREQ(p.blocks[0].text, "First para\nline two.");
    CHECK_STREQ(p.blocks[1].text, "Second 段落。");
    /* offsets address the raw file exactly for clean text */
    for (int i = 0; i < 2; i++) {
        const rg_block *b = &p.blocks[i];
        CHECK_EQ_INT(b->end - b->start, b->len);
        CHECK(!memcmp(s + b->start, b->text, b->len));
    }
    /* invalid UTF-8 replaced, so the text is always valid */
    CHECK_STREQ(p.blocks[2].text, "Third\xEF\xBF\xBD bad");
    for (size_t i = 0; i < p.n; i++) CHECK(rg_utf8_valid(p.blocks[i].text, p.blocks[i].len));
    rg_parsed_free(&p);
}

RG_TEST(ingest_md_headings_tables) {
    const char *s = "# Guide\n\nIntro text.\n\n## Setup\n\nInstall *the* `tool`.\n\n"
                    "<script>alert(1)</script>\n\n"
                    "| Name | Value |\n|------|-------|\n| speed | 10 |\n| 颜色 | 红 |\n\n"
                    "### Deep\n\n- item one\n- item two\n\n## Other\n\n```\ncode here\n```\n";
    rg_parsed p = parse_ok(RG_DOC_MD, s, strlen(s));
    CHECK_STREQ(p.title, "Guide");
    const rg_block *b = find_block(&p, "Intro");
    REQUIRE(b);
    CHECK_STREQ(b->heading, "Guide");
    CHECK(!memcmp(s + b->start, "Intro text.", 11));
    b = find_block(&p, "Install");
    REQUIRE(b);
    CHECK_STREQ(b->text, "Install the tool.");
    CHECK_STREQ(b->heading, "Guide > Setup");
    CHECK(find_block(&p, "alert") == NULL);
    b = find_block(&p, "speed");
    REQUIRE(b);
    CHECK_STREQ(b->text, "Name: speed; Value: 10");
    CHECK(b->start >= 0 && b->start < (int64_t)strlen(s) && !memcmp(s + b->start, "| speed", 7));
    b = find_block(&p, "颜色");
    REQUIRE(b);
    CHECK_STREQ(b->text, "Name: 颜色; Value: 红");
    CHECK(find_block(&p, "Name: Name") == NULL); /* header row is not a record */
    b = find_block(&p, "item two");
    REQUIRE(b);
    CHECK_STREQ(b->heading, "Guide > Setup > Deep");
    b = find_block(&p, "code here");
    REQUIRE(b);
    CHECK_STREQ(b->heading, "Guide > Other"); /* deeper level cleared */
    rg_parsed_free(&p);
}

RG_TEST(ingest_html_drops_chrome) {
    const char *s =
        "<!DOCTYPE html><html><head><title>Handbook</title><style>p{color:red}</style></head>"
        "<body><header>Site header</header><nav><a>Home</a> <a>About</a></nav>"
        "<h1>报销政策</h1><p>每晚住宿不超过<b>六百元</b>。</p><script>var secret=1;</script>"
        "<div><h2>Meals</h2><p>Lunch   is\n covered.</p><ul><li>one</li><li>two</li></ul></div>"
        "<pre>keep   spaces</pre>"
        "<table><thead><tr><th>City</th><th>Cap</th></tr></thead><tbody>"
        "<tr><td>Shanghai</td><td>550</td></tr></tbody></table>"
        "<footer>Copyright</footer></body></html>";
    rg_parsed p = parse_ok(RG_DOC_HTML, s, strlen(s));
    CHECK_STREQ(p.title, "Handbook");
    CHECK(find_block(&p, "Site header") == NULL);
    CHECK(find_block(&p, "Home") == NULL);
    CHECK(find_block(&p, "secret") == NULL);
    CHECK(find_block(&p, "Copyright") == NULL);
    CHECK(find_block(&p, "color") == NULL);
    const rg_block *b = find_block(&p, "六百元");
    REQUIRE(b);
    CHECK_STREQ(b->text, "每晚住宿不超过六百元。");
    CHECK_STREQ(b->heading, "报销政策");
    b = find_block(&p, "Lunch");
    REQUIRE(b);
    CHECK_STREQ(b->text, "Lunch is covered.");
    CHECK_STREQ(b->heading, "报销政策 > Meals");
    CHECK(find_block(&p, "keep   spaces") != NULL);
    b = find_block(&p, "Shanghai");
    REQUIRE(b);
    CHECK_STREQ(b->text, "City: Shanghai; Cap: 550");
    CHECK(find_block(&p, "one") && find_block(&p, "two") != find_block(&p, "one"));
    /* offsets are into the extracted text: increasing, non-overlapping */
    for (size_t i = 1; i < p.n; i++) CHECK(p.blocks[i].start > p.blocks[i - 1].start);
    rg_parsed_free(&p);

    /* deep nesting and garbage must not crash */
    rg_buf deep;
    rg_buf_init(&deep, 0);
    for (int i = 0; i < 5000; i++) rg_buf_puts(&deep, "<div>");
    rg_buf_puts(&deep, "bottom text");
    rg_parsed q;
    rg_err err = {0};
    CHECK_EQ_INT(rg_ingest_parse(RG_DOC_HTML, deep.data, deep.len, &q, &err), RG_OK);
    rg_parsed_free(&q);
    rg_buf_free(&deep);
}

RG_TEST(ingest_csv_rfc4180) {
    const char *s = "name, price ,notes\r\nWidget,10,\"has, comma\"\r\n\r\n"
                    "Gadget,20,\"multi\nline \"\"quoted\"\"\"\nLone,,,extra\n";
    rg_parsed p = parse_ok(RG_DOC_CSV, s, strlen(s));
    REQUIRE(p.n == 3);
    CHECK_STREQ(p.blocks[0].text, "name: Widget; price: 10; notes: has, comma");
    CHECK_STREQ(p.blocks[1].text, "name: Gadget; price: 20; notes: multi\nline \"quoted\"");
    CHECK_STREQ(p.blocks[2].text, "name: Lone; column 4: extra");
    for (size_t i = 0; i < p.n; i++) CHECK(p.blocks[i].flags & RG_BLOCK_RECORD);
    CHECK(!memcmp(s + p.blocks[0].start, "Widget", 6));
    CHECK(!memcmp(s + p.blocks[1].start, "Gadget", 6));
    rg_parsed_free(&p);

    const char *semi = "a;b\n1;2\n";
    p = parse_ok(RG_DOC_CSV, semi, strlen(semi));
    REQUIRE(p.n == 1);
    CHECK_STREQ(p.blocks[0].text, "a: 1; b: 2");
    rg_parsed_free(&p);
    const char *tsv = "k\tv\nx\t1,5\n";
    p = parse_ok(RG_DOC_TSV, tsv, strlen(tsv));
    REQUIRE(p.n == 1);
    CHECK_STREQ(p.blocks[0].text, "k: x; v: 1,5");
    rg_parsed_free(&p);

    const char *bad = "a,b\n1,2\n3,\"open\n4,5\n";
    rg_err err = {0};
    CHECK_EQ_INT(rg_ingest_parse(RG_DOC_CSV, bad, strlen(bad), &p, &err), RG_FORMAT);
    CHECKF(strstr(err.msg, "line 3") != NULL, "%s", err.msg);
    rg_parsed_free(&p);
}

/* A 2-page PDF made with cairo; page 2 carries the needle. */
static char *make_pdf(const char *path) {
    cairo_surface_t *surf = cairo_pdf_surface_create(path, 595, 842);
    cairo_t *cr = cairo_create(surf);
    cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 20);
    cairo_move_to(cr, 50, 50);
    cairo_show_text(cr, "Power Guide");
    cairo_set_font_size(cr, 12);
    cairo_move_to(cr, 50, 80);
    cairo_show_text(cr, "Page one talks about batteries.");
    cairo_show_page(cr);
    cairo_move_to(cr, 50, 80);
    cairo_show_text(cr, "The warranty lasts two years.");
    cairo_move_to(cr, 50, 100);
    cairo_show_text(cr, "Keep the receipt.");
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    char *data;
    size_t len;
    rg_err err;
    if (rg_file_read(path, 1 << 24, &data, &len, &err)) return NULL;
    return data;
}

RG_TEST(ingest_pdf_pages) {
    char path[4096];
    snprintf(path, sizeof path, "%s/t.pdf", rg_test_tmpdir());
    char *data = make_pdf(path);
    REQUIRE(data);
    size_t len;
    {
        char *d2;
        rg_err err;
        REQUIRE(rg_file_read(path, 1 << 24, &d2, &len, &err) == RG_OK);
        free(d2);
    }
    rg_parsed p = parse_ok(RG_DOC_PDF, data, len);
    CHECK_EQ_INT(p.pages, 2);
    const rg_block *b = find_block(&p, "batteries");
    REQUIRE(b);
    CHECK_EQ_INT(b->page, 1);
    CHECK_STREQ(b->heading, "Power Guide"); /* larger font -> heading */
    CHECK(find_block(&p, "Power Guide") == NULL);
    b = find_block(&p, "warranty");
    REQUIRE(b);
    CHECK_EQ_INT(b->page, 2);
    CHECK(strstr(b->text, "two years.") != NULL);
    CHECK_STREQ(b->heading, "Power Guide"); /* sections continue across pages */
    rg_parsed_free(&p);
    /* truncated and garbage PDFs fail cleanly */
    rg_err err = {0};
    CHECK(rg_ingest_parse(RG_DOC_PDF, data, len / 3, &p, &err) != RG_OK || p.n <= 2);
    rg_parsed_free(&p);
    CHECK_EQ_INT(rg_ingest_parse(RG_DOC_PDF, "hello", 5, &p, &err), RG_FORMAT);
    rg_parsed_free(&p);
    free(data);
}

static void check_chunks(const rg_chunks *c, size_t size) {
    for (size_t i = 0; i < c->n; i++) {
        CHECKF(c->items[i].len > 0 && c->items[i].len <= size, "chunk %zu len %zu", i,
               c->items[i].len);
        CHECKF(rg_utf8_valid(c->items[i].text, c->items[i].len), "chunk %zu invalid UTF-8", i);
        CHECK_EQ_INT(strlen(c->items[i].text), c->items[i].len);
        CHECK(c->items[i].end >= c->items[i].start);
    }
}

RG_TEST(ingest_chunker_sentences_and_sections) {
    /* 30 English and 30 Chinese sentences in one section, then a new one */
    rg_buf md;
    rg_buf_init(&md, 0);
    rg_buf_puts(&md, "# A\n\n");
    for (int i = 0; i < 30; i++) rg_buf_printf(&md, "Sentence number %d ends here. ", i);
    rg_buf_puts(&md, "\n\n");
    for (int i = 0; i < 30; i++) rg_buf_printf(&md, "第%d句话在这里结束。", i);
    rg_buf_puts(&md, "\n\n# B\n\nShort tail!\n");
    rg_parsed p = parse_ok(RG_DOC_MD, md.data, md.len);
    rg_chunks c;
    rg_err err = {0};
    rg_chunk_opts o = {200, 40};
    REQUIRE(rg_ingest_chunk(&p, &o, &c, &err) == RG_OK);
    check_chunks(&c, 200);
    REQUIRE(c.n > 5);
    int overlaps = 0;
    for (size_t i = 0; i < c.n; i++) {
        const char *t = c.items[i].text;
        size_t n = c.items[i].len;
        if (i + 1 < c.n && !strcmp(c.items[i].heading, c.items[i + 1].heading)) {
            /* every chunk but a section's last ends at a sentence end */
            CHECKF((n >= 1 && t[n - 1] == '.') || (n >= 3 && !memcmp(t + n - 3, "。", 3)),
                   "chunk %zu ends mid-sentence: ...%s", i, t + (n > 20 ? n - 20 : 0));
            /* overlap: the next chunk starts with this chunk's last sentence */
            const char *last = t + n - 1;
            while (last > t && !(last[-1] == ' ' || (last - t >= 3 && !memcmp(last - 3, "。", 3))))
                last--;
            if (!strncmp(c.items[i + 1].text, last, strlen(last))) overlaps++;
        }
    }
    CHECK(overlaps >= 3);
    /* the last chunk is section B alone */
    CHECK_STREQ(c.items[c.n - 1].text, "Short tail!");
    CHECK_STREQ(c.items[c.n - 1].heading, "B");
    CHECK_STREQ(c.items[0].heading, "A");
    rg_chunks_free(&c);

    /* no overlap: concatenating chunks of one block gives back its sentences */
    o.overlap = 0;
    REQUIRE(rg_ingest_chunk(&p, &o, &c, &err) == RG_OK);
    size_t total = 0;
    for (size_t i = 0; i < c.n; i++) total += c.items[i].len;
    size_t blocks_total = 0;
    for (size_t i = 0; i < p.n; i++) blocks_total += p.blocks[i].len;
    CHECK(total <= blocks_total + c.n);
    CHECK(total + 2 * c.n >= blocks_total - 60); /* only spaces between sentences dropped */
    rg_chunks_free(&c);

    rg_chunk_opts bad = {32, 0};
    CHECK_EQ_INT(rg_ingest_chunk(&p, &bad, &c, &err), RG_INVALID);
    rg_chunks_free(&c);
    rg_chunk_opts bad2 = {200, 100};
    CHECK_EQ_INT(rg_ingest_chunk(&p, &bad2, &c, &err), RG_INVALID);
    rg_chunks_free(&c);
    rg_parsed_free(&p);
    rg_buf_free(&md);
}

RG_TEST(ingest_chunker_never_splits_utf8) {
    unsigned long long rs = 42;
    static const char *pieces[] = {"中", "文", "é", "𝄞", "a", "b", " ", "。", ". ", "\n", "ab"};
    for (int round = 0; round < 40; round++) {
        rg_buf t;
        rg_buf_init(&t, 0);
        size_t n = 200 + rg_test_rand(&rs) % 3000;
        for (size_t i = 0; i < n; i++) rg_buf_puts(&t, pieces[rg_test_rand(&rs) % 11]);
        /* some long runs with no break at all */
        if (round % 3 == 0)
            for (int i = 0; i < 500; i++) rg_buf_puts(&t, "汉");
        rg_parsed p = parse_ok(RG_DOC_TXT, t.data, t.len);
        size_t size = 64 + rg_test_rand(&rs) % 300;
        rg_chunk_opts o = {size, rg_test_rand(&rs) % (size / 2)};
        rg_chunks c;
        rg_err err = {0};
        REQUIRE(rg_ingest_chunk(&p, &o, &c, &err) == RG_OK);
        check_chunks(&c, size);
        /* every non-space character of the text is in some chunk: count CJK 汉 */
        size_t in_text = 0, in_chunks = 0;
        for (const char *q = t.data; (q = strstr(q, "汉")); q += 3) in_text++;
        if (o.overlap == 0) {
            for (size_t i = 0; i < c.n; i++)
                for (const char *q = c.items[i].text; (q = strstr(q, "汉")); q += 3) in_chunks++;
            CHECK_EQ_INT(in_chunks, in_text);
        }
        rg_chunks_free(&c);
        rg_parsed_free(&p);
        rg_buf_free(&t);
    }
}

RG_TEST(ingest_chunker_records_alone) {
    const char *s = "a,b\n1,2\n3,4\n5,6\n";
    rg_parsed p = parse_ok(RG_DOC_CSV, s, strlen(s));
    rg_chunks c;
    rg_err err = {0};
    REQUIRE(rg_ingest_chunk(&p, NULL, &c, &err) == RG_OK);
    CHECK_EQ_INT(c.n, 3);
    if (c.n == 3) CHECK_STREQ(c.items[1].text, "a: 3; b: 4");
    rg_chunks_free(&c);
    rg_parsed_free(&p);
}

static rg_status upper_filter(void *ud, const char *text, size_t len, rg_buf *out, rg_err *err) {
    (void)ud;
    (void)err;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
        rg_status st = rg_buf_putc(out, ch);
        if (st) return st;
    }
    return RG_OK;
}

static int first_text(void *ud, const rg_store_chunk *c) {
    snprintf(ud, 256, "%s", c->text);
    return 1;
}

RG_TEST(ingest_bytes_pipeline) {
    rg_store *s;
    rg_err err = {0};
    REQUIRE(rg_store_open(rg_test_tmpdir(), NULL, &s, &err) == RG_OK);
    int64_t cid;
    REQUIRE(rg_store_collection_ensure(s, "c", &cid, &err) == RG_OK);
    const char *v1 = "# T\n\nhello world.\n";
    rg_ingest_result r;
    REQUIRE(rg_ingest_bytes(s, cid, "doc.md", v1, strlen(v1), NULL, &r, &err) == RG_OK);
    CHECK_EQ_INT(r.changed, 1);
    CHECK_EQ_INT(r.n_chunks, 1);
    CHECK_EQ_INT(r.type, RG_DOC_MD);
    int64_t id = r.doc_id;
    REQUIRE(rg_ingest_bytes(s, cid, "doc.md", v1, strlen(v1), NULL, &r, &err) == RG_OK);
    CHECK_EQ_INT(r.changed, 0);
    CHECK_EQ_INT(r.doc_id, id);
    CHECK_EQ_INT(r.n_chunks, 1);
    rg_ingest_opts o = {0};
    o.filter = upper_filter;
    const char *v2 = "# T\n\nhello again.\n\n# U\n\nsecond section.\n";
    REQUIRE(rg_ingest_bytes(s, cid, "doc.md", v2, strlen(v2), &o, &r, &err) == RG_OK);
    CHECK_EQ_INT(r.changed, 1);
    CHECK_EQ_INT(r.n_chunks, 2);
    char buf[256] = "";
    REQUIRE(rg_store_doc_chunks_foreach(s, id, first_text, buf, &err) == RG_OK);
    CHECK_STREQ(buf, "HELLO AGAIN.");
    rg_store_doc d;
    REQUIRE(rg_store_doc_get(s, id, &d, &err) == RG_OK);
    CHECK(strstr(d.metadata_json, "\"title\":\"T\"") != NULL);
    CHECK_STREQ(d.mime, "text/markdown");
    rg_store_doc_clear(&d);
    /* binary is refused with a reason, nothing stored */
    CHECK_EQ_INT(rg_ingest_bytes(s, cid, "blob", "\x00\x01\x02", 3, NULL, &r, &err),
                 RG_UNSUPPORTED);
    CHECK(strstr(err.msg, "blob") != NULL);
    /* a bad CSV names the file and line */
    CHECK_EQ_INT(rg_ingest_bytes(s, cid, "t.csv", "a\n\"x", 4, NULL, &r, &err), RG_FORMAT);
    CHECKF(strstr(err.msg, "t.csv") && strstr(err.msg, "line 2"), "%s", err.msg);
    int64_t nd;
    REQUIRE(rg_store_count(s, cid, &nd, NULL, &err) == RG_OK);
    CHECK_EQ_INT(nd, 1);
    rg_store_close(s);
}
