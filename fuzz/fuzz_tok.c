/* fuzz_tok.c - libFuzzer target for the tokenizers.  The first byte picks a
 * synthetic vocabulary (SPM, BERT, or byte-level BPE with one of the
 * pre-tokenizers); the rest is the text.  Every id must be in range, and
 * for SPM and BPE decoding must give the text back (lossless cases). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "tok/tok.h"
#include "tok_synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const pres[] = {"gpt-2", "llama-bpe", "qwen2", "deepseek-coder", "deepseek-llm", "deepseek-v3",
                                   "falcon", "starcoder", "default", "bloom", "viking", "tekken", "gpt-4o",
                                   "chameleon", "mpt", "refact", "phi-2", "command-r"};
#define NPRE (sizeof pres / sizeof pres[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rg_tok *toks[NPRE + 2];
    if (size < 1) return 0;
    unsigned k = data[0] % (NPRE + 2);
    if (!toks[k]) {
        toks[k] = k == NPRE ? synth_tok("llama", NULL) : k == NPRE + 1 ? synth_tok("bert", NULL)
                                                                       : synth_tok("gpt2", pres[k]);
        if (!toks[k]) abort(); /* every pre-tokenizer must compile */
    }
    const rg_tok *t = toks[k];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    for (unsigned flags = 0; flags < 4; flags++) {
        int32_t *ids;
        size_t n;
        rg_err err;
        if (rg_tok_encode_ex(t, text, len, flags, &ids, &n, &err) != RG_OK) abort();
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= rg_tok_n_vocab(t)) abort();
        rg_buf b;
        rg_buf_init(&b, 0);
        if (rg_tok_decode(t, ids, n, &b) != RG_OK) abort();
        /* lossless: no special flags, valid UTF-8 (BPE replaces bad bytes
         * by U+FFFD; SPM escapes spaces before splitting characters, so a
         * truncated sequence swallows the "▁"), and for SPM no literal "▁" */
        bool check = flags == 0 && rg_tok_kind_of(t) != RG_TOK_WPM && rg_utf8_valid(text, len) &&
                     !(rg_tok_kind_of(t) == RG_TOK_SPM && memmem(text, len, "\xe2\x96\x81", 3));
        if (check && (b.len != len || (len && memcmp(b.data, text, len)))) abort();
        rg_buf_free(&b);
        free(ids);
    }
    return 0;
}
