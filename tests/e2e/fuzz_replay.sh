#!/bin/bash
# Replays every fuzz target over its seed corpus (fuzz/corpus/<target>/).
set -e
B=${RAGD_BUILD:-build}
n=0
for src in fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    t=$(basename "$src" .c)
    bin="$B/fuzz/replay_$t"
    [ -x "$bin" ] || { echo "missing $bin (run make)"; exit 1; }
    "$bin" "fuzz/corpus/$t" >/dev/null
    n=$((n+1))
done
echo "replayed $n fuzz targets"
