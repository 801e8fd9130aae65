/* sql.c - the read-only SQL tool (see tools.h for the layers of defence). */
#include <ctype.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "tools/tools.h"

struct rg_sqltool {
    char name[64];
    sqlite3 *db;
    uint64_t deadline_ns;
    char denied[160];
};

static int authorize(void *ud, int action, const char *a, const char *b, const char *c,
                     const char *d) {
    rg_sqltool *t = ud;
    (void)c, (void)d;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        snprintf(t->denied, sizeof t->denied, "ATTACH/DETACH is not allowed");
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        /* reading a pragma (no argument) is fine, and the schema
         * pragmas whose argument is a table name; setting one is not */
        if (b && !(a && (!strcasecmp(a, "table_info") || !strcasecmp(a, "table_xinfo") ||
                         !strcasecmp(a, "index_list") || !strcasecmp(a, "index_info") ||
                         !strcasecmp(a, "index_xinfo") || !strcasecmp(a, "foreign_key_list")))) {
            snprintf(t->denied, sizeof t->denied, "setting PRAGMA %s is not allowed", a ? a : "");
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (b && (!strcasecmp(b, "load_extension") || !strcasecmp(b, "readfile") ||
                  !strcasecmp(b, "writefile") || !strcasecmp(b, "edit"))) {
            snprintf(t->denied, sizeof t->denied, "function %s() is not allowed", b);
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_READ:
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    default:
        snprintf(t->denied, sizeof t->denied, "only reads are allowed (action %d)", action);
        return SQLITE_DENY;
    }
}

static int progress(void *ud) {
    rg_sqltool *t = ud;
    return t->deadline_ns && rg_now_ns() > t->deadline_ns;
}

rg_status rg_sqltool_open(const char *name, const char *path, rg_sqltool **out, rg_err *err) {
    *out = NULL;
    rg_sqltool *t = calloc(1, sizeof *t);
    if (!t) return rg_failf(err, RG_NOMEM, "sql: out of memory");
    snprintf(t->name, sizeof t->name, "%s", name);
    int rc = sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rg_failf(err, RG_DB, "sql: %s: cannot open read-only: %s", path,
                 t->db ? sqlite3_errmsg(t->db) : sqlite3_errstr(rc));
        rg_sqltool_close(t);
        return RG_DB;
    }
    sqlite3_db_config(t->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(t->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_exec(t->db, "PRAGMA query_only=1", NULL, NULL, NULL);
    /* fail now on a file that is not a database */
    if (sqlite3_exec(t->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
        rg_failf(err, RG_DB, "sql: %s: %s", path, sqlite3_errmsg(t->db));
        rg_sqltool_close(t);
        return RG_DB;
    }
    sqlite3_set_authorizer(t->db, authorize, t);
    sqlite3_progress_handler(t->db, 1000, progress, t);
    *out = t;
    return RG_OK;
}

void rg_sqltool_close(rg_sqltool *t) {
    if (!t) return;
    if (t->db) sqlite3_close(t->db);
    free(t);
}

const char *rg_sqltool_name(const rg_sqltool *t) { return t->name; }

rg_status rg_sqltool_schema(rg_sqltool *t, rg_buf *out, rg_err *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(t->db, "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'",
                           -1, &st, NULL) != SQLITE_OK)
        return rg_failf(err, RG_DB, "sql: %s", sqlite3_errmsg(t->db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        rg_buf_puts(out, (const char *)sqlite3_column_text(st, 0));
        rg_buf_puts(out, ";\n");
    }
    sqlite3_finalize(st);
    return RG_OK;
}

static int only_space_or_comments(const char *s) {
    while (*s) {
        if (isspace((unsigned char)*s) || *s == ';') s++;
        else if (s[0] == '-' && s[1] == '-') {
            while (*s && *s != '\n') s++;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            if (!e) return 1;
            s = e + 2;
        } else return 0;
    }
    return 1;
}

rg_status rg_sqltool_query(rg_sqltool *t, const char *sql, int max_rows, int timeout_ms,
                           rg_buf *out, rg_err *err) {
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    t->denied[0] = '\0';
    t->deadline_ns = 0;
    int rc = sqlite3_prepare_v2(t->db, sql, -1, &st, &tail);
    if (rc != SQLITE_OK) {
        if (t->denied[0]) return rg_failf(err, RG_DENIED, "sql: refused: %s", t->denied);
        return rg_failf(err, RG_INVALID, "sql: %s", sqlite3_errmsg(t->db));
    }
    if (!st) return rg_failf(err, RG_INVALID, "sql: empty statement");
    if (tail && !only_space_or_comments(tail)) {
        sqlite3_finalize(st);
        return rg_failf(err, RG_DENIED, "sql: refused: exactly one statement is allowed");
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        return rg_failf(err, RG_DENIED, "sql: refused: the statement would write");
    }
    t->deadline_ns = timeout_ms > 0 ? rg_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
    json_t *res = json_object(), *cols = json_array(), *rows = json_array();
    int nc = sqlite3_column_count(st);
    for (int i = 0; i < nc; i++) json_array_append_new(cols, json_string(sqlite3_column_name(st, i)));
    int n = 0, truncated = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n >= max_rows) {
            truncated = 1;
            break;
        }
        json_t *row = json_array();
        for (int i = 0; i < nc; i++) {
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER: json_array_append_new(row, json_integer(sqlite3_column_int64(st, i))); break;
            case SQLITE_FLOAT: json_array_append_new(row, json_real(sqlite3_column_double(st, i))); break;
            case SQLITE_NULL: json_array_append_new(row, json_null()); break;
            case SQLITE_BLOB: json_array_append_new(row, json_sprintf("<blob %d bytes>", sqlite3_column_bytes(st, i))); break;
            default: {
                const char *txt = (const char *)sqlite3_column_text(st, i);
                json_t *s = json_stringn_nocheck(txt ? txt : "", (size_t)sqlite3_column_bytes(st, i));
                json_array_append_new(row, s ? s : json_string("<invalid utf-8>"));
            }
            }
        }
        json_array_append_new(rows, row);
        n++;
    }
    rg_status status = RG_OK;
    if (rc == SQLITE_INTERRUPT)
        status = rg_failf(err, RG_TIMEOUT, "sql: query stopped after %d ms", timeout_ms);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        status = t->denied[0] ? rg_failf(err, RG_DENIED, "sql: refused: %s", t->denied)
                              : rg_failf(err, RG_DB, "sql: %s", sqlite3_errmsg(t->db));
    sqlite3_finalize(st);
    t->deadline_ns = 0;
    if (!status) {
        json_object_set_new(res, "columns", cols);
        json_object_set_new(res, "rows", rows);
        json_object_set_new(res, "truncated", json_boolean(truncated));
        char *s = json_dumps(res, JSON_COMPACT);
        if (!s || rg_buf_puts(out, s)) status = rg_failf(err, RG_LIMIT, "sql: result too large");
        free(s);
    } else {
        json_decref(cols);
        json_decref(rows);
    }
    json_decref(res);
    return status;
}
