/* fuzz_request_json.c - every request-body parser of the HTTP server
 * (chat, completions, embeddings, search, documents, collections) on the
 * same hostile bytes.  Parsers must never crash, leak or read out of
 * bounds; on success the parsed fields must satisfy their documented
 * invariants (checked here, abort() when not). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/utf8.h"
#include "server/server_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *b = (const char *)data;
    rg_err err;
    for (int chat = 0; chat < 2; chat++) {
        rg__gen_req g;
        if (rg__parse_gen(b, size, chat, &g, &err) == RG_OK) {
            if (chat && (g.n_msgs < 1 || !g.msgs)) abort();
            if (!chat && !g.prompt) abort();
            for (int i = 0; i < g.n_msgs; i++)
                if (!g.msgs[i].content || !rg_utf8_valid(g.msgs[i].content, strlen(g.msgs[i].content)))
                    abort();
            if (g.n_stop < 0 || g.n_stop > 4) abort();
            if (g.temperature < 0 || g.temperature > 2 || g.top_p < 0 || g.top_p > 1) abort();
            if (g.max_tokens < 0 || g.k < 1 || g.k > 50) abort();
            if (g.collection[0] && !rg__valid_name(g.collection)) abort();
            rg__gen_req_free(&g);
        }
    }
    rg__search_req s;
    if (rg__parse_search(b, size, &s, &err) == RG_OK) {
        if (!s.query || s.k < 1 || s.k > RG_MAX_TOP_K) abort();
        if (s.filter && !json_is_object(s.filter)) abort();
        rg__search_req_free(&s);
    }
    rg__doc_req d;
    if (rg__parse_doc(b, size, &d, &err) == RG_OK) {
        if (!d.text || d.text_len == 0) abort();
        rg__doc_req_free(&d);
    }
    rg__embed_req e;
    if (rg__parse_embed(b, size, &e, &err) == RG_OK) {
        if (e.n_inputs < 1) abort();
        rg__embed_req_free(&e);
    }
    char name[128];
    if (rg__parse_collection(b, size, name, sizeof name, &err) == RG_OK && !rg__valid_name(name))
        abort();
    char *settings = NULL;
    if (rg__parse_collection_settings(b, size, &settings, &err) == RG_OK && settings) {
        json_t *j = json_loads(settings, 0, NULL);
        if (!json_is_true(json_object_get(j, "redact"))) abort();
        json_decref(j);
    }
    free(settings);
    return 0;
}
