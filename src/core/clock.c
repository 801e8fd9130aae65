/* clock.c - see clock.h. */
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

uint64_t rg_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double rg_now_s(void) { return (double)rg_now_ns() * 1e-9; }

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double rg_cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }
double rg_thread_cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

int64_t rg_unix_time(void) { return (int64_t)time(NULL); }

void rg_iso8601(int64_t t, char out[32]) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) out[0] = '\0';
}
