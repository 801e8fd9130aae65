/* parse_csv.c - CSV/TSV (RFC 4180 quoting) into one record block per row.
 *
 * The first record is the header; every later record becomes the block
 * "name: value; name: value" (empty values left out, extra columns named
 * "column N"), flagged RG_BLOCK_RECORD so the chunker keeps it whole.
 * Quoted fields may contain the delimiter, CR/LF and "" for a quote; an
 * unterminated quote is an error naming its line.  The delimiter is ','
 * (or ';' when the header has semicolons and no commas), tab for TSV.
 * Offsets are the record's bytes in the file. */
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "ingest/ingest_int.h"

typedef struct {
    size_t start, len; /* field span in the unescaped buffer */
} field;

/* Parses one record starting at *pos; unescaped field text goes to buf,
 * spans to f[]. Returns the field count (0 for an empty line), or -1 on
 * an unterminated quote, -2 on too many columns, -3 on memory. */
static int record(const char *d, size_t len, size_t *pos, char delim, rg_buf *buf, field *f,
                  size_t *line) {
    size_t i = *pos;
    int nf = 0;
    rg_buf_reset(buf);
    if (i < len && (d[i] == '\n' || d[i] == '\r')) { /* empty line */
        if (d[i] == '\r' && i + 1 < len && d[i + 1] == '\n') i++;
        *pos = i + 1;
        (*line)++;
        return 0;
    }
    for (;;) {
        if (nf >= RG_INGEST_MAX_CSV_COLS) return -2;
        f[nf].start = buf->len;
        if (i < len && d[i] == '"') {
            size_t qline = *line;
            i++;
            for (;;) {
                const char *q = memchr(d + i, '"', len - i);
                if (!q) {
                    *line = qline;
                    return -1;
                }
                size_t run = (size_t)(q - (d + i));
                for (size_t k = 0; k < run; k++)
                    if (d[i + k] == '\n') (*line)++;
                if (rg_buf_append(buf, d + i, run)) return -3;
                i += run; /* d[i] == '"' */
                if (i + 1 < len && d[i + 1] == '"') {
                    if (rg_buf_putc(buf, '"')) return -3;
                    i += 2;
                    continue;
                }
                i++;
                break;
            }
            /* junk after the closing quote up to the delimiter is kept */
            while (i < len && d[i] != delim && d[i] != '\n' && d[i] != '\r') {
                if (rg_buf_putc(buf, d[i])) return -3;
                i++;
            }
        } else {
            size_t a = i;
            while (i < len && d[i] != delim && d[i] != '\n' && d[i] != '\r') i++;
            if (rg_buf_append(buf, d + a, i - a)) return -3;
        }
        f[nf].len = buf->len - f[nf].start;
        if (rg_buf_putc(buf, 0)) return -3;
        nf++;
        if (i < len && d[i] == delim) {
            i++;
            continue;
        }
        if (i < len && d[i] == '\r') i++;
        if (i < len && d[i] == '\n') i++;
        (*line)++;
        break;
    }
    *pos = i;
    return nf;
}

static void trim(const char **s, size_t *n) {
    while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

rg_status rg__parse_csv(const char *data, size_t len, char delim, rg_parsed *p, rg_err *err) {
    size_t pos = 0, line = 1;
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) pos = 3;
    if (!delim) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t hl = nl ? (size_t)(nl - (data + pos)) : len - pos;
        delim = memchr(data + pos, ',', hl) ? ',' : memchr(data + pos, ';', hl) ? ';' : ',';
    }
    field *f = malloc(RG_INGEST_MAX_CSV_COLS * sizeof *f);
    char **names = calloc(RG_INGEST_MAX_CSV_COLS, sizeof *names);
    rg_buf buf, out;
    rg_buf_init(&buf, RG_INGEST_MAX_TEXT);
    rg_buf_init(&out, RG_INGEST_MAX_TEXT);
    rg_status st = RG_OK;
    int n_names = -1;
    if (!f || !names) {
        st = rg_failf(err, RG_NOMEM, "out of memory");
        goto out;
    }
    while (pos < len && !st) {
        size_t rec_start = pos, rec_line = line;
        int nf = record(data, len, &pos, delim, &buf, f, &line);
        if (nf == -1) {
            st = rg_failf(err, RG_FORMAT, "csv: line %zu: unterminated quoted field", line);
            break;
        }
        if (nf == -2) {
            st = rg_failf(err, RG_LIMIT, "csv: line %zu: more than %d columns", rec_line,
                          RG_INGEST_MAX_CSV_COLS);
            break;
        }
        if (nf == -3) {
            st = rg_failf(err, RG_LIMIT, "csv: line %zu: record over the size limit", rec_line);
            break;
        }
        if (nf == 0) continue;
        if (n_names < 0) {
            n_names = nf;
            for (int i = 0; i < nf; i++) {
                const char *s = buf.data + f[i].start;
                size_t n = f[i].len;
                trim(&s, &n);
                names[i] = strndup(s, n);
                if (!names[i]) {
                    st = rg_failf(err, RG_NOMEM, "out of memory");
                    break;
                }
            }
            continue;
        }
        rg_buf_reset(&out);
        for (int i = 0; i < nf && !st; i++) {
            const char *s = buf.data + f[i].start;
            size_t n = f[i].len;
            trim(&s, &n);
            if (!n) continue;
            if (out.len) st = rg_buf_puts(&out, "; ");
            if (!st) {
                if (i < n_names && names[i][0])
                    st = rg_buf_printf(&out, "%s: ", names[i]);
                else
                    st = rg_buf_printf(&out, "column %d: ", i + 1);
            }
            if (!st) st = rg_buf_append(&out, s, n);
        }
        if (st) {
            st = rg_failf(err, st, "csv: line %zu: record over the size limit", rec_line);
            break;
        }
        st = rg__parsed_add(p, out.data ? out.data : "", out.len, "", 0, (int64_t)rec_start,
                            (int64_t)pos, RG_BLOCK_RECORD, err);
    }
out:
    if (names)
        for (int i = 0; i < RG_INGEST_MAX_CSV_COLS; i++) free(names[i]);
    free(names);
    free(f);
    rg_buf_free(&buf);
    rg_buf_free(&out);
    return st;
}
