/* vecfile.c - .fvecs / .ivecs readers and writers (TEXMEX layout: per
 * vector an int32 dimension d, then d 4-byte values; every vector has the
 * same d).  Input is hostile: the dimension is range-checked and the file
 * size must be an exact multiple of the record size before allocating. */
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/limits.h"
#include "index/index.h"

static rg_status parse4(const void *buf, size_t len, const char *what, void **data, size_t *n,
                        int *dim, rg_err *err) {
    *data = NULL;
    *n = 0;
    *dim = 0;
    const unsigned char *p = buf;
    if (len == 0) return rg_failf(err, RG_FORMAT, "%s: empty file", what);
    if (len < 4) return rg_failf(err, RG_FORMAT, "%s: %zu bytes, shorter than one header", what, len);
    int32_t d;
    memcpy(&d, p, 4);
    if (d < 1 || d > RG_INDEX_MAX_DIM)
        return rg_failf(err, RG_FORMAT, "%s: dimension %d at offset 0 out of range 1..%d", what, d,
                        RG_INDEX_MAX_DIM);
    size_t rec = 4 + 4 * (size_t)d;
    if (len % rec != 0)
        return rg_failf(err, RG_FORMAT,
                        "%s: %zu bytes is not a whole number of %zu-byte records (dimension %d); "
                        "truncated at vector %zu",
                        what, len, rec, d, len / rec);
    size_t cnt = len / rec;
    for (size_t i = 1; i < cnt; i++) {
        int32_t di;
        memcpy(&di, p + i * rec, 4);
        if (di != d)
            return rg_failf(err, RG_FORMAT, "%s: vector %zu at offset %zu has dimension %d, expected %d",
                            what, i, i * rec, di, d);
    }
    unsigned char *out = malloc(cnt * (size_t)d * 4);
    if (!out) return rg_failf(err, RG_NOMEM, "%s: cannot allocate %zu vectors", what, cnt);
    for (size_t i = 0; i < cnt; i++) memcpy(out + i * (size_t)d * 4, p + i * rec + 4, (size_t)d * 4);
    *data = out;
    *n = cnt;
    *dim = d;
    return RG_OK;
}

rg_status rg_fvecs_parse(const void *buf, size_t len, float **data, size_t *n, int *dim,
                         rg_err *err) {
    return parse4(buf, len, "fvecs", (void **)data, n, dim, err);
}

rg_status rg_ivecs_parse(const void *buf, size_t len, int32_t **data, size_t *n, int *dim,
                         rg_err *err) {
    return parse4(buf, len, "ivecs", (void **)data, n, dim, err);
}

static rg_status read4(const char *path, bool ints, void **data, size_t *n, int *dim, rg_err *err) {
    *data = NULL;
    rg_map m;
    rg_status st = rg_map_open(&m, path, err);
    if (st != RG_OK) return st;
    if (m.size > RG_VECS_MAX_BYTES) {
        rg_map_close(&m);
        return rg_failf(err, RG_LIMIT, "%s: %zu bytes is over the limit", path, m.size);
    }
    st = parse4(m.data, m.size, ints ? "ivecs" : "fvecs", data, n, dim, err);
    rg_map_close(&m);
    if (st != RG_OK) rg_err_prefix(err, "%s", path);
    return st;
}

rg_status rg_fvecs_read(const char *path, float **data, size_t *n, int *dim, rg_err *err) {
    return read4(path, false, (void **)data, n, dim, err);
}

rg_status rg_ivecs_read(const char *path, int32_t **data, size_t *n, int *dim, rg_err *err) {
    return read4(path, true, (void **)data, n, dim, err);
}

static rg_status write4(const char *path, const void *data, size_t n, int dim, rg_err *err) {
    if (dim < 1 || dim > RG_INDEX_MAX_DIM)
        return rg_failf(err, RG_INVALID, "%s: dimension %d out of range", path, dim);
    size_t rec = 4 + 4 * (size_t)dim, total;
    if (__builtin_mul_overflow(rec, n, &total))
        return rg_failf(err, RG_LIMIT, "%s: too many vectors", path);
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf) return rg_failf(err, RG_NOMEM, "%s: cannot allocate %zu bytes", path, total);
    int32_t d = dim;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + i * rec, &d, 4);
        memcpy(buf + i * rec + 4, (const unsigned char *)data + i * (size_t)dim * 4, (size_t)dim * 4);
    }
    rg_status st = rg_file_write_atomic(path, buf, total, err);
    free(buf);
    return st;
}

rg_status rg_fvecs_write(const char *path, const float *data, size_t n, int dim, rg_err *err) {
    return write4(path, data, n, dim, err);
}

rg_status rg_ivecs_write(const char *path, const int32_t *data, size_t n, int dim, rg_err *err) {
    return write4(path, data, n, dim, err);
}
