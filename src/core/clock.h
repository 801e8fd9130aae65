/* clock.h - monotonic time for latency measurements. */
#ifndef RG_CORE_CLOCK_H
#define RG_CORE_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC). */
uint64_t rg_now_ns(void);
/* Monotonic seconds as a double. */
double rg_now_s(void);
/* CPU seconds used so far by the whole process (all threads) and by the
 * calling thread: speeds per CPU-second hold up on a loaded machine. */
double rg_cpu_s(void);
double rg_thread_cpu_s(void);
/* Wall-clock seconds since the epoch (for timestamps). */
int64_t rg_unix_time(void);
/* Writes "2026-11-28T12:00:00Z" (21 bytes incl. NUL) into out. */
void rg_iso8601(int64_t t, char out[32]);

#endif
