/* fuzz_text_index.c - the BM25 index file loader on hostile bytes: load,
 * and when a file passes (checksum and structure), search it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <stdlib.h>

#include "core/hash.h"
#include "text/text.h"

static rg_text_analyzer *g_a;

static void try_load(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_a) rg_text_analyzer_new(NULL, &g_a, NULL);
    try_load(data, size);
    /* again with the checksum fixed up, so the structure checks behind it
     * are reached (seed 0x52475458 as in index.c) */
    if (size >= 64) {
        uint8_t *c = malloc(size);
        if (!c) return 0;
        memcpy(c, data, size);
        uint64_t sum = rg_hash64(c, size - 8, 0x52475458ull);
        memcpy(c + size - 8, &sum, 8);
        try_load(c, size);
        free(c);
    }
    return 0;
}

static void try_load(const uint8_t *data, size_t size) {
    rg_text_index *ix = NULL;
    int64_t gen;
    if (rg_text_index_load_mem(data, size, &ix, &gen, NULL) == RG_OK) {
        rg_text_hit h[8];
        size_t n;
        const char *qs[] = {"fox", "\"quick brown\" -dog", "北京大学", "+fox +quick"};
        /* searching needs the same analyzer signature; try as stored */
        for (int i = 0; i < 4; i++)
            rg_text_search(ix, g_a, qs[i], strlen(qs[i]), NULL, 8, h, &n, NULL);
        rg_text_index_free(ix);
    }
}
