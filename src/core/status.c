/* status.c - names and messages for rg_status, and rg_err helpers. */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

const char *rg_status_name(rg_status s) {
    switch (s) {
#define RG__NAME(name, num, msg) case RG_##name: return #name;
        RG_STATUS_LIST(RG__NAME)
#undef RG__NAME
    }
    return "UNKNOWN";
}

const char *rg_status_message(rg_status s) {
    switch (s) {
#define RG__MSG(name, num, msg) case RG_##name: return msg;
        RG_STATUS_LIST(RG__MSG)
#undef RG__MSG
    }
    return "unknown status";
}

rg_status rg_vfailf(rg_err *err, rg_status code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

rg_status rg_failf(rg_err *err, rg_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rg_vfailf(err, code, fmt, ap);
    va_end(ap);
    return code;
}

rg_status rg_err_prefix(rg_err *err, const char *fmt, ...) {
    if (!err) return RG_ERR;
    char joined[2 * RG_ERR_MSG_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, RG_ERR_MSG_MAX, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n >= RG_ERR_MSG_MAX) n = RG_ERR_MSG_MAX - 1;
    memcpy(joined + n, ": ", 2);
    memcpy(joined + n + 2, err->msg, RG_ERR_MSG_MAX);
    joined[n + 2 + RG_ERR_MSG_MAX - 1] = '\0';
    memcpy(err->msg, joined, RG_ERR_MSG_MAX - 1);
    err->msg[RG_ERR_MSG_MAX - 1] = '\0';
    return err->code;
}

void rg_err_clear(rg_err *err) {
    if (!err) return;
    err->code = RG_OK;
    err->msg[0] = '\0';
}

const char *rg_err_text(const rg_err *err) {
    if (!err) return "";
    return err->msg[0] ? err->msg : rg_status_message(err->code);
}
