/* store.c - the SQLite document store (see store.h for the invariants).
 *
 * Migrations are an append-only list of SQL scripts; migration i brings
 * user_version from i to i+1 and runs in its own transaction, so a crash
 * mid-migration leaves the previous version intact.  Hot statements are
 * prepared once per handle and cached. */
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/file.h"
#include "core/limits.h"

#define RG_STORE_APP_ID 0x72616764 /* 'ragd' */

/* Append only: never edit a migration that has shipped. */
static const char *const migrations[] = {
    /* 0 -> 1: the initial schema */
    "CREATE TABLE collections("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  settings TEXT NOT NULL DEFAULT '{}',"
    "  created INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE documents("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    "  source TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  mime TEXT NOT NULL,"
    "  metadata TEXT NOT NULL DEFAULT '{}',"
    "  bytes INTEGER NOT NULL,"
    "  n_chunks INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  UNIQUE(collection_id, source));"
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  collection_id INTEGER NOT NULL,"
    "  ordinal INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  start INTEGER NOT NULL,"
    "  end INTEGER NOT NULL,"
    "  heading TEXT NOT NULL DEFAULT '',"
    "  page INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(document_id, ordinal));"
    "CREATE INDEX chunks_by_collection ON chunks(collection_id, id);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(N_MIGRATIONS == RG_STORE_SCHEMA_VERSION, "schema version = number of migrations");

enum {
    ST_DOC_FIND,
    ST_DOC_INSERT,
    ST_DOC_UPDATE,
    ST_CHUNKS_DELETE,
    ST_CHUNK_INSERT,
    ST_GEN_BUMP,
    ST_CHUNK_GET,
    ST_GEN_GET,
    ST_BEGIN,
    ST_COMMIT,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_DOC_FIND] = "SELECT id, sha256 FROM documents WHERE collection_id=?1 AND source=?2",
    [ST_DOC_INSERT] = "INSERT INTO documents(collection_id, source, sha256, mime, metadata, "
                      "bytes, n_chunks, created, updated) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?8)",
    [ST_DOC_UPDATE] = "UPDATE documents SET sha256=?2, mime=?3, metadata=?4, bytes=?5, "
                      "n_chunks=?6, updated=?7 WHERE id=?1",
    [ST_CHUNKS_DELETE] = "DELETE FROM chunks WHERE document_id=?1",
    [ST_CHUNK_INSERT] = "INSERT INTO chunks(document_id, collection_id, ordinal, text, start, "
                        "end, heading, page) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [ST_GEN_BUMP] = "UPDATE collections SET generation=generation+1 WHERE id=?1",
    [ST_CHUNK_GET] = "SELECT c.id, c.document_id, c.collection_id, c.ordinal, c.text, "
                     "c.heading, c.page, c.start, c.end, d.source FROM chunks c "
                     "JOIN documents d ON d.id=c.document_id WHERE c.id=?1",
    [ST_GEN_GET] = "SELECT generation FROM collections WHERE id=?1",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
};

struct rg_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *st[ST_COUNT];
    char *path;
    int read_only;
    int batch; /* inside rg_store_batch_begin/commit: writes use savepoints */
};

/* ---- helpers ---- */

static rg_status db_fail(rg_store *s, rg_err *err, const char *what) {
    int rc = sqlite3_extended_errcode(s->db);
    rg_status code = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? RG_BUSY
                     : (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB ? RG_FORMAT
                     : (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR   ? RG_IO
                     : (rc & 0xff) == SQLITE_NOMEM                                 ? RG_NOMEM
                                                                                   : RG_DB;
    return rg_failf(err, code, "store: %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static rg_status exec(rg_store *s, const char *sql, rg_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rg_status st = db_fail(s, err, sql);
        sqlite3_free(msg);
        return st;
    }
    return RG_OK;
}

/* A write transaction: its own BEGIN IMMEDIATE..COMMIT, or a savepoint
 * inside an open batch (so one failed document rolls back alone). */
static rg_status txn_begin(rg_store *s, rg_err *err) {
    return exec(s, s->batch ? "SAVEPOINT rg_write" : "BEGIN IMMEDIATE", err);
}
static rg_status txn_commit(rg_store *s, rg_err *err) {
    return exec(s, s->batch ? "RELEASE rg_write" : "COMMIT", err);
}
static void txn_rollback(rg_store *s) {
    exec(s, s->batch ? "ROLLBACK TO rg_write; RELEASE rg_write" : "ROLLBACK", NULL);
}

static sqlite3_stmt *stmt(rg_store *s, int which) {
    if (!s->st[which]) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->st[which], NULL) != SQLITE_OK)
            return NULL;
    }
    sqlite3_reset(s->st[which]);
    sqlite3_clear_bindings(s->st[which]);
    return s->st[which];
}

static char *dupstr(const unsigned char *p) {
    const char *s = p ? (const char *)p : "";
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static int valid_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 128 || name[0] == '.' || name[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static rg_status check_json_object(const char *what, const char *js, rg_err *err) {
    if (!js) return RG_OK;
    if (strlen(js) > RG_MAX_JSON_BYTES)
        return rg_failf(err, RG_LIMIT, "store: %s JSON is over %u bytes", what,
                        (unsigned)RG_MAX_JSON_BYTES);
    json_error_t je;
    json_t *j = json_loads(js, JSON_REJECT_DUPLICATES, &je);
    if (!j) return rg_failf(err, RG_INVALID, "store: %s JSON: line %d column %d: %s", what, je.line,
                            je.column, je.text);
    int obj = json_is_object(j);
    json_decref(j);
    if (!obj) return rg_failf(err, RG_INVALID, "store: %s JSON must be an object", what);
    return RG_OK;
}

static int valid_sha(const char *h) {
    if (!h || strlen(h) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return 0;
    return 1;
}

/* ---- open / migrate ---- */

static rg_status migrate(rg_store *s, rg_err *err) {
    sqlite3_stmt *q;
    int ver = 0, app = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "read schema version");
    if (sqlite3_step(q) == SQLITE_ROW) ver = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(s->db, "PRAGMA application_id", -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "read application id");
    if (sqlite3_step(q) == SQLITE_ROW) app = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (app != 0 && app != RG_STORE_APP_ID)
        return rg_failf(err, RG_FORMAT, "store: %s: not a ragd database (application_id 0x%x)",
                        s->path, (unsigned)app);
    if (ver > N_MIGRATIONS)
        return rg_failf(err, RG_UNSUPPORTED,
                        "store: %s: schema version %d is newer than this ragd supports (%d)",
                        s->path, ver, N_MIGRATIONS);
    if (ver == N_MIGRATIONS) return RG_OK;
    if (s->read_only)
        return rg_failf(err, RG_UNSUPPORTED,
                        "store: %s: schema version %d needs migrating to %d (open read-write)",
                        s->path, ver, N_MIGRATIONS);
    for (int v = ver; v < N_MIGRATIONS; v++) {
        rg_status st = exec(s, "BEGIN IMMEDIATE", err);
        if (st) return st;
        /* re-read under the write lock: another process may have migrated */
        int cur = v;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW) cur = sqlite3_column_int(q, 0);
            sqlite3_finalize(q);
        }
        if (cur > v) {
            exec(s, "ROLLBACK", NULL);
            v = cur - 1;
            continue;
        }
        char pragma[96];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d; PRAGMA application_id=%d", v + 1,
                 RG_STORE_APP_ID);
        if ((st = exec(s, migrations[v], err)) || (st = exec(s, pragma, err))) {
            exec(s, "ROLLBACK", NULL);
            return rg_err_prefix(err, "migration %d -> %d", v, v + 1);
        }
        if ((st = exec(s, "COMMIT", err))) {
            exec(s, "ROLLBACK", NULL);
            return st;
        }
    }
    return RG_OK;
}

rg_status rg_store_open_file(const char *db_path, const rg_store_opts *opts, rg_store **out,
                             rg_err *err) {
    *out = NULL;
    rg_store_opts o = opts ? *opts : (rg_store_opts){0};
    rg_store *s = calloc(1, sizeof *s);
    if (!s) return rg_failf(err, RG_NOMEM, "store: out of memory");
    s->path = dupstr((const unsigned char *)db_path);
    s->read_only = o.read_only;
    pthread_mutex_init(&s->mu, NULL);
    int flags = (o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    rg_status st;
    if (sqlite3_open_v2(db_path, &s->db, flags, NULL) != SQLITE_OK) {
        st = rg_failf(err, s->db ? RG_DB : RG_NOMEM, "store: %s: cannot open: %s", db_path,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rg_store_close(s);
        return st;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, o.busy_timeout_ms > 0 ? o.busy_timeout_ms : 5000);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "%sPRAGMA synchronous=%s; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
             o.read_only ? "" : "PRAGMA journal_mode=WAL; ", o.sync_normal ? "NORMAL" : "FULL");
    if ((st = exec(s, pragmas, err)) || (st = migrate(s, err))) {
        rg_store_close(s);
        return st;
    }
    *out = s;
    return RG_OK;
}

rg_status rg_store_open(const char *data_dir, const rg_store_opts *opts, rg_store **out,
                        rg_err *err) {
    *out = NULL;
    if (!data_dir || !*data_dir) return rg_failf(err, RG_INVALID, "store: empty data directory");
    if (!(opts && opts->read_only)) {
        rg_status st = rg_mkdirs(data_dir, err);
        if (st) return st;
    }
    size_t n = strlen(data_dir) + sizeof(RG_STORE_DB_NAME) + 2;
    char *path = malloc(n);
    if (!path) return rg_failf(err, RG_NOMEM, "store: out of memory");
    snprintf(path, n, "%s/%s", data_dir, RG_STORE_DB_NAME);
    rg_status st = rg_store_open_file(path, opts, out, err);
    free(path);
    return st;
}

void rg_store_close(rg_store *s) {
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    if (s->db) sqlite3_close_v2(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

const char *rg_store_path(const rg_store *s) { return s->path; }

int rg_store_schema_version(rg_store *s) {
    int v = -1;
    sqlite3_stmt *q;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- collections ---- */

#define COLL_SELECT                                                                        \
    "SELECT c.id, c.name, c.settings, c.created, c.generation,"                           \
    " (SELECT count(*) FROM documents d WHERE d.collection_id=c.id),"                      \
    " (SELECT count(*) FROM chunks k WHERE k.collection_id=c.id),"                        \
    " (SELECT coalesce(sum(bytes),0) FROM documents d WHERE d.collection_id=c.id)"        \
    " FROM collections c "

static int coll_row(sqlite3_stmt *q, rg_store_collection *c) {
    c->id = sqlite3_column_int64(q, 0);
    c->name = dupstr(sqlite3_column_text(q, 1));
    c->settings_json = dupstr(sqlite3_column_text(q, 2));
    c->created = sqlite3_column_int64(q, 3);
    c->generation = sqlite3_column_int64(q, 4);
    c->n_documents = sqlite3_column_int64(q, 5);
    c->n_chunks = sqlite3_column_int64(q, 6);
    c->bytes = sqlite3_column_int64(q, 7);
    return c->name && c->settings_json;
}

void rg_store_collection_clear(rg_store_collection *c) {
    if (!c) return;
    free(c->name);
    free(c->settings_json);
    memset(c, 0, sizeof *c);
}

void rg_store_collections_free(rg_store_collection *c, size_t n) {
    if (!c) return;
    for (size_t i = 0; i < n; i++) rg_store_collection_clear(&c[i]);
    free(c);
}

static rg_status coll_create_locked(rg_store *s, const char *name, const char *settings,
                                    int64_t *id, rg_err *err) {
    sqlite3_stmt *q;
    /* The generation starts at the creation time in microseconds, so an
     * index file left from an earlier database (deleted and re-created,
     * same collection id) cannot match a new (id, generation) pair. */
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO collections(name, settings, created, generation) "
                           "VALUES(?1,?2,?3,?4)",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "create collection");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, settings ? settings : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, rg_unix_time());
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_bind_int64(q, 4, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return rg_failf(err, RG_EXISTS, "store: collection '%s' already exists", name);
    if (rc != SQLITE_DONE) return db_fail(s, err, "create collection");
    if (id) *id = sqlite3_last_insert_rowid(s->db);
    return RG_OK;
}

rg_status rg_store_collection_create(rg_store *s, const char *name, const char *settings_json,
                                     int64_t *id, rg_err *err) {
    if (!valid_name(name))
        return rg_failf(err, RG_INVALID,
                        "store: collection name '%s': expected 1-128 of [A-Za-z0-9_.-], not "
                        "starting with '.' or '-'",
                        name ? name : "");
    rg_status st = check_json_object("collection settings", settings_json, err);
    if (st) return st;
    pthread_mutex_lock(&s->mu);
    st = coll_create_locked(s, name, settings_json, id, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

static rg_status coll_get_locked(rg_store *s, const char *name, int64_t cid,
                                 rg_store_collection *out, rg_err *err) {
    sqlite3_stmt *q;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(s->db, name ? COLL_SELECT "WHERE c.name=?1" : COLL_SELECT "WHERE c.id=?1",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "get collection");
    if (name)
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(q, 1, cid);
    int rc = sqlite3_step(q);
    rg_status st = RG_OK;
    if (rc == SQLITE_ROW) {
        if (!coll_row(q, out)) {
            rg_store_collection_clear(out);
            st = rg_failf(err, RG_NOMEM, "store: out of memory");
        }
    } else if (rc == SQLITE_DONE) {
        st = name ? rg_failf(err, RG_NOTFOUND, "store: no collection named '%s'", name)
                  : rg_failf(err, RG_NOTFOUND, "store: no collection with id %lld", (long long)cid);
    } else {
        st = db_fail(s, err, "get collection");
    }
    sqlite3_finalize(q);
    return st;
}

rg_status rg_store_collection_get(rg_store *s, const char *name, rg_store_collection *out,
                                  rg_err *err) {
    pthread_mutex_lock(&s->mu);
    rg_status st = coll_get_locked(s, name ? name : "", 0, out, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_collection_get_id(rg_store *s, int64_t id, rg_store_collection *out,
                                     rg_err *err) {
    pthread_mutex_lock(&s->mu);
    rg_status st = coll_get_locked(s, NULL, id, out, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_collection_ensure(rg_store *s, const char *name, int64_t *id, rg_err *err) {
    if (!valid_name(name))
        return rg_failf(err, RG_INVALID,
                        "store: collection name '%s': expected 1-128 of [A-Za-z0-9_.-], not "
                        "starting with '.' or '-'",
                        name ? name : "");
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    rg_status st = RG_OK;
    int64_t found = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM collections WHERE name=?1", -1, &q, NULL) !=
        SQLITE_OK) {
        st = db_fail(s, err, "find collection");
    } else {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) found = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        if (!found) {
            st = coll_create_locked(s, name, NULL, &found, err);
            if (st == RG_EXISTS) { /* created by another process meanwhile */
                pthread_mutex_unlock(&s->mu);
                rg_err_clear(err);
                return rg_store_collection_ensure(s, name, id, err);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!st && id) *id = found;
    return st;
}

rg_status rg_store_collection_list(rg_store *s, rg_store_collection **out, size_t *n,
                                   rg_err *err) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    rg_status st = RG_OK;
    size_t cap = 0, cnt = 0;
    rg_store_collection *arr = NULL;
    if (sqlite3_prepare_v2(s->db, COLL_SELECT "ORDER BY c.name", -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "list collections");
        goto done;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            rg_store_collection *na = realloc(arr, cap * sizeof *arr);
            if (!na) {
                st = rg_failf(err, RG_NOMEM, "store: out of memory");
                break;
            }
            arr = na;
        }
        memset(&arr[cnt], 0, sizeof arr[cnt]);
        if (!coll_row(q, &arr[cnt++])) {
            st = rg_failf(err, RG_NOMEM, "store: out of memory");
            break;
        }
    }
    if (!st && rc != SQLITE_DONE) st = db_fail(s, err, "list collections");
    sqlite3_finalize(q);
done:
    pthread_mutex_unlock(&s->mu);
    if (st) {
        rg_store_collections_free(arr, cnt);
        return st;
    }
    *out = arr;
    *n = cnt;
    return RG_OK;
}

rg_status rg_store_collection_set_settings(rg_store *s, int64_t id, const char *settings_json,
                                           rg_err *err) {
    rg_status st = check_json_object("collection settings", settings_json, err);
    if (st) return st;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE collections SET settings=?2, generation=generation+1 WHERE id=?1",
                           -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "set settings");
    } else {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_text(q, 2, settings_json ? settings_json : "{}", -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = db_fail(s, err, "set settings");
        else if (sqlite3_changes(s->db) == 0)
            st = rg_failf(err, RG_NOTFOUND, "store: no collection with id %lld", (long long)id);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_collection_delete(rg_store *s, const char *name, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    rg_status st = txn_begin(s, err);
    if (st) goto out;
    /* chunks first by collection index (faster than the per-document cascade) */
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM chunks WHERE collection_id=(SELECT id FROM collections "
                           "WHERE name=?1)",
                           -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "delete collection");
        goto rollback;
    }
    sqlite3_bind_text(q, 1, name ? name : "", -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) st = db_fail(s, err, "delete collection chunks");
    sqlite3_finalize(q);
    if (st) goto rollback;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM collections WHERE name=?1", -1, &q, NULL) !=
        SQLITE_OK) {
        st = db_fail(s, err, "delete collection");
        goto rollback;
    }
    sqlite3_bind_text(q, 1, name ? name : "", -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, err, "delete collection");
    else if (sqlite3_changes(s->db) == 0)
        st = rg_failf(err, RG_NOTFOUND, "store: no collection named '%s'", name ? name : "");
    sqlite3_finalize(q);
    if (st) goto rollback;
    st = txn_commit(s, err);
    if (!st) goto out;
rollback:
    txn_rollback(s);
out:
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_generation(rg_store *s, int64_t collection_id, int64_t *gen, rg_err *err) {
    /* on every search's path: the statement is prepared once */
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q = stmt(s, ST_GEN_GET);
    rg_status st = RG_OK;
    if (!q) {
        st = db_fail(s, err, "read generation");
    } else {
        sqlite3_bind_int64(q, 1, collection_id);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW)
            *gen = sqlite3_column_int64(q, 0);
        else if (rc == SQLITE_DONE)
            st = rg_failf(err, RG_NOTFOUND, "store: no collection with id %lld",
                          (long long)collection_id);
        else
            st = db_fail(s, err, "read generation");
        sqlite3_reset(q);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- documents ---- */

rg_status rg_store_doc_put(rg_store *s, int64_t collection_id, const rg_store_doc_in *doc,
                           const rg_store_chunk_in *chunks, size_t n_chunks, int64_t *doc_id,
                           int *changed, rg_err *err) {
    if (changed) *changed = 0;
    if (!doc || !doc->source || !*doc->source)
        return rg_failf(err, RG_INVALID, "store: document without a source");
    if (!valid_sha(doc->sha256))
        return rg_failf(err, RG_INVALID, "store: %s: sha256 must be 64 lowercase hex chars",
                        doc->source);
    rg_status st = check_json_object("document metadata", doc->metadata_json, err);
    if (st) return st;
    for (size_t i = 0; i < n_chunks; i++) {
        const rg_store_chunk_in *c = &chunks[i];
        if (!c->text || c->text_len > RG_MAX_CHUNK_BYTES)
            return rg_failf(err, RG_LIMIT, "store: %s: chunk %zu: %zu bytes (max %u)",
                            doc->source, i, c->text_len, (unsigned)RG_MAX_CHUNK_BYTES);
        if (c->start < 0 || c->end < c->start || c->page < 0)
            return rg_failf(err, RG_INVALID, "store: %s: chunk %zu: bad offsets [%lld,%lld) page %d",
                            doc->source, i, (long long)c->start, (long long)c->end, c->page);
    }
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    int64_t id = 0;
    int is_change = 0;
    st = txn_begin(s, err);
    if (st) goto out;
    /* the collection must exist (foreign keys would say so, less clearly) */
    if (!(q = stmt(s, ST_GEN_BUMP))) goto dbfail;
    sqlite3_bind_int64(q, 1, collection_id);
    if (sqlite3_step(q) != SQLITE_DONE) goto dbfail;
    if (sqlite3_changes(s->db) == 0) {
        st = rg_failf(err, RG_NOTFOUND, "store: no collection with id %lld",
                      (long long)collection_id);
        goto rollback;
    }
    if (!(q = stmt(s, ST_DOC_FIND))) goto dbfail;
    sqlite3_bind_int64(q, 1, collection_id);
    sqlite3_bind_text(q, 2, doc->source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int64_t now = rg_unix_time();
    const char *meta = doc->metadata_json ? doc->metadata_json : "{}";
    const char *mime = doc->mime ? doc->mime : "application/octet-stream";
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(q, 0);
        const char *old = (const char *)sqlite3_column_text(q, 1);
        if (old && strcmp(old, doc->sha256) == 0) {
            /* unchanged: undo the generation bump too */
            sqlite3_reset(q);
            txn_rollback(s);
            goto out;
        }
        sqlite3_reset(q);
        if (!(q = stmt(s, ST_CHUNKS_DELETE))) goto dbfail;
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) != SQLITE_DONE) goto dbfail;
        if (!(q = stmt(s, ST_DOC_UPDATE))) goto dbfail;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_text(q, 2, doc->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, mime, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, meta, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, doc->bytes);
        sqlite3_bind_int64(q, 6, (int64_t)n_chunks);
        sqlite3_bind_int64(q, 7, now);
        if (sqlite3_step(q) != SQLITE_DONE) goto dbfail;
    } else if (rc == SQLITE_DONE) {
        if (!(q = stmt(s, ST_DOC_INSERT))) goto dbfail;
        sqlite3_bind_int64(q, 1, collection_id);
        sqlite3_bind_text(q, 2, doc->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, doc->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, mime, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, meta, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 6, doc->bytes);
        sqlite3_bind_int64(q, 7, (int64_t)n_chunks);
        sqlite3_bind_int64(q, 8, now);
        if (sqlite3_step(q) != SQLITE_DONE) goto dbfail;
        id = sqlite3_last_insert_rowid(s->db);
    } else {
        goto dbfail;
    }
    for (size_t i = 0; i < n_chunks; i++) {
        const rg_store_chunk_in *c = &chunks[i];
        if (!(q = stmt(s, ST_CHUNK_INSERT))) goto dbfail;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int64(q, 2, collection_id);
        sqlite3_bind_int64(q, 3, (int64_t)i);
        sqlite3_bind_text(q, 4, c->text, (int)c->text_len, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, c->start);
        sqlite3_bind_int64(q, 6, c->end);
        sqlite3_bind_text(q, 7, c->heading ? c->heading : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 8, c->page);
        if (sqlite3_step(q) != SQLITE_DONE) goto dbfail;
    }
    st = txn_commit(s, err);
    if (st) goto rollback;
    is_change = 1;
    goto out;
dbfail:
    st = db_fail(s, err, "put document");
    rg_err_prefix(err, "%s", doc->source);
rollback:
    txn_rollback(s);
    id = 0;
out:
    for (int i = 0; i < ST_COUNT; i++)
        if (s->st[i]) sqlite3_reset(s->st[i]);
    pthread_mutex_unlock(&s->mu);
    if (!st) {
        if (doc_id) *doc_id = id;
        if (changed) *changed = is_change;
    }
    return st;
}

#define DOC_SELECT                                                                      \
    "SELECT id, collection_id, source, sha256, mime, metadata, bytes, n_chunks, created, " \
    "updated FROM documents "

static int doc_row(sqlite3_stmt *q, rg_store_doc *d) {
    d->id = sqlite3_column_int64(q, 0);
    d->collection_id = sqlite3_column_int64(q, 1);
    d->source = dupstr(sqlite3_column_text(q, 2));
    d->sha256 = dupstr(sqlite3_column_text(q, 3));
    d->mime = dupstr(sqlite3_column_text(q, 4));
    d->metadata_json = dupstr(sqlite3_column_text(q, 5));
    d->bytes = sqlite3_column_int64(q, 6);
    d->n_chunks = sqlite3_column_int64(q, 7);
    d->created = sqlite3_column_int64(q, 8);
    d->updated = sqlite3_column_int64(q, 9);
    return d->source && d->sha256 && d->mime && d->metadata_json;
}

void rg_store_doc_clear(rg_store_doc *d) {
    if (!d) return;
    free(d->source);
    free(d->sha256);
    free(d->mime);
    free(d->metadata_json);
    memset(d, 0, sizeof *d);
}

static rg_status doc_get_locked(rg_store *s, int64_t id, int64_t cid, const char *source,
                                rg_store_doc *out, rg_err *err) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           source ? DOC_SELECT "WHERE collection_id=?1 AND source=?2"
                                  : DOC_SELECT "WHERE id=?1",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, err, "get document");
    if (source) {
        sqlite3_bind_int64(q, 1, cid);
        sqlite3_bind_text(q, 2, source, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(q, 1, id);
    }
    rg_status st = RG_OK;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (!doc_row(q, out)) {
            rg_store_doc_clear(out);
            st = rg_failf(err, RG_NOMEM, "store: out of memory");
        }
    } else if (rc == SQLITE_DONE) {
        st = source ? rg_failf(err, RG_NOTFOUND, "store: no document '%s'", source)
                    : rg_failf(err, RG_NOTFOUND, "store: no document with id %lld", (long long)id);
    } else {
        st = db_fail(s, err, "get document");
    }
    sqlite3_finalize(q);
    return st;
}

rg_status rg_store_doc_get(rg_store *s, int64_t doc_id, rg_store_doc *out, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    rg_status st = doc_get_locked(s, doc_id, 0, NULL, out, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_doc_find(rg_store *s, int64_t collection_id, const char *source,
                            rg_store_doc *out, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    rg_status st = doc_get_locked(s, 0, collection_id, source ? source : "", out, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_doc_delete(rg_store *s, int64_t doc_id, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q = NULL;
    rg_status st = txn_begin(s, err);
    if (st) goto out;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE collections SET generation=generation+1 WHERE id=(SELECT "
                           "collection_id FROM documents WHERE id=?1)",
                           -1, &q, NULL) != SQLITE_OK)
        goto dbfail;
    sqlite3_bind_int64(q, 1, doc_id);
    if (sqlite3_step(q) != SQLITE_DONE) goto dbfail;
    if (sqlite3_changes(s->db) == 0) {
        st = rg_failf(err, RG_NOTFOUND, "store: no document with id %lld", (long long)doc_id);
        goto rollback;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM documents WHERE id=?1", -1, &q, NULL) != SQLITE_OK)
        goto dbfail;
    sqlite3_bind_int64(q, 1, doc_id);
    if (sqlite3_step(q) != SQLITE_DONE) goto dbfail;
    sqlite3_finalize(q);
    q = NULL;
    st = txn_commit(s, err);
    if (!st) goto out;
    goto rollback;
dbfail:
    st = db_fail(s, err, "delete document");
rollback:
    txn_rollback(s);
out:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_docs_foreach(rg_store *s, int64_t collection_id, rg_store_doc_fn fn, void *ud,
                                rg_err *err) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    rg_status st = RG_OK;
    if (sqlite3_prepare_v2(s->db, DOC_SELECT "WHERE collection_id=?1 ORDER BY id", -1, &q, NULL) !=
        SQLITE_OK) {
        st = db_fail(s, err, "list documents");
        goto out;
    }
    sqlite3_bind_int64(q, 1, collection_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rg_store_doc d = {0};
        d.id = sqlite3_column_int64(q, 0);
        d.collection_id = sqlite3_column_int64(q, 1);
        d.source = (char *)sqlite3_column_text(q, 2);
        d.sha256 = (char *)sqlite3_column_text(q, 3);
        d.mime = (char *)sqlite3_column_text(q, 4);
        d.metadata_json = (char *)sqlite3_column_text(q, 5);
        d.bytes = sqlite3_column_int64(q, 6);
        d.n_chunks = sqlite3_column_int64(q, 7);
        d.created = sqlite3_column_int64(q, 8);
        d.updated = sqlite3_column_int64(q, 9);
        if (fn(ud, &d)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) st = db_fail(s, err, "list documents");
    sqlite3_finalize(q);
out:
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- chunks ---- */

static void chunk_row(sqlite3_stmt *q, rg_store_chunk *c, int with_source) {
    c->id = sqlite3_column_int64(q, 0);
    c->doc_id = sqlite3_column_int64(q, 1);
    c->collection_id = sqlite3_column_int64(q, 2);
    c->ordinal = sqlite3_column_int(q, 3);
    c->text = (const char *)sqlite3_column_text(q, 4);
    c->text_len = (size_t)sqlite3_column_bytes(q, 4);
    if (!c->text) c->text = "";
    c->heading = (const char *)sqlite3_column_text(q, 5);
    if (!c->heading) c->heading = "";
    c->page = sqlite3_column_int(q, 6);
    c->start = sqlite3_column_int64(q, 7);
    c->end = sqlite3_column_int64(q, 8);
    c->source = with_source ? (const char *)sqlite3_column_text(q, 9) : NULL;
    c->priv_ = NULL;
}

static rg_status chunks_iter(rg_store *s, const char *sql, int64_t a, int64_t b, int nbind,
                             rg_store_chunk_fn fn, void *ud, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    rg_status st = RG_OK;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "iterate chunks");
        goto out;
    }
    sqlite3_bind_int64(q, 1, a);
    if (nbind > 1) sqlite3_bind_int64(q, 2, b);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rg_store_chunk c;
        chunk_row(q, &c, 0);
        if (fn(ud, &c)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) st = db_fail(s, err, "iterate chunks");
    sqlite3_finalize(q);
out:
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_chunks_foreach(rg_store *s, int64_t collection_id, int64_t after_id,
                                  rg_store_chunk_fn fn, void *ud, rg_err *err) {
    return chunks_iter(s,
                       "SELECT id, document_id, collection_id, ordinal, text, heading, page, "
                       "start, end FROM chunks WHERE collection_id=?1 AND id>?2 ORDER BY id",
                       collection_id, after_id, 2, fn, ud, err);
}

rg_status rg_store_doc_chunks_foreach(rg_store *s, int64_t doc_id, rg_store_chunk_fn fn,
                                      void *ud, rg_err *err) {
    return chunks_iter(s,
                       "SELECT id, document_id, collection_id, ordinal, text, heading, page, "
                       "start, end FROM chunks WHERE document_id=?1 ORDER BY ordinal",
                       doc_id, 0, 1, fn, ud, err);
}

/* One chunk by id with s->mu held; the strings are copied into one
 * malloc'd block (priv_). */
static rg_status chunk_get_locked(rg_store *s, int64_t chunk_id, rg_store_chunk *out,
                                  rg_err *err) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = stmt(s, ST_CHUNK_GET);
    if (!q) return db_fail(s, err, "get chunk");
    rg_status st = RG_OK;
    sqlite3_bind_int64(q, 1, chunk_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        rg_store_chunk c;
        chunk_row(q, &c, 1);
        const char *src = c.source ? c.source : "";
        size_t lt = c.text_len, lh = strlen(c.heading), ls = strlen(src);
        char *blk = malloc(lt + lh + ls + 3);
        if (!blk) {
            st = rg_failf(err, RG_NOMEM, "store: out of memory");
        } else {
            memcpy(blk, c.text, lt);
            blk[lt] = 0;
            memcpy(blk + lt + 1, c.heading, lh + 1);
            memcpy(blk + lt + lh + 2, src, ls + 1);
            *out = c;
            out->text = blk;
            out->heading = blk + lt + 1;
            out->source = blk + lt + lh + 2;
            out->priv_ = blk;
        }
    } else if (rc == SQLITE_DONE) {
        st = rg_failf(err, RG_NOTFOUND, "store: no chunk with id %lld", (long long)chunk_id);
    } else {
        st = db_fail(s, err, "get chunk");
    }
    sqlite3_reset(q);
    return st;
}

rg_status rg_store_chunk_get(rg_store *s, int64_t chunk_id, rg_store_chunk *out, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    rg_status st = chunk_get_locked(s, chunk_id, out, err);
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* One read transaction for all n (unless a batch's transaction is already
 * open): SQLite then takes its file locks and checks the WAL once instead
 * of once per chunk, which is most of the cost of a small lookup. */
rg_status rg_store_chunks_get(rg_store *s, const int64_t *ids, size_t n, rg_store_chunk *out,
                              rg_err *err) {
    for (size_t i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    if (n == 0) return RG_OK;
    pthread_mutex_lock(&s->mu);
    rg_status st = RG_OK;
    int own = sqlite3_get_autocommit(s->db);
    if (own) {
        sqlite3_stmt *b = stmt(s, ST_BEGIN);
        if (!b || sqlite3_step(b) != SQLITE_DONE) {
            st = db_fail(s, err, "begin read");
            own = 0;
        }
        if (b) sqlite3_reset(b);
    }
    for (size_t i = 0; st == RG_OK && i < n; i++) st = chunk_get_locked(s, ids[i], &out[i], err);
    if (own) {
        sqlite3_stmt *c = stmt(s, ST_COMMIT);
        /* a read transaction: ending it cannot lose anything */
        if (!c || sqlite3_step(c) != SQLITE_DONE) exec(s, "ROLLBACK", NULL);
        if (c) sqlite3_reset(c);
    }
    pthread_mutex_unlock(&s->mu);
    if (st != RG_OK)
        for (size_t i = 0; i < n; i++) rg_store_chunk_clear(&out[i]);
    return st;
}

void rg_store_chunk_clear(rg_store_chunk *c) {
    if (!c) return;
    free(c->priv_);
    memset(c, 0, sizeof *c);
}

rg_status rg_store_count(rg_store *s, int64_t collection_id, int64_t *n_documents,
                         int64_t *n_chunks, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    rg_status st = RG_OK;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT count(*) FROM documents WHERE collection_id=?1),"
                           " (SELECT count(*) FROM chunks WHERE collection_id=?1)",
                           -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "count");
    } else {
        sqlite3_bind_int64(q, 1, collection_id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            if (n_documents) *n_documents = sqlite3_column_int64(q, 0);
            if (n_chunks) *n_chunks = sqlite3_column_int64(q, 1);
        } else {
            st = db_fail(s, err, "count");
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_check(rg_store *s, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q;
    rg_status st = RG_OK;
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "integrity check");
    } else {
        if (sqlite3_step(q) == SQLITE_ROW) {
            const char *r = (const char *)sqlite3_column_text(q, 0);
            if (!r || strcmp(r, "ok") != 0)
                st = rg_failf(err, RG_DB, "store: %s: integrity check: %s", s->path,
                              r ? r : "(null)");
        } else {
            st = db_fail(s, err, "integrity check");
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- batches ---- */

rg_status rg_store_batch_begin(rg_store *s, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    rg_status st = RG_OK;
    if (s->batch)
        st = rg_failf(err, RG_INVALID, "store: a batch is already open");
    else if (!(st = exec(s, "BEGIN IMMEDIATE", err)))
        s->batch = 1;
    pthread_mutex_unlock(&s->mu);
    return st;
}

rg_status rg_store_batch_commit(rg_store *s, rg_err *err) {
    pthread_mutex_lock(&s->mu);
    rg_status st = RG_OK;
    if (!s->batch) {
        st = rg_failf(err, RG_INVALID, "store: no batch is open");
    } else {
        s->batch = 0;
        if ((st = exec(s, "COMMIT", err))) exec(s, "ROLLBACK", NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

void rg_store_batch_rollback(rg_store *s) {
    pthread_mutex_lock(&s->mu);
    if (s->batch) {
        s->batch = 0;
        exec(s, "ROLLBACK", NULL);
    }
    pthread_mutex_unlock(&s->mu);
}
