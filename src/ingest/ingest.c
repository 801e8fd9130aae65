/* ingest.c - one document: sha256 -> (unchanged? stop) -> parse -> chunk
 * -> optional filter -> one store transaction.
 *
 * The unchanged check happens before parsing so that re-running an ingest
 * over a large unchanged folder costs one hash per file. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/limits.h"
#include "ingest/ingest.h"

static char *metadata(const rg_parsed *p, rg_doc_type t) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "type", json_string(rg_doc_type_name(t)));
    if (p->title) {
        json_t *s = json_string(p->title); /* NULL if not valid UTF-8 */
        if (s) json_object_set_new(o, "title", s);
    }
    if (p->pages) json_object_set_new(o, "pages", json_integer(p->pages));
    json_object_set_new(o, "blocks", json_integer((json_int_t)p->n));
    char *js = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return js;
}

rg_status rg_ingest_bytes(rg_store *s, int64_t collection_id, const char *source,
                          const char *data, size_t len, const rg_ingest_opts *opts,
                          rg_ingest_result *res, rg_err *err) {
    rg_ingest_opts o = opts ? *opts : (rg_ingest_opts){0};
    rg_ingest_result r = {0};
    r.bytes = len;
    if (res) *res = r;
    if (len > RG_INGEST_MAX_BYTES)
        return rg_failf(err, RG_LIMIT, "%s: %zu bytes is over the limit of %u", source, len,
                        (unsigned)RG_INGEST_MAX_BYTES);
    char sha[65];
    rg_sha256_hex(data ? data : "", len, sha);

    rg_store_doc old;
    rg_err e2;
    if (rg_store_doc_find(s, collection_id, source, &old, &e2) == RG_OK) {
        int same = !strcmp(old.sha256, sha);
        r.doc_id = old.id;
        r.n_chunks = (size_t)old.n_chunks;
        rg_store_doc_clear(&old);
        if (same) {
            r.type = rg_ingest_detect(source, data, len < 512 ? len : 512);
            if (res) *res = r;
            return RG_OK;
        }
    }

    r.type = o.force_type != RG_DOC_UNKNOWN ? o.force_type
                                            : rg_ingest_detect(source, data, len < 4096 ? len : 4096);
    if (r.type == RG_DOC_UNKNOWN)
        return rg_failf(err, RG_UNSUPPORTED,
                        "%s: unsupported file type (binary; expected txt, md, html, pdf, csv, tsv)",
                        source);
    rg_parsed p;
    rg_chunks ch;
    memset(&ch, 0, sizeof ch);
    rg_store_chunk_in *in = NULL;
    rg_buf *filtered = NULL;
    char *meta = NULL;
    rg_status st = rg_ingest_parse(r.type, data, len, &p, err);
    if (st) {
        rg_err_prefix(err, "%s", source);
        goto out;
    }
    st = rg_ingest_chunk(&p, &o.chunk, &ch, err);
    if (st) {
        rg_err_prefix(err, "%s", source);
        goto out;
    }
    in = calloc(ch.n ? ch.n : 1, sizeof *in);
    /* with a filter, chunk text and heading are both filtered: [2i] text, [2i+1] heading */
    if (o.filter) filtered = calloc(ch.n ? 2 * ch.n : 1, sizeof *filtered);
    if (!in || (o.filter && !filtered)) {
        st = rg_failf(err, RG_NOMEM, "%s: out of memory", source);
        goto out;
    }
    for (size_t i = 0; i < ch.n; i++) {
        const rg_chunk *c = &ch.items[i];
        in[i] = (rg_store_chunk_in){c->text, c->len, c->start, c->end, c->heading, c->page};
        if (o.filter) {
            rg_buf *ft = &filtered[2 * i], *fh = &filtered[2 * i + 1];
            rg_buf_init(ft, RG_MAX_CHUNK_BYTES);
            rg_buf_init(fh, RG_MAX_CHUNK_BYTES);
            st = o.filter(o.filter_ud, c->text, c->len, ft, err);
            if (!st && c->heading && *c->heading)
                st = o.filter(o.filter_ud, c->heading, strlen(c->heading), fh, err);
            if (st) {
                rg_err_prefix(err, "%s: chunk %zu filter", source, i);
                goto out;
            }
            in[i].text = ft->data ? ft->data : "";
            in[i].text_len = ft->len;
            if (c->heading && *c->heading) in[i].heading = fh->data ? fh->data : "";
        }
    }
    if (o.filter && p.title) {
        /* the title (first H1, <title>) may carry personal data too */
        rg_buf tb;
        rg_buf_init(&tb, RG_MAX_CHUNK_BYTES);
        st = o.filter(o.filter_ud, p.title, strlen(p.title), &tb, err);
        if (!st) p.title = rg_arena_strdup(&p.arena, tb.data ? tb.data : "");
        rg_buf_free(&tb);
        if (st || !p.title) {
            if (!st) st = rg_failf(err, RG_NOMEM, "%s: out of memory", source);
            else rg_err_prefix(err, "%s: title filter", source);
            goto out;
        }
    }
    meta = metadata(&p, r.type);
    rg_store_doc_in d = {source, sha, rg_doc_type_mime(r.type), meta, (int64_t)len};
    st = rg_store_doc_put(s, collection_id, &d, in, ch.n, &r.doc_id, &r.changed, err);
    if (!st) r.n_chunks = ch.n;
out:
    if (filtered)
        for (size_t i = 0; i < 2 * ch.n; i++) rg_buf_free(&filtered[i]);
    free(filtered);
    free(in);
    free(meta);
    rg_chunks_free(&ch);
    rg_parsed_free(&p);
    if (res) *res = r;
    return st;
}

rg_status rg_ingest_file(rg_store *s, int64_t collection_id, const char *path,
                         const rg_ingest_opts *opts, rg_ingest_result *res, rg_err *err) {
    char *data;
    size_t len;
    if (res) memset(res, 0, sizeof *res);
    rg_status st = rg_file_read(path, RG_INGEST_MAX_BYTES, &data, &len, err);
    if (st) return st;
    st = rg_ingest_bytes(s, collection_id, path, data, len, opts, res, err);
    free(data);
    return st;
}
