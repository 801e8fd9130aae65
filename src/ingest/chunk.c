/* chunk.c - the structure-aware chunker.
 *
 * 1. Each block is cut into units: sentences (ending after 。！？；… or
 *    after .!? followed by a space), lines, and - for a unit still longer
 *    than the chunk size - pieces cut at the last space in the window, else
 *    at a code-point boundary.  So every unit is <= size and no cut splits
 *    a UTF-8 sequence.
 * 2. Units are packed greedily into chunks <= size.  A chunk never spans
 *    two sections (heading path or page changes) and a RG_BLOCK_RECORD
 *    block is always a chunk of its own.  Units of one block are joined by
 *    the original text between them; blocks by "\n".
 * 3. When a chunk is full, the next one starts with the last whole units of
 *    the previous chunk totalling <= overlap bytes (same section only).
 * Invariants: every chunk is non-empty, <= size bytes, valid UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/utf8.h"
#include "ingest/ingest_int.h"

typedef struct {
    size_t block;
    size_t a, b; /* [a, b) in the block's text */
} unit;

typedef struct {
    unit *u;
    size_t n, cap;
} units;

static rg_status push(units *us, size_t block, size_t a, size_t b, rg_err *err) {
    if (a >= b) return RG_OK;
    if (us->n == us->cap) {
        size_t nc = us->cap ? us->cap * 2 : 256;
        if (nc > (size_t)RG_INGEST_MAX_CHUNKS * 8)
            return rg_failf(err, RG_LIMIT, "chunker: too many sentences");
        unit *nu = realloc(us->u, nc * sizeof *nu);
        if (!nu) return rg_failf(err, RG_NOMEM, "chunker: out of memory");
        us->u = nu;
        us->cap = nc;
    }
    us->u[us->n++] = (unit){block, a, b};
    return RG_OK;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int cjk_end(uint32_t cp) {
    return cp == 0x3002 /* 。 */ || cp == 0xFF01 /* ！ */ || cp == 0xFF1F /* ？ */ ||
           cp == 0xFF1B /* ； */ || cp == 0x2026 /* … */ || cp == 0xFF0E /* ． */;
}

static int closer(uint32_t cp) {
    return cp == '"' || cp == '\'' || cp == ')' || cp == ']' || cp == 0x201D || cp == 0x2019 ||
           cp == 0x300D || cp == 0x300F || cp == 0xFF09 || cp == 0x3011;
}

/* Cuts [a, b) (longer than size) into pieces <= size. */
static rg_status split_long(units *us, size_t blk, const char *t, size_t a, size_t b, size_t size,
                            rg_err *err) {
    while (b - a > size) {
        size_t cut = a + rg_utf8_floor(t + a, size);
        /* prefer the last space in the second half of the window */
        for (size_t k = cut; k > a + size / 2; k--)
            if (is_ws((unsigned char)t[k - 1])) {
                cut = k;
                break;
            }
        if (cut == a) cut = a + size; /* cannot happen with valid UTF-8 and size >= 4 */
        size_t e = cut;
        while (e > a && is_ws((unsigned char)t[e - 1])) e--;
        rg_status st = push(us, blk, a, e > a ? e : cut, err);
        if (st) return st;
        a = cut;
        while (a < b && is_ws((unsigned char)t[a])) a++;
    }
    return push(us, blk, a, b, err);
}

static rg_status sentences(units *us, size_t blk, const char *t, size_t len, size_t size,
                           rg_err *err) {
    size_t a = 0, i = 0;
    while (a < len && is_ws((unsigned char)t[a])) a++;
    i = a;
    while (i < len) {
        uint32_t cp;
        int l = rg_utf8_decode(t + i, len - i, &cp);
        size_t next = i + (size_t)l;
        int end = 0;
        if (cp == '\n') {
            end = 1;
        } else if (cjk_end(cp)) {
            end = 1;
        } else if ((cp == '.' || cp == '!' || cp == '?') && (next >= len || is_ws((unsigned char)t[next]) ||
                                                            closer((unsigned char)t[next]))) {
            end = 1;
        }
        if (end) {
            /* take closing quotes/brackets with the sentence */
            while (next < len) {
                uint32_t c2;
                int l2 = rg_utf8_decode(t + next, len - next, &c2);
                if (!closer(c2)) break;
                next += (size_t)l2;
            }
            size_t e = next;
            while (e > a && is_ws((unsigned char)t[e - 1])) e--;
            if (e > a) {
                rg_status st = split_long(us, blk, t, a, e, size, err);
                if (st) return st;
            }
            a = next;
            while (a < len && is_ws((unsigned char)t[a])) a++;
            i = a;
            continue;
        }
        i = next;
    }
    size_t e = len;
    while (e > a && is_ws((unsigned char)t[e - 1])) e--;
    if (e > a) return split_long(us, blk, t, a, e, size, err);
    return RG_OK;
}

/* Maps a local offset in block text to the source offset. */
static int64_t src_off(const rg_block *b, size_t x) {
    int64_t span = b->end - b->start;
    if (span == (int64_t)b->len || b->len == 0) return b->start + (int64_t)(x < (size_t)span ? x : (size_t)span);
    return b->start + (int64_t)((double)x * (double)span / (double)b->len);
}

static size_t joined_len(const units *us, size_t first, size_t last) {
    size_t n = 0;
    for (size_t k = first; k <= last; k++) {
        const unit *u = &us->u[k];
        if (k == first) n += u->b - u->a;
        else if (us->u[k - 1].block == u->block) n += u->b - us->u[k - 1].b;
        else n += 1 + (u->b - u->a);
    }
    return n;
}

static rg_status emit(rg_chunks *out, const rg_parsed *p, const units *us, size_t first,
                      size_t last, rg_err *err) {
    if (out->n >= RG_INGEST_MAX_CHUNKS)
        return rg_failf(err, RG_LIMIT, "chunker: more than %u chunks", (unsigned)RG_INGEST_MAX_CHUNKS);
    size_t n = joined_len(us, first, last);
    char *t = rg_arena_alloc(&out->arena, n + 1);
    if (!t) return rg_failf(err, RG_NOMEM, "chunker: out of memory");
    size_t o = 0;
    for (size_t k = first; k <= last; k++) {
        const unit *u = &us->u[k];
        const rg_block *b = &p->blocks[u->block];
        size_t from = u->a;
        if (k > first) {
            if (us->u[k - 1].block == u->block) from = us->u[k - 1].b;
            else t[o++] = '\n';
        }
        memcpy(t + o, b->text + from, u->b - from);
        o += u->b - from;
    }
    t[o] = 0;
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 64;
        rg_chunk *ni = realloc(out->items, nc * sizeof *ni);
        if (!ni) return rg_failf(err, RG_NOMEM, "chunker: out of memory");
        out->items = ni;
        out->cap = nc;
    }
    const rg_block *b0 = &p->blocks[us->u[first].block], *b1 = &p->blocks[us->u[last].block];
    out->items[out->n++] = (rg_chunk){t, o, b0->heading, b0->page, src_off(b0, us->u[first].a),
                                      src_off(b1, us->u[last].b)};
    return RG_OK;
}

static int same_section(const rg_block *x, const rg_block *y) {
    return x->page == y->page && !(x->flags & RG_BLOCK_RECORD) && !(y->flags & RG_BLOCK_RECORD) &&
           (x->heading == y->heading || !strcmp(x->heading, y->heading));
}

rg_status rg_ingest_chunk(const rg_parsed *p, const rg_chunk_opts *opts, rg_chunks *out,
                          rg_err *err) {
    memset(out, 0, sizeof *out);
    rg_arena_init(&out->arena, 0);
    size_t size = opts && opts->size ? opts->size : RG_CHUNK_SIZE_DEFAULT;
    size_t overlap = opts ? opts->overlap : RG_CHUNK_OVERLAP_DEFAULT;
    if (size < RG_CHUNK_SIZE_MIN || size > RG_MAX_CHUNK_BYTES)
        return rg_failf(err, RG_INVALID, "chunk size %zu outside [%d, %u]", size, RG_CHUNK_SIZE_MIN,
                        (unsigned)RG_MAX_CHUNK_BYTES);
    if (overlap >= size / 2)
        return rg_failf(err, RG_INVALID, "overlap %zu must be less than half the chunk size (%zu)",
                        overlap, size);
    units us = {0};
    rg_status st = RG_OK;
    for (size_t i = 0; i < p->n && !st; i++)
        st = sentences(&us, i, p->blocks[i].text, p->blocks[i].len, size, err);
    /* pack; cur = joined length of units [first, k) kept incrementally */
    size_t first = 0, cur = us.n ? us.u[0].b - us.u[0].a : 0;
    for (size_t k = 1; k < us.n && !st; k++) {
        const rg_block *bp = &p->blocks[us.u[k - 1].block], *bk = &p->blocks[us.u[k].block];
        int new_block = us.u[k - 1].block != us.u[k].block;
        size_t add = new_block ? 1 + us.u[k].b - us.u[k].a : us.u[k].b - us.u[k - 1].b;
        if (new_block && !same_section(bp, bk)) {
            st = emit(out, p, &us, first, k - 1, err);
            first = k;
            cur = us.u[k].b - us.u[k].a;
            continue;
        }
        if (cur + add <= size) {
            cur += add;
            continue;
        }
        st = emit(out, p, &us, first, k - 1, err);
        if (st) break;
        /* overlap: whole units from the end of the emitted chunk */
        size_t nf = k;
        while (nf > first + 1 && overlap && joined_len(&us, nf - 1, k - 1) <= overlap) nf--;
        while (nf < k && joined_len(&us, nf, k) > size) nf++;
        first = nf;
        cur = joined_len(&us, first, k);
    }
    if (!st && us.n) st = emit(out, p, &us, first, us.n - 1, err);
    free(us.u);
    return st;
}

void rg_chunks_free(rg_chunks *c) {
    if (!c) return;
    rg_arena_free(&c->arena);
    free(c->items);
    memset(c, 0, sizeof *c);
}
