/* guard_int.h - internals shared by the guard's files (detector, policy
 * and operators, output filter). */
#ifndef RG_GUARD_INT_H
#define RG_GUARD_INT_H

#include "core/limits.h"
#include "guard/guard.h"

typedef struct rg__guard_type_cfg {
    int enabled;
    rg_guard_op op;
    int keep_first, keep_last; /* MASK: characters kept at each end */
    char mask_char;
    char tag[RG_GUARD_MAX_TAG_BYTES]; /* replacement for TAG/HASH/PSEUDO */
} rg__guard_type_cfg;

struct rg_guard {
    rg__guard_type_cfg t[RG_PII__COUNT];
    float min_confidence;
    uint32_t enabled_mask; /* bit per type */
    unsigned char key[64];
    size_t keylen;
};

/* Growable finding array (detector output). */
typedef struct rg__fvec {
    rg_guard_finding *v;
    size_t n, cap;
    int oom;
} rg__fvec;

/* Runs the single-pass detector over s[0..n) for the types in enabled
 * (bit per rg_pii_type).  Appends sorted, non-overlapping findings to out;
 * out->oom is set when an allocation failed. */
void rg__guard_detect(const char *s, size_t n, uint32_t enabled, rg__fvec *out);

/* Appends the replacement of finding f (a span of text) per the guard's
 * operator for its type; vault may be NULL (PSEUDO then tags). */
rg_status rg__guard_apply(const rg_guard *g, rg_guard_vault *vault, const rg_guard_finding *f,
                          const char *text, rg_buf *out);

/* Byte length of the UTF-8 sequence starting with lead byte c (1 for
 * invalid leads). */
static inline int rg__u8len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? (c >= 0xC2 ? 2 : 1) : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 1;
}

#endif
