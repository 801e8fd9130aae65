/* fuzz_calc.c - the calculator tool's expression parser. */
#include <stddef.h>
#include <stdint.h>

#include "tools/tools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    double v;
    rg_err err;
    rg_calc_eval((const char *)data, size, &v, &err);
    return 0;
}
