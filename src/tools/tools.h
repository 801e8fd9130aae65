/* tools.h - built-in tools the server can run for a model: a read-only
 * SQL tool over operator-attached SQLite databases and a calculator.
 *
 * The SQL tool is defensive in depth: the file is opened read-only,
 * `PRAGMA query_only` is on, an authorizer denies ATTACH/DETACH, writing
 * pragmas and load_extension, exactly one statement is accepted, each is
 * checked with sqlite3_stmt_readonly, and rows and run time are capped. */
#ifndef RG_TOOLS_H
#define RG_TOOLS_H

#include <stddef.h>

#include "core/buf.h"
#include "core/status.h"

typedef struct rg_sqltool rg_sqltool;

/* Opens path read-only under the name `name` (what the model calls it).
 * *out owned by the caller (rg_sqltool_close). */
rg_status rg_sqltool_open(const char *name, const char *path, rg_sqltool **out, rg_err *err);
void rg_sqltool_close(rg_sqltool *t);
const char *rg_sqltool_name(const rg_sqltool *t);
/* The schema (CREATE statements) for the tool's description. Appends to out. */
rg_status rg_sqltool_schema(rg_sqltool *t, rg_buf *out, rg_err *err);

/* Runs one read-only statement; appends the result to out as a JSON
 * object {"columns": [...], "rows": [[...], ...], "truncated": bool}.
 * Refused statements give RG_DENIED with the reason.  Not thread-safe per
 * handle (one SQLite connection); open one per thread or lock. */
rg_status rg_sqltool_query(rg_sqltool *t, const char *sql, int max_rows, int timeout_ms,
                           rg_buf *out, rg_err *err);

/* Evaluates an arithmetic expression: numbers (1e3, 0x1f), + - * / % ^,
 * parentheses, unary minus, constants pi e, functions sqrt abs ln log10
 * log2 exp sin cos tan floor ceil round min(a,b) max(a,b) pow(a,b).
 * Errors name the byte offset. */
rg_status rg_calc_eval(const char *expr, size_t len, double *out, rg_err *err);

#endif
