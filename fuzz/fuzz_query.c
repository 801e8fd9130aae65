/* fuzz_query.c - the query parser and the search path on hostile input:
 * parse, analyze every clause, and search a small fixed index. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

static rg_text_analyzer *g_a;
static rg_text_index *g_ix;

static void setup(void) {
    if (g_a) return;
    rg_text_analyzer_new(NULL, &g_a, NULL);
    rg_text_builder *b;
    rg_text_builder_new(g_a, &b, NULL);
    const char *docs[] = {"the quick brown fox", "北京大学位于北京", "資料庫 search engine",
                          "fox and dog and fox"};
    for (int i = 0; i < 4; i++) rg_text_builder_add(b, i, docs[i], strlen(docs[i]), NULL);
    rg_text_builder_finish(b, &g_ix, NULL);
}

static int sink(void *ud, const char *t, size_t n, uint32_t pos, int extra) {
    (void)t; (void)pos; (void)extra;
    *(size_t *)ud += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    rg_text_query q;
    if (rg_text_query_parse((const char *)data, size, &q, NULL) == RG_OK) {
        size_t total = 0;
        for (size_t i = 0; i < q.n; i++)
            rg_text_analyze(g_a, q.clauses[i].text, strlen(q.clauses[i].text), sink, &total, NULL, NULL);
        rg_text_query_clear(&q);
    }
    rg_text_hit h[8];
    size_t n;
    if (g_ix) rg_text_search(g_ix, g_a, (const char *)data, size, NULL, 8, h, &n, NULL);
    return 0;
}
