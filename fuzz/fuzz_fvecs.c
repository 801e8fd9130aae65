/* fuzz_fvecs.c - .fvecs / .ivecs parsers on hostile bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    float *x = NULL;
    int32_t *g = NULL;
    size_t n;
    int d;
    rg_err err;
    if (rg_fvecs_parse(data, size, &x, &n, &d, &err) == RG_OK) {
        volatile float s = 0;
        for (size_t i = 0; i < n * (size_t)d; i++) s += x[i];
        free(x);
    }
    if (rg_ivecs_parse(data, size, &g, &n, &d, &err) == RG_OK) free(g);
    return 0;
}
