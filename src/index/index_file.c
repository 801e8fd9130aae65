/* index_file.c - saving and loading an index.
 *
 * File format v1 (little endian):
 *   header, 96 bytes:
 *     char magic[8] "RGVINDEX"; u32 version (1); u32 header bytes (96)
 *     u32 kind, metric, storage, dim, M, ef_construction, ef_search, flags
 *       (bit 0: rerank floats present)
 *     u64 n (nodes, live + deleted); u64 n_deleted; u64 seed; u64 rng state
 *     i32 max_level (-1 = empty graph); u32 entry; u64 tag (params.tag; 0 in
 *     files from before it existed)
 *   ids      n x u64
 *   levels   n x u8 (bit 7: deleted, bits 0-6: top layer)
 *   vectors  n x vec_bytes (f32: dim floats; i8: f32 scale, f32 norm2, dim
 *            int8 padded to 4)
 *   floats   n x dim f32 when flags bit 0
 *   layer 0  n x (1 + 2M) u32 (count, links) for HNSW
 *   upper    for each node with level L > 0: L x (1 + M) u32
 *   trailer  u64 checksum of every byte before it
 * The total size follows from the header and the level bytes; the loader
 * checks it equals the file size before allocating anything, then the
 * checksum, then every count, link and level.
 *
 * Save streams through a 1 MiB buffer to path.tmp.<pid>, fsyncs it, renames
 * it over path and fsyncs the directory (the index can be hundreds of MB,
 * so it is not assembled in memory first). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/limits.h"
#include "index/index_impl.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "index files are little endian; add byte swapping for this host"
#endif

#define FILE_MAGIC "RGVINDEX"
#define FILE_VERSION 1u
#define HEADER_BYTES 96u
#define WBUF (1u << 20)

/* 64-bit checksum over 8-byte words (rg_hash_words).  Not cryptographic.
 * Callers feed multiples of 8 bytes except for the last piece. */
typedef struct {
    uint64_t h, len;
} cksum;

static void ck_update(cksum *c, const unsigned char *p, size_t n) {
    c->h = rg_hash_words(c->h, p, n);
    c->len += n;
}

static uint64_t ck_final(const cksum *c) {
    uint64_t h = (c->h ^ c->len) * 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

typedef struct {
    int fd;
    unsigned char *buf;
    size_t len;
    cksum ck;
    int err; /* errno of the first failure */
} writer;

static void w_flush(writer *w) {
    if (w->err || !w->len) return;
    ck_update(&w->ck, w->buf, w->len);
    size_t done = 0;
    while (done < w->len) {
        ssize_t r = write(w->fd, w->buf + done, w->len - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            w->err = r < 0 ? errno : EIO;
            return;
        }
        done += (size_t)r;
    }
    w->len = 0;
}

static void w_put(writer *w, const void *p, size_t n) {
    const unsigned char *s = p;
    while (n && !w->err) {
        size_t room = WBUF - w->len, m = n < room ? n : room;
        memcpy(w->buf + w->len, s, m);
        w->len += m;
        s += m;
        n -= m;
        if (w->len == WBUF) w_flush(w);
    }
}

static void w_u32(writer *w, uint32_t v) { w_put(w, &v, 4); }
static void w_u64(writer *w, uint64_t v) { w_put(w, &v, 8); }

rg_status rg_index_save(rg_index *ix, const char *path, rg_err *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return rg_failf(err, RG_LIMIT, "%s: path too long", path);
    writer w = {.fd = -1};
    w.buf = malloc(WBUF);
    if (!w.buf) return rg_failf(err, RG_NOMEM, "index: out of memory (write buffer)");
    w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        int e = errno;
        free(w.buf);
        return rg_failf(err, RG_IO, "%s: cannot create: %s", tmp, strerror(e));
    }
    pthread_rwlock_rdlock(&ix->rw);
    const rg_index_params *p = &ix->p;
    w_put(&w, FILE_MAGIC, 8);
    w_u32(&w, FILE_VERSION);
    w_u32(&w, HEADER_BYTES);
    w_u32(&w, (uint32_t)p->kind);
    w_u32(&w, (uint32_t)p->metric);
    w_u32(&w, (uint32_t)p->storage);
    w_u32(&w, (uint32_t)p->dim);
    w_u32(&w, (uint32_t)p->M);
    w_u32(&w, (uint32_t)p->ef_construction);
    w_u32(&w, (uint32_t)p->ef_search);
    w_u32(&w, p->rerank ? 1u : 0u);
    w_u64(&w, ix->n);
    w_u64(&w, ix->n_deleted);
    w_u64(&w, p->seed);
    w_u64(&w, ix->rng);
    w_u32(&w, (uint32_t)ix->max_level);
    w_u32(&w, ix->entry);
    w_u64(&w, p->tag);
    w_put(&w, ix->ids, ix->n * 8);
    for (size_t i = 0; i < ix->n; i++) {
        uint8_t b = (uint8_t)(ix->levels[i] | (ix->deleted[i] ? 0x80 : 0));
        w_put(&w, &b, 1);
    }
    for (size_t i = 0; i < ix->n; i++) w_put(&w, ix->l0 + i * ix->blk, ix->vec_bytes);
    if (p->rerank) w_put(&w, ix->fvec, ix->n * (size_t)ix->d * sizeof(float));
    if (p->kind == RG_INDEX_HNSW) {
        for (size_t i = 0; i < ix->n; i++)
            w_put(&w, ix->l0 + i * ix->blk + ix->links_off, 4 * (1 + (size_t)ix->M0));
        for (size_t i = 0; i < ix->n; i++)
            if (ix->levels[i])
                w_put(&w, ix->upper[i], 4 * (size_t)ix->levels[i] * (1 + (size_t)ix->M));
    }
    pthread_rwlock_unlock(&ix->rw);
    w_flush(&w);
    uint64_t ck = ck_final(&w.ck);
    w_put(&w, &ck, 8);
    w_flush(&w);
    free(w.buf);
    if (w.err) {
        close(w.fd);
        unlink(tmp);
        return rg_failf(err, RG_IO, "%s: write failed: %s", tmp, strerror(w.err));
    }
    if (fsync(w.fd) != 0 || close(w.fd) != 0) {
        int e = errno;
        unlink(tmp);
        return rg_failf(err, RG_IO, "%s: fsync failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rg_failf(err, RG_IO, "%s: rename failed: %s", path, strerror(e));
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return RG_OK;
}

/* ------------------------------------------------------------------ load */

typedef struct {
    const unsigned char *p;
    size_t len, off;
} reader;

static uint32_t r_u32(reader *r) {
    uint32_t v;
    memcpy(&v, r->p + r->off, 4);
    r->off += 4;
    return v;
}
static uint64_t r_u64(reader *r) {
    uint64_t v;
    memcpy(&v, r->p + r->off, 8);
    r->off += 8;
    return v;
}

/* a += b, failing on overflow */
static bool add_ok(size_t *a, size_t b) { return !__builtin_add_overflow(*a, b, a); }
static bool mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }

rg_status rg_index_load_mem(const void *data, size_t len, bool verify_checksum, rg_index **out,
                            rg_err *err) {
    *out = NULL;
    reader r = {data, len, 0};
    if (len < HEADER_BYTES + 8)
        return rg_failf(err, RG_FORMAT, "index file: %zu bytes is shorter than the %u-byte header",
                        len, HEADER_BYTES + 8);
    if (memcmp(r.p, FILE_MAGIC, 8) != 0)
        return rg_failf(err, RG_FORMAT, "index file: bad magic at offset 0 (not a ragd index)");
    r.off = 8;
    uint32_t version = r_u32(&r), hdr = r_u32(&r);
    if (version != FILE_VERSION)
        return rg_failf(err, version > FILE_VERSION ? RG_UNSUPPORTED : RG_FORMAT,
                        "index file: version %u at offset 8, this build reads %u", version,
                        FILE_VERSION);
    if (hdr != HEADER_BYTES)
        return rg_failf(err, RG_FORMAT, "index file: header size %u at offset 12, expected %u",
                        hdr, HEADER_BYTES);
    rg_index_params p;
    rg_index_params_default(&p);
    uint32_t kind = r_u32(&r), metric = r_u32(&r), storage = r_u32(&r), dim = r_u32(&r);
    uint32_t M = r_u32(&r), efc = r_u32(&r), efs = r_u32(&r), flags = r_u32(&r);
    if (kind > RG_INDEX_HNSW || metric > RG_INDEX_L2 || storage > RG_INDEX_I8 ||
        dim < 1 || dim > RG_INDEX_MAX_DIM || flags > 1 || (flags && storage != RG_INDEX_I8) ||
        (kind == RG_INDEX_HNSW && (M < 2 || M > RG_INDEX_MAX_M)) ||
        (kind == RG_INDEX_FLAT && M != 0) || efc < 1 || efc > RG_INDEX_MAX_EF || efs < 1 ||
        efs > RG_INDEX_MAX_EF)
        return rg_failf(err, RG_FORMAT,
                        "index file: bad parameters at offset 16 (kind %u metric %u storage %u "
                        "dim %u M %u ef %u/%u flags %u)",
                        kind, metric, storage, dim, M, efc, efs, flags);
    p.kind = (rg_index_kind)kind;
    p.metric = (rg_index_metric)metric;
    p.storage = (rg_index_storage)storage;
    p.dim = (int)dim;
    p.M = kind == RG_INDEX_HNSW ? (int)M : 16;
    p.ef_construction = (int)efc;
    p.ef_search = (int)efs;
    p.rerank = flags & 1;
    uint64_t n64 = r_u64(&r), ndel = r_u64(&r);
    p.seed = r_u64(&r);
    uint64_t rng = r_u64(&r);
    int32_t max_level = (int32_t)r_u32(&r);
    uint32_t entry = r_u32(&r);
    p.tag = r_u64(&r);
    if (n64 > RG_INDEX_MAX_NODES || ndel > n64)
        return rg_failf(err, RG_FORMAT, "index file: node count %llu (deleted %llu) at offset 48",
                        (unsigned long long)n64, (unsigned long long)ndel);
    size_t n = (size_t)n64;
    rg_index tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    /* sizes of the fixed sections, all overflow-checked */
    size_t vec_bytes = storage == RG_INDEX_F32 ? 4 * (size_t)dim : (8 + (size_t)dim + 3) & ~(size_t)3;
    size_t l0_links = kind == RG_INDEX_HNSW ? 4 * (1 + 2 * (size_t)M) : 0;
    size_t need = HEADER_BYTES, t;
    if (!mul_ok(n, 9 + vec_bytes + l0_links, &t) || !add_ok(&need, t))
        return rg_failf(err, RG_FORMAT, "index file: sizes overflow");
    if (flags && (!mul_ok(n, 4 * (size_t)dim, &t) || !add_ok(&need, t)))
        return rg_failf(err, RG_FORMAT, "index file: sizes overflow");
    if (need > len - 8)
        return rg_failf(err, RG_FORMAT,
                        "index file: truncated: %zu bytes, the header announces at least %zu", len,
                        need + 8);
    const unsigned char *lv = r.p + HEADER_BYTES + n * 8;
    for (size_t i = 0; i < n; i++) {
        unsigned L = lv[i] & 0x7f;
        if (L >= RG_INDEX_MAX_LEVEL || (L && kind != RG_INDEX_HNSW))
            return rg_failf(err, RG_FORMAT, "index file: level %u of node %zu at offset %zu", L, i,
                            HEADER_BYTES + n * 8 + i);
        if (!add_ok(&need, (size_t)L * 4 * (1 + (size_t)M)))
            return rg_failf(err, RG_FORMAT, "index file: sizes overflow");
    }
    if (need + 8 != len)
        return rg_failf(err, RG_FORMAT, "index file: %zu bytes, expected %zu (truncated or padded)",
                        len, need + 8);
    if (verify_checksum) {
        cksum c = {0, 0};
        /* same 1 MiB pieces as the writer so the word boundaries agree */
        for (size_t o = 0; o < need; o += WBUF) ck_update(&c, r.p + o, need - o < WBUF ? need - o : WBUF);
        uint64_t want;
        memcpy(&want, r.p + need, 8);
        if (ck_final(&c) != want)
            return rg_failf(err, RG_FORMAT, "index file: checksum mismatch (corrupt file)");
    }
    if (n == 0 ? max_level != -1 : (max_level < -1 || max_level >= RG_INDEX_MAX_LEVEL))
        return rg_failf(err, RG_FORMAT, "index file: max level %d at offset 80", max_level);

    rg_index *ix;
    rg_status st = rg__index_alloc(&p, &ix, err);
    if (st != RG_OK) return st;
    if (n && (st = rg__index_reserve(ix, n, err)) != RG_OK) goto fail;
    ix->rng = rng;
    r.off = HEADER_BYTES;
    if (n) memcpy(ix->ids, r.p + r.off, n * 8);
    r.off += n * 8;
    size_t n_del = 0;
    for (size_t i = 0; i < n; i++) {
        ix->levels[i] = lv[i] & 0x7f;
        ix->deleted[i] = lv[i] >> 7;
        n_del += ix->deleted[i];
        ix->upper[i] = NULL;
    }
    r.off += n;
    if (n_del != ndel) {
        st = rg_failf(err, RG_FORMAT, "index file: %zu deleted nodes, header says %llu", n_del,
                      (unsigned long long)ndel);
        goto fail;
    }
    ix->n = n; /* from here rg_index_free releases upper[] */
    ix->n_deleted = n_del;
    for (size_t i = 0; i < n; i++) {
        unsigned char *b = ix->l0 + i * ix->blk;
        memset(b, 0, ix->blk);
        memcpy(b, r.p + r.off, vec_bytes);
        if (ix->i8) {
            float s, n2;
            memcpy(&s, b, 4);
            memcpy(&n2, b + 4, 4);
            const int8_t *q = (const int8_t *)(b + 8);
            bool bad = !isfinite(s) || !isfinite(n2);
            for (uint32_t j = 0; j < dim && !bad; j++) bad = q[j] == -128;
            if (bad) {
                st = rg_failf(err, RG_FORMAT, "index file: bad int8 vector %zu at offset %zu", i,
                              r.off);
                goto fail;
            }
        }
        r.off += vec_bytes;
    }
    if (p.rerank) {
        if (n) memcpy(ix->fvec, r.p + r.off, n * (size_t)dim * 4);
        r.off += n * (size_t)dim * 4;
    }
    if (kind == RG_INDEX_HNSW) {
        for (size_t i = 0; i < n; i++) {
            uint32_t *l = (uint32_t *)(ix->l0 + i * ix->blk + ix->links_off);
            memcpy(l, r.p + r.off, l0_links);
            if (l[0] > (uint32_t)ix->M0) {
                st = rg_failf(err, RG_FORMAT, "index file: node %zu has %u links at offset %zu", i,
                              l[0], r.off);
                goto fail;
            }
            for (uint32_t j = 0; j < l[0]; j++)
                if (l[1 + j] >= n) {
                    st = rg_failf(err, RG_FORMAT, "index file: link to node %u past %zu at offset %zu",
                                  l[1 + j], n, r.off + 4 * (1 + j));
                    goto fail;
                }
            r.off += l0_links;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned L = ix->levels[i];
            if (!L) continue;
            size_t words = (size_t)L * (1 + (size_t)M);
            ix->upper[i] = malloc(words * 4);
            if (!ix->upper[i]) {
                st = rg_failf(err, RG_NOMEM, "index: out of memory loading links");
                goto fail;
            }
            memcpy(ix->upper[i], r.p + r.off, words * 4);
            for (unsigned lev = 1; lev <= L; lev++) {
                const uint32_t *l = ix->upper[i] + (size_t)(lev - 1) * (1 + M);
                bool bad = l[0] > M;
                for (uint32_t j = 0; j < l[0] && !bad; j++)
                    bad = l[1 + j] >= n || ix->levels[l[1 + j]] < lev;
                if (bad) {
                    st = rg_failf(err, RG_FORMAT, "index file: bad layer-%u links of node %zu at "
                                  "offset %zu", lev, i, r.off);
                    goto fail;
                }
            }
            r.off += words * 4;
        }
    }
    if (n) {
        if (kind == RG_INDEX_HNSW && (entry >= n || ix->levels[entry] != (unsigned)max_level)) {
            st = rg_failf(err, RG_FORMAT, "index file: entry node %u (max level %d) is invalid",
                          entry, max_level);
            goto fail;
        }
        ix->entry = entry;
        ix->max_level = kind == RG_INDEX_HNSW ? max_level : -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (ix->deleted[i]) continue;
        if (rg__map_get(ix, ix->ids[i]) != RG__NONE) {
            st = rg_failf(err, RG_FORMAT, "index file: id %llu appears twice",
                          (unsigned long long)ix->ids[i]);
            goto fail;
        }
        rg__map_put(ix, ix->ids[i], (uint32_t)i);
    }
    *out = ix;
    return RG_OK;
fail:
    rg_index_free(ix);
    return st;
}

rg_status rg_index_load(const char *path, rg_index **out, rg_err *err) {
    *out = NULL;
    rg_map m;
    rg_status st = rg_map_open(&m, path, err);
    if (st != RG_OK) return st;
    st = rg_index_load_mem(m.data, m.size, true, out, err);
    rg_map_close(&m);
    if (st != RG_OK) rg_err_prefix(err, "%s", path);
    return st;
}
