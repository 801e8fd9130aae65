/* dtype.h - tensor element types of GGUF (ggml's numbering) and their
 * block geometry.  The traits table is the single source of truth for
 * "how many bytes is a row of n elements of type t".
 *
 * Numbers are ggml's and never change (files on disk use them). */
#ifndef RG_GGUF_DTYPE_H
#define RG_GGUF_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum rg_dtype {
    RG_DTYPE_F32 = 0,
    RG_DTYPE_F16 = 1,
    RG_DTYPE_Q4_0 = 2,
    RG_DTYPE_Q4_1 = 3,
    RG_DTYPE_Q5_0 = 6,
    RG_DTYPE_Q5_1 = 7,
    RG_DTYPE_Q8_0 = 8,
    RG_DTYPE_Q8_1 = 9,
    RG_DTYPE_Q2_K = 10,
    RG_DTYPE_Q3_K = 11,
    RG_DTYPE_Q4_K = 12,
    RG_DTYPE_Q5_K = 13,
    RG_DTYPE_Q6_K = 14,
    RG_DTYPE_Q8_K = 15,
    RG_DTYPE_I8 = 24,
    RG_DTYPE_I16 = 25,
    RG_DTYPE_I32 = 26,
    RG_DTYPE_I64 = 27,
    RG_DTYPE_F64 = 28,
    RG_DTYPE_BF16 = 30,
    RG_DTYPE_COUNT = 40
} rg_dtype;

typedef struct rg_dtype_traits {
    const char *name;   /* "q4_K" as ggml names it; NULL for unknown numbers */
    int block_size;     /* elements per block (1 for plain types) */
    int type_size;      /* bytes per block */
} rg_dtype_traits;

/* Traits for t, or NULL when t is not a known type. Static storage. */
const rg_dtype_traits *rg_dtype_get(uint32_t t);
/* Name or "unknown". */
const char *rg_dtype_name(uint32_t t);
/* Parses "q8_0", "Q4_K", "f16", ... (case-insensitive); -1 if unknown. */
int rg_dtype_parse(const char *name);
/* Bytes of a row of n elements: 0 on success, -1 when t is unknown, n is
 * not a multiple of the block size, or the size overflows. */
int rg_dtype_row_bytes(uint32_t t, uint64_t n, uint64_t *out);

#endif
