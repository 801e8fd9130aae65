/* index.c - the in-memory inverted index: build, persist, load.
 *
 * Postings of a term are two varint streams in one blob:
 *   docs: (doc-number delta, tf) per document, doc numbers ascending;
 *   pos:  tf position deltas per document, in the same document order.
 * Documents are numbered 0..ndocs-1 in insertion order and carry the
 * caller's 64-bit key and their length in tokens.
 *
 * Invariants after build or load: every term's ranges lie inside the
 * blob and its string inside the string pool; ndocs < 2^31.  Decoders
 * still bound-check every varint and doc number, so a corrupt file that
 * passed the checksum cannot make a search read out of bounds. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/limits.h"
#include "text/text.h"
#include "text/text_index_int.h"
#include "text/text_int.h"

#define MAGIC "RGTEXTIX"
#define HASH_SEED 0x52475458ull
#define MAX_DOCS (1u << 31)
#define MAX_TERMS (1u << 30)

uint32_t rg__text_index_find(const rg_text_index *ix, const char *t, size_t n) {
    if (!ix->nslots || n == 0) return UINT32_MAX;
    size_t mask = ix->nslots - 1, h = (size_t)rg_hash64(t, n, HASH_SEED) & mask;
    for (size_t probe = 0; probe < ix->nslots; probe++) {
        uint32_t s = ix->slots[h];
        if (!s) return UINT32_MAX;
        uint32_t id = s - 1;
        if (ix->str_len[id] == n && memcmp(ix->strs + ix->str_off[id], t, n) == 0) return id;
        h = (h + 1) & mask;
    }
    return UINT32_MAX;
}

/* ---- builder ---- */

typedef struct vbuf {
    uint8_t *p;
    uint32_t len, cap;
} vbuf;

typedef struct bterm {
    uint32_t str_off, str_len, df, last_doc;
    uint32_t cur_doc;        /* doc number + 1 whose tokens head/tail refer to */
    uint32_t head, tail, tf; /* this doc's token chain (indices into toks) */
    vbuf docs, pos;
} bterm;

typedef struct tokpos {
    uint32_t term, pos;
} tokpos;

struct rg_text_builder {
    const rg_text_analyzer *a;
    uint32_t *slots;
    size_t nslots;
    bterm *terms;
    size_t nterms, terms_cap;
    char *strs;
    size_t strs_len, strs_cap;
    int64_t *keys;
    uint32_t *dl;
    size_t ndocs, docs_cap;
    tokpos *toks;
    uint32_t *next; /* (toks_cap,) next token of the same term in this doc */
    size_t ntoks, toks_cap;
    int oom;
};

static int vbuf_put(vbuf *v, uint32_t x) {
    if (v->cap - v->len < 5) {
        size_t nc = v->cap ? (size_t)v->cap * 2 : 16;
        if (nc > UINT32_MAX) return 0;
        uint8_t *p = realloc(v->p, nc);
        if (!p) return 0;
        v->p = p;
        v->cap = (uint32_t)nc;
    }
    v->len += (uint32_t)rg__varint_put(v->p + v->len, x);
    return 1;
}

static int builder_rehash(rg_text_builder *b, size_t nslots) {
    uint32_t *s = calloc(nslots, sizeof *s);
    if (!s) return 0;
    for (size_t i = 0; i < b->nterms; i++) {
        bterm *t = &b->terms[i];
        size_t h = (size_t)rg_hash64(b->strs + t->str_off, t->str_len, HASH_SEED) & (nslots - 1);
        while (s[h]) h = (h + 1) & (nslots - 1);
        s[h] = (uint32_t)i + 1;
    }
    free(b->slots);
    b->slots = s;
    b->nslots = nslots;
    return 1;
}

static uint32_t builder_term(rg_text_builder *b, const char *t, size_t n) {
    if ((b->nterms + 1) * 2 > b->nslots && !builder_rehash(b, b->nslots ? b->nslots * 2 : 1024))
        return UINT32_MAX;
    size_t mask = b->nslots - 1, h = (size_t)rg_hash64(t, n, HASH_SEED) & mask;
    for (;;) {
        uint32_t s = b->slots[h];
        if (!s) break;
        bterm *bt = &b->terms[s - 1];
        if (bt->str_len == n && memcmp(b->strs + bt->str_off, t, n) == 0) return s - 1;
        h = (h + 1) & mask;
    }
    if (b->nterms >= MAX_TERMS) return UINT32_MAX;
    if (b->nterms == b->terms_cap) {
        size_t nc = b->terms_cap ? b->terms_cap * 2 : 1024;
        bterm *nt = realloc(b->terms, nc * sizeof *nt);
        if (!nt) return UINT32_MAX;
        b->terms = nt;
        b->terms_cap = nc;
    }
    if (b->strs_cap - b->strs_len < n) {
        size_t nc = b->strs_cap ? b->strs_cap * 2 : 65536;
        while (nc - b->strs_len < n) nc *= 2;
        if (nc > UINT32_MAX) return UINT32_MAX;
        char *ns = realloc(b->strs, nc);
        if (!ns) return UINT32_MAX;
        b->strs = ns;
        b->strs_cap = nc;
    }
    memcpy(b->strs + b->strs_len, t, n);
    uint32_t id = (uint32_t)b->nterms++;
    b->terms[id] = (bterm){(uint32_t)b->strs_len, (uint32_t)n, 0, 0, 0, 0, 0, 0, {0}, {0}};
    b->strs_len += n;
    b->slots[h] = id + 1;
    return id;
}

static int builder_tok(void *ud, const char *t, size_t n, uint32_t pos, int extra) {
    (void)extra;
    rg_text_builder *b = ud;
    uint32_t id = builder_term(b, t, n);
    if (id == UINT32_MAX) {
        b->oom = 1;
        return 1;
    }
    if (b->ntoks == b->toks_cap) {
        size_t nc = b->toks_cap ? b->toks_cap * 2 : 1024;
        tokpos *nt = realloc(b->toks, nc * sizeof *nt);
        if (!nt) {
            b->oom = 1;
            return 1;
        }
        b->toks = nt;
        uint32_t *nn = realloc(b->next, nc * sizeof *nn);
        if (!nn) {
            b->oom = 1;
            return 1;
        }
        b->next = nn;
        b->toks_cap = nc;
    }
    b->toks[b->ntoks++] = (tokpos){id, pos};
    return 0;
}

static int cmp_tokpos(const void *x, const void *y) {
    const tokpos *a = x, *b = y;
    if (a->term != b->term) return a->term < b->term ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

rg_status rg_text_builder_new(const rg_text_analyzer *a, rg_text_builder **out, rg_err *err) {
    rg_text_builder *b = calloc(1, sizeof *b);
    if (!b) return rg_failf(err, RG_NOMEM, "text: out of memory");
    b->a = a;
    *out = b;
    return RG_OK;
}

rg_status rg_text_builder_add(rg_text_builder *b, int64_t key, const char *text, size_t len,
                              rg_err *err) {
    if (b->ndocs >= MAX_DOCS - 1)
        return rg_failf(err, RG_LIMIT, "text: index full (%zu documents)", b->ndocs);
    if (b->ndocs == b->docs_cap) {
        size_t nc = b->docs_cap ? b->docs_cap * 2 : 1024;
        int64_t *nk = realloc(b->keys, nc * sizeof *nk);
        if (!nk) return rg_failf(err, RG_NOMEM, "text: out of memory");
        b->keys = nk;
        uint32_t *nd = realloc(b->dl, nc * sizeof *nd);
        if (!nd) return rg_failf(err, RG_NOMEM, "text: out of memory");
        b->dl = nd;
        b->docs_cap = nc;
    }
    b->ntoks = 0;
    rg_status st = rg_text_analyze(b->a, text, len, builder_tok, b, NULL, err);
    if (st != RG_OK) return st;
    if (b->oom) return rg_failf(err, RG_NOMEM, "text: out of memory indexing key %lld", (long long)key);
    uint32_t doc = (uint32_t)b->ndocs;
    if (b->ntoks > UINT32_MAX - 1)
        return rg_failf(err, RG_LIMIT, "text: %zu tokens in key %lld", b->ntoks, (long long)key);
    /* Group the tokens by term without sorting: chain each term's tokens in
     * emission order, where its positions already ascend (the analyzer
     * emits positions in order, and a friso extra term is never also a
     * positional one).  If a term's positions ever went backwards, fall
     * back to sorting, which gives the same postings either way. */
    int sorted_ok = 1;
    for (size_t i = 0; i < b->ntoks; i++) {
        bterm *t = &b->terms[b->toks[i].term];
        b->next[i] = UINT32_MAX;
        if (t->cur_doc != doc + 1) {
            t->cur_doc = doc + 1;
            t->head = t->tail = (uint32_t)i;
            t->tf = 1;
        } else {
            if (b->toks[i].pos < b->toks[t->tail].pos) sorted_ok = 0;
            b->next[t->tail] = (uint32_t)i;
            t->tail = (uint32_t)i;
            t->tf++;
        }
    }
    if (!sorted_ok) {
        qsort(b->toks, b->ntoks, sizeof *b->toks, cmp_tokpos);
        for (size_t i = 0; i < b->ntoks; i++) {
            bterm *t = &b->terms[b->toks[i].term];
            b->next[i] = UINT32_MAX;
            if (i && b->toks[i - 1].term == b->toks[i].term) {
                b->next[i - 1] = (uint32_t)i;
            } else {
                t->head = (uint32_t)i;
                t->tf = 0;
            }
            t->tf++;
        }
    }
    for (size_t i = 0; i < b->ntoks; i++) {
        bterm *t = &b->terms[b->toks[i].term];
        if (t->head != i) continue; /* not the term's first token in this doc */
        uint32_t delta = t->df ? doc - t->last_doc : doc;
        int ok = vbuf_put(&t->docs, delta) && vbuf_put(&t->docs, t->tf);
        uint32_t prev = 0;
        for (uint32_t k = (uint32_t)i; ok && k != UINT32_MAX; k = b->next[k]) {
            ok = vbuf_put(&t->pos, b->toks[k].pos - prev);
            prev = b->toks[k].pos;
        }
        if (!ok) return rg_failf(err, RG_NOMEM, "text: out of memory (postings)");
        t->df++;
        t->last_doc = doc;
    }
    b->keys[doc] = key;
    b->dl[doc] = (uint32_t)(b->ntoks > UINT32_MAX ? UINT32_MAX : b->ntoks);
    b->ndocs++;
    return RG_OK;
}

void rg_text_builder_free(rg_text_builder *b) {
    if (!b) return;
    for (size_t i = 0; i < b->nterms; i++) {
        free(b->terms[i].docs.p);
        free(b->terms[i].pos.p);
    }
    free(b->terms);
    free(b->slots);
    free(b->strs);
    free(b->keys);
    free(b->dl);
    free(b->toks);
    free(b->next);
    free(b);
}

static rg_text_index *index_alloc(uint32_t ndocs, uint32_t nterms) {
    rg_text_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    pthread_mutex_init(&ix->mu, NULL);
    ix->ndocs = ndocs;
    ix->nterms = nterms;
    size_t d = ndocs ? ndocs : 1, t = nterms ? nterms : 1;
    ix->keys = malloc(d * sizeof *ix->keys);
    ix->dl = malloc(d * sizeof *ix->dl);
    ix->str_off = malloc(t * sizeof(uint32_t));
    ix->str_len = malloc(t * sizeof(uint32_t));
    ix->df = malloc(t * sizeof(uint32_t));
    ix->doc_len = malloc(t * sizeof(uint32_t));
    ix->pos_len = malloc(t * sizeof(uint32_t));
    ix->doc_off = malloc(t * sizeof(uint64_t));
    ix->pos_off = malloc(t * sizeof(uint64_t));
    if (!ix->keys || !ix->dl || !ix->str_off || !ix->str_len || !ix->df || !ix->doc_len ||
        !ix->pos_len || !ix->doc_off || !ix->pos_off) {
        rg_text_index_free(ix);
        return NULL;
    }
    return ix;
}

static int index_hash(rg_text_index *ix) {
    size_t ns = 1024;
    while (ns < (size_t)ix->nterms * 2) ns *= 2;
    ix->slots = calloc(ns, sizeof *ix->slots);
    if (!ix->slots) return 0;
    ix->nslots = ns;
    for (uint32_t i = 0; i < ix->nterms; i++) {
        size_t h = (size_t)rg_hash64(ix->strs + ix->str_off[i], ix->str_len[i], HASH_SEED) & (ns - 1);
        while (ix->slots[h]) h = (h + 1) & (ns - 1);
        ix->slots[h] = i + 1;
    }
    return 1;
}

static void index_stats(rg_text_index *ix) {
    uint64_t tot = 0;
    for (uint32_t i = 0; i < ix->ndocs; i++) tot += ix->dl[i];
    ix->total_len = tot;
    ix->avgdl = ix->ndocs ? (double)tot / ix->ndocs : 1.0;
    if (ix->avgdl <= 0) ix->avgdl = 1.0;
}

rg_status rg_text_builder_finish(rg_text_builder *b, rg_text_index **out, rg_err *err) {
    rg_text_index *ix = index_alloc((uint32_t)b->ndocs, (uint32_t)b->nterms);
    if (!ix) {
        rg_text_builder_free(b);
        return rg_failf(err, RG_NOMEM, "text: out of memory finishing the index");
    }
    ix->sig = rg_text_analyzer_signature(b->a);
    if (b->ndocs) {
        memcpy(ix->keys, b->keys, b->ndocs * sizeof *ix->keys);
        memcpy(ix->dl, b->dl, b->ndocs * sizeof *ix->dl);
    }
    size_t blob = 0;
    for (size_t i = 0; i < b->nterms; i++) blob += (size_t)b->terms[i].docs.len + b->terms[i].pos.len;
    ix->blob = malloc(blob ? blob : 1);
    ix->strs = malloc(b->strs_len ? b->strs_len : 1);
    if (!ix->blob || !ix->strs) {
        rg_text_index_free(ix);
        rg_text_builder_free(b);
        return rg_failf(err, RG_NOMEM, "text: out of memory finishing the index");
    }
    if (b->strs_len) memcpy(ix->strs, b->strs, b->strs_len);
    ix->strs_len = b->strs_len;
    size_t o = 0;
    for (size_t i = 0; i < b->nterms; i++) {
        bterm *t = &b->terms[i];
        ix->str_off[i] = t->str_off;
        ix->str_len[i] = t->str_len;
        ix->df[i] = t->df;
        ix->doc_off[i] = o;
        ix->doc_len[i] = t->docs.len;
        if (t->docs.len) memcpy(ix->blob + o, t->docs.p, t->docs.len);
        o += t->docs.len;
        ix->pos_off[i] = o;
        ix->pos_len[i] = t->pos.len;
        if (t->pos.len) memcpy(ix->blob + o, t->pos.p, t->pos.len);
        o += t->pos.len;
        free(t->docs.p);
        free(t->pos.p);
        t->docs.p = t->pos.p = NULL;
    }
    ix->blob_len = blob;
    rg_text_builder_free(b);
    if (!index_hash(ix)) {
        rg_text_index_free(ix);
        return rg_failf(err, RG_NOMEM, "text: out of memory (term table)");
    }
    index_stats(ix);
    *out = ix;
    return RG_OK;
}

void rg_text_index_free(rg_text_index *ix) {
    if (!ix) return;
    rg__text_scratch_free_all(ix);
    pthread_mutex_destroy(&ix->mu);
    free(ix->keys);
    free(ix->dl);
    free(ix->str_off);
    free(ix->str_len);
    free(ix->df);
    free(ix->doc_len);
    free(ix->pos_len);
    free(ix->doc_off);
    free(ix->pos_off);
    free(ix->strs);
    free(ix->blob);
    free(ix->slots);
    free(ix);
}

size_t rg_text_index_docs(const rg_text_index *ix) { return ix->ndocs; }
size_t rg_text_index_terms(const rg_text_index *ix) { return ix->nterms; }
uint64_t rg_text_index_signature(const rg_text_index *ix) { return ix->sig; }

size_t rg_text_index_bytes(const rg_text_index *ix) {
    return ix->blob_len + ix->strs_len + (size_t)ix->ndocs * 12 + (size_t)ix->nterms * 36 +
           ix->nslots * 4;
}

/* ---- persistence ---- */

typedef struct hdr {
    char magic[8];
    uint32_t version, reserved;
    uint64_t sig;
    int64_t generation;
    uint32_t ndocs, nterms;
    uint64_t strs_len, blob_len;
} hdr;

static int sz_add(size_t *acc, uint64_t n, uint64_t each) {
    if (each && n > (SIZE_MAX - *acc) / each) return 0;
    *acc += (size_t)(n * each);
    return 1;
}

rg_status rg_text_index_save(const rg_text_index *ix, const char *path, int64_t generation,
                             rg_err *err) {
    hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MAGIC, 8);
    h.version = RG_TEXT_INDEX_FILE_VERSION;
    h.sig = ix->sig;
    h.generation = generation;
    h.ndocs = ix->ndocs;
    h.nterms = ix->nterms;
    h.strs_len = ix->strs_len;
    h.blob_len = ix->blob_len;
    size_t total = sizeof h;
    if (!sz_add(&total, ix->ndocs, 12) || !sz_add(&total, ix->nterms, 36) ||
        !sz_add(&total, ix->strs_len, 1) || !sz_add(&total, ix->blob_len, 1) ||
        !sz_add(&total, 1, 8))
        return rg_failf(err, RG_LIMIT, "text: index too large to save");
    unsigned char *buf = malloc(total);
    if (!buf) return rg_failf(err, RG_NOMEM, "text: out of memory saving %zu bytes", total);
    size_t o = 0;
#define PUT(p, n)                                \
    do {                                         \
        if ((n) > 0) memcpy(buf + o, (p), (n));  \
        o += (n);                                \
    } while (0)
    PUT(&h, sizeof h);
    PUT(ix->keys, (size_t)ix->ndocs * 8);
    PUT(ix->dl, (size_t)ix->ndocs * 4);
    PUT(ix->str_off, (size_t)ix->nterms * 4);
    PUT(ix->str_len, (size_t)ix->nterms * 4);
    PUT(ix->df, (size_t)ix->nterms * 4);
    PUT(ix->doc_len, (size_t)ix->nterms * 4);
    PUT(ix->pos_len, (size_t)ix->nterms * 4);
    PUT(ix->doc_off, (size_t)ix->nterms * 8);
    PUT(ix->pos_off, (size_t)ix->nterms * 8);
    PUT(ix->strs, ix->strs_len);
    PUT(ix->blob, ix->blob_len);
    uint64_t sum = rg_hash64(buf, o, HASH_SEED);
    PUT(&sum, 8);
#undef PUT
    rg_status st = rg_file_write_atomic(path, buf, o, err);
    free(buf);
    return st;
}

rg_status rg_text_index_load_mem(const unsigned char *data, size_t len, rg_text_index **out,
                                 int64_t *generation, rg_err *err) {
    hdr h;
    if (len < sizeof h + 8)
        return rg_failf(err, RG_FORMAT, "text index: %zu bytes, shorter than the header", len);
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, MAGIC, 8) != 0)
        return rg_failf(err, RG_FORMAT, "text index: bad magic at offset 0 (not a ragd text index)");
    if (h.version != RG_TEXT_INDEX_FILE_VERSION)
        return rg_failf(err, RG_UNSUPPORTED, "text index: version %u, expected %u", h.version,
                        RG_TEXT_INDEX_FILE_VERSION);
    if (h.ndocs >= MAX_DOCS || h.nterms >= MAX_TERMS)
        return rg_failf(err, RG_FORMAT, "text index: %u documents / %u terms out of range", h.ndocs,
                        h.nterms);
    size_t total = sizeof h;
    if (!sz_add(&total, h.ndocs, 12) || !sz_add(&total, h.nterms, 36) ||
        !sz_add(&total, h.strs_len, 1) || !sz_add(&total, h.blob_len, 1) ||
        !sz_add(&total, 1, 8) || total != len)
        return rg_failf(err, RG_FORMAT, "text index: sizes in the header do not add up to the file size %zu",
                        len);
    uint64_t sum;
    memcpy(&sum, data + len - 8, 8);
    if (rg_hash64(data, len - 8, HASH_SEED) != sum)
        return rg_failf(err, RG_FORMAT, "text index: checksum mismatch at offset %zu (file damaged)",
                        len - 8);
    rg_text_index *ix = index_alloc(h.ndocs, h.nterms);
    if (!ix) return rg_failf(err, RG_NOMEM, "text index: out of memory");
    ix->sig = h.sig;
    ix->strs = malloc(h.strs_len ? (size_t)h.strs_len : 1);
    ix->blob = malloc(h.blob_len ? (size_t)h.blob_len : 1);
    if (!ix->strs || !ix->blob) {
        rg_text_index_free(ix);
        return rg_failf(err, RG_NOMEM, "text index: out of memory");
    }
    size_t o = sizeof h;
#define GET(p, n)                                  \
    do {                                           \
        if ((n) > 0) memcpy((p), data + o, (n));   \
        o += (n);                                  \
    } while (0)
    GET(ix->keys, (size_t)h.ndocs * 8);
    GET(ix->dl, (size_t)h.ndocs * 4);
    GET(ix->str_off, (size_t)h.nterms * 4);
    GET(ix->str_len, (size_t)h.nterms * 4);
    GET(ix->df, (size_t)h.nterms * 4);
    GET(ix->doc_len, (size_t)h.nterms * 4);
    GET(ix->pos_len, (size_t)h.nterms * 4);
    GET(ix->doc_off, (size_t)h.nterms * 8);
    GET(ix->pos_off, (size_t)h.nterms * 8);
    GET(ix->strs, (size_t)h.strs_len);
    GET(ix->blob, (size_t)h.blob_len);
#undef GET
    ix->strs_len = (size_t)h.strs_len;
    ix->blob_len = (size_t)h.blob_len;
    for (uint32_t i = 0; i < h.nterms; i++) {
        if (ix->str_len[i] == 0 || ix->str_len[i] > RG_TEXT_MAX_TERM_BYTES * 2 ||
            ix->str_off[i] > ix->strs_len || ix->str_len[i] > ix->strs_len - ix->str_off[i] ||
            ix->df[i] > h.ndocs || ix->doc_off[i] > ix->blob_len ||
            ix->doc_len[i] > ix->blob_len - ix->doc_off[i] || ix->pos_off[i] > ix->blob_len ||
            ix->pos_len[i] > ix->blob_len - ix->pos_off[i]) {
            rg_text_index_free(ix);
            return rg_failf(err, RG_FORMAT, "text index: term %u has ranges outside the file", i);
        }
    }
    if (!index_hash(ix)) {
        rg_text_index_free(ix);
        return rg_failf(err, RG_NOMEM, "text index: out of memory (term table)");
    }
    index_stats(ix);
    if (generation) *generation = h.generation;
    *out = ix;
    return RG_OK;
}

rg_status rg_text_index_load(const char *path, rg_text_index **out, int64_t *generation,
                             rg_err *err) {
    char *data = NULL;
    size_t len = 0;
    rg_status st = rg_file_read(path, (size_t)1 << 40, &data, &len, err);
    if (st != RG_OK) return st;
    st = rg_text_index_load_mem((const unsigned char *)data, len, out, generation, err);
    free(data);
    if (st != RG_OK) rg_err_prefix(err, "%s", path);
    return st;
}
