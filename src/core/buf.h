/* buf.h - growable byte buffer with a cap (curl's dynbuf shape).
 *
 * Always NUL-terminated after the data, so data can be used as a string.
 * Appends past the cap fail with RG_LIMIT and leave the buffer unchanged. */
#ifndef RG_CORE_BUF_H
#define RG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/status.h"

typedef struct rg_buf {
    char *data; /* owned; NULL until first append */
    size_t len;
    size_t alloc;
    size_t cap; /* max len; 0 = no limit */
} rg_buf;

void rg_buf_init(rg_buf *b, size_t cap);
rg_status rg_buf_append(rg_buf *b, const void *p, size_t n);
rg_status rg_buf_puts(rg_buf *b, const char *s);
rg_status rg_buf_putc(rg_buf *b, char c);
rg_status rg_buf_printf(rg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
rg_status rg_buf_vprintf(rg_buf *b, const char *fmt, va_list ap);
/* Makes room for n more bytes; returns RG_OK or RG_NOMEM/RG_LIMIT. */
rg_status rg_buf_reserve(rg_buf *b, size_t n);
void rg_buf_reset(rg_buf *b); /* len = 0, keeps memory */
/* Hands the data to the caller (free() it); the buffer is empty after.
 * Never NULL on success: an empty buffer gives "". */
char *rg_buf_detach(rg_buf *b, size_t *len);
void rg_buf_free(rg_buf *b);

#endif
