/* fuzz_vecfile.c - the chunk-embedding file parser (rag/veclog.c: the v1
 * block and the v2 append log).
 * Invariants: no crash/leak; a parsed file has ascending ids, n x dim
 * vectors inside the buffer, a valid prefix no longer than the buffer and
 * at least one mark (the header). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rag/rag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_rag_vectors v;
    rg_err err;
    if (rg_rag_vectors_parse(data, size, &v, &err) == RG_OK) {
        for (size_t i = 1; i < v.n; i++)
            if (v.ids[i] <= v.ids[i - 1]) abort();
        if ((size_t)v.dim * v.n * 4 > size) abort();
        if (v.bytes > size || v.nmarks == 0 || v.ndels > size / 8) abort();
        rg_rag_vectors_clear(&v);
    }
    return 0;
}
