/* tok_int.h - internals shared by the tokenizer files (tok.c: loading,
 * special tokens, encode/decode; tok_spm.c, tok_bpe.c, tok_wpm.c: the
 * three algorithms; tok_pre.c: regex pre-tokenizers).
 *
 * Invariant: nothing in rg_tok changes after rg_tok_from_gguf returns, so
 * concurrent encode calls only share read-only data. */
#ifndef RG_TOK_INT_H
#define RG_TOK_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"

#define RG__TOK_MAX_RE 8

typedef struct rg__tok_re {
    pcre2_code *code;
    bool collapsed; /* matched against the one-byte-per-code-point text */
} rg__tok_re;

typedef struct rg__tok_merge {
    uint32_t off;           /* into merge_blob: left bytes then right bytes */
    uint32_t llen, rlen;
} rg__tok_merge;

struct rg_tok {
    rg_tok_kind kind;
    int32_t n_vocab;
    char *blob;             /* token texts, each NUL-terminated */
    uint32_t *off, *len;    /* per token, into blob */
    float *score;
    uint8_t *type;          /* rg_tok_type */
    uint8_t *strip;         /* bit 1 = lstrip, bit 2 = rstrip (special tokens) */
    uint8_t *eog;           /* 1 = end of generation */
    int32_t *htab;          /* text -> id, open addressing, -1 empty */
    uint64_t hmask;
    char *pblob;            /* decoded pieces */
    uint32_t *poff, *plen;
    uint32_t max_len;       /* longest token text (WordPiece window) */

    /* BPE merges: (left, right) -> rank */
    char *merge_blob;
    rg__tok_merge *merges;
    uint32_t n_merges;
    int32_t *mtab;          /* -> merge index (= rank) */
    uint64_t mmask;

    /* special tokens matched in the text before tokenizing, longest first */
    int32_t *specials;
    uint32_t n_specials;
    int32_t *stab;          /* text -> index into specials */
    uint64_t smask;
    uint8_t special_first[256];
    uint32_t special_lens[64]; /* distinct lengths, for the presence scan */
    uint32_t n_special_lens;

    char benc[256][4];      /* byte -> GPT-2 code point as UTF-8 */
    uint8_t benc_len[256];
    int32_t byte_tok[256];  /* byte -> token for fallback, -1 if none */
    char *pre;              /* tokenizer.ggml.pre or "default" */
    rg__tok_re re[RG__TOK_MAX_RE];
    int n_re;
    bool ignore_merges;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    bool add_bos, add_eos, add_space_prefix;
};

/* Growable id vector used while encoding. */
typedef struct rg__ivec {
    int32_t *v;
    size_t n, cap;
    bool oom;
} rg__ivec;

static inline void rg__ivec_push(rg__ivec *a, int32_t x) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) {
            a->oom = true;
            return;
        }
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
}

/* Hash of token texts for the tables above: 8 bytes at a time (token
 * lookups dominate encoding time). */
static inline uint64_t rg__tok_hash(const char *s, size_t n, uint64_t seed) {
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

/* Id of the token whose text is s[0..n), or -1 (last duplicate wins, as
 * llama.cpp's map). */
int32_t rg__tok_find(const rg_tok *t, const char *s, size_t n);
/* Byte length of the UTF-8 sequence starting with lead byte c (1 for
 * continuation/invalid bytes), as llama.cpp's unicode_len_utf8. */
static inline size_t rg__utf8_len(unsigned char c) {
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

rg_status rg__tok_spm(const rg_tok *t, const char *text, size_t n, bool space_prefix, rg__ivec *out,
                      rg_err *err);
rg_status rg__tok_bpe(const rg_tok *t, const char *text, size_t n, rg__ivec *out, rg_err *err);
rg_status rg__tok_wpm(const rg_tok *t, const char *text, size_t n, rg__ivec *out, rg_err *err);

/* Pre-tokenizer: compiles the regexes for t->pre; RG_FORMAT for bad
 * patterns.  Unknown names fall back to "default" with a warning. */
rg_status rg__tok_pre_init(rg_tok *t, rg_err *err);
void rg__tok_pre_free(rg_tok *t);
/* Splits the code points cps[0..ncp) into chunks (lengths in code points,
 * summing to ncp).  *chunks is malloc'd (caller frees). */
rg_status rg__tok_pre_split(const rg_tok *t, const uint32_t *cps, size_t ncp, size_t **chunks, size_t *nchunks,
                            rg_err *err);

/* The GPT-2 byte <-> code point mapping. */
uint32_t rg__tok_byte_to_cp(uint8_t b);
int rg__tok_cp_to_byte(uint32_t cp); /* -1 when cp is not one of the 256 */

/* llama.cpp's code point classes (utf8proc tables). */
bool rg__tok_is_ws(uint32_t cp);

#endif
