/* tok_pre.c - regex pre-tokenizers of byte-level BPE vocabularies, chosen
 * by tokenizer.ggml.pre, reproducing llama.cpp's unicode_regex_split:
 *
 *  - the regexes of a pre-tokenizer run in sequence; each splits every
 *    current chunk into its matches and the unmatched gaps between them;
 *  - a regex that uses \p{L} \p{N} \p{P} \p{M} \p{S} runs on a "collapsed"
 *    text with one byte per code point: ASCII stays, other whitespace
 *    becomes \x0B, other code points become one byte per category
 *    (0xD1 N, 0xD2 L, 0xD3 P, 0xD4 M, 0xD5 S, 0xD0 other), and each \p{X}
 *    in the pattern becomes that byte plus the category's ASCII members;
 *  - other regexes run on the UTF-8 text with non-ASCII whitespace turned
 *    into \x0B.
 * PCRE2 (JIT when available) matches both; ECMAScript's $ is end-only. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/log.h"
#include "core/utf8.h"
#include "tok/tok_int.h"

/* ---- GPT-2 byte <-> unicode mapping ---- */

static bool printable_byte(int b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae); }

uint32_t rg__tok_byte_to_cp(uint8_t b) {
    if (printable_byte(b)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!printable_byte(x)) n++;
    return 256u + (uint32_t)n;
}

int rg__tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return printable_byte((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    int n = (int)(cp - 256);
    for (int x = 0; x < 256; x++)
        if (!printable_byte(x) && n-- == 0) return x;
    return -1;
}

/* ---- code point classes (llama.cpp's unicode flags) ---- */

bool rg__tok_is_ws(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

static unsigned char collapse(uint32_t cp) {
    if (cp < 128) return (unsigned char)cp;
    if (rg__tok_is_ws(cp)) return 0x0b;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: return 0xd2;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: return 0xd1;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO: return 0xd3;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: return 0xd4;
    case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK: case UTF8PROC_CATEGORY_SO:
        return 0xd5;
    default: return 0xd0;
    }
}

/* ---- the pre-tokenizer table (llama.cpp llm_tokenizer_bpe) ---- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3 RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+" /* [一-龥ࠀ-一가-퟿]+ */
#define RE_BLOOM " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"
#define RE_TEKKEN_WORD(x, y) "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))" x "((?=[\\p{L}])([^A-Z]))" y

typedef struct pre_def {
    const char *names; /* '|'-separated */
    const char *re[RG__TOK_MAX_RE];
} pre_def;

static const pre_def pre_defs[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"llama3|llama-v3|llama-bpe|falcon3|dbrx|smaug-bpe|chatglm-bpe", {RE_LLAMA3}},
    {"deepseek-llm",
     {"[\r\n]",
      "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf\xc7\x84-\xca\x93"
      "\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c"
      "\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85"
      "\xe1\x8e\xa0-\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf"
      "\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95"
      "\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97"
      "\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc"
      "\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b"
      "\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87"
      "\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8"
      "\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89"
      "\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae"
      "\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf"
      "\xea\x9d\xb1-\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86"
      "\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90\x80-\xf0\x90\x91\x8f"
      "\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2"
      "\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+",
      "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+",
      "\\s+$", RE_CJK, "\\p{N}+"}},
    {"deepseek-v3",
     {"\\p{N}{1,3}", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    {"deepseek-coder", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", {"\\p{N}", RE_GPT2}},
    {"gpt-2|phi-2|mpt|olmo|jais|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|jina-v2-code|roberta-bpe",
     {RE_GPT2}},
    {"qwen2|deepseek-r1-qwen|megrez|stablelm2", {RE_QWEN2}},
    {"poro-chat|bloom|gpt3-finnish", {RE_BLOOM}},
    {"viking", {RE_BLOOM, "\\p{N}"}},
    {"tekken",
     {RE_TEKKEN_WORD("*", "+") "|" RE_TEKKEN_WORD("+", "*") "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"gpt-4o",
     {RE_TEKKEN_WORD("*", "+") RE_CONTRACT "?|" RE_TEKKEN_WORD("+", "*") RE_CONTRACT
      "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"chameleon",
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2}},
};

static bool name_in(const char *name, const char *list) {
    size_t n = strlen(name);
    for (const char *p = list;;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == n && !memcmp(p, name, n)) return true;
        if (!bar) return false;
        p = bar + 1;
    }
}

static const char *const ucat_names = "NLPMS";
static const unsigned char ucat_byte[] = {0xd1, 0xd2, 0xd3, 0xd4, 0xd5};
static const char *const ucat_ascii[] = {
    "0-9", "A-Za-z", "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}", "", "\\$\\+<->^`\\|"};

static bool uses_categories(const char *re) {
    for (const char *p = re; (p = strstr(p, "\\p{")); p++)
        if (p[3] && strchr(ucat_names, p[3]) && p[4] == '}') return true;
    return false;
}

/* llama.cpp's rewrite of \p{X} into the collapsed byte + ASCII members. */
static char *collapse_regex(const char *re) {
    size_t n = strlen(re);
    char *out = malloc(n * 8 + 1);
    if (!out) return NULL;
    size_t o = 0;
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
            out[o++] = '[';
            inside = true;
            continue;
        }
        if (inside && re[i] == ']' && re[i - 1] != '\\') {
            out[o++] = ']';
            inside = false;
            continue;
        }
        if (re[i] == '\\' && i + 4 < n && re[i + 1] == 'p' && re[i + 2] == '{' && re[i + 4] == '}') {
            const char *c = re[i + 3] ? strchr(ucat_names, re[i + 3]) : NULL;
            if (c) {
                int k = (int)(c - ucat_names);
                if (!inside) out[o++] = '[';
                out[o++] = (char)ucat_byte[k];
                size_t al = strlen(ucat_ascii[k]);
                memcpy(out + o, ucat_ascii[k], al);
                o += al;
                if (!inside) out[o++] = ']';
                i += 4;
                continue;
            }
        }
        out[o++] = re[i];
    }
    out[o] = 0;
    return out;
}

rg_status rg__tok_pre_init(rg_tok *t, rg_err *err) {
    const pre_def *d = NULL;
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++)
        if (name_in(t->pre, pre_defs[i].names)) d = &pre_defs[i];
    if (!d) {
        rg_warn("tok: pre-tokenizer '%s' is not known; using llama.cpp's default regexes", t->pre);
        d = &pre_defs[0];
    }
    for (int i = 0; i < RG__TOK_MAX_RE && d->re[i]; i++) {
        bool col = uses_categories(d->re[i]);
        char *pat = col ? collapse_regex(d->re[i]) : strdup(d->re[i]);
        if (!pat) return rg_failf(err, RG_NOMEM, "tok: out of memory");
        int ec;
        PCRE2_SIZE eo;
        uint32_t opts = PCRE2_DOLLAR_ENDONLY | (col ? 0 : PCRE2_UTF);
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
        free(pat);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return rg_failf(err, RG_FORMAT, "tok: pre-tokenizer '%s' regex %d: %s at %zu", t->pre, i, (char *)msg,
                            (size_t)eo);
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
        t->re[i].code = code;
        t->re[i].collapsed = col;
        t->n_re = i + 1;
    }
    return RG_OK;
}

void rg__tok_pre_free(rg_tok *t) {
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i].code);
    t->n_re = 0;
}

/* ---- splitting ---- */

typedef struct zvec {
    size_t *v;
    size_t n, cap;
    bool oom;
} zvec;

static void zpush(zvec *z, size_t x) {
    if (z->n == z->cap) {
        size_t nc = z->cap ? z->cap * 2 : 64;
        size_t *nv = realloc(z->v, nc * sizeof *nv);
        if (!nv) {
            z->oom = true;
            return;
        }
        z->v = nv;
        z->cap = nc;
    }
    z->v[z->n++] = x;
}

/* Splits the code points cps[0..ncp) into chunks (lengths in code points,
 * summing to ncp).  *chunks is malloc'd. */
rg_status rg__tok_pre_split(const rg_tok *t, const uint32_t *cps, size_t ncp, size_t **chunks, size_t *nchunks,
                            rg_err *err) {
    bool need_col = false, need_utf = false;
    for (int i = 0; i < t->n_re; i++) {
        if (t->re[i].collapsed) need_col = true;
        else need_utf = true;
    }
    unsigned char *col = NULL, *u8 = NULL;
    size_t *u8off = NULL, *b2c = NULL;
    zvec cur = {0}, nxt = {0};
    pcre2_match_data *md = NULL;
    rg_status s = RG_OK;
    if (need_col) {
        col = malloc(ncp ? ncp : 1);
        if (!col) goto oom;
        for (size_t i = 0; i < ncp; i++) col[i] = collapse(cps[i]);
    }
    if (need_utf) {
        u8 = malloc(ncp * 4 + 1);
        u8off = malloc((ncp + 1) * sizeof *u8off);
        b2c = malloc((ncp * 4 + 1) * sizeof *b2c);
        if (!u8 || !u8off || !b2c) goto oom;
        size_t o = 0;
        for (size_t i = 0; i < ncp; i++) {
            uint32_t cp = cps[i];
            if (cp > 0x7f && rg__tok_is_ws(cp)) cp = 0x0b;
            u8off[i] = o;
            b2c[o] = i;
            o += (size_t)rg_utf8_encode(cp, (char *)u8 + o);
        }
        u8off[ncp] = o;
        b2c[o] = ncp;
    }
    if (ncp == 0) goto done;
    md = pcre2_match_data_create(32, NULL);
    if (!md) goto oom;
    zpush(&cur, ncp);
    for (int r = 0; r < t->n_re && !s; r++) {
        const rg__tok_re *re = &t->re[r];
        nxt.n = 0;
        size_t start = 0;
        for (size_t c = 0; c < cur.n && !s; c++) {
            size_t L = cur.v[c];
            const unsigned char *subj = re->collapsed ? col + start : u8 + u8off[start];
            size_t slen = re->collapsed ? L : u8off[start + L] - u8off[start];
            size_t base = re->collapsed ? 0 : u8off[start];
            size_t off = 0, prev = 0; /* off: subject units; prev: code points */
            while (off <= slen) {
                int rc = pcre2_match(re->code, subj, slen, off, re->collapsed ? 0 : PCRE2_NO_UTF_CHECK, md, NULL);
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                    rc = pcre2_match(re->code, subj, slen, off,
                                     PCRE2_NO_JIT | (re->collapsed ? 0 : PCRE2_NO_UTF_CHECK), md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    s = rg_failf(err, RG_LIMIT, "tok: pre-tokenizer regex %d failed: %s", r, (char *)msg);
                    break;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                size_t mcs = re->collapsed ? ms : b2c[base + ms] - start;
                size_t mce = re->collapsed ? me : b2c[base + me] - start;
                if (mcs > prev) zpush(&nxt, mcs - prev);
                if (me == ms) {
                    /* empty match: a zero-length word (no tokens); step one code point */
                    prev = mcs;
                    if (ms >= slen) break;
                    off = ms + (re->collapsed ? 1 : rg__utf8_len(subj[ms]));
                    continue;
                }
                zpush(&nxt, mce - mcs);
                prev = mce;
                off = me;
            }
            if (prev < L) zpush(&nxt, L - prev);
            start += L;
        }
        zvec sw = cur;
        cur = nxt;
        nxt = sw;
        if (cur.oom || nxt.oom) goto oom;
    }
    goto done;
oom:
    s = rg_failf(err, RG_NOMEM, "tok: out of memory in the pre-tokenizer");
done:
    pcre2_match_data_free(md);
    free(col);
    free(u8);
    free(u8off);
    free(b2c);
    free(nxt.v);
    if (s) {
        free(cur.v);
        return s;
    }
    *chunks = cur.v;
    *nchunks = cur.n;
    return RG_OK;
}
