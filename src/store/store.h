/* store.h - documents, chunks and collections in SQLite (WAL mode).
 *
 * One database file per data directory: DIR/ragd.db.  The schema carries
 * a version (PRAGMA user_version) and is migrated forward on open; a file
 * written by a newer ragd is refused, never silently downgraded.
 *
 * Invariants:
 *  - A document and all of its chunks are written in one transaction: a
 *    reader (or a process restarted after kill -9) sees either the old
 *    document with its old chunks, the new one with all its new chunks, or
 *    none; never a partial chunk list.
 *  - Durability: synchronous=FULL by default, so a put that returned RG_OK
 *    survives kill -9 and power loss (WAL fsync per commit).  See
 *    rg_store_opts.sync_normal for the faster mode that survives kill -9
 *    but may lose the last commits on power loss.
 *  - (collection, source) is unique.  Putting the same source with the same
 *    sha256 is a no-op (changed = 0, generation unchanged); with a
 *    different sha256 the old chunks are replaced atomically.
 *  - Chunk ids and document ids are never reused (AUTOINCREMENT), so an
 *    external index can key on them.
 *  - Each collection has a generation counter that increases on every write
 *    touching it (put that changed something, document delete).  An index
 *    built outside SQLite records the generation it was built at and is
 *    stale when rg_store_generation() differs.
 *
 * Threads: a handle may be shared by several threads; every call takes the
 * handle's mutex, so calls are serialised.  For parallel readers open one
 * handle per thread (WAL lets readers run beside one writer; writers from
 * several handles or processes wait up to busy_timeout_ms, then RG_BUSY).
 * Callbacks of rg_store_chunks_foreach run with the mutex held: they must
 * not call back into the same handle. */
#ifndef RG_STORE_STORE_H
#define RG_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define RG_STORE_SCHEMA_VERSION 1
#define RG_STORE_DB_NAME "ragd.db"

typedef struct rg_store rg_store;

typedef struct rg_store_opts {
    int read_only;       /* open without creating or migrating */
    int sync_normal;     /* synchronous=NORMAL instead of FULL (see above) */
    int busy_timeout_ms; /* 0 = 5000 */
} rg_store_opts;

/* Opens (creating when absent, unless read_only) DIR/ragd.db; creates DIR.
 * opts may be NULL.  *out owned by the caller: rg_store_close. */
rg_status rg_store_open(const char *data_dir, const rg_store_opts *opts, rg_store **out,
                        rg_err *err);
/* Same with an explicit database file path (":memory:" allowed). */
rg_status rg_store_open_file(const char *db_path, const rg_store_opts *opts, rg_store **out,
                             rg_err *err);
void rg_store_close(rg_store *s);
/* Path of the database file; valid while the handle is open. */
const char *rg_store_path(const rg_store *s);
/* Schema version of the open database (== RG_STORE_SCHEMA_VERSION after a
 * successful open unless read-only on an older file). */
int rg_store_schema_version(rg_store *s);

/* ---- collections ---- */

typedef struct rg_store_collection {
    int64_t id;
    char *name;          /* owned by the struct */
    char *settings_json; /* owned; "{}" when none, e.g. {"redact":true} */
    int64_t created;     /* unix seconds */
    int64_t generation;
    int64_t n_documents;
    int64_t n_chunks;
    int64_t bytes;       /* sum of document sizes */
} rg_store_collection;

/* Names: 1..128 bytes of [A-Za-z0-9_.-], not starting with '.' or '-'.
 * settings_json may be NULL ("{}"); it must be a JSON object.
 * RG_EXISTS when the name is taken. *id may be NULL. */
rg_status rg_store_collection_create(rg_store *s, const char *name, const char *settings_json,
                                     int64_t *id, rg_err *err);
/* Gets the collection, creating it (with settings "{}") when absent. */
rg_status rg_store_collection_ensure(rg_store *s, const char *name, int64_t *id, rg_err *err);
/* Fills *out (free with rg_store_collection_clear).  RG_NOTFOUND when absent. */
rg_status rg_store_collection_get(rg_store *s, const char *name, rg_store_collection *out,
                                  rg_err *err);
rg_status rg_store_collection_get_id(rg_store *s, int64_t id, rg_store_collection *out,
                                     rg_err *err);
/* All collections ordered by name; *out is a malloc'd array owned by the
 * caller (rg_store_collections_free). */
rg_status rg_store_collection_list(rg_store *s, rg_store_collection **out, size_t *n,
                                   rg_err *err);
/* Replaces the settings JSON object; bumps the generation. */
rg_status rg_store_collection_set_settings(rg_store *s, int64_t id, const char *settings_json,
                                           rg_err *err);
/* Deletes the collection with its documents and chunks. RG_NOTFOUND when absent. */
rg_status rg_store_collection_delete(rg_store *s, const char *name, rg_err *err);
void rg_store_collection_clear(rg_store_collection *c);
void rg_store_collections_free(rg_store_collection *c, size_t n);
/* Current generation of a collection (RG_NOTFOUND when it does not exist). */
rg_status rg_store_generation(rg_store *s, int64_t collection_id, int64_t *gen, rg_err *err);

/* ---- documents ---- */

/* One chunk to store.  Strings are borrowed for the duration of the call. */
typedef struct rg_store_chunk_in {
    const char *text;
    size_t text_len;      /* bytes; <= RG_MAX_CHUNK_BYTES */
    int64_t start, end;   /* byte offsets [start, end) in the document's extracted text */
    const char *heading;  /* heading path "A > B", NULL or "" for none */
    int page;             /* 1-based page; 0 = not paged */
} rg_store_chunk_in;

typedef struct rg_store_doc_in {
    const char *source;        /* path or name; the key within the collection */
    const char *sha256;        /* 64 lowercase hex chars of the raw file */
    const char *mime;          /* "text/markdown" etc. */
    const char *metadata_json; /* JSON object or NULL ("{}") */
    int64_t bytes;             /* size of the raw file */
} rg_store_doc_in;

/* Stores a document with its chunks in one transaction.  *doc_id gets the
 * document id (kept across replacements of the same source).  *changed = 0
 * when the source was already stored with the same sha256 (nothing
 * written), 1 when inserted or replaced.  doc_id/changed may be NULL. */
rg_status rg_store_doc_put(rg_store *s, int64_t collection_id, const rg_store_doc_in *doc,
                           const rg_store_chunk_in *chunks, size_t n_chunks, int64_t *doc_id,
                           int *changed, rg_err *err);

typedef struct rg_store_doc {
    int64_t id, collection_id;
    char *source, *sha256, *mime, *metadata_json; /* owned by the struct */
    int64_t bytes, n_chunks, created, updated;
} rg_store_doc;

rg_status rg_store_doc_get(rg_store *s, int64_t doc_id, rg_store_doc *out, rg_err *err);
/* Looks a document up by source; RG_NOTFOUND when absent.  Lets ingest
 * skip parsing a file whose sha256 is unchanged. */
rg_status rg_store_doc_find(rg_store *s, int64_t collection_id, const char *source,
                            rg_store_doc *out, rg_err *err);
/* Deletes the document and its chunks; RG_NOTFOUND when absent. */
rg_status rg_store_doc_delete(rg_store *s, int64_t doc_id, rg_err *err);
void rg_store_doc_clear(rg_store_doc *d);

/* Calls fn for each document of the collection in id order; fn returns
 * nonzero to stop.  The struct passed is valid only during the call. */
typedef int (*rg_store_doc_fn)(void *ud, const rg_store_doc *d);
rg_status rg_store_docs_foreach(rg_store *s, int64_t collection_id, rg_store_doc_fn fn, void *ud,
                                rg_err *err);

/* ---- chunks ---- */

typedef struct rg_store_chunk {
    int64_t id, doc_id, collection_id;
    int ordinal;
    const char *text; /* NUL-terminated; text_len bytes */
    size_t text_len;
    const char *heading; /* "" when none */
    int page;
    int64_t start, end;
    const char *source; /* the document's source (rg_store_chunk_get only; else NULL) */
    void *priv_;        /* owned storage (rg_store_chunk_get); internal */
} rg_store_chunk;

/* Calls fn for every chunk of the collection with id > after_id, in id
 * order (pass 0 for all).  The chunk and its strings are valid only during
 * the call.  fn returns nonzero to stop early (not an error).  Holds the
 * handle's mutex and one read transaction: a consistent snapshot. */
typedef int (*rg_store_chunk_fn)(void *ud, const rg_store_chunk *c);
rg_status rg_store_chunks_foreach(rg_store *s, int64_t collection_id, int64_t after_id,
                                  rg_store_chunk_fn fn, void *ud, rg_err *err);
/* Same for the chunks of one document, in ordinal order. */
rg_status rg_store_doc_chunks_foreach(rg_store *s, int64_t doc_id, rg_store_chunk_fn fn,
                                      void *ud, rg_err *err);
/* One chunk with its document's source.  *out owns its strings until
 * rg_store_chunk_clear.  RG_NOTFOUND when absent. */
rg_status rg_store_chunk_get(rg_store *s, int64_t chunk_id, rg_store_chunk *out, rg_err *err);
/* n chunks at once (ids[i] -> out[i]) in one read transaction: a
 * consistent snapshot, and much cheaper than n rg_store_chunk_get calls.
 * Each out[i] owns its strings until rg_store_chunk_clear.  On failure
 * (RG_NOTFOUND when any id is absent) every out[i] is already cleared. */
rg_status rg_store_chunks_get(rg_store *s, const int64_t *ids, size_t n, rg_store_chunk *out,
                              rg_err *err);
void rg_store_chunk_clear(rg_store_chunk *c);

/* Counts for a collection (any pointer may be NULL). */
rg_status rg_store_count(rg_store *s, int64_t collection_id, int64_t *n_documents,
                         int64_t *n_chunks, rg_err *err);

/* ---- batches (group commit) ----
 *
 * Between rg_store_batch_begin and rg_store_batch_commit every write on
 * this handle (from any thread) joins one SQLite transaction: each write is
 * still atomic on its own (a savepoint; a failed document rolls back alone)
 * but nothing is durable or visible to other connections until the commit,
 * which costs one fsync for the whole batch.  `ragd ingest` uses this to
 * amortise fsyncs and prints its "committed" lines only after the batch
 * commit.  A failed commit rolls the whole batch back.  Hold a batch short
 * (it keeps the database write lock). */
rg_status rg_store_batch_begin(rg_store *s, rg_err *err);
rg_status rg_store_batch_commit(rg_store *s, rg_err *err);
/* Drops every write since rg_store_batch_begin. */
void rg_store_batch_rollback(rg_store *s);

/* PRAGMA integrity_check; RG_OK when "ok", else RG_DB with the first problem. */
rg_status rg_store_check(rg_store *s, rg_err *err);

#endif
