/* buf.c - see buf.h. */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rg_buf_init(rg_buf *b, size_t cap) {
    b->data = NULL;
    b->len = b->alloc = 0;
    b->cap = cap;
}

rg_status rg_buf_reserve(rg_buf *b, size_t n) {
    if (n > SIZE_MAX - b->len - 1) return RG_LIMIT;
    size_t need = b->len + n + 1;
    if (b->cap && b->len + n > b->cap) return RG_LIMIT;
    if (need <= b->alloc) return RG_OK;
    size_t na = b->alloc ? b->alloc : 64;
    while (na < need) na = na > SIZE_MAX / 2 ? need : na * 2;
    char *p = realloc(b->data, na);
    if (!p) return RG_NOMEM;
    b->data = p;
    b->alloc = na;
    return RG_OK;
}

rg_status rg_buf_append(rg_buf *b, const void *p, size_t n) {
    rg_status rc = rg_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RG_OK;
}

rg_status rg_buf_puts(rg_buf *b, const char *s) { return rg_buf_append(b, s, strlen(s)); }
rg_status rg_buf_putc(rg_buf *b, char c) { return rg_buf_append(b, &c, 1); }

rg_status rg_buf_vprintf(rg_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return RG_INVALID;
    rg_status rc = rg_buf_reserve(b, (size_t)n);
    if (rc) return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return RG_OK;
}

rg_status rg_buf_printf(rg_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rg_status rc = rg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void rg_buf_reset(rg_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

char *rg_buf_detach(rg_buf *b, size_t *len) {
    char *p = b->data;
    if (!p) p = calloc(1, 1);
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->alloc = 0;
    return p;
}

void rg_buf_free(rg_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}
