#!/bin/bash
# Guard: per-type precision/recall of PII detection on the generated
# labelled set (tests/guard_testset.h) and redaction throughput on one
# thread.  QUICK=1 uses a smaller text.
set -u
B=${RAGD_BUILD:-build}
bin="$B/bench/bench_guard"
[ -x "$bin" ] || { echo "missing $bin (make bench builds it)"; exit 1; }
mb=64
[ -n "${QUICK:-}" ] && mb=8
"$bin" --per-type 200 --mb "$mb"
