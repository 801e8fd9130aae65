/* text_int.h - internals shared by the files of text/. */
#ifndef RG_TEXT_TEXT_INT_H
#define RG_TEXT_TEXT_INT_H

#include <stddef.h>
#include <stdint.h>

/* 1 when w[0..n) is an English stop word (already case-folded). */
int rg__text_is_stopword(const char *w, size_t n);

/* LEB128 varints for postings. */
static inline size_t rg__varint_put(uint8_t *p, uint32_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decodes one varint from [*p, end); returns 0 and leaves *p when it runs
 * past end or is longer than 5 bytes. */
static inline int rg__varint_get(const uint8_t **p, const uint8_t *end, uint32_t *v) {
    const uint8_t *q = *p;
    uint32_t r = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (q >= end) return 0;
        uint8_t b = *q++;
        r |= (uint32_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = r;
            *p = q;
            return 1;
        }
    }
    return 0;
}

#endif
