/* stats.h - summary statistics of measurements (latencies, timings). */
#ifndef RG_CORE_STATS_H
#define RG_CORE_STATS_H

/* The q-quantile (0 < q <= 1) of v's n values by nearest rank: the
 * smallest value with at least q*n values <= it.  Sorts v in place; 0 when
 * n is 0. */
double rg_percentile(double *v, int n, double q);

#endif
