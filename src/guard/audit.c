/* audit.c - tamper-evident audit log: append-only JSON lines, each with
 * the hash of the previous line.
 *
 * Line format (keys in this order, compact JSON):
 *   {"seq":1,"time":"...Z","key_id":..,"route":..,"collection":..,
 *    "docs":[..],"findings":{"cn_id":2},"status":200,"prev":"<64 hex>",
 *    "hash":"<64 hex>"}
 * body = the line up to (not including) ,"hash":  and
 * hash = SHA-256(body), or HMAC-SHA-256(key, body) when a key is set.
 * prev of line 1 is 64 zeros; prev of line n is the hash of line n-1, and
 * seq counts from 1 — so editing, deleting, inserting or reordering a line
 * breaks the chain at that line.  Findings are types and counts only. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/limits.h"
#include "guard/guard.h"

struct rg_audit {
    pthread_mutex_t mu;
    int fd;
    char *path;
    unsigned char key[64];
    size_t keylen;
    uint64_t seq;
    char prev[65];
    int deferred; /* rg_audit_set_deferred_sync: fdatasync in rg_audit_sync */
    int dirty;    /* lines written since the last fdatasync */
};

static const char ZERO_HASH[65] = "0000000000000000000000000000000000000000000000000000000000000000";

static void line_hash(const void *key, size_t keylen, const char *body, size_t n, char hex[65]) {
    uint8_t h[32];
    if (keylen) rg_hmac_sha256(key, keylen, body, n, h);
    else rg_sha256(body, n, h);
    rg_hex(h, 32, hex);
}

/* Checks one line (without its '\n'): hash suffix, recomputed hash, and
 * the JSON body's seq/prev against expectations.  Returns NULL when good,
 * else a reason (static).  Writes the line's hash and seq. */
static const char *check_line(const char *line, size_t n, const void *key, size_t keylen,
                              const char *want_prev, uint64_t want_seq, char hash_out[65]) {
    static const char tag[] = ",\"hash\":\"";
    size_t tl = sizeof tag - 1;
    if (n < tl + 66 || line[0] != '{') return "not an audit line";
    size_t hpos = n - 66 - tl; /* ,"hash":"<64>"} */
    if (memcmp(line + hpos, tag, tl) != 0 || line[n - 2] != '"' || line[n - 1] != '}')
        return "missing or malformed \"hash\" field at the end";
    const char *hv = line + hpos + tl;
    char calc[65];
    line_hash(key, keylen, line, hpos, calc);
    if (memcmp(calc, hv, 64) != 0) return "hash does not match the line's content";
    memcpy(hash_out, hv, 64);
    hash_out[64] = 0;
    /* parse body + "}" for seq and prev */
    char *js = malloc(hpos + 2);
    if (!js) return "out of memory";
    memcpy(js, line, hpos);
    js[hpos] = '}';
    js[hpos + 1] = 0;
    json_error_t je;
    json_t *o = json_loads(js, JSON_REJECT_DUPLICATES, &je);
    free(js);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return "body is not a JSON object";
    }
    const char *why = NULL;
    json_t *seq = json_object_get(o, "seq"), *prev = json_object_get(o, "prev");
    if (!json_is_integer(seq) || (uint64_t)json_integer_value(seq) != want_seq)
        why = "sequence number out of order (line deleted, inserted or moved)";
    else if (!json_is_string(prev) || strcmp(json_string_value(prev), want_prev) != 0)
        why = "\"prev\" does not match the previous line's hash";
    json_decref(o);
    return why;
}

rg_status rg_audit_verify(const char *path, const void *key, size_t keylen, size_t *nlines,
                          size_t *bad_line, rg_err *err) {
    *nlines = 0;
    *bad_line = 0;
    rg_map m;
    rg_status st = rg_map_open(&m, path, err);
    if (st) return st;
    const char *s = (const char *)m.data;
    size_t n = m.size, p = 0, lineno = 0;
    char prev[65], h[65];
    memcpy(prev, ZERO_HASH, 65);
    while (p < n) {
        const char *nl = memchr(s + p, '\n', n - p);
        lineno++;
        if (!nl) {
            *bad_line = lineno;
            st = rg_failf(err, RG_FORMAT, "%s:%zu: last line is incomplete (no newline)", path, lineno);
            break;
        }
        size_t ll = (size_t)(nl - (s + p));
        const char *why = ll > RG_AUDIT_MAX_LINE_BYTES
                              ? "line too long"
                              : check_line(s + p, ll, key, keylen, prev, lineno, h);
        if (why) {
            *bad_line = lineno;
            st = rg_failf(err, RG_FORMAT, "%s:%zu: %s", path, lineno, why);
            break;
        }
        memcpy(prev, h, 65);
        p += ll + 1;
    }
    if (!st) *nlines = lineno;
    rg_map_close(&m);
    return st;
}

rg_status rg_audit_open(rg_audit **out, const char *path, const void *key, size_t keylen,
                        rg_err *err) {
    *out = NULL;
    if (keylen > 64) return rg_failf(err, RG_INVALID, "audit: key longer than 64 bytes");
    rg_audit *a = calloc(1, sizeof *a);
    if (!a) return rg_failf(err, RG_NOMEM, "audit: out of memory");
    memcpy(a->prev, ZERO_HASH, 65);
    if (keylen) memcpy(a->key, key, keylen);
    a->keylen = keylen;
    a->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        free(a);
        return rg_failf(err, RG_IO, "%s: cannot open audit log: %s", path, strerror(errno));
    }
    /* continue the chain: the last line must be whole and its hash right */
    rg_map m;
    rg_status st = rg_map_open(&m, path, err);
    if (st) {
        close(a->fd);
        free(a);
        return st;
    }
    if (m.size) {
        const char *s = (const char *)m.data;
        size_t n = m.size;
        if (s[n - 1] != '\n') {
            st = rg_failf(err, RG_FORMAT, "%s: last line is incomplete; run 'ragd audit verify %s'",
                          path, path);
        } else {
            size_t e = n - 1, b = e;
            while (b > 0 && s[b - 1] != '\n') b--;
            uint64_t lines = 0;
            for (size_t k = 0; k < n; k++) lines += s[k] == '\n';
            /* the previous hash is taken from the line itself; its prev is
             * not re-checked here (that is what verify is for) */
            char h[65];
            static const char tag[] = ",\"hash\":\"";
            size_t ll = e - b, tl = sizeof tag - 1;
            if (ll < tl + 66 || memcmp(s + b + ll - 66 - tl, tag, tl) != 0) {
                st = rg_failf(err, RG_FORMAT, "%s: last line is not an audit line", path);
            } else {
                line_hash(key, keylen, s + b, ll - 66 - tl, h);
                if (memcmp(h, s + b + ll - 66, 64) != 0)
                    st = rg_failf(err, RG_FORMAT,
                                  "%s:%llu: last line's hash does not match (tampered, or a "
                                  "different key)",
                                  path, (unsigned long long)lines);
                memcpy(a->prev, h, 65);
                a->seq = lines;
            }
        }
    }
    rg_map_close(&m);
    if (st) {
        close(a->fd);
        free(a);
        return st;
    }
    a->path = strdup(path);
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return RG_OK;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

rg_status rg_audit_append(rg_audit *a, const rg_audit_record *r, rg_err *err) {
    pthread_mutex_lock(&a->mu);
    rg_status st = RG_OK;
    char ts[32];
    rg_iso8601(rg_unix_time(), ts);
    json_t *o = json_object();
    json_t *docs = json_array(), *fd = json_object();
    for (size_t k = 0; k < r->ndocs; k++) json_array_append_new(docs, str_or_null(r->docs[k]));
    if (r->findings)
        for (int t = 0; t < RG_PII__COUNT; t++)
            if (r->findings->count[t])
                json_object_set_new(fd, rg_pii_type_name((rg_pii_type)t),
                                    json_integer(r->findings->count[t]));
    json_object_set_new(o, "seq", json_integer((json_int_t)(a->seq + 1)));
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "key_id", str_or_null(r->key_id));
    json_object_set_new(o, "route", str_or_null(r->route));
    json_object_set_new(o, "collection", str_or_null(r->collection));
    json_object_set_new(o, "docs", docs);
    json_object_set_new(o, "findings", fd);
    json_object_set_new(o, "status", json_integer(r->status));
    json_object_set_new(o, "prev", json_string(a->prev));
    char *js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!js) {
        st = rg_failf(err, RG_INVALID, "audit: record has invalid UTF-8 or is out of memory");
        goto out;
    }
    size_t bl = strlen(js);
    if (bl < 2 || bl + 80 > RG_AUDIT_MAX_LINE_BYTES) {
        free(js);
        st = rg_failf(err, RG_LIMIT, "audit: record longer than %u bytes", RG_AUDIT_MAX_LINE_BYTES);
        goto out;
    }
    bl--; /* drop the closing brace: body */
    char h[65];
    line_hash(a->key, a->keylen, js, bl, h);
    char *line = malloc(bl + 80);
    if (!line) {
        free(js);
        st = rg_failf(err, RG_NOMEM, "audit: out of memory");
        goto out;
    }
    memcpy(line, js, bl);
    int tl = snprintf(line + bl, 80, ",\"hash\":\"%s\"}\n", h);
    free(js);
    size_t total = bl + (size_t)tl, done = 0;
    while (done < total) {
        ssize_t w = write(a->fd, line + done, total - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = rg_failf(err, RG_IO, "%s: audit write failed: %s", a->path, strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    free(line);
    if (!st && a->deferred)
        a->dirty = 1;
    else if (!st && fdatasync(a->fd) != 0)
        st = rg_failf(err, RG_IO, "%s: audit fdatasync failed: %s", a->path, strerror(errno));
    if (!st) {
        a->seq++;
        memcpy(a->prev, h, 65);
    }
out:
    pthread_mutex_unlock(&a->mu);
    return st;
}

void rg_audit_set_deferred_sync(rg_audit *a, int on) {
    pthread_mutex_lock(&a->mu);
    a->deferred = on;
    pthread_mutex_unlock(&a->mu);
}

rg_status rg_audit_sync(rg_audit *a, rg_err *err) {
    pthread_mutex_lock(&a->mu);
    int dirty = a->dirty;
    a->dirty = 0;
    pthread_mutex_unlock(&a->mu);
    /* outside the lock: appends go on while the disk flushes (fdatasync
     * covers every write(2) that returned before it) */
    if (dirty && fdatasync(a->fd) != 0) {
        pthread_mutex_lock(&a->mu);
        a->dirty = 1;
        pthread_mutex_unlock(&a->mu);
        return rg_failf(err, RG_IO, "%s: audit fdatasync failed: %s", a->path, strerror(errno));
    }
    return RG_OK;
}

void rg_audit_close(rg_audit *a) {
    if (!a) return;
    if (a->dirty) (void)fdatasync(a->fd);
    close(a->fd);
    pthread_mutex_destroy(&a->mu);
    memset(a->key, 0, sizeof a->key);
    free(a->path);
    free(a);
}
