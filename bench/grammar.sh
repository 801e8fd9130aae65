#!/bin/bash
# Constrained decoding speed (issue 10): generation through the server's
# scheduler path with no grammar, with the grammar checking the best
# candidates one by one (full mask only when that does not settle the
# draw), and with a full vocabulary mask every step, the modes taking
# turns run by run; on tiny-llama-q8_0 (512-token vocab) and
# tiny-qwen2-q4_k (32k BPE vocab).  Goal: constrained within 10% of
# unconstrained.  Both fixture models are tiny (2 layers, 256 wide), so the
# forward pass is cheap and the grammar's share is as large as it gets.
set -u
B=${RAGD_BUILD:-build}
make -s "$B/bench/bench_grammar" >/dev/null || exit 1
M=${RAGD_SHARED:-../shared}/fixtures/models
N=${BENCH_QUICK:+64}
N=${N:-160}
for f in tiny-llama-q8_0 tiny-qwen2-q4_k; do
    [ -f "$M/$f.gguf" ] || { echo "skip: $M/$f.gguf absent"; continue; }
    echo "== $f: $N tokens x 3 runs, temperature 1, JSON schema (list of strings)"
    "$B/bench/bench_grammar" "$M/$f.gguf" "$N" 3 2>/dev/null || exit 1
done
echo "(peer: llama.cpp samples first and masks the whole vocabulary on rejection; it publishes no figure."
echo " Machine shared and noisy: compare the ratios within one run.)"
