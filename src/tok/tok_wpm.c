/* tok_wpm.c - WordPiece ("bert" vocabularies), as llama.cpp's
 * llm_tokenizer_wpm: each code point is reduced to the first code point of
 * its NFD decomposition (dropping accents) and lower-cased; whitespace ends
 * a word, control characters vanish, punctuation, ASCII symbols and CJK
 * ideographs are words of their own; each word, prefixed with "▁", is cut
 * greedily into the longest vocabulary entries, or becomes [UNK]. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/utf8.h"
#include "tok/tok_int.h"

static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static uint32_t nfd_first(uint32_t cp) {
    if (cp < 0xC0) return cp;
    utf8proc_int32_t buf[8];
    int bc = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 8, UTF8PROC_DECOMPOSE, &bc);
    return n >= 1 ? (uint32_t)buf[0] : cp;
}

/* Greedy longest-match of one word (already "▁"-prefixed). */
static void word_pieces(const rg_tok *t, const char *w, size_t n, rg__ivec *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n; i++) {
        bool match = false;
        size_t hi = i + t->max_len + 1 < n ? i + t->max_len + 1 : n;
        for (size_t j = hi; j > i; j--) {
            int32_t id = rg__tok_find(t, w + i, j - i);
            if (id >= 0) {
                rg__ivec_push(out, id);
                match = true;
                i = j - 1;
                break;
            }
        }
        if (!match) {
            out->n = start; /* discard the partial word */
            break;
        }
    }
    if (out->n == start && t->unk >= 0) rg__ivec_push(out, t->unk);
}

rg_status rg__tok_wpm(const rg_tok *t, const char *text, size_t n, rg__ivec *out, rg_err *err) {
    /* a word grows by at most 4 bytes per input byte after lower-casing */
    if (n > (SIZE_MAX - 8) / 4) return rg_failf(err, RG_LIMIT, "tok: text too long");
    char *w = malloc(n * 4 + 8);
    if (!w) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    memcpy(w, "\xe2\x96\x81", 3);
    size_t wl = 3;
    for (size_t i = 0; i <= n;) {
        uint32_t cp = ' ';
        if (i < n) i += (size_t)rg_utf8_decode(text + i, n - i, &cp);
        else i++; /* the end of the text ends the last word */
        cp = nfd_first(cp);
        if (rg__tok_is_ws(cp)) {
            if (wl > 3) word_pieces(t, w, wl, out);
            wl = 3;
            continue;
        }
        int cat = utf8proc_category((utf8proc_int32_t)cp);
        bool control = cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
                       cat == UTF8PROC_CATEGORY_CS;
        if (cp == 0 || cp == 0xFFFD || control) continue;
        bool punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
        bool symbol = cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
        char u[4];
        int ul = rg_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), u);
        if (punct || (cp < 0x7F && symbol) || is_chinese(cp)) {
            if (wl > 3) word_pieces(t, w, wl, out);
            memcpy(w + 3, u, (size_t)ul);
            word_pieces(t, w, 3 + (size_t)ul, out);
            wl = 3;
        } else {
            memcpy(w + wl, u, (size_t)ul);
            wl += (size_t)ul;
        }
    }
    free(w);
    return RG_OK;
}
