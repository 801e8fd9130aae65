#!/bin/bash
# Continuous batching (issue 7): 1, 4, 16 and 64 concurrent greedy streams
# through the scheduler the server uses, on a random-weight model of
# Qwen2.5-0.5B's shape in Q8_0 (SmolLM2-135M's with BENCH_QUICK=1):
# aggregate generated tokens/s, TTFT P50/P99, inter-token P99, KV held per
# token stored; then TTFT of a request sharing a 1,000-token prefix with
# the one before.  Goals: 16 streams >= 4x one stream; KV ratio <= 1.05;
# prefix TTFT <= 1/5.
set -u
B=${RAGD_BUILD:-build}
T=${RAGD_BENCH_TMP:-/tmp}
make -s "$B/bench/bench_mkmodel" "$B/bench/bench_sched" >/dev/null || exit 1
shape=qwen2.5-0.5b
[ -n "${BENCH_QUICK:-}" ] && shape=smollm2-135m
M="$T/sched-$shape-q8_0.gguf"
[ -f "$M" ] || "$B/bench/bench_mkmodel" "$M" $shape q8_0 || exit 1
echo "model: $shape Q8_0 (random weights), prompt 64, 32 tokens per stream, 2 threads"
for n in 1 4 16 64; do "$B/bench/bench_sched" "$M" $n 64 32 2 || exit 1; done
"$B/bench/bench_sched" "$M" --prefix 1000 || exit 1
echo "(machine shared and noisy; compare the ratios within this run)"
