/* fuzz_index_file.c - the index loader on hostile bytes.  The checksum is
 * skipped so the fuzzer reaches the structural checks; a file that loads
 * must then be searchable without crashing. */
#include <stdint.h>
#include <stdlib.h>

#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rg_index *ix = NULL;
    rg_err err;
    if (rg_index_load_mem(data, size, false, &ix, &err) != RG_OK) return 0;
    rg_index_params p;
    rg_index_get_params(ix, &p);
    if (p.dim <= 4096) {
        float *q = calloc((size_t)p.dim, sizeof *q);
        if (q) {
            q[0] = 1;
            rg_index_hit h[5];
            int n;
            rg_index_search(ix, q, 5, 16, NULL, h, &n, &err);
            rg_index_search_exact(ix, q, 5, NULL, h, &n, &err);
            free(q);
        }
    }
    rg_index_free(ix);
    return 0;
}
