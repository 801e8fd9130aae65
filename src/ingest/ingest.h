/* ingest.h - document parsers (txt, md, html, pdf, csv), the
 * structure-aware chunker, and the file -> chunks -> store pipeline.
 *
 * Parsers turn hostile bytes into a list of blocks (a paragraph, a list
 * item, a table row, a PDF paragraph), each with its heading path, page and
 * offsets.  The chunker packs blocks into chunks of about `size` bytes:
 * a chunk never spans two sections (heading paths) or two pages, breaks
 * preferably between blocks, then at sentence ends (。！？；and .!? before
 * a space), then at spaces, and never inside a UTF-8 sequence.  Consecutive
 * chunks of a section share about `overlap` bytes of whole sentences.
 *
 * Offsets (block and chunk start/end) are byte offsets into:
 *  - the raw file for txt, md and csv (exact at block boundaries; inside a
 *    block whose markup was stripped they are clamped to the block),
 *  - the extracted text for html and pdf (blocks joined by "\n"; for pdf
 *    all pages in order), since those formats have no useful byte offsets.
 * All text handed out is valid UTF-8 (invalid bytes become U+FFFD). */
#ifndef RG_INGEST_INGEST_H
#define RG_INGEST_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/status.h"
#include "store/store.h"

typedef enum rg_doc_type {
    RG_DOC_UNKNOWN = 0,
    RG_DOC_TXT,
    RG_DOC_MD,
    RG_DOC_HTML,
    RG_DOC_PDF,
    RG_DOC_CSV,
    RG_DOC_TSV
} rg_doc_type;

/* Type from the file name's extension, then from the first bytes (head may
 * be NULL/0): "%PDF-", an HTML doctype/tag, or NUL-free valid UTF-8 text.
 * RG_DOC_UNKNOWN for anything else (binary). */
rg_doc_type rg_ingest_detect(const char *name, const void *head, size_t n);
/* Type from the extension only (RG_DOC_UNKNOWN when not recognised). */
rg_doc_type rg_ingest_type_from_name(const char *name);
const char *rg_doc_type_name(rg_doc_type t); /* "md" etc.; static storage */
const char *rg_doc_type_mime(rg_doc_type t); /* "text/markdown" etc. */

/* Block flags */
#define RG_BLOCK_RECORD 1u /* a table/CSV record: chunked on its own */

typedef struct rg_block {
    const char *text; /* NUL-terminated, valid UTF-8, no leading/trailing space */
    size_t len;
    const char *heading; /* "A > B" or "" */
    int page;            /* 1-based; 0 = not paged */
    int64_t start, end;  /* see the offsets note above */
    unsigned flags;
} rg_block;

/* A parsed document.  All memory (blocks and their strings) belongs to the
 * struct's arena: free with rg_parsed_free. */
typedef struct rg_parsed {
    rg_arena arena;
    rg_block *blocks;
    size_t n, cap;
    const char *title; /* <title> / PDF title / first H1, or NULL */
    int pages;         /* pdf page count; 0 otherwise */
    size_t text_bytes; /* running total of block text (capped) */
} rg_parsed;

/* Parses data[0..len) as type t into *out (initialised here; free it with
 * rg_parsed_free even on failure).  len is checked against
 * RG_INGEST_MAX_BYTES of its type; the output against RG_INGEST_MAX_TEXT. */
rg_status rg_ingest_parse(rg_doc_type t, const char *data, size_t len, rg_parsed *out,
                          rg_err *err);
void rg_parsed_free(rg_parsed *p);

/* ---- chunker ---- */

#define RG_CHUNK_SIZE_DEFAULT 800
#define RG_CHUNK_OVERLAP_DEFAULT 120
#define RG_CHUNK_SIZE_MIN 64

typedef struct rg_chunk_opts {
    size_t size;    /* target max bytes per chunk (0 = default); in [64, RG_MAX_CHUNK_BYTES] */
    size_t overlap; /* bytes of whole sentences repeated (0 = none); < size/2 */
} rg_chunk_opts;

typedef struct rg_chunk {
    const char *text;
    size_t len;
    const char *heading;
    int page;
    int64_t start, end;
} rg_chunk;

typedef struct rg_chunks {
    rg_arena arena;
    rg_chunk *items;
    size_t n, cap;
} rg_chunks;

/* Chunks the blocks of p.  *out is initialised here and owns everything:
 * rg_chunks_free (also after failure). opts may be NULL (defaults). */
rg_status rg_ingest_chunk(const rg_parsed *p, const rg_chunk_opts *opts, rg_chunks *out,
                          rg_err *err);
void rg_chunks_free(rg_chunks *c);

/* ---- pipeline: bytes or file -> parse -> chunk -> (filter) -> store ---- */

/* Optional per-chunk text filter (e.g. PII redaction at ingest, which lives
 * in guard/, above this module): writes the filtered text into out. */
typedef rg_status (*rg_ingest_filter_fn)(void *ud, const char *text, size_t len, rg_buf *out,
                                         rg_err *err);

typedef struct rg_ingest_opts {
    rg_chunk_opts chunk;
    rg_ingest_filter_fn filter; /* NULL = store text as parsed */
    void *filter_ud;
    rg_doc_type force_type; /* RG_DOC_UNKNOWN = detect */
} rg_ingest_opts;

typedef struct rg_ingest_result {
    int64_t doc_id;
    int changed;       /* 0 = unchanged (sha256 equal, not re-parsed) */
    size_t n_chunks;   /* chunks of the stored document */
    size_t bytes;      /* raw bytes read */
    rg_doc_type type;
} rg_ingest_result;

/* Ingests one document given as bytes under the name `source` (the key in
 * the collection).  When a document with this source and the same sha256 is
 * already stored, nothing is parsed or written (changed = 0).  On RG_OK the
 * document and its chunks are committed. */
rg_status rg_ingest_bytes(rg_store *s, int64_t collection_id, const char *source,
                          const char *data, size_t len, const rg_ingest_opts *opts,
                          rg_ingest_result *res, rg_err *err);
/* Reads path (capped at RG_INGEST_MAX_BYTES) and ingests it with source =
 * path as given. */
rg_status rg_ingest_file(rg_store *s, int64_t collection_id, const char *path,
                         const rg_ingest_opts *opts, rg_ingest_result *res, rg_err *err);

#endif
