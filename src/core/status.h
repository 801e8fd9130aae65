/* status.h - the one status enum of ragd, its names and messages.
 *
 * Every fallible function returns an rg_status (RG_OK = 0) and, where the
 * caller passed one, fills an rg_err with a detail message naming what went
 * wrong and where.  Numbers never change: append new codes at the end. */
#ifndef RG_CORE_STATUS_H
#define RG_CORE_STATUS_H

#include <stdarg.h>
#include <stddef.h>

/* X(name, number, message) */
#define RG_STATUS_LIST(X)                                            \
    X(OK, 0, "success")                                              \
    X(ERR, 1, "error")                                               \
    X(NOMEM, 2, "out of memory")                                     \
    X(IO, 3, "input/output error")                                   \
    X(NOTFOUND, 4, "not found")                                      \
    X(INVALID, 5, "invalid argument")                                \
    X(FORMAT, 6, "malformed input")                                  \
    X(UNSUPPORTED, 7, "unsupported")                                 \
    X(LIMIT, 8, "limit exceeded")                                    \
    X(EXISTS, 9, "already exists")                                   \
    X(DB, 10, "database error")                                      \
    X(BUSY, 11, "busy")                                              \
    X(DENIED, 12, "permission denied")                               \
    X(CANCELLED, 13, "cancelled")                                    \
    X(TIMEOUT, 14, "timed out")                                      \
    X(UPSTREAM, 15, "upstream service error")

typedef enum rg_status {
#define RG__STATUS_ENUM(name, num, msg) RG_##name = num,
    RG_STATUS_LIST(RG__STATUS_ENUM)
#undef RG__STATUS_ENUM
} rg_status;

#define RG_ERR_MSG_MAX 512

/* An error value: the code and a detail message.  Cheap to put on the
 * stack; functions that fail write it, functions that succeed leave it. */
typedef struct rg_err {
    rg_status code;
    char msg[RG_ERR_MSG_MAX];
} rg_err;

/* "NOTFOUND" etc.; static storage. Unknown codes give "UNKNOWN". */
const char *rg_status_name(rg_status s);
/* "not found" etc.; static storage. */
const char *rg_status_message(rg_status s);

/* Sets err (if non-NULL) to code and the formatted detail; returns code so
 * callers can write `return rg_failf(err, RG_FORMAT, "...", ...);`. */
rg_status rg_failf(rg_err *err, rg_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
rg_status rg_vfailf(rg_err *err, rg_status code, const char *fmt, va_list ap);

/* Prepends "prefix: " to an existing detail message (adds context on the
 * way up the stack).  Returns err->code. */
rg_status rg_err_prefix(rg_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to RG_OK with an empty message. */
void rg_err_clear(rg_err *err);

/* The detail message, or the status message when no detail was set. */
const char *rg_err_text(const rg_err *err);

#endif
