/* utf8.h - minimal UTF-8 decoding/validation used by parsers and
 * analyzers (utf8proc does normalisation; this is the hot-path decoder). */
#ifndef RG_CORE_UTF8_H
#define RG_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from s[0..n). Returns its length in bytes (1-4)
 * and writes *cp; on an invalid or truncated sequence returns 1 and sets
 * *cp = 0xFFFD.  n must be > 0. */
int rg_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encodes cp into out (4 bytes room); returns the length. */
int rg_utf8_encode(uint32_t cp, char *out);
/* 1 when s[0..n) is valid UTF-8. */
int rg_utf8_valid(const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that does not split a code
 * point (for cutting text at a byte budget). */
size_t rg_utf8_floor(const char *s, size_t n);

#endif
