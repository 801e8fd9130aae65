/* analyzer.c - the text analysis pipeline shared by indexing and queries.
 *
 * Invariants: the same input always gives the same tokens (documents and
 * queries go through this one function); positions increase monotonically
 * for positional tokens; extra tokens (friso words) repeat a position
 * already used.  Process-wide resources (friso dictionary, OpenCC) are
 * loaded once and only read afterwards; OpenCC calls are serialised
 * because its thread-safety is not documented. */
#include <friso/friso.h>
#include <libstemmer.h>
#include <opencc/opencc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/utf8.h"
#include "text/text.h"
#include "text/text_int.h"

struct rg_text_analyzer {
    rg_text_opts opts;
    uint64_t sig;
};

/* ---- English stop words (Snowball's list, plus a few question words) ---- */

static const char *k_stop[] = {
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "can't", "cannot", "could", "couldn't", "did", "didn't", "do",
    "does", "doesn't", "doing", "don't", "down", "during", "each", "few", "for", "from",
    "further", "had", "hadn't", "has", "hasn't", "have", "haven't", "having", "he", "he'd",
    "he'll", "he's", "her", "here", "here's", "hers", "herself", "him", "himself", "his", "how",
    "how's", "i", "i'd", "i'll", "i'm", "i've", "if", "in", "into", "is", "isn't", "it", "it's",
    "its", "itself", "let's", "me", "more", "most", "mustn't", "my", "myself", "no", "nor",
    "not", "of", "off", "on", "once", "only", "or", "other", "ought", "our", "ours",
    "ourselves", "out", "over", "own", "same", "shan't", "she", "she'd", "she'll", "she's",
    "should", "shouldn't", "so", "some", "such", "than", "that", "that's", "the", "their",
    "theirs", "them", "themselves", "then", "there", "there's", "these", "they", "they'd",
    "they'll", "they're", "they've", "this", "those", "through", "to", "too", "under", "until",
    "up", "very", "was", "wasn't", "we", "we'd", "we'll", "we're", "we've", "were", "weren't",
    "what", "what's", "when", "when's", "where", "where's", "which", "while", "who", "who's",
    "whom", "why", "why's", "will", "with", "won't", "would", "wouldn't", "you", "you'd",
    "you'll", "you're", "you've", "your", "yours", "yourself", "yourselves",
};
#define N_STOP (sizeof k_stop / sizeof k_stop[0])

static pthread_once_t g_once;
static void load_resources(void);

/* FNV-1a: short words, called per token */
static inline uint32_t word_hash(const char *w, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)w[i]) * 16777619u;
    return h;
}

/* The stop words as an open-addressing set (index + 1; 0 empty), built by
 * load_resources: a probe or two per word instead of a binary search. */
#define STOP_SLOTS 1024
static uint16_t g_stop_set[STOP_SLOTS];

static void stop_set_build(void) {
    for (size_t i = 0; i < N_STOP; i++) {
        uint32_t h = word_hash(k_stop[i], strlen(k_stop[i])) & (STOP_SLOTS - 1);
        while (g_stop_set[h]) h = (h + 1) & (STOP_SLOTS - 1);
        g_stop_set[h] = (uint16_t)(i + 1);
    }
}

int rg__text_is_stopword(const char *w, size_t n) {
    pthread_once(&g_once, load_resources);
    if (n == 0 || n > 15) return 0;
    for (uint32_t h = word_hash(w, n) & (STOP_SLOTS - 1);; h = (h + 1) & (STOP_SLOTS - 1)) {
        uint16_t e = g_stop_set[h];
        if (!e) return 0;
        const char *sw = k_stop[e - 1];
        if (strlen(sw) == n && memcmp(sw, w, n) == 0) return 1;
    }
}

/* ---- per-thread stemmer with a cache of recent stems ----
 *
 * Snowball was half of the cost of indexing: words repeat (Zipf), so each
 * thread keeps its stemmer and a direct-mapped cache word -> stem.  The
 * stem is a pure function of the word, so results are unchanged. */
#define STEM_SLOTS 65536
#define STEM_MAX 22 /* longer words (or stems) bypass the cache; 48-byte entries */

typedef struct stem_ent {
    uint8_t wl, sl; /* wl 0 = empty */
    char w[STEM_MAX];
    char s[STEM_MAX + 2];
} stem_ent;

typedef struct stem_tls {
    struct sb_stemmer *st;
    stem_ent ent[STEM_SLOTS];
} stem_tls;

static pthread_key_t g_stem_key;

static void stem_tls_free(void *p) {
    stem_tls *t = p;
    if (!t) return;
    sb_stemmer_delete(t->st);
    free(t);
}

static stem_tls *stem_tls_get(void) {
    stem_tls *t = pthread_getspecific(g_stem_key);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->st = sb_stemmer_new("english", "UTF_8");
    if (!t->st || pthread_setspecific(g_stem_key, t) != 0) {
        stem_tls_free(t);
        return NULL;
    }
    return t;
}

/* Stem of w[0..n) in *out (valid until the thread's next stem), or NULL
 * when the stemmer is unavailable. */
static const char *stem_word(stem_tls *t, const char *w, size_t n, size_t *out_len) {
    stem_ent *e = NULL;
    if (n <= STEM_MAX) {
        e = &t->ent[word_hash(w, n) & (STEM_SLOTS - 1)];
        if (e->wl == n && memcmp(e->w, w, n) == 0) {
            *out_len = e->sl;
            return e->s;
        }
    }
    const sb_symbol *s = sb_stemmer_stem(t->st, (const sb_symbol *)w, (int)n);
    if (!s) return NULL;
    int sl = sb_stemmer_length(t->st);
    if (sl < 0) return NULL;
    *out_len = (size_t)sl;
    if (e && (size_t)sl <= STEM_MAX + 1) {
        e->wl = (uint8_t)n;
        e->sl = (uint8_t)sl;
        memcpy(e->w, w, n);
        memcpy(e->s, s, (size_t)sl);
        return e->s;
    }
    return (const char *)s;
}

/* ---- process-wide resources ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static friso_t g_friso;
static friso_config_t g_friso_cfg;
static opencc_t g_opencc = (opencc_t)-1;
static pthread_mutex_t g_opencc_mu = PTHREAD_MUTEX_INITIALIZER;

/* friso's dictionary takes ~0.2 s to load, more than a whole CLI search:
 * it is loaded on the first Han run long enough to segment, so English-only
 * processes never pay for it.  g_friso_dir is set (and its lexicon
 * checked readable) up front, since the analyzer's signature records
 * whether segmentation is on. */
static pthread_once_t g_friso_once = PTHREAD_ONCE_INIT;
static char g_friso_dir[4096]; /* with a trailing slash; "" when unreadable */

static void load_friso(void) {
    if (!g_friso_dir[0]) return;
    g_friso = friso_new();
    g_friso_cfg = friso_new_config();
    if (!g_friso || !g_friso_cfg) {
        if (g_friso) friso_free(g_friso);
        g_friso = NULL;
        return;
    }
    friso_init_config(g_friso_cfg);
    g_friso_cfg->max_len = 5;
    g_friso_cfg->r_name = 0;
    g_friso_cfg->add_syn = 0;
    g_friso_cfg->clr_stw = 0;
    g_friso_cfg->keep_urec = 1;
    g_friso_cfg->en_sseg = 0;
    g_friso_cfg->st_minl = 2;
    g_friso_cfg->kpuncs[0] = 0;
    friso_set_mode(g_friso_cfg, __FRISO_COMPLEX_MODE__);
    g_friso->charset = FRISO_UTF8;
    g_friso->dic = friso_dic_new();
    friso_dic_load_from_ifile(g_friso, g_friso_cfg, g_friso_dir, g_friso_cfg->max_len * 3);
    if (friso_all_dic_size(g_friso->dic) == 0) {
        rg_warn("text: friso dictionary in %s is empty; Chinese uses bigrams only", g_friso_dir);
        friso_free(g_friso);
        g_friso = NULL;
    }
}

static void load_resources(void) {
    stop_set_build();
    pthread_key_create(&g_stem_key, stem_tls_free);
    const char *dir = getenv("RAGD_FRISO_DICT");
    if (!dir || !*dir) dir = "/usr/share/friso/dict/UTF-8/";
    char ini[4096];
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    snprintf(ini, sizeof ini, "%s%sfriso.lex.ini", dir, slash ? "" : "/");
    /* friso is configured programmatically (no friso.ini): it wants the
     * lexicon directory with a trailing slash. */
    if (access(ini, R_OK) == 0 && dl + 2 < sizeof g_friso_dir)
        snprintf(g_friso_dir, sizeof g_friso_dir, "%s%s", dir, slash ? "" : "/");
    else
        rg_warn("text: friso dictionary %s not readable; Chinese uses bigrams only", ini);
    const char *cfg = getenv("RAGD_OPENCC_CONFIG");
    if (!cfg || !*cfg) cfg = "t2s.json";
    g_opencc = opencc_open(cfg);
    if (g_opencc == (opencc_t)-1)
        rg_warn("text: OpenCC config %s not found; no traditional->simplified folding", cfg);
}

/* ---- character classes ---- */

enum { C_SEP = 0, C_WORD = 1, C_HAN = 2, C_CJK = 3, C_APOS = 4 };

/* 1 for ASCII letters and digits (char_class C_WORD below 0x80) */
static const unsigned char k_ascii_word[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

static int is_han(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x323AF) || c == 0x3007;
}

static int char_class(uint32_t c) {
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))
            return C_WORD;
        return c == '\'' ? C_APOS : C_SEP;
    }
    if (c == 0x2019) return C_APOS;
    if (is_han(c)) return C_HAN;
    if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
        (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) ||
        (c >= 0x3130 && c <= 0x318F))
        return C_CJK;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return C_WORD;
    default:
        return C_SEP;
    }
}

/* ---- normalisation ---- */

/* Valid UTF-8 without NULs: invalid sequences become U+FFFD, NUL a space.
 * Returns a malloc'd copy. */
static char *sanitize(const char *s, size_t n, size_t *out_n) {
    size_t cap = n * 3 + 1, o = 0;
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    char *d = malloc(cap);
    if (!d) return NULL;
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            d[o++] = ch ? (char)ch : ' ';
            i++;
            continue;
        }
        uint32_t cp;
        int l = rg_utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && l == 1) {
            o += (size_t)rg_utf8_encode(0xFFFD, d + o);
        } else {
            memcpy(d + o, s + i, (size_t)l);
            o += (size_t)l;
        }
        i += (size_t)l;
    }
    d[o] = 0;
    *out_n = o;
    return d;
}

static int has_han(const char *s, size_t n) {
    for (size_t i = 0; i + 2 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xE3 && c <= 0xE9) {
            uint32_t cp;
            int l = rg_utf8_decode(s + i, n - i, &cp);
            if (is_han(cp)) return 1;
            i += (size_t)l - 1;
        } else if (c >= 0xF0) {
            return 1; /* supplementary plane: maybe Han, let OpenCC decide */
        }
    }
    return 0;
}

/* ASCII normalisation: A-Z folded to a-z, control characters to spaces */
static const unsigned char k_ascii_fold[128] = {
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 32,
};

rg_status rg_text_normalize(const rg_text_analyzer *a, const char *text, size_t len, char **out,
                            size_t *out_len, rg_err *err) {
    pthread_once(&g_once, load_resources);
    if (!text) text = "", len = 0;
    /* ASCII fast path: NFKC is the identity there, case folding is
     * tolower, and control characters only separate words (as spaces). */
    size_t k = 0;
    while (k < len && (unsigned char)text[k] < 0x80) k++;
    if (k == len) {
        char *d = malloc(len + 1);
        if (!d) return rg_failf(err, RG_NOMEM, "text: out of memory normalising %zu bytes", len);
        for (size_t i = 0; i < len; i++) d[i] = (char)k_ascii_fold[(unsigned char)text[i]];
        d[len] = 0;
        *out = d;
        if (out_len) *out_len = len;
        return RG_OK;
    }
    size_t sn = 0;
    char *s = sanitize(text, len, &sn);
    if (!s) return rg_failf(err, RG_NOMEM, "text: out of memory normalising %zu bytes", len);
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = 0;
    if (sn > 0) {
        r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)sn, &dst,
                         UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                             UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_STRIPMARK |
                             UTF8PROC_STRIPCC);
    }
    free(s);
    if (r < 0) return rg_failf(err, RG_FORMAT, "text: utf8proc: %s", utf8proc_errmsg(r));
    if (!dst) {
        dst = malloc(1);
        if (!dst) return rg_failf(err, RG_NOMEM, "text: out of memory");
        dst[0] = 0;
        r = 0;
    }
    char *res = (char *)dst;
    size_t rn = (size_t)r;
    if (!a->opts.no_t2s && g_opencc != (opencc_t)-1 && has_han(res, rn)) {
        pthread_mutex_lock(&g_opencc_mu);
        char *c = opencc_convert_utf8(g_opencc, res, rn);
        pthread_mutex_unlock(&g_opencc_mu);
        if (c) {
            size_t cn = strlen(c);
            char *copy = malloc(cn + 1);
            if (copy) {
                memcpy(copy, c, cn + 1);
                free(res);
                res = copy;
                rn = cn;
            }
            opencc_convert_utf8_free(c);
        }
    }
    *out = res;
    if (out_len) *out_len = rn;
    return RG_OK;
}

/* ---- tokenisation ---- */

typedef struct emitter {
    rg_text_token_fn fn;
    void *ud;
    int stopped;
    stem_tls *stem;
    friso_task_t task;
    const rg_text_analyzer *a;
} emitter;

static void emit(emitter *e, const char *t, size_t n, uint32_t pos, int extra) {
    if (e->stopped || n == 0) return;
    if (e->fn(e->ud, t, n, pos, extra)) e->stopped = 1;
}

static int is_latin_word(const char *w, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)w[i] >= 0x80) return 0;
    return 1;
}

/* One word run (already cut to RG_TEXT_MAX_TERM_BYTES). */
static void do_word(emitter *e, char *w, size_t n, uint32_t *pos) {
    /* drop leading/trailing apostrophes; "’" was folded to "'" by the caller */
    while (n && w[0] == '\'') { w++; n--; }
    while (n && w[n - 1] == '\'') n--;
    if (!n) return;
    uint32_t p = (*pos)++;
    if (!e->a->opts.no_stopwords && rg__text_is_stopword(w, n)) return;
    if (!e->a->opts.no_stem && e->stem && is_latin_word(w, n) && n > 2) {
        size_t sl = 0;
        const char *s = stem_word(e->stem, w, n, &sl);
        if (s) {
            emit(e, s, sl, p, 0);
            return;
        }
    }
    /* keep the possessive-free form for unstemmed words */
    if (n > 2 && w[n - 2] == '\'' && w[n - 1] == 's') n -= 2;
    emit(e, w, n, p, 0);
}

/* A run of Han (han = 1) or kana/hangul characters: bigrams (a lone char:
 * a unigram), then friso words of 3+ characters as extras. */
static void do_cjk(emitter *e, const char *run, size_t nbytes, const uint32_t *offs, size_t nch,
                   int han, uint32_t *pos) {
    uint32_t p0 = *pos;
    if (nch == 1) {
        emit(e, run, nbytes, p0, 0);
        *pos += 1;
    } else {
        for (size_t i = 0; i + 1 < nch; i++) {
            size_t end = i + 2 < nch ? offs[i + 2] : nbytes;
            emit(e, run + offs[i], end - offs[i], p0 + (uint32_t)i, 0);
        }
        *pos += (uint32_t)(nch - 1);
    }
    if (!han || nch < 3 || e->a->opts.no_cjk_words || e->stopped) return;
    pthread_once(&g_friso_once, load_friso);
    if (!g_friso) return;
    if (!e->task) {
        e->task = friso_new_task();
        if (!e->task) return;
    }
    char *z = malloc(nbytes + 1);
    if (!z) return;
    memcpy(z, run, nbytes);
    z[nbytes] = 0;
    friso_set_text(e->task, z);
    friso_token_t tok;
    size_t ci = 0;
    while (!e->stopped && (tok = g_friso_cfg->next_token(g_friso, g_friso_cfg, e->task)) != NULL) {
        size_t off = (size_t)tok->offset, wl = tok->length;
        if (off >= nbytes || wl > nbytes - off) continue;
        size_t chars = 0;
        for (size_t i = 0; i < wl; i++)
            if (((unsigned char)z[off + i] & 0xC0) != 0x80) chars++;
        if (chars < 3) continue;
        while (ci < nch && offs[ci] < off) ci++;
        if (ci >= nch || offs[ci] != off) continue;
        emit(e, z + off, wl, p0 + (uint32_t)ci, 1);
    }
    friso_set_text(e->task, "");
    free(z);
}

rg_status rg_text_analyze(const rg_text_analyzer *a, const char *text, size_t len,
                          rg_text_token_fn fn, void *ud, uint32_t *n_positions, rg_err *err) {
    char *s = NULL;
    size_t n = 0;
    rg_status st = rg_text_normalize(a, text, len, &s, &n, err);
    if (st != RG_OK) return st;
    emitter e = {fn, ud, 0, NULL, NULL, a};
    if (!a->opts.no_stem) e.stem = stem_tls_get();
    uint32_t pos = 0;
    char word[RG_TEXT_MAX_TERM_BYTES + 4];
    size_t wn = 0;
    int wcut = 0;
    /* current CJK run */
    size_t run_start = 0, run_bytes = 0, run_n = 0;
    int run_han = 0;
    uint32_t *offs = malloc(sizeof(uint32_t) * 1024);
    size_t offs_cap = offs ? 1024 : 0;
    if (!offs) {
        free(s);
        return rg_failf(err, RG_NOMEM, "text: out of memory");
    }
    size_t i = 0;
    int prev_cls = C_SEP;
    while (i <= n && !e.stopped) {
        /* fast path: a run of ASCII letters/digits outside a CJK run is
         * appended in one go (the per-character path below does the same,
         * one character at a time; words are cut at RG_TEXT_MAX_TERM_BYTES) */
        if (i < n && run_n == 0 && k_ascii_word[(unsigned char)s[i]]) {
            size_t j = i + 1;
            while (j < n && k_ascii_word[(unsigned char)s[j]]) j++;
            size_t add = j - i;
            if (!wcut) {
                size_t room = RG_TEXT_MAX_TERM_BYTES - wn, take = add < room ? add : room;
                memcpy(word + wn, s + i, take);
                wn += take;
                if (take < add) wcut = 1;
            }
            prev_cls = C_WORD;
            i = j;
            continue;
        }
        uint32_t cp = 0;
        int l = 1, cls = C_SEP;
        if (i < n) {
            if ((unsigned char)s[i] < 0x80) cp = (unsigned char)s[i];
            else l = rg_utf8_decode(s + i, n - i, &cp);
            cls = char_class(cp);
        }
        /* apostrophe inside a word stays in it (don't, o'neil) */
        if (cls == C_APOS) cls = (prev_cls == C_WORD && wn > 0) ? C_WORD : C_SEP;
        int in_run = run_n > 0;
        int run_cls = run_han ? C_HAN : C_CJK;
        if (in_run && (cls != run_cls || run_n >= RG_MAX_CHUNK_BYTES)) {
            do_cjk(&e, s + run_start, run_bytes, offs, run_n, run_han, &pos);
            run_n = 0;
            run_bytes = 0;
        }
        if (wn > 0 && cls != C_WORD) {
            do_word(&e, word, wn, &pos);
            wn = 0;
            wcut = 0;
        }
        if (i >= n) break;
        if (cls == C_WORD) {
            static const char apos = '\'';
            const char *src = cp == 0x2019 ? &apos : s + i;
            size_t add = cp == 0x2019 ? 1 : (size_t)l;
            if (!wcut && wn + add <= RG_TEXT_MAX_TERM_BYTES) {
                memcpy(word + wn, src, add);
                wn += add;
            } else {
                wcut = 1; /* the rest of an over-long word is dropped */
            }
        } else if (cls == C_HAN || cls == C_CJK) {
            if (run_n == 0) {
                run_start = i;
                run_han = cls == C_HAN;
            }
            if (run_n == offs_cap) {
                uint32_t *no = realloc(offs, sizeof(uint32_t) * offs_cap * 2);
                if (!no) break;
                offs = no;
                offs_cap *= 2;
            }
            offs[run_n++] = (uint32_t)(i - run_start);
            run_bytes = i + (size_t)l - run_start;
        }
        prev_cls = cls;
        i += (size_t)l;
    }
    if (run_n > 0 && !e.stopped) do_cjk(&e, s + run_start, run_bytes, offs, run_n, run_han, &pos);
    free(offs);
    if (e.task) friso_free_task(e.task);
    free(s);
    if (n_positions) *n_positions = pos;
    return RG_OK;
}

rg_status rg_text_analyzer_new(const rg_text_opts *opts, rg_text_analyzer **out, rg_err *err) {
    rg_text_analyzer *a = calloc(1, sizeof *a);
    if (!a) return rg_failf(err, RG_NOMEM, "text: out of memory");
    if (opts) a->opts = *opts;
    pthread_once(&g_once, load_resources);
    uint32_t sig[6] = {RG_TEXT_ANALYZER_VERSION, (uint32_t)a->opts.no_stem,
                       (uint32_t)a->opts.no_stopwords, (uint32_t)a->opts.no_cjk_words,
                       (uint32_t)a->opts.no_t2s, (uint32_t)(g_friso_dir[0] != 0) |
                                                     (uint32_t)(g_opencc != (opencc_t)-1) << 1};
    a->sig = rg_hash64(sig, sizeof sig, 0x7465787461ull);
    *out = a;
    return RG_OK;
}

void rg_text_analyzer_free(rg_text_analyzer *a) { free(a); }

uint64_t rg_text_analyzer_signature(const rg_text_analyzer *a) { return a->sig; }
