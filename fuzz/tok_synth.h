/* tok_synth.h - small synthetic tokenizer vocabularies (one per family)
 * written as GGUF into memory, for fuzz_tok and tests/test_tok.c: they
 * need no fixtures.  Header-only (static functions). */
#ifndef RG_FUZZ_TOK_SYNTH_H
#define RG_FUZZ_TOK_SYNTH_H

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "gguf/gguf.h"
#include "tok/tok.h"

/* kind: "llama", "gpt2" or "bert"; pre: tokenizer.ggml.pre for gpt2. */
static rg_status synth_vocab(const char *kind, const char *pre, rg_buf *out) {
    static char store[1200][40];
    const char *tok[1200];
    float score[1200];
    int32_t type[1200];
    int n = 0;
#define ADD(s, sc, ty)                                                       \
    do {                                                                     \
        snprintf(store[n], sizeof store[n], "%s", s);                        \
        tok[n] = store[n];                                                   \
        score[n] = (float)(sc);                                              \
        type[n] = (ty);                                                      \
        n++;                                                                 \
    } while (0)
    static const char *const words[] = {"the", "he", "th", "a", "an", "and", "in", "ing", "is", "hello", "world",
                                        "wo", "wor", "ld", "lo", "hel", "llo", "er", "re", "on", "at", "12", "123"};
    const size_t nwords = sizeof words / sizeof words[0];
    rg_gguf_writer *w = rg_gguf_writer_new();
    if (!strcmp(kind, "llama")) {
        ADD("<unk>", 0, 2);
        ADD("<s>", 0, 3);
        ADD("</s>", 0, 3);
        for (int b = 0; b < 256; b++) {
            char x[8];
            snprintf(x, sizeof x, "<0x%02X>", b);
            ADD(x, 0, 6);
        }
        ADD("\xe2\x96\x81", -1, 1);
        for (int c = 'a'; c <= 'z'; c++) {
            char x[2] = {(char)c, 0};
            ADD(x, -2, 1);
        }
        for (size_t i = 0; i < nwords; i++) {
            char x[24];
            ADD(words[i], -3 - (double)i * 0.1, 1);
            snprintf(x, sizeof x, "\xe2\x96\x81%s", words[i]);
            ADD(x, -3 - (double)i * 0.1 - 0.05, 1);
        }
        ADD("<|user|>", 0, 4);
        rg_gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", score, (uint64_t)n);
    } else if (!strcmp(kind, "gpt2")) {
        for (int b = 0; b < 256; b++) {
            char x[8];
            int bl = 0;
            /* GPT-2 byte -> code point */
            int cp = b, k = 0;
            bool pr = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
            if (!pr) {
                for (int y = 0; y < b; y++)
                    if (!((y >= 0x21 && y <= 0x7e) || (y >= 0xa1 && y <= 0xac) || y >= 0xae)) k++;
                cp = 256 + k;
            }
            bl = rg_utf8_encode((uint32_t)cp, x);
            x[bl] = 0;
            ADD(x, 0, 1);
        }
        static char mstore[200][40];
        const char *merges[200];
        int nm = 0;
        for (size_t i = 0; i < nwords; i++) {
            /* merge each word left to right: "h e", "he l", ... and "Ġ word" */
            const char *wd = words[i];
            char acc[24] = {0};
            size_t al = 0;
            for (size_t j = 0; wd[j] && nm < 190; j++) {
                if (j == 0) {
                    acc[al++] = wd[0];
                    continue;
                }
                snprintf(mstore[nm], sizeof mstore[nm], "%.*s %c", (int)al, acc, wd[j]);
                merges[nm] = mstore[nm];
                nm++;
                acc[al++] = wd[j];
                ADD(acc, 0, 1);
            }
            snprintf(mstore[nm], sizeof mstore[nm], "\xc4\xa0 %s", wd);
            merges[nm] = mstore[nm];
            nm++;
            char g[32];
            snprintf(g, sizeof g, "\xc4\xa0%s", wd);
            ADD(g, 0, 1);
        }
        ADD("<|endoftext|>", 0, 3);
        ADD("<|im_start|>", 0, 3);
        rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)nm);
        rg_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre ? pre : "gpt-2");
        rg_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(n - 2));
    } else {
        ADD("[PAD]", 0, 3);
        ADD("[UNK]", 0, 2);
        ADD("[CLS]", 0, 3);
        ADD("[SEP]", 0, 3);
        ADD("[MASK]", 0, 3);
        for (int c = 33; c < 127; c++) {
            char x[8];
            snprintf(x, sizeof x, "\xe2\x96\x81%c", c);
            ADD(x, 0, 1);
            if (c >= 'a' && c <= 'z') {
                x[0] = (char)c;
                x[1] = 0;
                ADD(x, 0, 1);
            }
        }
        for (size_t i = 0; i < nwords; i++) {
            char x[24];
            snprintf(x, sizeof x, "\xe2\x96\x81%s", words[i]);
            ADD(x, 0, 1);
            ADD(words[i], 0, 1);
        }
        rg_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 1);
        rg_gguf_writer_set_u32(w, "tokenizer.ggml.cls_token_id", 2);
        rg_gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 3);
    }
#undef ADD
    rg_gguf_writer_set_str(w, "general.architecture", "synthetic");
    rg_gguf_writer_set_str(w, "tokenizer.ggml.model", kind);
    rg_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok, (uint64_t)n);
    rg_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", type, (uint64_t)n);
    rg_err err;
    rg_status s = rg_gguf_writer_write_buf(w, out, &err);
    rg_gguf_writer_free(w);
    return s;
}

/* Builds the tokenizer of a synthetic vocabulary (NULL on failure). */
static rg_tok *synth_tok(const char *kind, const char *pre) {
    rg_buf b;
    rg_buf_init(&b, 0);
    if (synth_vocab(kind, pre, &b) != RG_OK) return NULL;
    rg_gguf *g;
    rg_tok *t = NULL;
    rg_err err;
    if (rg_gguf_open_memory(b.data, b.len, &g, &err) == RG_OK) {
        if (rg_tok_from_gguf(g, &t, &err) != RG_OK) {
            fprintf(stderr, "synth_tok %s/%s: %s\n", kind, pre ? pre : "-", rg_err_text(&err));
            t = NULL;
        }
        rg_gguf_close(g);
    }
    rg_buf_free(&b);
    return t;
}

#endif
