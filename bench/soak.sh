#!/bin/bash
# bench/soak.sh - the 10-minute soak of issue 7 (opt-in: SOAK=1 make bench
# BENCH=soak): tests/e2e/sched_soak.sh (which `make test` runs for 30 s)
# for SOAK_SECS (default 600) with 16 concurrent streams, random lengths
# and random client disconnects; it checks that the server stays up, the
# KV pool returns to no sequence-held block when idle, and RSS (/proc)
# stays flat.  Prints the counts, the idle KV state and RSS.
set -u
cd "$(dirname "$0")/.."
if [ -z "${SOAK:-}" ]; then
    echo "skip: the soak runs 10 minutes; SOAK=1 make bench BENCH=soak to run it"
    exit 0
fi
export RAGD_TEST_TMP=${RAGD_BENCH_TMP:-$(mktemp -d)}/soak-run
mkdir -p "$RAGD_TEST_TMP"
SOAK_SECS=${SOAK_SECS:-600} bash tests/e2e/sched_soak.sh
