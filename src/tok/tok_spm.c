/* tok_spm.c - SentencePiece-style BPE ("llama" vocabularies), as llama.cpp's
 * llm_tokenizer_spm: spaces become "▁", the text is split into UTF-8
 * characters, and the adjacent pair whose concatenation is the
 * highest-scoring token is merged until no pair is a token; symbols that
 * are not tokens fall back to <0xXX> byte tokens. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_int.h"

typedef struct sym {
    int prev, next;
    size_t off, n; /* into the escaped text */
} sym;

typedef struct bigram {
    float score;
    int left, right;
    uint32_t size; /* the text is < 2 GiB (checked) */
} bigram;

/* a before b in the queue: higher score, then leftmost */
static bool before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct heap {
    bigram *v;
    size_t n, cap;
    bool oom;
} heap;

static void hpush(heap *h, bigram b) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        bigram *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv) {
            h->oom = true;
            return;
        }
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
}

static bigram hpop(heap *h) {
    bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static void try_add(const rg_tok *t, const char *s, sym *sy, heap *h, int l, int r) {
    if (l < 0 || r < 0) return;
    size_t n = sy[l].n + sy[r].n;
    int32_t id = rg__tok_find(t, s + sy[l].off, n);
    if (id < 0) return;
    hpush(h, (bigram){t->score[id], l, r, (uint32_t)n});
}

rg_status rg__tok_spm(const rg_tok *t, const char *text, size_t n, bool space_prefix, rg__ivec *out,
                      rg_err *err) {
    /* escaped text: at most 3 bytes per input byte plus the prefix */
    if (n > (SIZE_MAX - 3) / 3) return rg_failf(err, RG_LIMIT, "tok: text too long");
    size_t cap = 3 * n + 3, m = 0;
    char *s = malloc(cap);
    if (!s) return rg_failf(err, RG_NOMEM, "tok: out of memory");
    if (space_prefix) {
        memcpy(s, "\xe2\x96\x81", 3);
        m = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            memcpy(s + m, "\xe2\x96\x81", 3);
            m += 3;
        } else {
            s[m++] = text[i];
        }
    }
    if (m == 0) {
        free(s);
        return RG_OK;
    }
    if (m > (size_t)INT32_MAX) {
        free(s);
        return rg_failf(err, RG_LIMIT, "tok: text too long (%zu bytes)", m);
    }
    sym *sy = malloc(m * sizeof *sy);
    heap h = {0};
    if (!sy) {
        free(s);
        return rg_failf(err, RG_NOMEM, "tok: out of memory");
    }
    int ns = 0;
    for (size_t o = 0; o < m;) {
        size_t l = rg__utf8_len((unsigned char)s[o]);
        if (l > m - o) l = m - o;
        sy[ns] = (sym){ns - 1, o + l == m ? -1 : ns + 1, o, l};
        o += l;
        ns++;
    }
    for (int i = 1; i < ns; i++) try_add(t, s, sy, &h, i - 1, i);
    while (h.n > 0 && !h.oom) {
        bigram b = hpop(&h);
        sym *L = &sy[b.left], *R = &sy[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size) continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = b.left;
        try_add(t, s, sy, &h, L->prev, b.left);
        try_add(t, s, sy, &h, b.left, L->next);
    }
    rg_status st = RG_OK;
    if (h.oom) st = rg_failf(err, RG_NOMEM, "tok: out of memory");
    for (int i = 0; !st && i != -1; i = sy[i].next) {
        int32_t id = rg__tok_find(t, s + sy[i].off, sy[i].n);
        if (id >= 0) {
            rg__ivec_push(out, id);
            continue;
        }
        for (size_t j = 0; j < sy[i].n; j++) {
            int32_t b = t->byte_tok[(unsigned char)s[sy[i].off + j]];
            if (b >= 0) rg__ivec_push(out, b);
            else if (t->unk >= 0) rg__ivec_push(out, t->unk);
        }
    }
    free(h.v);
    free(sy);
    free(s);
    return st;
}
