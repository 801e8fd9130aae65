/* log.c - see log.h.  One mutex around the write keeps lines whole. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static rg_log_level g_level = RG_LOG_WARN;
static rg_log_filter_fn g_filter;
static void *g_filter_ud;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

void rg_log_set_level(rg_log_level level) { g_level = level; }
rg_log_level rg_log_get_level(void) { return g_level; }

int rg_log_parse_level(const char *s) {
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

void rg_log_set_filter(rg_log_filter_fn fn, void *ud) {
    pthread_mutex_lock(&g_mu);
    g_filter = fn;
    g_filter_ud = ud;
    pthread_mutex_unlock(&g_mu);
}

void rg_log(rg_log_level level, const char *fmt, ...) {
    if (level < g_level || level >= RG_LOG_OFF) return;
    static const char *tags[] = {"debug", "info", "warn", "error"};
    char line[2048], out[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&g_mu);
    const char *text = line;
    if (g_filter) {
        g_filter(line, out, sizeof out, g_filter_ud);
        text = out;
    }
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02dZ ragd %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tags[level], text);
    pthread_mutex_unlock(&g_mu);
}
