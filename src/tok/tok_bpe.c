/* tok_bpe.c - byte-level BPE ("gpt2" vocabularies), as llama.cpp's
 * llm_tokenizer_bpe: the regex pre-tokenizer cuts the text into words,
 * each word's bytes are mapped to GPT-2's printable code points, and the
 * adjacent pair with the lowest merge rank is merged until no pair has a
 * rank.  Symbols that are not tokens are emitted byte by byte (bytes
 * without a token are dropped, as llama.cpp does). */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/utf8.h"
#include "tok/tok_int.h"

typedef struct sym {
    int prev, next;
    size_t off, n;
} sym;

typedef struct bigram {
    int32_t rank;
    int left, right;
    uint32_t size; /* words are < 4 GiB: chunks come from a size_t text split by code points */
} bigram;

static bool before(const bigram *a, const bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

typedef struct scratch {
    sym *sy;
    size_t sycap;
    bigram *h;
    size_t hn, hcap;
    char *enc;
    size_t enccap;
    bool oom;
} scratch;

static void hpush(scratch *s, bigram b) {
    if (s->hn == s->hcap) {
        size_t nc = s->hcap ? s->hcap * 2 : 64;
        bigram *nv = realloc(s->h, nc * sizeof *nv);
        if (!nv) {
            s->oom = true;
            return;
        }
        s->h = nv;
        s->hcap = nc;
    }
    size_t i = s->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &s->h[p])) break;
        s->h[i] = s->h[p];
        i = p;
    }
    s->h[i] = b;
}

static bigram hpop(scratch *s) {
    bigram top = s->h[0], last = s->h[--s->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->hn) break;
        if (c + 1 < s->hn && before(&s->h[c + 1], &s->h[c])) c++;
        if (!before(&s->h[c], &last)) break;
        s->h[i] = s->h[c];
        i = c;
    }
    if (s->hn) s->h[i] = last;
    return top;
}

static int32_t rank_of(const rg_tok *t, const char *l, size_t ln, const char *r, size_t rn) {
    uint64_t h = rg__tok_hash(r, rn, rg__tok_hash(l, ln, 0)) & t->mmask;
    for (;;) {
        int32_t i = t->mtab[h];
        if (i < 0) return -1;
        const rg__tok_merge *m = &t->merges[i];
        if (m->llen == ln && m->rlen == rn && !memcmp(t->merge_blob + m->off, l, ln) &&
            !memcmp(t->merge_blob + m->off + ln, r, rn))
            return i;
        h = (h + 1) & t->mmask;
    }
}

static void add_bigram(const rg_tok *t, const char *w, scratch *s, int l, int r) {
    if (l < 0 || r < 0) return;
    const sym *a = &s->sy[l], *b = &s->sy[r];
    int32_t rank = rank_of(t, w + a->off, a->n, w + b->off, b->n);
    if (rank < 0) return;
    hpush(s, (bigram){rank, l, r, (uint32_t)(a->n + b->n)});
}

/* BPE of one byte-encoded word w[0..n). */
static void bpe_word(const rg_tok *t, const char *w, size_t n, scratch *s, rg__ivec *out) {
    if (n == 0) return;
    if (t->ignore_merges) {
        int32_t id = rg__tok_find(t, w, n);
        if (id >= 0) {
            rg__ivec_push(out, id);
            return;
        }
    }
    if (n > s->sycap) {
        sym *nv = realloc(s->sy, n * sizeof *nv);
        if (!nv) {
            s->oom = true;
            return;
        }
        s->sy = nv;
        s->sycap = n;
    }
    int ns = 0;
    for (size_t o = 0; o < n;) {
        size_t l = rg__utf8_len((unsigned char)w[o]);
        if (l > n - o) l = n - o;
        s->sy[ns] = (sym){ns - 1, o + l == n ? -1 : ns + 1, o, l};
        o += l;
        ns++;
    }
    s->hn = 0;
    for (int i = 1; i < ns; i++) add_bigram(t, w, s, i - 1, i);
    while (s->hn > 0 && !s->oom) {
        bigram b = hpop(s);
        sym *L = &s->sy[b.left], *R = &s->sy[b.right];
        /* stale entries: a side was merged away or grew since the push */
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size) continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) s->sy[R->next].prev = b.left;
        add_bigram(t, w, s, L->prev, b.left);
        add_bigram(t, w, s, b.left, L->next);
    }
    for (int i = 0; i != -1; i = s->sy[i].next) {
        const sym *y = &s->sy[i];
        int32_t id = rg__tok_find(t, w + y->off, y->n);
        if (id >= 0) {
            rg__ivec_push(out, id);
            continue;
        }
        for (size_t j = 0; j < y->n; j++) {
            int32_t b = rg__tok_find(t, w + y->off + j, 1);
            if (b >= 0) rg__ivec_push(out, b);
        }
    }
}

rg_status rg__tok_bpe(const rg_tok *t, const char *text, size_t n, rg__ivec *out, rg_err *err) {
    uint32_t *cps = malloc((n ? n : 1) * sizeof *cps);
    if (!cps) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    size_t ncp = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)rg_utf8_decode(text + i, n - i, &cp);
        cps[ncp++] = cp;
    }
    size_t *chunks = NULL, nch = 0;
    rg_status st = rg__tok_pre_split(t, cps, ncp, &chunks, &nch, err);
    if (st) {
        free(cps);
        return st;
    }
    scratch s = {0};
    size_t start = 0;
    for (size_t c = 0; c < nch && !s.oom; c++) {
        size_t L = chunks[c];
        /* the word as UTF-8 (invalid input bytes became U+FFFD, as in
         * llama.cpp), each byte then mapped to its GPT-2 code point (<= 2 bytes) */
        size_t need = L * 8;
        if (need > s.enccap) {
            char *nv = realloc(s.enc, need);
            if (!nv) {
                s.oom = true;
                break;
            }
            s.enc = nv;
            s.enccap = need;
        }
        char u[4];
        size_t m = 0;
        for (size_t k = 0; k < L; k++) {
            int ul = rg_utf8_encode(cps[start + k], u);
            for (int b = 0; b < ul; b++) {
                unsigned char ch = (unsigned char)u[b];
                memcpy(s.enc + m, t->benc[ch], 2);
                m += t->benc_len[ch];
            }
        }
        bpe_word(t, s.enc, m, &s, out);
        start += L;
    }
    if (s.oom) st = rg_failf(err, RG_NOMEM, "tok: out of memory");
    free(s.sy);
    free(s.h);
    free(s.enc);
    free(chunks);
    free(cps);
    return st;
}
