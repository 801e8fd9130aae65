#!/bin/bash
# `make bench`: runs every bench/<area>.sh in name order.  Each prints a
# table of what it measured, with the peer's figure from
# ../shared/BASELINES.md beside ours.  Speed is never asserted here.
set -u
cd "$(dirname "$0")/.."
export RAGD_BIN=${RAGD_BIN:-$PWD/ragd}
export RAGD_BUILD=${RAGD_BUILD:-build}
export RAGD_BENCH_TMP=${RAGD_BENCH_TMP:-$(mktemp -d /tmp/ragd-bench.XXXXXX)}
status=0
for s in bench/[a-z]*.sh; do
    [ "$s" = bench/run.sh ] && continue
    [ -n "${BENCH:-}" ] && [[ "$s" != *"$BENCH"* ]] && continue
    echo "== $s"
    bash "$s" || { echo "!! $s failed"; status=1; }
done
rm -rf "$RAGD_BENCH_TMP"
exit $status
