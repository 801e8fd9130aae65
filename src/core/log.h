/* log.h - levelled logging to stderr (or a user sink).
 *
 * Library code logs through here and never prints directly.  Every line
 * passes through an optional filter before it is written: the application
 * installs the PII redactor there so that no raw personal data reaches a
 * log (core cannot call guard/ itself: arrows point down). */
#ifndef RG_CORE_LOG_H
#define RG_CORE_LOG_H

#include <stddef.h>

typedef enum rg_log_level {
    RG_LOG_DEBUG = 0,
    RG_LOG_INFO = 1,
    RG_LOG_WARN = 2,
    RG_LOG_ERROR = 3,
    RG_LOG_OFF = 4
} rg_log_level;

/* Filter: rewrites line (NUL-terminated) into out (cap bytes, always
 * NUL-terminated).  Must be thread-safe. */
typedef void (*rg_log_filter_fn)(const char *line, char *out, size_t cap, void *ud);

void rg_log_set_level(rg_log_level level);
rg_log_level rg_log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns -1 when unknown. */
int rg_log_parse_level(const char *s);
void rg_log_set_filter(rg_log_filter_fn fn, void *ud);

void rg_log(rg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rg_debug(...) rg_log(RG_LOG_DEBUG, __VA_ARGS__)
#define rg_info(...) rg_log(RG_LOG_INFO, __VA_ARGS__)
#define rg_warn(...) rg_log(RG_LOG_WARN, __VA_ARGS__)
#define rg_error(...) rg_log(RG_LOG_ERROR, __VA_ARGS__)

#endif
