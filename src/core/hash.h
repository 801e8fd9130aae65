/* hash.h - content hashes (SHA-256, HMAC-SHA-256 via OpenSSL's libcrypto)
 * and a fast 64-bit non-cryptographic hash for tables and caches. */
#ifndef RG_CORE_HASH_H
#define RG_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

void rg_sha256(const void *data, size_t len, uint8_t out[32]);
/* 64 lowercase hex chars + NUL. */
void rg_sha256_hex(const void *data, size_t len, char out[65]);
void rg_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32]);
void rg_hex(const uint8_t *in, size_t n, char *out); /* out: 2n+1 bytes */
/* 64-bit hash (FNV-1a core with a final avalanche), seedable. */
uint64_t rg_hash64(const void *data, size_t len, uint64_t seed);
/* Folds n bytes into the state h, 8-byte little-endian words at a time
 * (xor, odd multiply, xorshift: a bijection of the state per word, so one
 * changed word changes the result; ~8x faster than rg_hash64 on multi-MB
 * data).  A short last word is zero-padded.  Checksums of the index and
 * vector files are made of it: its output is part of their formats. */
uint64_t rg_hash_words(uint64_t h, const void *data, size_t n);
/* Constant-time comparison; returns 1 when equal. */
int rg_ct_equal(const void *a, const void *b, size_t n);

#endif
