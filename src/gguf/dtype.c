/* dtype.c - the traits table of GGUF tensor types (see dtype.h). */
#include "gguf/dtype.h"

#include <strings.h>

static const rg_dtype_traits traits[RG_DTYPE_COUNT] = {
    [RG_DTYPE_F32] = {"f32", 1, 4},
    [RG_DTYPE_F16] = {"f16", 1, 2},
    [RG_DTYPE_Q4_0] = {"q4_0", 32, 18},
    [RG_DTYPE_Q4_1] = {"q4_1", 32, 20},
    [RG_DTYPE_Q5_0] = {"q5_0", 32, 22},
    [RG_DTYPE_Q5_1] = {"q5_1", 32, 24},
    [RG_DTYPE_Q8_0] = {"q8_0", 32, 34},
    [RG_DTYPE_Q8_1] = {"q8_1", 32, 36},
    [RG_DTYPE_Q2_K] = {"q2_K", 256, 84},
    [RG_DTYPE_Q3_K] = {"q3_K", 256, 110},
    [RG_DTYPE_Q4_K] = {"q4_K", 256, 144},
    [RG_DTYPE_Q5_K] = {"q5_K", 256, 176},
    [RG_DTYPE_Q6_K] = {"q6_K", 256, 210},
    [RG_DTYPE_Q8_K] = {"q8_K", 256, 292},
    [RG_DTYPE_I8] = {"i8", 1, 1},
    [RG_DTYPE_I16] = {"i16", 1, 2},
    [RG_DTYPE_I32] = {"i32", 1, 4},
    [RG_DTYPE_I64] = {"i64", 1, 8},
    [RG_DTYPE_F64] = {"f64", 1, 8},
    [RG_DTYPE_BF16] = {"bf16", 1, 2},
};

const rg_dtype_traits *rg_dtype_get(uint32_t t) {
    if (t >= RG_DTYPE_COUNT || !traits[t].name) return NULL;
    return &traits[t];
}

const char *rg_dtype_name(uint32_t t) {
    const rg_dtype_traits *tr = rg_dtype_get(t);
    return tr ? tr->name : "unknown";
}

int rg_dtype_parse(const char *name) {
    for (int t = 0; t < RG_DTYPE_COUNT; t++)
        if (traits[t].name && strcasecmp(traits[t].name, name) == 0) return t;
    return -1;
}

int rg_dtype_row_bytes(uint32_t t, uint64_t n, uint64_t *out) {
    const rg_dtype_traits *tr = rg_dtype_get(t);
    if (!tr || n % (uint64_t)tr->block_size) return -1;
    uint64_t blocks = n / (uint64_t)tr->block_size;
    if (blocks > UINT64_MAX / (uint64_t)tr->type_size) return -1;
    *out = blocks * (uint64_t)tr->type_size;
    return 0;
}
