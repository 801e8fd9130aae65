/* fuzz_vecfile.c - the chunk-embedding file parser (rag/vec.c).
 * Invariants: no crash/leak; a parsed file has ascending ids and n x dim
 * vectors inside the buffer. */
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
        rg_rag_vectors_clear(&v);
    }
    return 0;
}
