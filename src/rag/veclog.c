/* veclog.c - the chunk embeddings of a collection, kept in
 * DIR/index/vec-<collection id>.vec as an append-only log.
 *
 * Format v2 (little endian: the host's; the file is local derived data):
 *   header   "RGVEC\0\0\1" u32 version (2) u32 dim u32 model_len u32 0
 *            model[model_len] u64 hw(every header byte before it, seed 0)
 *   records  u32 type (1 add, 2 delete) u32 0 u64 count i64 generation
 *            i64 max_id (largest id added so far, 0: none)
 *            u64 live (rows live after this record)
 *            i64 ids[count], ascending
 *            add only: f32 vecs[count * dim]
 *            u64 len (bytes of the whole record) u64 hdrsum u64 chain
 *   prev   = the 8 bytes just before a record (the previous record's chain,
 *            or the header's hash)
 *   hdrsum = hw(the 40 header bytes and len, prev): lets an append check
 *            the last record without reading its payload
 *   chain  = hw(every byte of the record before chain, prev)
 * Checked on load: added ids ascend across the whole file (chunk ids are
 * never reused), a delete names live ids, max_id and live follow from the
 * records before.  The last record's generation is the file's.
 *
 * Crash safety: a new file is written whole (tmp, fsync, rename); an append
 * is one pwrite after the last valid record, then fdatasync.  A kill during
 * an append leaves a torn tail: the loader keeps the valid prefix (the log
 * up to the last whole record; `damaged` says there was more) and the next
 * sync cuts the tail (ftruncate) before appending.  Nothing committed is
 * lost: vectors are derived from the store, and a sync embeds every chunk
 * the file lacks (its generation is then older than the store's).
 * Writers hold flock(LOCK_EX) on the file (re-checking it was not renamed
 * over meanwhile), so a server and a `ragd ingest` never interleave.
 *
 * Format v1 (one checksummed block, see rg_rag_vectors_parse) still loads;
 * the next sync rewrites it as v2.
 *
 * Cost per sync when only documents were added: the last record's header,
 * a chunk count and the chunks with ids above max_id from the store, the
 * new embeddings, one append: O(new), not O(collection). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/log.h"
#include "rag/rag.h"
#include "rag/rag_int.h"

#define VEC_MAGIC "RGVEC\0\0\1"
#define VEC_V1 1u
#define VEC_V2 2u
#define VEC_MAX_FILE ((size_t)8 << 30)
#define VEC_BATCH 32
#define REC_HDR 40u
#define REC_TRL 24u
#define REC_ADD 1u
#define REC_DEL 2u
#define MODEL_MAX 4096u

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vector files are little endian; add byte swapping for this host"
#endif

void rg__rag_vec_path(const char *dir, int64_t cid, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/vec-%lld.vec", dir, RG_RAG_INDEX_DIR, (long long)cid);
}

/* 64-bit hash over 8-byte words (xor, odd multiply, xorshift per word: a
 * bijection of the state, so one changed word changes the result; about
 * 8x faster than the byte-wise rg_hash64 on multi-MB records).  Not
 * cryptographic. */
static uint64_t hw(const void *data, size_t n, uint64_t seed) {
    uint64_t h = rg_hash_words(seed ^ 0x243f6a8885a308d3ull, data, n);
    h = (h ^ (uint64_t)n) * 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

static uint64_t rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t rd32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void rg_rag_vectors_clear(rg_rag_vectors *v) {
    free(v->ids);
    free(v->vecs);
    free(v->model);
    free(v->marks);
    free(v->dels);
    memset(v, 0, sizeof *v);
}

static rg_status push_mark(rg_rag_vectors *v, size_t *cap, uint64_t chain, int64_t max_id,
                           rg_err *err) {
    if (v->nmarks == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        rg_rag_vec_mark *m = realloc(v->marks, nc * sizeof *m);
        if (!m) return rg_failf(err, RG_NOMEM, "vectors: out of memory");
        v->marks = m;
        *cap = nc;
    }
    v->marks[v->nmarks++] = (rg_rag_vec_mark){chain, max_id, v->ndels};
    return RG_OK;
}

/* v1: the whole file is one block with one checksum (strict). */
static rg_status parse_v1(const unsigned char *p, size_t len, rg_rag_vectors *out, rg_err *err) {
    size_t hdr = 8 + 4 + 4 + 8 + 8 + 4;
    if (len < hdr + 8) return rg_failf(err, RG_FORMAT, "vectors: file of %zu bytes is too short", len);
    uint32_t dim = rd32(p + 12), mlen = rd32(p + 32);
    int64_t gen = (int64_t)rd64(p + 16);
    uint64_t n = rd64(p + 24);
    if (dim == 0 || dim > RG_INDEX_MAX_DIM)
        return rg_failf(err, RG_FORMAT, "vectors: dim %u at offset 12 out of range", dim);
    if (mlen > MODEL_MAX) return rg_failf(err, RG_FORMAT, "vectors: model name length %u at offset 32", mlen);
    size_t rest = len - hdr - 8;
    if (mlen > rest) return rg_failf(err, RG_FORMAT, "vectors: model name past end of file");
    rest -= mlen;
    size_t row = 8 + (size_t)dim * 4;
    if (n > rest / row || n * row != rest)
        return rg_failf(err, RG_FORMAT, "vectors: %llu rows of dim %u do not fit %zu bytes",
                        (unsigned long long)n, dim, rest);
    uint64_t h = rd64(p + len - 8);
    if (h != rg_hash64(p, len - 8, 0))
        return rg_failf(err, RG_FORMAT, "vectors: checksum mismatch at offset %zu", len - 8);
    out->version = 1;
    out->dim = (int)dim;
    out->generation = gen;
    out->n = (size_t)n;
    out->bytes = len;
    out->model = malloc(mlen + 1);
    out->ids = malloc(n ? n * 8 : 1);
    out->vecs = malloc(n ? n * dim * 4 : 1);
    if (!out->model || !out->ids || !out->vecs) {
        rg_rag_vectors_clear(out);
        return rg_failf(err, RG_NOMEM, "vectors: out of memory");
    }
    memcpy(out->model, p + hdr, mlen);
    out->model[mlen] = 0;
    if (n) {
        memcpy(out->ids, p + hdr + mlen, n * 8);
        memcpy(out->vecs, p + hdr + mlen + n * 8, n * dim * 4);
    }
    for (size_t i = 1; i < n; i++)
        if (out->ids[i] <= out->ids[i - 1]) {
            rg_rag_vectors_clear(out);
            return rg_failf(err, RG_FORMAT, "vectors: ids not ascending at row %zu", i);
        }
    size_t mcap = 0;
    rg_status st = push_mark(out, &mcap, h, n ? out->ids[n - 1] : 0, err);
    if (st != RG_OK) rg_rag_vectors_clear(out);
    return st;
}

/* v2 header: fills dim, model (owned), *hdr_len; strict. */
static rg_status parse_v2_header(const unsigned char *p, size_t len, int *dim, char **model,
                                 size_t *hdr_len, rg_err *err) {
    if (len < 24 + 8) return rg_failf(err, RG_FORMAT, "vectors: file of %zu bytes is too short", len);
    uint32_t d = rd32(p + 12), mlen = rd32(p + 16), z = rd32(p + 20);
    if (d == 0 || d > RG_INDEX_MAX_DIM)
        return rg_failf(err, RG_FORMAT, "vectors: dim %u at offset 12 out of range", d);
    if (mlen > MODEL_MAX || z != 0)
        return rg_failf(err, RG_FORMAT, "vectors: model name length %u at offset 16", mlen);
    if (len - 32 < mlen) return rg_failf(err, RG_FORMAT, "vectors: model name past end of file");
    size_t hl = 24 + (size_t)mlen + 8;
    if (rd64(p + hl - 8) != hw(p, hl - 8, 0))
        return rg_failf(err, RG_FORMAT, "vectors: header checksum mismatch at offset %zu", hl - 8);
    if (model) {
        *model = malloc(mlen + 1);
        if (!*model) return rg_failf(err, RG_NOMEM, "vectors: out of memory");
        memcpy(*model, p + 24, mlen);
        (*model)[mlen] = 0;
    }
    *dim = (int)d;
    *hdr_len = hl;
    return RG_OK;
}

/* Index of id in the ascending ids[0..n), or n. */
static size_t find_id(const int64_t *ids, size_t n, int64_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : n;
}

/* v2: the header strictly, then records while they check out. */
static rg_status parse_v2(const unsigned char *p, size_t len, rg_rag_vectors *out, rg_err *err) {
    size_t off;
    rg_status st = parse_v2_header(p, len, &out->dim, &out->model, &off, err);
    if (st != RG_OK) return st;
    out->version = 2;
    out->generation = -1;
    size_t dim = (size_t)out->dim, cap = 0, mcap = 0, dcap = 0, live = 0;
    int64_t max_id = 0;
    uint8_t *dead = NULL;
    st = push_mark(out, &mcap, rd64(p + off - 8), 0, err);
    while (st == RG_OK && len - off >= REC_HDR + REC_TRL) {
        const unsigned char *r = p + off;
        uint32_t type = rd32(r), z = rd32(r + 4);
        uint64_t cnt = rd64(r + 8), rmax = rd64(r + 24), rlive = rd64(r + 32);
        int64_t gen = (int64_t)rd64(r + 16);
        if ((type != REC_ADD && type != REC_DEL) || z != 0) break;
        size_t row = type == REC_ADD ? 8 + dim * 4 : 8, avail = len - off - REC_HDR - REC_TRL;
        if (cnt > avail / row) break;
        size_t rlen = REC_HDR + (size_t)cnt * row + REC_TRL;
        const unsigned char *t = r + rlen - REC_TRL;
        uint64_t prev = rd64(r - 8);
        if (rd64(t) != rlen) break;
        /* hdrsum, then the chain over the payload */
        unsigned char hb[REC_HDR + 8];
        memcpy(hb, r, REC_HDR);
        memcpy(hb + REC_HDR, t, 8);
        if (rd64(t + 8) != hw(hb, sizeof hb, prev)) break;
        if (rd64(t + 16) != hw(r, rlen - 8, prev)) break;
        /* the record's ids against the log so far */
        const unsigned char *ip = r + REC_HDR;
        int ok = 1;
        if (type == REC_ADD) {
            int64_t last = max_id;
            for (size_t i = 0; ok && i < cnt; i++) {
                int64_t id = (int64_t)rd64(ip + i * 8);
                ok = id > last;
                last = id;
            }
            ok = ok && (int64_t)rmax == last && rlive == live + cnt;
            if (ok && out->n + cnt > cap) {
                size_t nc = cap ? cap : 1024;
                while (nc < out->n + cnt) nc *= 2;
                int64_t *ni = realloc(out->ids, nc * sizeof *ni);
                if (ni) out->ids = ni;
                float *nf = ni ? realloc(out->vecs, nc * dim * sizeof *nf) : NULL;
                if (nf) out->vecs = nf;
                uint8_t *nd = nf ? realloc(dead, nc) : NULL;
                if (!nd) {
                    st = rg_failf(err, RG_NOMEM, "vectors: out of memory");
                    break;
                }
                dead = nd;
                cap = nc;
            }
            if (ok && cnt) {
                memcpy(out->ids + out->n, ip, (size_t)cnt * 8);
                memcpy(out->vecs + out->n * dim, ip + (size_t)cnt * 8, (size_t)cnt * dim * 4);
                memset(dead + out->n, 0, (size_t)cnt);
                out->n += (size_t)cnt;
                live += (size_t)cnt;
                max_id = last;
            }
        } else {
            int64_t last = 0;
            for (size_t i = 0; ok && i < cnt; i++) {
                int64_t id = (int64_t)rd64(ip + i * 8);
                size_t at = find_id(out->ids, out->n, id);
                ok = id > last && at < out->n && !dead[at];
                last = id;
            }
            ok = ok && (int64_t)rmax == max_id && rlive + cnt == live;
            if (ok && out->ndels + cnt > dcap) {
                size_t nc = dcap ? dcap : 64;
                while (nc < out->ndels + cnt) nc *= 2;
                int64_t *nd = realloc(out->dels, nc * sizeof *nd);
                if (!nd) {
                    st = rg_failf(err, RG_NOMEM, "vectors: out of memory");
                    break;
                }
                out->dels = nd;
                dcap = nc;
            }
            for (size_t i = 0; ok && i < cnt; i++) {
                int64_t id = (int64_t)rd64(ip + i * 8);
                dead[find_id(out->ids, out->n, id)] = 1;
                out->dels[out->ndels++] = id;
            }
            if (ok) live -= (size_t)cnt;
        }
        if (!ok) break; /* a checksummed record that contradicts the log */
        out->generation = gen;
        st = push_mark(out, &mcap, rd64(t + 16), max_id, err);
        off += rlen;
    }
    if (st == RG_OK) {
        /* keep the live rows, in id order */
        size_t w = 0;
        for (size_t i = 0; i < out->n; i++) {
            if (dead[i]) continue;
            if (w != i) {
                out->ids[w] = out->ids[i];
                memmove(out->vecs + w * dim, out->vecs + i * dim, dim * sizeof(float));
            }
            w++;
        }
        out->n = w;
        out->bytes = off;
        out->damaged = off < len;
        if (!out->ids) out->ids = malloc(8);
        if (!out->vecs) out->vecs = malloc(4);
        if (!out->ids || !out->vecs) st = rg_failf(err, RG_NOMEM, "vectors: out of memory");
    }
    free(dead);
    if (st != RG_OK) rg_rag_vectors_clear(out);
    return st;
}

rg_status rg_rag_vectors_parse(const void *buf, size_t len, rg_rag_vectors *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *p = buf;
    if (len < 12) return rg_failf(err, RG_FORMAT, "vectors: file of %zu bytes is too short", len);
    if (memcmp(p, VEC_MAGIC, 8) != 0) return rg_failf(err, RG_FORMAT, "vectors: bad magic at offset 0");
    uint32_t ver = rd32(p + 8);
    if (ver == VEC_V1) return parse_v1(p, len, out, err);
    if (ver == VEC_V2) return parse_v2(p, len, out, err);
    return rg_failf(err, RG_UNSUPPORTED, "vectors: version %u at offset 8 (expected %u or %u)", ver,
                    VEC_V1, VEC_V2);
}

static rg_status load_path(const char *path, rg_rag_vectors *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    rg_map m;
    rg_status st = rg_map_open(&m, path, err);
    if (st != RG_OK) return st;
    if (m.size > VEC_MAX_FILE) {
        rg_map_close(&m);
        return rg_failf(err, RG_LIMIT, "%s: %zu bytes is over the limit", path, m.size);
    }
    st = rg_rag_vectors_parse(m.data ? m.data : (const unsigned char *)"", m.size, out, err);
    rg_map_close(&m);
    if (st != RG_OK) rg_err_prefix(err, "%s", path);
    return st;
}

rg_status rg_rag_vectors_load(const char *data_dir, int64_t cid, rg_rag_vectors *out, rg_err *err) {
    char path[4096];
    rg__rag_vec_path(data_dir, cid, path, sizeof path);
    return load_path(path, out, err);
}

/* ---- writing ---- */

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
} wbuf;

static int wb_room(wbuf *b, size_t n) {
    if (b->len + n <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + n) nc *= 2;
    unsigned char *q = realloc(b->p, nc);
    if (!q) return -1;
    b->p = q;
    b->cap = nc;
    return 0;
}

static void wb_put(wbuf *b, const void *x, size_t n) {
    if (n) memcpy(b->p + b->len, x, n);
    b->len += n;
}

/* Appends one record to b (whose last 8 bytes are prev, or pass prev). */
static rg_status put_record(wbuf *b, uint64_t prev, uint32_t type, const int64_t *ids,
                            const float *vecs, size_t cnt, size_t dim, int64_t gen, int64_t max_id,
                            size_t live, uint64_t *chain, rg_err *err) {
    size_t row = type == REC_ADD ? 8 + dim * 4 : 8;
    size_t rlen = REC_HDR + cnt * row + REC_TRL;
    if (wb_room(b, rlen) != 0) return rg_failf(err, RG_NOMEM, "vectors: out of memory");
    size_t at = b->len;
    uint32_t z = 0;
    uint64_t c64 = cnt, l64 = live, len64 = rlen;
    wb_put(b, &type, 4);
    wb_put(b, &z, 4);
    wb_put(b, &c64, 8);
    wb_put(b, &gen, 8);
    wb_put(b, &max_id, 8);
    wb_put(b, &l64, 8);
    wb_put(b, ids, cnt * 8);
    if (type == REC_ADD) wb_put(b, vecs, cnt * dim * 4);
    wb_put(b, &len64, 8);
    unsigned char hb[REC_HDR + 8];
    memcpy(hb, b->p + at, REC_HDR);
    memcpy(hb + REC_HDR, &len64, 8);
    uint64_t hs = hw(hb, sizeof hb, prev);
    wb_put(b, &hs, 8);
    uint64_t ch = hw(b->p + at, rlen - 8, prev);
    wb_put(b, &ch, 8);
    if (chain) *chain = ch;
    return RG_OK;
}

/* A whole v2 file with one add record of all of v's rows, written
 * atomically (tmp, fsync, rename). */
static rg_status write_full(const char *path, const rg_rag_vectors *v, rg_err *err) {
    wbuf b = {0};
    uint32_t mlen = (uint32_t)strlen(v->model), ver = VEC_V2, dim = (uint32_t)v->dim, z = 0;
    if (mlen > MODEL_MAX) return rg_failf(err, RG_INVALID, "vectors: model name too long");
    if (wb_room(&b, 32 + mlen) != 0) return rg_failf(err, RG_NOMEM, "vectors: out of memory");
    wb_put(&b, VEC_MAGIC, 8);
    wb_put(&b, &ver, 4);
    wb_put(&b, &dim, 4);
    wb_put(&b, &mlen, 4);
    wb_put(&b, &z, 4);
    wb_put(&b, v->model, mlen);
    uint64_t hh = hw(b.p, b.len, 0);
    wb_put(&b, &hh, 8);
    rg_status st = put_record(&b, hh, REC_ADD, v->ids, v->vecs, v->n, (size_t)v->dim, v->generation,
                              v->n ? v->ids[v->n - 1] : 0, v->n, NULL, err);
    if (st == RG_OK) st = rg_file_write_atomic(path, b.p, b.len, err);
    free(b.p);
    return st;
}

/* Writes b at offset off of fd and syncs; on failure cuts the file back. */
static rg_status append_at(int fd, const char *path, size_t off, const wbuf *b, rg_err *err) {
    size_t done = 0;
    while (done < b->len) {
        ssize_t w = pwrite(fd, b->p + done, b->len - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            if (ftruncate(fd, (off_t)off) != 0) { /* the loader ignores the torn tail anyway */
            }
            return rg_failf(err, RG_IO, "%s: cannot append %zu bytes: %s", path, b->len, strerror(e));
        }
        done += (size_t)w;
    }
    if (fdatasync(fd) != 0) {
        int e = errno;
        return rg_failf(err, RG_IO, "%s: fdatasync: %s", path, strerror(e));
    }
    return RG_OK;
}

/* Opens path read-write and takes flock(LOCK_EX), re-opening when the file
 * was renamed over while we waited.  -1 with errno ENOENT when absent. */
static int lock_open(const char *path) {
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) return -1;
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                close(fd);
                return -1;
            }
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
    errno = EAGAIN;
    return -1;
}

/* ---- sync with the store ---- */

typedef struct scan_ctx {
    const rg_rag_vectors *old; /* NULL: every chunk is new */
    int64_t *ids;
    float *vecs;
    size_t n, cap, dim;
    /* rows still without a vector, with their texts */
    char **texts;
    size_t *lens, *rows;
    size_t npend, pcap;
    rg_err *err;
    rg_status st;
} scan_ctx;

static void scan_free(scan_ctx *c) {
    for (size_t i = 0; i < c->npend; i++) free(c->texts[i]);
    free(c->texts);
    free(c->lens);
    free(c->rows);
    free(c->ids);
    free(c->vecs);
}

static int scan_chunk(void *ud, const rg_store_chunk *ch) {
    scan_ctx *c = ud;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        int64_t *ni = realloc(c->ids, ncap * sizeof *ni);
        if (ni) c->ids = ni;
        float *nf = ni ? realloc(c->vecs, ncap * c->dim * sizeof *nf) : NULL;
        if (!nf) goto oom;
        c->vecs = nf;
        c->cap = ncap;
    }
    size_t row = c->n++;
    c->ids[row] = ch->id;
    const rg_rag_vectors *o = c->old;
    size_t at = o ? find_id(o->ids, o->n, ch->id) : 0;
    if (o && at < o->n) {
        memcpy(c->vecs + row * c->dim, o->vecs + at * c->dim, c->dim * sizeof(float));
        return 0;
    }
    if (c->npend == c->pcap) {
        size_t ncap = c->pcap ? c->pcap * 2 : 64;
        char **nt = realloc(c->texts, ncap * sizeof *nt);
        if (nt) c->texts = nt;
        size_t *nl = nt ? realloc(c->lens, ncap * sizeof *nl) : NULL;
        if (nl) c->lens = nl;
        size_t *nr = nl ? realloc(c->rows, ncap * sizeof *nr) : NULL;
        if (!nr) goto oom;
        c->rows = nr;
        c->pcap = ncap;
    }
    /* the heading gives short chunks their context, as BM25 indexing does */
    size_t hl = ch->heading && ch->heading[0] ? strlen(ch->heading) + 1 : 0;
    char *t = malloc(hl + ch->text_len + 1);
    if (!t) goto oom;
    if (hl) {
        memcpy(t, ch->heading, hl - 1);
        t[hl - 1] = '\n';
    }
    if (ch->text_len) memcpy(t + hl, ch->text, ch->text_len);
    t[hl + ch->text_len] = 0;
    c->texts[c->npend] = t;
    c->lens[c->npend] = hl + ch->text_len;
    c->rows[c->npend] = row;
    c->npend++;
    return 0;
oom:
    c->st = rg_failf(c->err, RG_NOMEM, "vectors: out of memory");
    return 1;
}

/* Embeds the pending texts (outside the store's lock) into their rows. */
static rg_status embed_pending(scan_ctx *c, rg_embedder *e, size_t *n_embedded, rg_err *err) {
    float *tmp = malloc((size_t)VEC_BATCH * c->dim * sizeof *tmp);
    if (!tmp) return rg_failf(err, RG_NOMEM, "vectors: out of memory");
    rg_status st = RG_OK;
    for (size_t i = 0; st == RG_OK && i < c->npend; i += VEC_BATCH) {
        int nb = (int)(c->npend - i < VEC_BATCH ? c->npend - i : VEC_BATCH);
        st = rg_embed_texts(e, (const char *const *)c->texts + i, c->lens + i, nb, 1, tmp, err);
        for (int j = 0; st == RG_OK && j < nb; j++)
            memcpy(c->vecs + c->rows[i + (size_t)j] * c->dim, tmp + (size_t)j * c->dim,
                   c->dim * sizeof *tmp);
        if (st == RG_OK && n_embedded) *n_embedded += (size_t)nb;
    }
    free(tmp);
    return st;
}

/* The append path: the file at fd is v2 with model/dim as wanted and a
 * last record that checks out, and the store only gained chunks since.
 * *done = 0 when it does not apply (the caller takes the full path). */
static rg_status sync_fast(int fd, const char *path, rg_store *s, int64_t cid, rg_embedder *e,
                           const char *model, size_t *n_embedded, int *done, rg_err *err) {
    *done = 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0) return RG_OK;
    size_t size = (size_t)sb.st_size;
    unsigned char h[24 + MODEL_MAX + 8];
    size_t want = size < sizeof h ? size : sizeof h;
    if (pread(fd, h, want, 0) != (ssize_t)want || want < 32) return RG_OK;
    if (memcmp(h, VEC_MAGIC, 8) != 0 || rd32(h + 8) != VEC_V2) return RG_OK;
    int dim;
    size_t hl;
    char *fm = NULL;
    rg_err e2;
    if (parse_v2_header(h, want, &dim, &fm, &hl, &e2) != RG_OK) return RG_OK;
    int same = dim == rg_embed_dim(e) && !strcmp(fm, model);
    free(fm);
    if (!same || size < hl + REC_HDR + REC_TRL) return RG_OK;
    /* the last record: trailer, then its header, verified by hdrsum */
    unsigned char t[REC_TRL], r[REC_HDR], pv[8];
    if (pread(fd, t, REC_TRL, (off_t)(size - REC_TRL)) != REC_TRL) return RG_OK;
    uint64_t rlen = rd64(t);
    if (rlen < REC_HDR + REC_TRL || rlen > size - hl) return RG_OK;
    size_t roff = size - (size_t)rlen;
    if (pread(fd, r, REC_HDR, (off_t)roff) != REC_HDR || pread(fd, pv, 8, (off_t)roff - 8) != 8)
        return RG_OK;
    unsigned char hb[REC_HDR + 8];
    memcpy(hb, r, REC_HDR);
    memcpy(hb + REC_HDR, t, 8);
    if (rd64(t + 8) != hw(hb, sizeof hb, rd64(pv))) return RG_OK;
    int64_t fgen = (int64_t)rd64(r + 16), max_id = (int64_t)rd64(r + 24);
    uint64_t live = rd64(r + 32), chain = rd64(t + 16);
    int64_t gen, nchunks = 0;
    rg_status st = rg_store_generation(s, cid, &gen, err);
    if (st != RG_OK) return st;
    if (gen == fgen) {
        *done = 1;
        return RG_OK;
    }
    /* generation first, then the count, then the new chunks: a write in
     * between makes the recorded generation stale (synced again later) or
     * the count disagree (full path), never a wrong file */
    st = rg_store_count(s, cid, NULL, &nchunks, err);
    if (st != RG_OK) return st;
    scan_ctx c = {.dim = (size_t)dim, .err = err, .st = RG_OK};
    st = rg_store_chunks_foreach(s, cid, max_id, scan_chunk, &c, err);
    if (st == RG_OK) st = c.st;
    if (st == RG_OK && (uint64_t)nchunks != live + c.n) {
        scan_free(&c);
        return RG_OK; /* deletions (or a race): the full path sorts it out */
    }
    if (st == RG_OK) st = embed_pending(&c, e, n_embedded, err);
    wbuf b = {0};
    if (st == RG_OK)
        st = put_record(&b, chain, REC_ADD, c.ids, c.vecs, c.n, (size_t)dim, gen,
                        c.n ? c.ids[c.n - 1] : max_id, (size_t)live + c.n, NULL, err);
    if (st == RG_OK) st = append_at(fd, path, size, &b, err);
    free(b.p);
    scan_free(&c);
    if (st == RG_OK) *done = 1;
    return st;
}

/* The full path: every chunk of the store against the file's valid prefix;
 * appends the differences (delete + add records) or rewrites the file
 * (new, other model, v1, ids below max_id, or a log with more deletes than
 * a fifth of its live rows: compaction). */
static rg_status sync_full(int fd, const char *path, rg_store *s, int64_t cid, rg_embedder *e,
                           const char *model, size_t *n_embedded, rg_err *err) {
    int64_t gen;
    rg_status st = rg_store_generation(s, cid, &gen, err);
    if (st != RG_OK) return st;
    int dim = rg_embed_dim(e);
    rg_rag_vectors old;
    memset(&old, 0, sizeof old);
    rg_err e2;
    rg_err_clear(&e2);
    int have_old = fd >= 0 && load_path(path, &old, &e2) == RG_OK;
    if (fd >= 0 && !have_old) rg_warn("rag: %s; re-embedding every chunk", rg_err_text(&e2));
    if (have_old && (old.dim != dim || strcmp(old.model, model) != 0)) {
        rg_rag_vectors_clear(&old);
        have_old = 0;
    }
    if (have_old && old.version == 2 && !old.damaged && old.generation == gen) {
        rg_rag_vectors_clear(&old);
        return RG_OK;
    }
    scan_ctx c = {.old = have_old ? &old : NULL, .dim = (size_t)dim, .err = err, .st = RG_OK};
    st = rg_store_chunks_foreach(s, cid, 0, scan_chunk, &c, err);
    if (st == RG_OK) st = c.st;
    if (st == RG_OK) st = embed_pending(&c, e, n_embedded, err);
    if (st != RG_OK) {
        scan_free(&c);
        rg_rag_vectors_clear(&old);
        return st;
    }
    /* the difference: old rows gone from the store, new rows */
    int rewrite = !have_old || old.version != 2;
    int64_t *dels = NULL;
    size_t nd = 0, first_new = c.n;
    int64_t old_max = have_old && old.nmarks ? old.marks[old.nmarks - 1].max_id : 0;
    if (!rewrite) {
        dels = malloc((old.n ? old.n : 1) * sizeof *dels);
        if (!dels) st = rg_failf(err, RG_NOMEM, "vectors: out of memory");
        size_t j = 0;
        for (size_t i = 0; st == RG_OK && i < old.n; i++) {
            while (j < c.n && c.ids[j] < old.ids[i]) {
                if (c.ids[j] <= old_max) rewrite = 1; /* a chunk the log skipped */
                j++;
            }
            if (j < c.n && c.ids[j] == old.ids[i]) j++;
            else dels[nd++] = old.ids[i];
        }
        for (; j < c.n; j++)
            if (c.ids[j] <= old_max) rewrite = 1;
        /* new rows are the ones above the old max id */
        first_new = 0;
        while (first_new < c.n && c.ids[first_new] <= old_max) first_new++;
        if (old.ndels + nd > c.n / 5 && nd) rewrite = 1;
    }
    if (st == RG_OK && rewrite) {
        rg_rag_vectors nv = {.dim = dim, .generation = gen, .model = (char *)model, .n = c.n,
                             .ids = c.ids, .vecs = c.vecs};
        st = write_full(path, &nv, err);
    } else if (st == RG_OK) {
        wbuf b = {0};
        uint64_t prev = old.marks[old.nmarks - 1].chain;
        size_t live = old.n;
        if (nd) {
            st = put_record(&b, prev, REC_DEL, dels, NULL, nd, (size_t)dim, old.generation, old_max,
                            live - nd, &prev, err);
            live -= nd;
        }
        size_t na = c.n - first_new;
        if (st == RG_OK)
            st = put_record(&b, prev, REC_ADD, na ? c.ids + first_new : NULL,
                            na ? c.vecs + first_new * c.dim : NULL, na,
                            (size_t)dim, gen, na ? c.ids[c.n - 1] : old_max, live + na, NULL, err);
        if (st == RG_OK) st = append_at(fd, path, old.bytes, &b, err);
        if (st == RG_OK && old.damaged) {
            /* cut whatever followed the valid prefix beyond our append */
            if (ftruncate(fd, (off_t)(old.bytes + b.len)) != 0)
                st = rg_failf(err, RG_IO, "%s: ftruncate: %s", path, strerror(errno));
        }
        free(b.p);
    }
    free(dels);
    scan_free(&c);
    rg_rag_vectors_clear(&old);
    return st;
}

rg_status rg_rag_vectors_sync(rg_store *s, const char *data_dir, int64_t cid, rg_embedder *e,
                              const char *model, rg_rag_vectors *out, size_t *n_embedded,
                              rg_err *err) {
    if (n_embedded) *n_embedded = 0;
    if (out) memset(out, 0, sizeof *out);
    char path[4096], dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, RG_RAG_INDEX_DIR);
    rg__rag_vec_path(data_dir, cid, path, sizeof path);
    rg_status st = rg_mkdirs(dir, err);
    if (st != RG_OK) return st;
    int fd = lock_open(path);
    if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
        /* a read-only data directory: usable when the file is up to date */
        int eno = errno;
        rg_rag_vectors v;
        int64_t gen;
        st = rg_store_generation(s, cid, &gen, err);
        if (st != RG_OK) return st;
        rg_err e2;
        int loaded = load_path(path, &v, &e2) == RG_OK;
        if (loaded && !v.damaged && v.generation == gen &&
            v.dim == rg_embed_dim(e) && !strcmp(v.model, model)) {
            if (out) *out = v;
            else rg_rag_vectors_clear(&v);
            return RG_OK;
        }
        if (loaded) rg_rag_vectors_clear(&v);
        return rg_failf(err, RG_IO, "%s: cannot open for writing (%s) and it is not up to date", path,
                        strerror(eno));
    }
    if (fd < 0 && errno != ENOENT)
        return rg_failf(err, RG_IO, "%s: cannot open: %s", path, strerror(errno));
    int done = 0;
    if (fd >= 0) st = sync_fast(fd, path, s, cid, e, model, n_embedded, &done, err);
    for (int pass = 0; st == RG_OK && pass < 2; pass++) {
        if (!done) st = sync_full(fd, path, s, cid, e, model, n_embedded, err);
        if (st != RG_OK || !out) break;
        st = load_path(path, out, err);
        /* a file damaged before its last record (which the append path
         * cannot see): the full path repairs it */
        if (st == RG_OK && out->damaged && pass == 0) {
            rg_rag_vectors_clear(out);
            done = 0;
            continue;
        }
        break;
    }
    if (fd >= 0) close(fd); /* releases the lock */
    if (st != RG_OK && out) rg_rag_vectors_clear(out);
    return st;
}
