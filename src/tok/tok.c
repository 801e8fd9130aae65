/* tok.c - loads a tokenizer from GGUF metadata and runs the parts common
 * to all three algorithms: special-token partitioning of the text (as
 * llama.cpp's tokenizer_st_partition), BOS/EOS, and detokenisation.
 *
 * Everything read from the file is checked: array lengths agree with the
 * token count, token texts are bounded by RG_MAX_TOKEN_BYTES, special ids
 * outside the vocabulary are ignored. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/utf8.h"
#include "tok/tok_int.h"

#define ATTR_LSTRIP 1
#define ATTR_RSTRIP 2

static uint64_t mask_for(uint64_t n) {
    uint64_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    return cap - 1;
}

int32_t rg__tok_find(const rg_tok *t, const char *s, size_t n) {
    uint64_t h = rg__tok_hash(s, n, 0) & t->hmask;
    for (;;) {
        int32_t id = t->htab[h];
        if (id < 0) return -1;
        if (t->len[id] == n && memcmp(t->blob + t->off[id], s, n) == 0) return id;
        h = (h + 1) & t->hmask;
    }
}

static int32_t find_cstr(const rg_tok *t, const char *s) { return rg__tok_find(t, s, strlen(s)); }

void rg_tok_free(rg_tok *t) {
    if (!t) return;
    rg__tok_pre_free(t);
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->score);
    free(t->type);
    free(t->strip);
    free(t->eog);
    free(t->htab);
    free(t->pblob);
    free(t->poff);
    free(t->plen);
    free(t->merge_blob);
    free(t->merges);
    free(t->mtab);
    free(t->specials);
    free(t->stab);
    free(t->pre);
    free(t);
}

/* Reads a special id key; ids outside the vocabulary are ignored (logged),
 * as llama.cpp does. */
static void special_id(const rg_gguf *g, rg_tok *t, const char *key, int32_t *dst) {
    uint32_t v;
    if (!rg_gguf_get_u32(g, key, &v)) return;
    if (v >= (uint32_t)t->n_vocab) {
        rg_warn("tok: %s = %u is outside the vocabulary (%d tokens); ignored", key, v, t->n_vocab);
        return;
    }
    *dst = (int32_t)v;
}

static rg_status load_merges(const rg_gguf *g, rg_tok *t, rg_err *err) {
    rg_gguf_type et;
    uint64_t n;
    if (!rg_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) || et != RG_GGUF_STRING)
        return rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.merges (array of strings) is required for gpt2 tokenizers");
    if (n > RG_MAX_VOCAB * 4ull)
        return rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.merges has %llu entries, the limit is %llu",
                        (unsigned long long)n, RG_MAX_VOCAB * 4ull);
    uint64_t total = 0;
    int64_t mk = rg_gguf_find_kv(g, "tokenizer.ggml.merges");
    for (uint64_t i = 0; i < n; i++) {
        size_t l;
        rg_gguf_kv_arr_str(g, mk, i, &l);
        if (l > RG_MAX_TOKEN_BYTES * 2u)
            return rg_failf(err, RG_FORMAT, "tok: merge %llu is %zu bytes, the limit is %u",
                            (unsigned long long)i, l, RG_MAX_TOKEN_BYTES * 2u);
        total += l;
    }
    if (total > UINT32_MAX) return rg_failf(err, RG_FORMAT, "tok: merges total %llu bytes", (unsigned long long)total);
    t->merge_blob = malloc(total ? total : 1);
    t->merges = calloc(n ? n : 1, sizeof *t->merges);
    t->mmask = mask_for(n);
    t->mtab = malloc((t->mmask + 1) * sizeof *t->mtab);
    if (!t->merge_blob || !t->merges || !t->mtab) return rg_failf(err, RG_NOMEM, "tok: out of memory for merges");
    memset(t->mtab, 0xff, (t->mmask + 1) * sizeof *t->mtab);
    uint32_t pos = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t l;
        const char *s = rg_gguf_kv_arr_str(g, mk, i, &l);
        /* split at the first space after the first byte (llama.cpp: find(' ', 1)) */
        const char *sp = l > 1 ? memchr(s + 1, ' ', l - 1) : NULL;
        if (!sp) continue;
        uint32_t ll = (uint32_t)(sp - s), rl = (uint32_t)(l - ll - 1);
        uint64_t h = rg__tok_hash(sp + 1, rl, rg__tok_hash(s, ll, 0)) & t->mmask;
        bool dup = false;
        while (t->mtab[h] >= 0) {
            const rg__tok_merge *m = &t->merges[t->mtab[h]];
            if (m->llen == ll && m->rlen == rl && !memcmp(t->merge_blob + m->off, s, ll) &&
                !memcmp(t->merge_blob + m->off + ll, sp + 1, rl)) {
                dup = true; /* first rank wins (std::map::emplace) */
                break;
            }
            h = (h + 1) & t->mmask;
        }
        if (dup) continue;
        memcpy(t->merge_blob + pos, s, ll);
        memcpy(t->merge_blob + pos + ll, sp + 1, rl);
        /* the rank is the position in the file, not the count of kept merges */
        t->merges[i].off = pos;
        t->merges[i].llen = ll;
        t->merges[i].rlen = rl;
        t->mtab[h] = (int32_t)i;
        pos += ll + rl;
    }
    t->n_merges = (uint32_t)n;
    return RG_OK;
}

static bool is_one_of(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return true;
    return false;
}

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return true;
    return false;
}

static int cmp_special(const void *a, const void *b, void *ud) {
    const rg_tok *t = ud;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->len[x] != t->len[y]) return t->len[x] > t->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Special-token bookkeeping (llama.cpp llama_vocab::load): EOT/EOG by text,
 * forcing their type to CONTROL, strip attributes, the partition list. */
static rg_status setup_specials(const rg_gguf *g, rg_tok *t, rg_err *err) {
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                            "<|endoftext|>", "<EOT>", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                            NULL};
    static const char *const eog_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                            "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", NULL};
    static const char *const fim_names[] = {
        "<|fim_prefix|>", "<fim-prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", "\xe2\x96\x81<PRE>",
        "<|fim_suffix|>", "<fim-suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>", "<SUF>", "\xe2\x96\x81<SUF>",
        "<|fim_middle|>", "<fim-middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", "\xe2\x96\x81<MID>",
        "<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
        "<|file_sep|>", NULL};
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->blob + t->off[id];
        /* every name below starts with '<', "_<" or "▁<" */
        if (s[0] != '<' && !(s[0] == '_' && s[1] == '<') && strncmp(s, "\xe2\x96\x81<", 4)) continue;
        bool eot = t->eot < 0 && is_one_of(s, eot_names);
        bool eom = t->eom < 0 && !strcmp(s, "<|eom_id|>");
        bool eog = is_one_of(s, eog_names);
        bool fim = is_one_of(s, fim_names);
        if (eot) t->eot = id;
        if (eom) t->eom = id;
        if (eog) t->eog[id] = 1;
        if ((eot || eom || eog || fim) && t->type[id] != RG_TOKTYPE_CONTROL) {
            rg_debug("tok: control-looking token %d '%s' was type %d; treated as control", id, s, t->type[id]);
            t->type[id] = RG_TOKTYPE_CONTROL;
        }
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;

    uint32_t ns = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        uint8_t ty = t->type[id];
        if ((ty == RG_TOKTYPE_CONTROL || ty == RG_TOKTYPE_USER_DEFINED || ty == RG_TOKTYPE_UNKNOWN) && t->len[id] > 0)
            ns++;
    }
    t->specials = malloc((ns ? ns : 1) * sizeof *t->specials);
    if (!t->specials) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    ns = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        uint8_t ty = t->type[id];
        if ((ty == RG_TOKTYPE_CONTROL || ty == RG_TOKTYPE_USER_DEFINED || ty == RG_TOKTYPE_UNKNOWN) && t->len[id] > 0)
            t->specials[ns++] = id;
    }
    t->n_specials = ns;
    qsort_r(t->specials, ns, sizeof *t->specials, cmp_special, t);

    /* per-model strip attributes (llama.cpp sets them by name) */
    const char *name = rg_gguf_get_str(g, "general.name", NULL);
    const char *arch = rg_gguf_get_str(g, "general.architecture", NULL);
    if (strstr(t->pre, "jina-v2-de") || strstr(t->pre, "jina-v2-es") || strstr(t->pre, "jina-v2-code") ||
        (arch && strstr(arch, "nomic-bert-moe"))) {
        int32_t id = find_cstr(t, "<mask>");
        if (id >= 0) t->strip[id] |= ATTR_LSTRIP;
    } else if (name && (contains_ci(name, "phi-3") || contains_ci(name, "phi3"))) {
        for (uint32_t i = 0; i < ns; i++) t->strip[t->specials[i]] |= ATTR_RSTRIP;
        int32_t id = find_cstr(t, "</s>");
        if (id >= 0) t->strip[id] |= ATTR_RSTRIP;
        static const char *const no[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (int k = 0; k < 3; k++) {
            id = find_cstr(t, no[k]);
            if (id >= 0) t->strip[id] &= (uint8_t)~ATTR_RSTRIP;
        }
    }

    /* presence scan tables */
    t->smask = mask_for(ns);
    t->stab = malloc((t->smask + 1) * sizeof *t->stab);
    if (!t->stab) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    memset(t->stab, 0xff, (t->smask + 1) * sizeof *t->stab);
    for (uint32_t i = 0; i < ns; i++) {
        int32_t id = t->specials[i];
        const char *s = t->blob + t->off[id];
        uint32_t l = t->len[id];
        t->special_first[(unsigned char)s[0]] = 1;
        uint64_t h = rg__tok_hash(s, l, 0) & t->smask;
        while (t->stab[h] >= 0) h = (h + 1) & t->smask;
        t->stab[h] = (int32_t)i;
        bool have = false;
        for (uint32_t k = 0; k < t->n_special_lens; k++) have |= t->special_lens[k] == l;
        if (!have) {
            if (t->n_special_lens == 64)
                return rg_failf(err, RG_FORMAT, "tok: more than 64 distinct special-token lengths");
            t->special_lens[t->n_special_lens++] = l;
        }
    }
    return RG_OK;
}

/* Precomputes what each token renders as. */
static rg_status build_pieces(rg_tok *t, rg_err *err) {
    uint64_t total = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) total += t->len[id];
    t->pblob = malloc(total ? total : 1);
    t->poff = malloc((size_t)t->n_vocab * sizeof *t->poff);
    t->plen = malloc((size_t)t->n_vocab * sizeof *t->plen);
    if (!t->pblob || !t->poff || !t->plen) return rg_failf(err, RG_NOMEM, "tok: out of memory for pieces");
    int16_t cp2b[324];
    for (int c = 0; c < 324; c++) cp2b[c] = (int16_t)rg__tok_cp_to_byte((uint32_t)c);
    uint32_t pos = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->blob + t->off[id];
        uint32_t l = t->len[id], o = pos;
        uint8_t ty = t->type[id];
        t->poff[id] = pos;
        if (ty == RG_TOKTYPE_BYTE && l == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && isxdigit((unsigned char)s[3]) &&
            isxdigit((unsigned char)s[4])) {
            char hx[3] = {s[3], s[4], 0};
            t->pblob[pos++] = (char)strtol(hx, NULL, 16);
        } else if (ty != RG_TOKTYPE_NORMAL) {
            memcpy(t->pblob + pos, s, l);
            pos += l;
        } else if (t->kind == RG_TOK_BPE) {
            /* undo the GPT-2 byte mapping; code points outside it are kept */
            size_t i = 0;
            while (i < l) {
                uint32_t cp;
                int k = rg_utf8_decode(s + i, l - i, &cp);
                int b = cp < 324 ? cp2b[cp] : -1;
                if (b >= 0) t->pblob[pos++] = (char)b;
                else {
                    memcpy(t->pblob + pos, s + i, (size_t)k);
                    pos += (uint32_t)k;
                }
                i += (size_t)k;
            }
        } else {
            /* "▁" (3 bytes) -> " " never grows the text */
            for (uint32_t i = 0; i < l;) {
                if (i + 3 <= l && !memcmp(s + i, "\xe2\x96\x81", 3)) {
                    t->pblob[pos++] = ' ';
                    i += 3;
                } else {
                    t->pblob[pos++] = s[i++];
                }
            }
        }
        t->plen[id] = pos - o;
    }
    return RG_OK;
}

rg_status rg_tok_from_gguf(const rg_gguf *g, rg_tok **out, rg_err *err) {
    *out = NULL;
    const char *model = rg_gguf_get_str(g, "tokenizer.ggml.model", NULL);
    if (!model) return rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.model is missing (no tokenizer in this file)");
    rg_tok_kind kind;
    if (!strcmp(model, "llama")) kind = RG_TOK_SPM;
    else if (!strcmp(model, "gpt2")) kind = RG_TOK_BPE;
    else if (!strcmp(model, "bert")) kind = RG_TOK_WPM;
    else
        return rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.model '%s' is not supported (llama, gpt2, bert)", model);
    rg_gguf_type et;
    uint64_t n;
    if (!rg_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) || et != RG_GGUF_STRING)
        return rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.tokens (array of strings) is missing");
    if (n == 0 || n > RG_MAX_VOCAB)
        return rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.tokens has %llu entries, expected 1..%u",
                        (unsigned long long)n, RG_MAX_VOCAB);
    rg_tok *t = calloc(1, sizeof *t);
    if (!t) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    rg_status s = RG_OK;
    t->kind = kind;
    t->n_vocab = (int32_t)n;
    t->bos = t->eos = t->eot = t->eom = t->unk = t->sep = t->pad = t->mask = -1;
    const char *pre = rg_gguf_get_str(g, "tokenizer.ggml.pre", NULL);
    t->pre = strdup(pre ? pre : "default");
    t->off = malloc(n * sizeof *t->off);
    t->len = malloc(n * sizeof *t->len);
    t->score = calloc(n, sizeof *t->score);
    t->type = malloc(n);
    t->strip = calloc(n, 1);
    t->eog = calloc(n, 1);
    t->hmask = mask_for(n);
    t->htab = malloc((t->hmask + 1) * sizeof *t->htab);
    if (!t->pre || !t->off || !t->len || !t->score || !t->type || !t->strip || !t->eog || !t->htab) {
        s = rg_failf(err, RG_NOMEM, "tok: out of memory for %llu tokens", (unsigned long long)n);
        goto fail;
    }
    memset(t->htab, 0xff, (t->hmask + 1) * sizeof *t->htab);
    memset(t->type, RG_TOKTYPE_NORMAL, n);
    uint64_t total = 0;
    int64_t tk = rg_gguf_find_kv(g, "tokenizer.ggml.tokens");
    for (uint64_t i = 0; i < n; i++) {
        size_t l;
        rg_gguf_kv_arr_str(g, tk, i, &l);
        if (l > RG_MAX_TOKEN_BYTES) {
            s = rg_failf(err, RG_FORMAT, "tok: token %llu is %zu bytes, the limit is %u", (unsigned long long)i, l,
                         RG_MAX_TOKEN_BYTES);
            goto fail;
        }
        total += l + 1;
    }
    if (total > UINT32_MAX) {
        s = rg_failf(err, RG_FORMAT, "tok: token texts total %llu bytes", (unsigned long long)total);
        goto fail;
    }
    t->blob = malloc(total);
    if (!t->blob) {
        s = rg_failf(err, RG_NOMEM, "tok: out of memory for token texts");
        goto fail;
    }
    uint32_t pos = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t l;
        const char *str = rg_gguf_kv_arr_str(g, tk, i, &l);
        memcpy(t->blob + pos, str, l);
        t->blob[pos + l] = 0;
        t->off[i] = pos;
        t->len[i] = (uint32_t)l;
        if (l > t->max_len) t->max_len = (uint32_t)l;
        pos += (uint32_t)l + 1;
        /* insert, the last duplicate wins */
        uint64_t h = rg__tok_hash(str, l, 0) & t->hmask;
        while (t->htab[h] >= 0) {
            int32_t o = t->htab[h];
            if (t->len[o] == l && !memcmp(t->blob + t->off[o], str, l)) break;
            h = (h + 1) & t->hmask;
        }
        t->htab[h] = (int32_t)i;
    }
    /* scores and types: optional, but when present one per token */
    uint64_t na;
    rg_gguf_type at;
    const void *raw = rg_gguf_arr_data(g, "tokenizer.ggml.scores", &at, &na);
    if (rg_gguf_get_arr(g, "tokenizer.ggml.scores", NULL, NULL)) {
        if (!raw || at != RG_GGUF_FLOAT32 || na != n) {
            s = rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.scores must be %llu f32 values (has %llu of %s)",
                         (unsigned long long)n, (unsigned long long)na, rg_gguf_type_name(at));
            goto fail;
        }
        memcpy(t->score, raw, n * sizeof(float));
    }
    raw = rg_gguf_arr_data(g, "tokenizer.ggml.token_type", &at, &na);
    if (rg_gguf_get_arr(g, "tokenizer.ggml.token_type", NULL, NULL)) {
        if (!raw || at != RG_GGUF_INT32 || na != n) {
            s = rg_failf(err, RG_FORMAT, "tok: tokenizer.ggml.token_type must be %llu i32 values (has %llu of %s)",
                         (unsigned long long)n, (unsigned long long)na, rg_gguf_type_name(at));
            goto fail;
        }
        for (uint64_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, (const char *)raw + 4 * i, 4);
            t->type[i] = v >= 0 && v <= RG_TOKTYPE_BYTE ? (uint8_t)v : RG_TOKTYPE_UNDEFINED;
        }
    }

    /* defaults per model, then the file's keys (llama.cpp llama_vocab::load) */
    if (kind == RG_TOK_SPM) {
        t->bos = n > 1 ? 1 : -1;
        t->eos = n > 2 ? 2 : -1;
        t->unk = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
    } else if (kind == RG_TOK_WPM) {
        t->bos = n > 101 ? 101 : -1;
        t->unk = n > 100 ? 100 : -1;
        t->sep = n > 102 ? 102 : -1;
        t->pad = 0;
        t->mask = n > 103 ? 103 : -1;
        t->add_bos = true;
    }
    special_id(g, t, "tokenizer.ggml.bos_token_id", &t->bos);
    special_id(g, t, "tokenizer.ggml.cls_token_id", &t->bos);
    special_id(g, t, "tokenizer.ggml.eos_token_id", &t->eos);
    special_id(g, t, "tokenizer.ggml.eot_token_id", &t->eot);
    special_id(g, t, "tokenizer.ggml.eom_token_id", &t->eom);
    special_id(g, t, "tokenizer.ggml.unknown_token_id", &t->unk);
    special_id(g, t, "tokenizer.ggml.seperator_token_id", &t->sep);
    special_id(g, t, "tokenizer.ggml.padding_token_id", &t->pad);
    special_id(g, t, "tokenizer.ggml.mask_token_id", &t->mask);
    if (kind == RG_TOK_WPM && t->eos < 0) t->eos = t->sep;
    if (kind == RG_TOK_BPE) {
        if ((s = load_merges(g, t, err))) goto fail;
        static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", NULL};
        if (is_one_of(t->pre, llama3)) {
            t->ignore_merges = true;
            t->add_bos = true;
        }
    }
    rg_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    rg_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    rg_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    rg_gguf_get_bool(g, "tokenizer.ggml.ignore_merges", &t->ignore_merges);
    if (t->add_bos && t->bos < 0) t->add_bos = false;
    if (t->add_eos && t->eos < 0) t->add_eos = false;

    /* GPT-2 byte encoding, and the byte fallback table */
    for (int b = 0; b < 256; b++)
        t->benc_len[b] = (uint8_t)rg_utf8_encode(rg__tok_byte_to_cp((uint8_t)b), t->benc[b]);
    for (int b = 0; b < 256; b++) {
        char buf[8];
        t->byte_tok[b] = -1;
        if (kind == RG_TOK_SPM) {
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            t->byte_tok[b] = find_cstr(t, buf);
            if (t->byte_tok[b] < 0) {
                buf[0] = (char)b;
                t->byte_tok[b] = rg__tok_find(t, buf, 1);
            }
        } else {
            int k = rg_utf8_encode(rg__tok_byte_to_cp((uint8_t)b), buf);
            t->byte_tok[b] = rg__tok_find(t, buf, (size_t)k);
        }
    }
    if ((s = setup_specials(g, t, err))) goto fail;
    if ((s = build_pieces(t, err))) goto fail;
    if (kind == RG_TOK_BPE && (s = rg__tok_pre_init(t, err))) goto fail;
    *out = t;
    return RG_OK;
fail:
    rg_tok_free(t);
    return s;
}

/* ---- encoding ---- */

typedef struct frag {
    int32_t id; /* -1 = raw text */
    size_t off, len;
} frag;

typedef struct fvec {
    frag *v;
    size_t n, cap;
} fvec;

static bool fpush(fvec *f, int32_t id, size_t off, size_t len) {
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        frag *nv = realloc(f->v, nc * sizeof *nv);
        if (!nv) return false;
        f->v = nv;
        f->cap = nc;
    }
    f->v[f->n++] = (frag){id, off, len};
    return true;
}

static bool c_isspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Splits text at special tokens the way llama.cpp does: for each special
 * token, longest first, every raw fragment is cut at every occurrence.
 * Only tokens that occur at all are tried (found by one scan). */
static rg_status partition(const rg_tok *t, const char *text, size_t len, bool parse_special, fvec *out,
                           rg_err *err) {
    out->n = 0;
    if (len == 0) return RG_OK;
    if (!fpush(out, -1, 0, len)) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    if (t->n_specials == 0) return RG_OK;
    /* which specials occur? */
    uint8_t *present = NULL;
    bool any = false;
    for (size_t p = 0; p < len; p++) {
        if (!t->special_first[(unsigned char)text[p]]) continue;
        for (uint32_t k = 0; k < t->n_special_lens; k++) {
            uint32_t l = t->special_lens[k];
            if (l > len - p) continue;
            uint64_t h = rg__tok_hash(text + p, l, 0) & t->smask;
            for (int32_t si; (si = t->stab[h]) >= 0; h = (h + 1) & t->smask) {
                int32_t id = t->specials[si];
                if (t->len[id] == l && !memcmp(t->blob + t->off[id], text + p, l)) {
                    if (!present) {
                        present = calloc(t->n_specials, 1);
                        if (!present) return rg_failf(err, RG_NOMEM, "tok: out of memory");
                    }
                    present[si] = 1;
                    any = true;
                }
            }
        }
    }
    if (!any) return RG_OK;
    fvec tmp = {0};
    rg_status s = RG_OK;
    for (uint32_t si = 0; si < t->n_specials && !s; si++) {
        if (!present[si]) continue;
        int32_t id = t->specials[si];
        uint8_t ty = t->type[id];
        if (!parse_special && (ty == RG_TOKTYPE_CONTROL || ty == RG_TOKTYPE_UNKNOWN)) continue;
        const char *st = t->blob + t->off[id];
        size_t sl = t->len[id];
        tmp.n = 0;
        for (size_t fi = 0; fi < out->n && !s; fi++) {
            frag f = out->v[fi];
            if (f.id >= 0) {
                if (!fpush(&tmp, f.id, 0, 0)) s = RG_NOMEM;
                continue;
            }
            size_t base = f.off, blen = f.len;
            const char *m;
            while (blen >= sl && (m = memmem(text + base, blen, st, sl))) {
                size_t match = (size_t)(m - text);
                size_t left = match - base;
                if (t->strip[id] & ATTR_LSTRIP)
                    while (left > 0 && c_isspace(text[base + left - 1])) left--;
                if (left > 0 && !fpush(&tmp, -1, base, left)) s = RG_NOMEM;
                if (!fpush(&tmp, id, 0, 0)) s = RG_NOMEM;
                size_t roff = match + sl, rlen = base + blen - roff;
                if (t->strip[id] & ATTR_RSTRIP)
                    while (rlen > 0 && c_isspace(text[roff])) {
                        roff++;
                        rlen--;
                    }
                base = roff;
                blen = rlen;
            }
            if (blen > 0 && !fpush(&tmp, -1, base, blen)) s = RG_NOMEM;
        }
        fvec sw = *out;
        *out = tmp;
        tmp = sw;
    }
    free(tmp.v);
    free(present);
    if (s) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    return RG_OK;
}

rg_status rg_tok_encode_ex(const rg_tok *t, const char *text, size_t len, unsigned flags, int32_t **ids,
                           size_t *n, rg_err *err) {
    *ids = NULL;
    *n = 0;
    bool add_special = flags & RG_TOK_ADD_SPECIAL;
    /* symbol indices are ints and escaped text grows 3x: bound the input */
    if (len > RG_TOK_MAX_TEXT)
        return rg_failf(err, RG_LIMIT, "tok: text of %zu bytes exceeds the limit %u", len, RG_TOK_MAX_TEXT);
    fvec fr = {0};
    rg__ivec out = {0};
    rg_status s = partition(t, text, len, flags & RG_TOK_PARSE_SPECIAL, &fr, err);
    if (s) goto done;
    if (add_special && t->add_bos) rg__ivec_push(&out, t->bos);
    bool prev_special = true; /* SPM: prefix a space at the start and after specials */
    for (size_t i = 0; i < fr.n && !s; i++) {
        frag f = fr.v[i];
        if (f.id >= 0) {
            rg__ivec_push(&out, f.id);
            prev_special = true;
            continue;
        }
        switch (t->kind) {
        case RG_TOK_SPM:
            s = rg__tok_spm(t, text + f.off, f.len, t->add_space_prefix && prev_special, &out, err);
            break;
        case RG_TOK_BPE: s = rg__tok_bpe(t, text + f.off, f.len, &out, err); break;
        case RG_TOK_WPM: s = rg__tok_wpm(t, text + f.off, f.len, &out, err); break;
        }
        prev_special = false;
    }
    if (!s && add_special) {
        if (t->kind == RG_TOK_WPM) {
            if (t->sep >= 0) rg__ivec_push(&out, t->sep);
        } else if (t->add_eos) {
            rg__ivec_push(&out, t->eos);
        }
    }
    if (!s && out.oom) s = rg_failf(err, RG_NOMEM, "tok: out of memory for %zu tokens", out.n);
done:
    free(fr.v);
    if (s) {
        free(out.v);
        return s;
    }
    if (!out.v) out.v = malloc(sizeof(int32_t));
    if (!out.v) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    *ids = out.v;
    *n = out.n;
    return RG_OK;
}

rg_status rg_tok_encode(const rg_tok *t, const char *text, size_t len, bool add_special, int32_t **ids,
                        size_t *n, rg_err *err) {
    return rg_tok_encode_ex(t, text, len, RG_TOK_PARSE_SPECIAL | (add_special ? RG_TOK_ADD_SPECIAL : 0), ids, n,
                            err);
}

/* ---- decoding and queries ---- */

static bool valid(const rg_tok *t, int32_t id) { return id >= 0 && id < t->n_vocab; }

const char *rg_tok_piece(const rg_tok *t, int32_t id, size_t *len) {
    if (!valid(t, id)) return NULL;
    if (len) *len = t->plen[id];
    return t->pblob + t->poff[id];
}

const char *rg_tok_text(const rg_tok *t, int32_t id) { return valid(t, id) ? t->blob + t->off[id] : NULL; }

rg_status rg_tok_decode(const rg_tok *t, const int32_t *ids, size_t n, rg_buf *out) {
    bool strip = t->kind == RG_TOK_SPM && t->add_space_prefix;
    for (size_t i = 0; i < n; i++) {
        if (!valid(t, ids[i])) return RG_INVALID;
        uint8_t ty = t->type[ids[i]];
        if (ty != RG_TOKTYPE_NORMAL && ty != RG_TOKTYPE_BYTE && ty != RG_TOKTYPE_USER_DEFINED) continue;
        const char *p = t->pblob + t->poff[ids[i]];
        size_t l = t->plen[ids[i]];
        if (strip && l > 0) {
            if (p[0] == ' ') {
                p++;
                l--;
            }
            strip = false;
        }
        rg_status s = rg_buf_append(out, p, l);
        if (s) return s;
    }
    return RG_OK;
}

int32_t rg_tok_n_vocab(const rg_tok *t) { return t->n_vocab; }
rg_tok_kind rg_tok_kind_of(const rg_tok *t) { return t->kind; }
const char *rg_tok_kind_name(const rg_tok *t) {
    return t->kind == RG_TOK_SPM ? "spm" : t->kind == RG_TOK_BPE ? "bpe" : "wpm";
}
const char *rg_tok_pre(const rg_tok *t) { return t->pre; }
rg_tok_type rg_tok_type_of(const rg_tok *t, int32_t id) {
    return valid(t, id) ? (rg_tok_type)t->type[id] : RG_TOKTYPE_UNDEFINED;
}
float rg_tok_score(const rg_tok *t, int32_t id) { return valid(t, id) ? t->score[id] : 0.0f; }
int32_t rg_tok_bos(const rg_tok *t) { return t->bos; }
int32_t rg_tok_eos(const rg_tok *t) { return t->eos; }
int32_t rg_tok_eot(const rg_tok *t) { return t->eot; }
int32_t rg_tok_unk(const rg_tok *t) { return t->unk; }
int32_t rg_tok_pad(const rg_tok *t) { return t->pad; }
int32_t rg_tok_sep(const rg_tok *t) { return t->sep; }
bool rg_tok_add_bos(const rg_tok *t) { return t->add_bos; }
bool rg_tok_add_eos(const rg_tok *t) { return t->add_eos; }
bool rg_tok_is_eog(const rg_tok *t, int32_t id) { return valid(t, id) && t->eog[id]; }
bool rg_tok_is_control(const rg_tok *t, int32_t id) {
    return valid(t, id) && (t->type[id] == RG_TOKTYPE_CONTROL || t->type[id] == RG_TOKTYPE_UNKNOWN);
}
