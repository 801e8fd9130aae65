/* gguf.c - GGUF v2/v3 reader (validating, over an mmap) and v3 writer.
 *
 * Invariants of a handle returned by rg_gguf_open*:
 *  - every count, length, offset and size read from the file has been
 *    checked (overflow-checked) against the bytes that remain, before any
 *    allocation sized by it; allocations are bounded by a small multiple of
 *    the file size;
 *  - every kv value's raw bytes [raw, raw+raw_len) lie inside the map, so
 *    numeric array elements are read straight from the map;
 *  - every tensor's [offset, offset+nbytes) lies inside the data section,
 *    offset is a multiple of the alignment, tensors do not overlap, names
 *    and keys are unique.
 * All multi-byte values are little-endian (big-endian GGUF is rejected). */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/limits.h"

#define GGUF_DEFAULT_ALIGNMENT 32u

typedef struct gstr {
    const char *p; /* NUL-terminated copy in the arena */
    uint64_t len;
} gstr;

typedef struct gkv {
    const char *key;
    uint64_t key_len;
    rg_gguf_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;                       /* scalars */
    gstr s;                    /* RG_GGUF_STRING */
    rg_gguf_type elem;         /* RG_GGUF_ARRAY */
    uint64_t n;                /* array element count */
    gstr *strs;                /* string arrays: n entries */
    const unsigned char *raw;  /* value bytes in the map (after the type) */
    uint64_t raw_len;
} gkv;

struct rg_gguf {
    rg_map map;           /* owned when opened from a path */
    bool owns_map;
    const unsigned char *data;
    uint64_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset; /* start of the data section */
    int64_t n_kv;
    gkv *kv;
    int64_t n_tensors;
    rg_gguf_tensor *tensors;
    int64_t *kv_hash; /* open addressing, -1 = empty */
    uint64_t kv_hash_mask;
    int64_t *t_hash;
    uint64_t t_hash_mask;
    rg_arena arena;
};

/* ---- cursor over the map ---- */

typedef struct cur {
    const unsigned char *p;
    uint64_t off, size;
    rg_err *err;
} cur;

static uint64_t remaining(const cur *c) { return c->size - c->off; }

static rg_status need(cur *c, uint64_t n, const char *what) {
    if (n > remaining(c))
        return rg_failf(c->err, RG_FORMAT,
                        "gguf: %s at offset %llu needs %llu bytes, only %llu left in file (%llu bytes)",
                        what, (unsigned long long)c->off, (unsigned long long)n,
                        (unsigned long long)remaining(c), (unsigned long long)c->size);
    return RG_OK;
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static rg_status rd_u32(cur *c, uint32_t *v, const char *what) {
    rg_status s = need(c, 4, what);
    if (s) return s;
    *v = le32(c->p + c->off);
    c->off += 4;
    return RG_OK;
}
static rg_status rd_u64(cur *c, uint64_t *v, const char *what) {
    rg_status s = need(c, 8, what);
    if (s) return s;
    *v = le64(c->p + c->off);
    c->off += 8;
    return RG_OK;
}

/* Reads a GGUF string (u64 length + bytes) and returns a view into the map. */
static rg_status rd_strview(cur *c, uint64_t max, const char *what, const unsigned char **p,
                            uint64_t *len) {
    uint64_t n;
    uint64_t at = c->off;
    rg_status s = rd_u64(c, &n, what);
    if (s) return s;
    if (n > max)
        return rg_failf(c->err, RG_FORMAT, "gguf: %s length %llu at offset %llu exceeds the limit %llu",
                        what, (unsigned long long)n, (unsigned long long)at, (unsigned long long)max);
    if (n > remaining(c))
        return rg_failf(c->err, RG_FORMAT,
                        "gguf: %s length %llu at offset %llu runs past the end of the file (%llu bytes left)",
                        what, (unsigned long long)n, (unsigned long long)at,
                        (unsigned long long)remaining(c));
    *p = c->p + c->off;
    *len = n;
    c->off += n;
    return RG_OK;
}

static const char *type_names[] = {"u8",   "i8",  "u16", "i16",   "u32", "i32", "f32",
                                   "bool", "str", "arr", "u64",   "i64", "f64"};

const char *rg_gguf_type_name(rg_gguf_type t) {
    if ((unsigned)t < sizeof type_names / sizeof type_names[0]) return type_names[t];
    return "unknown";
}

/* Bytes of one scalar of type t; 0 for string/array/unknown. */
static uint64_t scalar_size(uint32_t t) {
    switch (t) {
    case RG_GGUF_UINT8: case RG_GGUF_INT8: case RG_GGUF_BOOL: return 1;
    case RG_GGUF_UINT16: case RG_GGUF_INT16: return 2;
    case RG_GGUF_UINT32: case RG_GGUF_INT32: case RG_GGUF_FLOAT32: return 4;
    case RG_GGUF_UINT64: case RG_GGUF_INT64: case RG_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* Minimum encoded bytes of one element of type t (for count checks). */
static uint64_t min_elem_size(uint32_t t) {
    if (t == RG_GGUF_STRING) return 8;
    if (t == RG_GGUF_ARRAY) return 12;
    return scalar_size(t);
}

static bool known_type(uint32_t t) { return t <= RG_GGUF_FLOAT64; }

/* Decodes the scalar at p of type t into the kv union. */
static void decode_scalar(gkv *kv, uint32_t t, const unsigned char *p) {
    switch (t) {
    case RG_GGUF_UINT8: kv->v.u = p[0]; break;
    case RG_GGUF_INT8: kv->v.i = (int8_t)p[0]; break;
    case RG_GGUF_BOOL: kv->v.u = p[0] != 0; break;
    case RG_GGUF_UINT16: kv->v.u = (uint16_t)(p[0] | p[1] << 8); break;
    case RG_GGUF_INT16: kv->v.i = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case RG_GGUF_UINT32: kv->v.u = le32(p); break;
    case RG_GGUF_INT32: kv->v.i = (int32_t)le32(p); break;
    case RG_GGUF_FLOAT32: {
        uint32_t b = le32(p);
        float f;
        memcpy(&f, &b, 4);
        kv->v.f = f;
        break;
    }
    case RG_GGUF_UINT64: kv->v.u = le64(p); break;
    case RG_GGUF_INT64: kv->v.i = (int64_t)le64(p); break;
    case RG_GGUF_FLOAT64: {
        uint64_t b = le64(p);
        memcpy(&kv->v.f, &b, 8);
        break;
    }
    default: break;
    }
}

#define GGUF_MAX_NEST 4

/* Walks (validates) an array body: element type + count + elements. Nested
 * arrays are walked to depth GGUF_MAX_NEST; every element consumes at least
 * one byte of the file, so the walk is linear in the file size. */
static rg_status walk_array(cur *c, const char *key, int depth, uint32_t *elem_out,
                            uint64_t *n_out) {
    uint32_t et;
    uint64_t n;
    uint64_t at = c->off;
    rg_status s;
    if (depth > GGUF_MAX_NEST)
        return rg_failf(c->err, RG_FORMAT,
                        "gguf: key '%s': array nesting depth %d at offset %llu exceeds the limit %d",
                        key, depth, (unsigned long long)at, GGUF_MAX_NEST);
    if ((s = rd_u32(c, &et, "array element type"))) return s;
    if (!known_type(et))
        return rg_failf(c->err, RG_FORMAT,
                        "gguf: key '%s': array element type %u at offset %llu is unknown (max %d)", key,
                        et, (unsigned long long)at, RG_GGUF_FLOAT64);
    if ((s = rd_u64(c, &n, "array count"))) return s;
    if (n > RG_GGUF_MAX_ARRAY)
        return rg_failf(c->err, RG_FORMAT,
                        "gguf: key '%s': array count %llu at offset %llu exceeds the limit %llu", key,
                        (unsigned long long)n, (unsigned long long)at,
                        (unsigned long long)RG_GGUF_MAX_ARRAY);
    uint64_t es = min_elem_size(et);
    if (n > remaining(c) / es)
        return rg_failf(c->err, RG_FORMAT,
                        "gguf: key '%s': array count %llu of %s at offset %llu needs at least %llu bytes "
                        "per element, only %llu bytes left",
                        key, (unsigned long long)n, rg_gguf_type_name((rg_gguf_type)et),
                        (unsigned long long)at, (unsigned long long)es,
                        (unsigned long long)remaining(c));
    *elem_out = et;
    *n_out = n;
    if (et == RG_GGUF_STRING) {
        for (uint64_t i = 0; i < n; i++) {
            const unsigned char *p;
            uint64_t len;
            if ((s = rd_strview(c, RG_GGUF_MAX_STRING, "array string", &p, &len))) {
                return rg_err_prefix(c->err, "key '%s' element %llu", key, (unsigned long long)i);
            }
        }
    } else if (et == RG_GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++) {
            uint32_t e2;
            uint64_t n2;
            if ((s = walk_array(c, key, depth + 1, &e2, &n2))) return s;
        }
    } else {
        c->off += n * es; /* checked above */
    }
    return RG_OK;
}

/* ---- hash tables of names ---- */

static uint64_t hmask_for(int64_t n) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    return cap - 1;
}

/* Inserts index i with name; returns the index of an existing equal name,
 * or -1 when inserted. */
static int64_t hinsert(int64_t *tab, uint64_t mask, const char *name, size_t len, int64_t i,
                       const char *(*name_of)(const rg_gguf *, int64_t, size_t *),
                       const rg_gguf *g) {
    uint64_t h = rg_hash64(name, len, 0) & mask;
    while (tab[h] >= 0) {
        size_t l2;
        const char *n2 = name_of(g, tab[h], &l2);
        if (l2 == len && memcmp(n2, name, len) == 0) return tab[h];
        h = (h + 1) & mask;
    }
    tab[h] = i;
    return -1;
}

static const char *kv_name_of(const rg_gguf *g, int64_t i, size_t *len) {
    *len = (size_t)g->kv[i].key_len;
    return g->kv[i].key;
}
static const char *t_name_of(const rg_gguf *g, int64_t i, size_t *len) {
    *len = strlen(g->tensors[i].name);
    return g->tensors[i].name;
}

static int64_t hfind(const int64_t *tab, uint64_t mask, const char *name,
                     const char *(*name_of)(const rg_gguf *, int64_t, size_t *),
                     const rg_gguf *g) {
    if (!tab) return -1;
    size_t len = strlen(name);
    uint64_t h = rg_hash64(name, len, 0) & mask;
    while (tab[h] >= 0) {
        size_t l2;
        const char *n2 = name_of(g, tab[h], &l2);
        if (l2 == len && memcmp(n2, name, len) == 0) return tab[h];
        h = (h + 1) & mask;
    }
    return -1;
}

/* ---- parsing ---- */

static rg_status parse_kv(rg_gguf *g, cur *c, int64_t idx) {
    gkv *kv = &g->kv[idx];
    const unsigned char *kp;
    uint64_t klen;
    uint64_t at = c->off;
    rg_status s;
    if ((s = rd_strview(c, RG_GGUF_MAX_KEY, "key", &kp, &klen)))
        return rg_err_prefix(c->err, "kv %lld", (long long)idx);
    if (klen == 0)
        return rg_failf(c->err, RG_FORMAT, "gguf: kv %lld at offset %llu has an empty key",
                        (long long)idx, (unsigned long long)at);
    if (memchr(kp, 0, (size_t)klen))
        return rg_failf(c->err, RG_FORMAT, "gguf: kv %lld at offset %llu: key contains a NUL byte",
                        (long long)idx, (unsigned long long)at);
    kv->key = rg_arena_strndup(&g->arena, (const char *)kp, (size_t)klen);
    if (!kv->key) return rg_failf(c->err, RG_NOMEM, "gguf: out of memory copying keys");
    kv->key_len = klen;
    int64_t dup = hinsert(g->kv_hash, g->kv_hash_mask, kv->key, (size_t)klen, idx, kv_name_of, g);
    if (dup >= 0)
        return rg_failf(c->err, RG_FORMAT, "gguf: duplicate key '%s' (kv %lld and kv %lld)",
                        kv->key, (long long)dup, (long long)idx);
    uint32_t t;
    if ((s = rd_u32(c, &t, "value type"))) return rg_err_prefix(c->err, "key '%s'", kv->key);
    if (!known_type(t))
        return rg_failf(c->err, RG_FORMAT, "gguf: key '%s': value type %u is unknown (max %d)",
                        kv->key, t, RG_GGUF_FLOAT64);
    kv->type = (rg_gguf_type)t;
    kv->raw = c->p + c->off;
    uint64_t start = c->off;
    if (t == RG_GGUF_STRING) {
        const unsigned char *p;
        uint64_t len;
        if ((s = rd_strview(c, RG_GGUF_MAX_STRING, "string value", &p, &len)))
            return rg_err_prefix(c->err, "key '%s'", kv->key);
        kv->s.p = rg_arena_strndup(&g->arena, (const char *)p, (size_t)len);
        if (!kv->s.p) return rg_failf(c->err, RG_NOMEM, "gguf: out of memory copying strings");
        kv->s.len = len;
    } else if (t == RG_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        uint64_t body = c->off;
        if ((s = walk_array(c, kv->key, 1, &et, &n))) return s;
        kv->elem = (rg_gguf_type)et;
        kv->n = n;
        if (et == RG_GGUF_STRING && n > 0) {
            /* n <= bytes left / 8, so this allocation is bounded by 2x the file size */
            kv->strs = rg_arena_calloc(&g->arena, (size_t)n, sizeof(gstr));
            if (!kv->strs) return rg_failf(c->err, RG_NOMEM, "gguf: out of memory for array '%s'", kv->key);
            cur c2 = {c->p, body + 12, c->size, c->err};
            for (uint64_t i = 0; i < n; i++) {
                const unsigned char *p;
                uint64_t len;
                if ((s = rd_strview(&c2, RG_GGUF_MAX_STRING, "array string", &p, &len))) return s;
                kv->strs[i].p = rg_arena_strndup(&g->arena, (const char *)p, (size_t)len);
                if (!kv->strs[i].p) return rg_failf(c->err, RG_NOMEM, "gguf: out of memory copying strings");
                kv->strs[i].len = len;
            }
        }
    } else {
        uint64_t sz = scalar_size(t);
        if ((s = need(c, sz, "scalar value"))) return rg_err_prefix(c->err, "key '%s'", kv->key);
        decode_scalar(kv, t, c->p + c->off);
        c->off += sz;
    }
    kv->raw_len = c->off - start;
    return RG_OK;
}

static rg_status parse_tensor_info(rg_gguf *g, cur *c, int64_t idx) {
    rg_gguf_tensor *t = &g->tensors[idx];
    const unsigned char *np;
    uint64_t nlen;
    uint64_t at = c->off;
    rg_status s;
    if ((s = rd_strview(c, RG_GGUF_MAX_NAME, "tensor name", &np, &nlen)))
        return rg_err_prefix(c->err, "tensor %lld", (long long)idx);
    if (nlen == 0 || memchr(np, 0, (size_t)nlen))
        return rg_failf(c->err, RG_FORMAT, "gguf: tensor %lld at offset %llu: name is empty or contains NUL",
                        (long long)idx, (unsigned long long)at);
    t->name = rg_arena_strndup(&g->arena, (const char *)np, (size_t)nlen);
    if (!t->name) return rg_failf(c->err, RG_NOMEM, "gguf: out of memory copying tensor names");
    int64_t dup = hinsert(g->t_hash, g->t_hash_mask, t->name, (size_t)nlen, idx, t_name_of, g);
    if (dup >= 0)
        return rg_failf(c->err, RG_FORMAT, "gguf: duplicate tensor name '%s' (tensor %lld and tensor %lld)",
                        t->name, (long long)dup, (long long)idx);
    uint32_t nd;
    if ((s = rd_u32(c, &nd, "n_dims"))) return rg_err_prefix(c->err, "tensor '%s'", t->name);
    if (nd < 1 || nd > RG_GGUF_MAX_DIMS)
        return rg_failf(c->err, RG_FORMAT, "gguf: tensor '%s': n_dims %u is outside 1..%d", t->name, nd,
                        RG_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t nelem = 1;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if ((s = rd_u64(c, &v, "tensor dimension"))) return rg_err_prefix(c->err, "tensor '%s'", t->name);
        if (v > (uint64_t)INT64_MAX)
            return rg_failf(c->err, RG_FORMAT, "gguf: tensor '%s': ne[%u] = %llu is negative or too large",
                            t->name, d, (unsigned long long)v);
        if (v != 0 && nelem > (uint64_t)INT64_MAX / v)
            return rg_failf(c->err, RG_FORMAT,
                            "gguf: tensor '%s': element count overflows at ne[%u] = %llu (product of "
                            "dimensions exceeds %lld)",
                            t->name, d, (unsigned long long)v, (long long)INT64_MAX);
        nelem *= v;
        t->ne[d] = (int64_t)v;
    }
    uint32_t ty;
    if ((s = rd_u32(c, &ty, "tensor type"))) return rg_err_prefix(c->err, "tensor '%s'", t->name);
    const rg_dtype_traits *tr = rg_dtype_get(ty);
    if (!tr)
        return rg_failf(c->err, RG_FORMAT, "gguf: tensor '%s': type %u is not a known ggml type", t->name, ty);
    t->type = (rg_dtype)ty;
    if ((uint64_t)t->ne[0] % (uint64_t)tr->block_size)
        return rg_failf(c->err, RG_FORMAT,
                        "gguf: tensor '%s': ne[0] = %lld is not a multiple of the %s block size %d",
                        t->name, (long long)t->ne[0], tr->name, tr->block_size);
    uint64_t row;
    if (rg_dtype_row_bytes(ty, (uint64_t)t->ne[0], &row) != 0)
        return rg_failf(c->err, RG_FORMAT, "gguf: tensor '%s': row size overflows", t->name);
    uint64_t nb = row;
    for (int d = 1; d < 4; d++) {
        uint64_t v = (uint64_t)t->ne[d];
        if (v != 0 && nb > UINT64_MAX / v)
            return rg_failf(c->err, RG_FORMAT, "gguf: tensor '%s': byte size overflows at ne[%d] = %llu",
                            t->name, d, (unsigned long long)v);
        nb *= v;
    }
    t->nbytes = nb;
    if ((s = rd_u64(c, &t->offset, "tensor offset"))) return rg_err_prefix(c->err, "tensor '%s'", t->name);
    return RG_OK;
}

static int cmp_off(const void *a, const void *b) {
    const rg_gguf_tensor *x = *(const rg_gguf_tensor *const *)a, *y = *(const rg_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static rg_status parse(rg_gguf *g, rg_err *err) {
    cur c = {g->data, 0, g->size, err};
    rg_status s;
    if (g->size < 4 || memcmp(g->data, "GGUF", 4) != 0) {
        if (g->size < 4)
            return rg_failf(err, RG_FORMAT, "gguf: file is %llu bytes, too small for the magic",
                            (unsigned long long)g->size);
        return rg_failf(err, RG_FORMAT, "gguf: bad magic %02x %02x %02x %02x (expected 'GGUF')",
                        g->data[0], g->data[1], g->data[2], g->data[3]);
    }
    c.off = 4;
    if ((s = rd_u32(&c, &g->version, "version"))) return s;
    if (g->version == 1)
        return rg_failf(err, RG_FORMAT, "gguf: version 1 is not supported (32-bit counts; re-convert the model)");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && (g->version >> 24) <= 3)
            return rg_failf(err, RG_FORMAT, "gguf: version field %u looks big-endian; only little-endian files are supported",
                            g->version);
        return rg_failf(err, RG_FORMAT, "gguf: version %u is not supported (2 or 3)", g->version);
    }
    uint64_t nt, nkv;
    if ((s = rd_u64(&c, &nt, "tensor count"))) return s;
    if ((s = rd_u64(&c, &nkv, "kv count"))) return s;
    /* minimum encoded sizes: kv = key len 8 + type 4 + 1; tensor = name len 8 + 1 + n_dims 4 + 8 + type 4 + offset 8 */
    if (nkv > RG_GGUF_MAX_KV)
        return rg_failf(err, RG_FORMAT, "gguf: kv count %llu exceeds the limit %u", (unsigned long long)nkv,
                        RG_GGUF_MAX_KV);
    if (nt > RG_GGUF_MAX_TENSORS)
        return rg_failf(err, RG_FORMAT, "gguf: tensor count %llu exceeds the limit %u",
                        (unsigned long long)nt, RG_GGUF_MAX_TENSORS);
    if (nkv * 14 + nt * 33 > remaining(&c))
        return rg_failf(err, RG_FORMAT,
                        "gguf: kv count %llu and tensor count %llu need at least %llu bytes, the file has %llu left",
                        (unsigned long long)nkv, (unsigned long long)nt,
                        (unsigned long long)(nkv * 14 + nt * 33), (unsigned long long)remaining(&c));
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    g->kv = calloc(nkv ? nkv : 1, sizeof(gkv));
    g->tensors = calloc(nt ? nt : 1, sizeof(rg_gguf_tensor));
    g->kv_hash_mask = hmask_for(g->n_kv);
    g->t_hash_mask = hmask_for(g->n_tensors);
    g->kv_hash = malloc((g->kv_hash_mask + 1) * sizeof(int64_t));
    g->t_hash = malloc((g->t_hash_mask + 1) * sizeof(int64_t));
    if (!g->kv || !g->tensors || !g->kv_hash || !g->t_hash)
        return rg_failf(err, RG_NOMEM, "gguf: out of memory for %llu kvs / %llu tensors",
                        (unsigned long long)nkv, (unsigned long long)nt);
    memset(g->kv_hash, 0xff, (g->kv_hash_mask + 1) * sizeof(int64_t));
    memset(g->t_hash, 0xff, (g->t_hash_mask + 1) * sizeof(int64_t));

    for (int64_t i = 0; i < g->n_kv; i++)
        if ((s = parse_kv(g, &c, i))) return s;

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = rg_gguf_find_kv(g, "general.alignment");
    if (ai >= 0) {
        const gkv *kv = &g->kv[ai];
        if (kv->type != RG_GGUF_UINT32)
            return rg_failf(err, RG_FORMAT, "gguf: general.alignment has type %s, expected u32",
                            rg_gguf_type_name(kv->type));
        if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) || kv->v.u > RG_GGUF_MAX_ALIGNMENT)
            return rg_failf(err, RG_FORMAT,
                            "gguf: general.alignment = %llu is not a power of two in 1..%u",
                            (unsigned long long)kv->v.u, RG_GGUF_MAX_ALIGNMENT);
        g->alignment = (uint32_t)kv->v.u;
    }

    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((s = parse_tensor_info(g, &c, i))) return s;

    uint64_t a = g->alignment;
    uint64_t ds = c.off;
    if (ds % a) ds += a - ds % a;
    if (g->n_tensors > 0 && ds > g->size)
        return rg_failf(err, RG_FORMAT, "gguf: data section starts at %llu, past the end of the file (%llu)",
                        (unsigned long long)ds, (unsigned long long)g->size);
    if (ds > g->size) ds = g->size; /* no tensors: the data section may be absent */
    g->data_offset = ds;
    uint64_t dsize = g->size - ds;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        rg_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a)
            return rg_failf(err, RG_FORMAT, "gguf: tensor '%s' offset %llu is not a multiple of the alignment %llu",
                            t->name, (unsigned long long)t->offset, (unsigned long long)a);
        if (t->offset > dsize || t->nbytes > dsize - t->offset)
            return rg_failf(err, RG_FORMAT,
                            "gguf: tensor '%s' offset %llu + size %llu is past the end of the data section (%llu bytes)",
                            t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                            (unsigned long long)dsize);
        t->data = g->data + ds + t->offset;
    }
    if (g->n_tensors > 1) {
        rg_gguf_tensor **ord = malloc((size_t)g->n_tensors * sizeof *ord);
        if (!ord) return rg_failf(err, RG_NOMEM, "gguf: out of memory");
        for (int64_t i = 0; i < g->n_tensors; i++) ord[i] = &g->tensors[i];
        qsort(ord, (size_t)g->n_tensors, sizeof *ord, cmp_off);
        for (int64_t i = 1; i < g->n_tensors; i++) {
            if (ord[i - 1]->offset + ord[i - 1]->nbytes > ord[i]->offset) {
                s = rg_failf(err, RG_FORMAT, "gguf: tensors '%s' (offset %llu, %llu bytes) and '%s' (offset %llu) overlap",
                             ord[i - 1]->name, (unsigned long long)ord[i - 1]->offset,
                             (unsigned long long)ord[i - 1]->nbytes, ord[i]->name,
                             (unsigned long long)ord[i]->offset);
                free(ord);
                return s;
            }
        }
        free(ord);
    }
    return RG_OK;
}

static rg_status open_common(rg_gguf *g, rg_gguf **out, rg_err *err) {
    rg_status s = parse(g, err);
    if (s) {
        rg_gguf_close(g);
        *out = NULL;
        return s;
    }
    *out = g;
    return RG_OK;
}

rg_status rg_gguf_open_memory(const void *data, size_t size, rg_gguf **out, rg_err *err) {
    *out = NULL;
    rg_gguf *g = calloc(1, sizeof *g);
    if (!g) return rg_failf(err, RG_NOMEM, "gguf: out of memory");
    rg_arena_init(&g->arena, 0);
    g->data = data;
    g->size = size;
    return open_common(g, out, err);
}

rg_status rg_gguf_open(const char *path, rg_gguf **out, rg_err *err) {
    *out = NULL;
    rg_gguf *g = calloc(1, sizeof *g);
    if (!g) return rg_failf(err, RG_NOMEM, "gguf: out of memory");
    rg_arena_init(&g->arena, 0);
    rg_status s = rg_map_open(&g->map, path, err);
    if (s) {
        free(g);
        return s;
    }
    g->owns_map = true;
    g->data = g->map.data;
    g->size = g->map.size;
    s = open_common(g, out, err);
    if (s) rg_err_prefix(err, "%s", path);
    return s;
}

void rg_gguf_close(rg_gguf *g) {
    if (!g) return;
    if (g->owns_map) rg_map_close(&g->map);
    free(g->kv);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
    rg_arena_free(&g->arena);
    free(g);
}

uint32_t rg_gguf_version(const rg_gguf *g) { return g->version; }
uint32_t rg_gguf_alignment(const rg_gguf *g) { return g->alignment; }
uint64_t rg_gguf_file_size(const rg_gguf *g) { return g->size; }
uint64_t rg_gguf_data_offset(const rg_gguf *g) { return g->data_offset; }

int64_t rg_gguf_n_kv(const rg_gguf *g) { return g->n_kv; }
const char *rg_gguf_kv_key(const rg_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}
rg_gguf_type rg_gguf_kv_type(const rg_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : (rg_gguf_type)-1;
}
int64_t rg_gguf_find_kv(const rg_gguf *g, const char *key) {
    return hfind(g->kv_hash, g->kv_hash_mask, key, kv_name_of, g);
}

static const gkv *getkv(const rg_gguf *g, const char *key) {
    int64_t i = rg_gguf_find_kv(g, key);
    return i >= 0 ? &g->kv[i] : NULL;
}

static bool is_signed(rg_gguf_type t) {
    return t == RG_GGUF_INT8 || t == RG_GGUF_INT16 || t == RG_GGUF_INT32 || t == RG_GGUF_INT64;
}
static bool is_unsigned(rg_gguf_type t) {
    return t == RG_GGUF_UINT8 || t == RG_GGUF_UINT16 || t == RG_GGUF_UINT32 || t == RG_GGUF_UINT64;
}

bool rg_gguf_get_u32(const rg_gguf *g, const char *key, uint32_t *out) {
    const gkv *kv = getkv(g, key);
    if (!kv) return false;
    if (is_unsigned(kv->type) && kv->v.u <= UINT32_MAX) {
        *out = (uint32_t)kv->v.u;
        return true;
    }
    if (is_signed(kv->type) && kv->v.i >= 0 && kv->v.i <= (int64_t)UINT32_MAX) {
        *out = (uint32_t)kv->v.i;
        return true;
    }
    return false;
}

bool rg_gguf_get_i64(const rg_gguf *g, const char *key, int64_t *out) {
    const gkv *kv = getkv(g, key);
    if (!kv) return false;
    if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u;
        return true;
    }
    if (is_signed(kv->type)) {
        *out = kv->v.i;
        return true;
    }
    return false;
}

bool rg_gguf_get_f32(const rg_gguf *g, const char *key, float *out) {
    const gkv *kv = getkv(g, key);
    if (!kv || (kv->type != RG_GGUF_FLOAT32 && kv->type != RG_GGUF_FLOAT64)) return false;
    *out = (float)kv->v.f;
    return true;
}

bool rg_gguf_get_bool(const rg_gguf *g, const char *key, bool *out) {
    const gkv *kv = getkv(g, key);
    if (!kv || kv->type != RG_GGUF_BOOL) return false;
    *out = kv->v.u != 0;
    return true;
}

const char *rg_gguf_get_str(const rg_gguf *g, const char *key, size_t *len) {
    const gkv *kv = getkv(g, key);
    if (!kv || kv->type != RG_GGUF_STRING) return NULL;
    if (len) *len = (size_t)kv->s.len;
    return kv->s.p;
}

bool rg_gguf_get_arr(const rg_gguf *g, const char *key, rg_gguf_type *elem, uint64_t *n) {
    const gkv *kv = getkv(g, key);
    if (!kv || kv->type != RG_GGUF_ARRAY) return false;
    if (elem) *elem = kv->elem;
    if (n) *n = kv->n;
    return true;
}

bool rg_gguf_kv_arr(const rg_gguf *g, int64_t i, rg_gguf_type *elem, uint64_t *n) {
    if (i < 0 || i >= g->n_kv || g->kv[i].type != RG_GGUF_ARRAY) return false;
    if (elem) *elem = g->kv[i].elem;
    if (n) *n = g->kv[i].n;
    return true;
}

const char *rg_gguf_arr_str(const rg_gguf *g, const char *key, uint64_t i, size_t *len) {
    const gkv *kv = getkv(g, key);
    if (!kv || kv->type != RG_GGUF_ARRAY || kv->elem != RG_GGUF_STRING || i >= kv->n) return NULL;
    if (len) *len = (size_t)kv->strs[i].len;
    return kv->strs[i].p;
}

const char *rg_gguf_kv_arr_str(const rg_gguf *g, int64_t k, uint64_t i, size_t *len) {
    if (k < 0 || k >= g->n_kv) return NULL;
    const gkv *kv = &g->kv[k];
    if (kv->type != RG_GGUF_ARRAY || kv->elem != RG_GGUF_STRING || i >= kv->n) return NULL;
    if (len) *len = (size_t)kv->strs[i].len;
    return kv->strs[i].p;
}

/* Element i of a numeric array kv (raw = elem type u32 + count u64 + data). */
static bool arr_elem(const gkv *kv, uint64_t i, gkv *tmp) {
    if (!kv || kv->type != RG_GGUF_ARRAY || i >= kv->n) return false;
    uint64_t es = scalar_size(kv->elem);
    if (!es) return false;
    decode_scalar(tmp, kv->elem, kv->raw + 12 + i * es);
    return true;
}

bool rg_gguf_arr_f64(const rg_gguf *g, const char *key, uint64_t i, double *out) {
    const gkv *kv = getkv(g, key);
    gkv t;
    if (!arr_elem(kv, i, &t)) return false;
    if (kv->elem == RG_GGUF_FLOAT32 || kv->elem == RG_GGUF_FLOAT64) *out = t.v.f;
    else if (is_signed(kv->elem)) *out = (double)t.v.i;
    else *out = (double)t.v.u;
    return true;
}

bool rg_gguf_arr_i64(const rg_gguf *g, const char *key, uint64_t i, int64_t *out) {
    const gkv *kv = getkv(g, key);
    gkv t;
    if (!arr_elem(kv, i, &t)) return false;
    if (kv->elem == RG_GGUF_FLOAT32 || kv->elem == RG_GGUF_FLOAT64) return false;
    if (is_signed(kv->elem)) *out = t.v.i;
    else if (t.v.u > (uint64_t)INT64_MAX) return false;
    else *out = (int64_t)t.v.u;
    return true;
}

const void *rg_gguf_arr_data(const rg_gguf *g, const char *key, rg_gguf_type *elem, uint64_t *n) {
    const gkv *kv = getkv(g, key);
    if (!kv || kv->type != RG_GGUF_ARRAY || !scalar_size(kv->elem)) return NULL;
    if (elem) *elem = kv->elem;
    if (n) *n = kv->n;
    return kv->raw + 12;
}

int64_t rg_gguf_n_tensors(const rg_gguf *g) { return g->n_tensors; }
const rg_gguf_tensor *rg_gguf_tensor_at(const rg_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}
const rg_gguf_tensor *rg_gguf_find_tensor(const rg_gguf *g, const char *name) {
    int64_t i = hfind(g->t_hash, g->t_hash_mask, name, t_name_of, g);
    return i >= 0 ? &g->tensors[i] : NULL;
}

/* ---- formatting values (inspect) ---- */

static void put_json_str(rg_buf *b, const char *s, size_t n) {
    rg_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            rg_buf_putc(b, '\\');
            rg_buf_putc(b, (char)ch);
        } else if (ch == '\n') rg_buf_puts(b, "\\n");
        else if (ch == '\t') rg_buf_puts(b, "\\t");
        else if (ch == '\r') rg_buf_puts(b, "\\r");
        else if (ch < 0x20 || ch == 0x7f) rg_buf_printf(b, "\\u%04x", ch);
        else rg_buf_putc(b, (char)ch);
    }
    rg_buf_putc(b, '"');
}

static void put_scalar(rg_buf *b, rg_gguf_type t, const gkv *v) {
    if (t == RG_GGUF_BOOL) rg_buf_puts(b, v->v.u ? "true" : "false");
    else if (t == RG_GGUF_FLOAT32 || t == RG_GGUF_FLOAT64) {
        if (v->v.f != v->v.f || v->v.f - v->v.f != 0) rg_buf_puts(b, "null"); /* NaN/inf: not JSON */
        else rg_buf_printf(b, "%.9g", v->v.f);
    } else if (is_signed(t)) rg_buf_printf(b, "%lld", (long long)v->v.i);
    else rg_buf_printf(b, "%llu", (unsigned long long)v->v.u);
}

rg_status rg_gguf_kv_format(const rg_gguf *g, int64_t i, size_t max_elems, rg_buf *out) {
    if (i < 0 || i >= g->n_kv) return RG_INVALID;
    const gkv *kv = &g->kv[i];
    if (kv->type == RG_GGUF_STRING) {
        put_json_str(out, kv->s.p, (size_t)kv->s.len);
    } else if (kv->type == RG_GGUF_ARRAY) {
        rg_buf_putc(out, '[');
        uint64_t n = kv->n < max_elems ? kv->n : max_elems;
        if (kv->elem == RG_GGUF_ARRAY) {
            rg_buf_printf(out, "\"<%llu nested arrays>\"", (unsigned long long)kv->n);
            n = 0;
        }
        for (uint64_t k = 0; k < n; k++) {
            if (k) rg_buf_puts(out, ", ");
            if (kv->elem == RG_GGUF_STRING) put_json_str(out, kv->strs[k].p, (size_t)kv->strs[k].len);
            else {
                gkv t;
                arr_elem(kv, k, &t);
                put_scalar(out, kv->elem, &t);
            }
        }
        if (kv->n > n && kv->elem != RG_GGUF_ARRAY)
            rg_buf_printf(out, "%s\"... %llu more\"", n ? ", " : "", (unsigned long long)(kv->n - n));
        rg_buf_putc(out, ']');
    } else {
        put_scalar(out, kv->type, kv);
    }
    return RG_OK;
}

/* ---- writer ---- */

typedef struct wkv {
    char *key;
    uint32_t type;
    rg_buf val; /* encoded value bytes (after the type) */
} wkv;

typedef struct wtensor {
    char *name;
    rg_dtype type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    uint64_t nbytes;
    uint64_t offset;
} wtensor;

struct rg_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    rg_status sticky; /* first failure of a setter (reported by write) */
    char sticky_msg[200];
};

rg_gguf_writer *rg_gguf_writer_new(void) { return calloc(1, sizeof(rg_gguf_writer)); }

void rg_gguf_writer_free(rg_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        rg_buf_free(&w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static rg_status wfail(rg_gguf_writer *w, rg_status s, const char *msg, const char *what) {
    if (!w->sticky) {
        w->sticky = s;
        snprintf(w->sticky_msg, sizeof w->sticky_msg, "gguf writer: %s: %s", what, msg);
    }
    return s;
}

/* Returns the kv slot for key (replacing an existing value). */
static wkv *wslot(rg_gguf_writer *w, const char *key, uint32_t type) {
    size_t klen = strlen(key);
    if (klen == 0 || klen > RG_GGUF_MAX_KEY) {
        wfail(w, RG_INVALID, "bad key length", key);
        return NULL;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            rg_buf_reset(&w->kv[i].val);
            w->kv[i].type = type;
            return &w->kv[i];
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *nk = realloc(w->kv, nc * sizeof *nk);
        if (!nk) {
            wfail(w, RG_NOMEM, "out of memory", key);
            return NULL;
        }
        w->kv = nk;
        w->cap_kv = nc;
    }
    wkv *k = &w->kv[w->n_kv];
    k->key = strdup(key);
    if (!k->key) {
        wfail(w, RG_NOMEM, "out of memory", key);
        return NULL;
    }
    k->type = type;
    rg_buf_init(&k->val, 0);
    w->n_kv++;
    return k;
}

static rg_status put_u32(rg_buf *b, uint32_t v) {
    unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return rg_buf_append(b, p, 4);
}
static rg_status put_u64(rg_buf *b, uint64_t v) {
    unsigned char p[8];
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
    return rg_buf_append(b, p, 8);
}
static rg_status put_str(rg_buf *b, const char *s, size_t n) {
    rg_status st = put_u64(b, n);
    return st ? st : rg_buf_append(b, s, n);
}

static rg_status wdone(rg_gguf_writer *w, rg_status s, const char *key) {
    return s ? wfail(w, s, "out of memory", key) : RG_OK;
}

rg_status rg_gguf_writer_set_u32(rg_gguf_writer *w, const char *key, uint32_t v) {
    wkv *k = wslot(w, key, RG_GGUF_UINT32);
    return k ? wdone(w, put_u32(&k->val, v), key) : w->sticky;
}
rg_status rg_gguf_writer_set_i32(rg_gguf_writer *w, const char *key, int32_t v) {
    wkv *k = wslot(w, key, RG_GGUF_INT32);
    return k ? wdone(w, put_u32(&k->val, (uint32_t)v), key) : w->sticky;
}
rg_status rg_gguf_writer_set_u64(rg_gguf_writer *w, const char *key, uint64_t v) {
    wkv *k = wslot(w, key, RG_GGUF_UINT64);
    return k ? wdone(w, put_u64(&k->val, v), key) : w->sticky;
}
rg_status rg_gguf_writer_set_f32(rg_gguf_writer *w, const char *key, float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    wkv *k = wslot(w, key, RG_GGUF_FLOAT32);
    return k ? wdone(w, put_u32(&k->val, b), key) : w->sticky;
}
rg_status rg_gguf_writer_set_bool(rg_gguf_writer *w, const char *key, bool v) {
    wkv *k = wslot(w, key, RG_GGUF_BOOL);
    return k ? wdone(w, rg_buf_putc(&k->val, v ? 1 : 0), key) : w->sticky;
}
rg_status rg_gguf_writer_set_str(rg_gguf_writer *w, const char *key, const char *v) {
    wkv *k = wslot(w, key, RG_GGUF_STRING);
    return k ? wdone(w, put_str(&k->val, v, strlen(v)), key) : w->sticky;
}
rg_status rg_gguf_writer_set_arr_str(rg_gguf_writer *w, const char *key, const char *const *v,
                                     uint64_t n) {
    wkv *k = wslot(w, key, RG_GGUF_ARRAY);
    if (!k) return w->sticky;
    rg_status s = put_u32(&k->val, RG_GGUF_STRING);
    if (!s) s = put_u64(&k->val, n);
    for (uint64_t i = 0; !s && i < n; i++) s = put_str(&k->val, v[i], strlen(v[i]));
    return wdone(w, s, key);
}
rg_status rg_gguf_writer_set_arr_i32(rg_gguf_writer *w, const char *key, const int32_t *v,
                                     uint64_t n) {
    wkv *k = wslot(w, key, RG_GGUF_ARRAY);
    if (!k) return w->sticky;
    rg_status s = put_u32(&k->val, RG_GGUF_INT32);
    if (!s) s = put_u64(&k->val, n);
    for (uint64_t i = 0; !s && i < n; i++) s = put_u32(&k->val, (uint32_t)v[i]);
    return wdone(w, s, key);
}
rg_status rg_gguf_writer_set_arr_f32(rg_gguf_writer *w, const char *key, const float *v,
                                     uint64_t n) {
    wkv *k = wslot(w, key, RG_GGUF_ARRAY);
    if (!k) return w->sticky;
    rg_status s = put_u32(&k->val, RG_GGUF_FLOAT32);
    if (!s) s = put_u64(&k->val, n);
    for (uint64_t i = 0; !s && i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        s = put_u32(&k->val, b);
    }
    return wdone(w, s, key);
}

rg_status rg_gguf_writer_copy_kv(rg_gguf_writer *w, const rg_gguf *src) {
    for (int64_t i = 0; i < src->n_kv; i++) {
        const gkv *kv = &src->kv[i];
        wkv *k = wslot(w, kv->key, kv->type);
        if (!k) return w->sticky;
        rg_status s = rg_buf_append(&k->val, kv->raw, (size_t)kv->raw_len);
        if (s) return wdone(w, s, kv->key);
    }
    return RG_OK;
}

rg_status rg_gguf_writer_add_tensor(rg_gguf_writer *w, const char *name, rg_dtype type,
                                    int n_dims, const int64_t *ne, const void *data,
                                    uint64_t nbytes) {
    size_t nl = strlen(name);
    /* ggml's GGML_MAX_NAME is 64 including the NUL: llama.cpp rejects longer names */
    if (nl == 0 || nl >= 64) return wfail(w, RG_INVALID, "tensor name must be 1..63 bytes", name);
    if (n_dims < 1 || n_dims > 4) return wfail(w, RG_INVALID, "n_dims must be 1..4", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return wfail(w, RG_EXISTS, "duplicate tensor name", name);
    uint64_t row, want;
    if (ne[0] < 0 || rg_dtype_row_bytes((uint32_t)type, (uint64_t)ne[0], &row) != 0)
        return wfail(w, RG_INVALID, "unknown type or ne[0] not a multiple of the block size", name);
    want = row;
    for (int d = 1; d < n_dims; d++) {
        if (ne[d] < 0 || (ne[d] && want > UINT64_MAX / (uint64_t)ne[d]))
            return wfail(w, RG_INVALID, "bad dimension", name);
        want *= (uint64_t)ne[d];
    }
    if (want != nbytes) return wfail(w, RG_INVALID, "nbytes does not match type and shape", name);
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt) return wfail(w, RG_NOMEM, "out of memory", name);
        w->t = nt;
        w->cap_t = nc;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return wfail(w, RG_NOMEM, "out of memory", name);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    w->n_t++;
    return RG_OK;
}

static rg_status write_all(int fd, const void *p, size_t n, const char *path, rg_err *err) {
    const char *c = p;
    while (n > 0) {
        ssize_t r = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return rg_failf(err, RG_IO, "%s: write failed: %s", path, strerror(errno));
        }
        c += r;
        n -= (size_t)r;
    }
    return RG_OK;
}

/* Builds the header (up to the aligned start of the data section) into h
 * and assigns tensor offsets. */
static rg_status build_header(rg_gguf_writer *w, rg_buf *h, uint64_t *align_out, rg_err *err) {
    if (w->sticky) return rg_failf(err, w->sticky, "%s", w->sticky_msg);
    uint64_t align = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") == 0) {
            if (w->kv[i].type != RG_GGUF_UINT32)
                return rg_failf(err, RG_INVALID, "gguf writer: general.alignment must be u32");
            align = le32((const unsigned char *)w->kv[i].val.data);
            if (align == 0 || (align & (align - 1)) || align > RG_GGUF_MAX_ALIGNMENT)
                return rg_failf(err, RG_INVALID, "gguf writer: general.alignment %llu is not a power of two",
                                (unsigned long long)align);
        }
    }
    rg_buf_init(h, 0);
    rg_status s = rg_buf_append(h, "GGUF", 4);
    if (!s) s = put_u32(h, 3);
    if (!s) s = put_u64(h, w->n_t);
    if (!s) s = put_u64(h, w->n_kv);
    for (size_t i = 0; !s && i < w->n_kv; i++) {
        s = put_str(h, w->kv[i].key, strlen(w->kv[i].key));
        if (!s) s = put_u32(h, w->kv[i].type);
        if (!s && w->kv[i].val.len) s = rg_buf_append(h, w->kv[i].val.data, w->kv[i].val.len);
    }
    uint64_t off = 0;
    for (size_t i = 0; !s && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        t->offset = off;
        s = put_str(h, t->name, strlen(t->name));
        if (!s) s = put_u32(h, (uint32_t)t->n_dims);
        for (int d = 0; !s && d < t->n_dims; d++) s = put_u64(h, (uint64_t)t->ne[d]);
        if (!s) s = put_u32(h, (uint32_t)t->type);
        if (!s) s = put_u64(h, t->offset);
        off += t->nbytes;
        if (off % align) off += align - off % align;
    }
    /* pad the header to the alignment (llama.cpp expects the data section aligned) */
    while (!s && w->n_t > 0 && h->len % align) s = rg_buf_putc(h, 0);
    if (s) {
        rg_buf_free(h);
        return rg_failf(err, s, "gguf writer: out of memory building the header");
    }
    *align_out = align;
    return RG_OK;
}

rg_status rg_gguf_writer_write_buf(rg_gguf_writer *w, rg_buf *out, rg_err *err) {
    rg_buf h;
    uint64_t align;
    rg_status s = build_header(w, &h, &align, err);
    if (s) return s;
    s = rg_buf_append(out, h.data, h.len);
    rg_buf_free(&h);
    for (size_t i = 0; !s && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        s = rg_buf_append(out, t->data, (size_t)t->nbytes);
        while (!s && (out->len % align)) s = rg_buf_putc(out, 0);
    }
    return s ? rg_failf(err, s, "gguf writer: out of memory") : RG_OK;
}

rg_status rg_gguf_writer_write(rg_gguf_writer *w, const char *path, rg_err *err) {
    rg_buf h;
    uint64_t align;
    rg_status s = build_header(w, &h, &align, err);
    if (s) return s;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rg_buf_free(&h);
        return rg_failf(err, RG_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    s = write_all(fd, h.data, h.len, tmp, err);
    rg_buf_free(&h);
    static const unsigned char zeros[64] = {0};
    for (size_t i = 0; !s && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        s = write_all(fd, t->data, (size_t)t->nbytes, tmp, err);
        uint64_t pad = t->nbytes % align ? align - t->nbytes % align : 0;
        while (!s && pad > 0) {
            size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
            s = write_all(fd, zeros, k, tmp, err);
            pad -= k;
        }
    }
    if (!s && fsync(fd) != 0) s = rg_failf(err, RG_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !s) s = rg_failf(err, RG_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = rg_failf(err, RG_IO, "%s: rename to %s failed: %s", tmp, path, strerror(errno));
    if (s) unlink(tmp);
    return s;
}
