#!/bin/bash
# Constrained decoding speed (issue 10): generation with no grammar, with
# the grammar checking the best candidates one by one (the full mask only
# when that does not settle the draw: the default), and with a full
# vocabulary mask every step, the modes taking turns run by run so that a
# shared machine's load hits them alike.  On tiny-llama-q8_0 (512-token
# vocab) and tiny-qwen2-q4_k (32k BPE vocab) through the server's
# scheduler path, and on a Qwen-sized 151,936-token vocabulary (real BPE
# pieces of the tokenizer fixtures plus merged pairs) with a random model
# of tiny-qwen2's shape (the CLI's loop).  Goal: constrained within 10% of
# unconstrained.  The models are tiny (2 layers, 256 wide), so the
# forward pass is cheap and the grammar's share is as large as it gets.
# One engine thread (BENCH_THREADS, default 1), so that the CPU-time
# columns (tokens per CPU-second of the process) hold up on a loaded
# machine where wall-clock ratios swing by 20 points run to run.
# BENCH_QUICK=1: fewer tokens and runs.
set -u
export BENCH_THREADS=${BENCH_THREADS:-1}
B=${RAGD_BUILD:-build}
make -s "$B/bench/bench_grammar" >/dev/null || exit 1
F=${RAGD_SHARED:-../shared}/fixtures
M=$F/models
T=${RAGD_BENCH_TMP:-/tmp}
N=${BENCH_QUICK:+64}
N=${N:-128}
R=${BENCH_QUICK:+3}
R=${R:-8}
for f in tiny-llama-q8_0 tiny-qwen2-q4_k; do
    [ -f "$M/$f.gguf" ] || { echo "skip: $M/$f.gguf absent"; continue; }
    echo "== $f: $N tokens x $R runs per mode, temperature 1, JSON schema (list of strings)"
    "$B/bench/bench_grammar" "$M/$f.gguf" "$N" "$R" 2>/dev/null || exit 1
done
if [ -f "$M/tiny-qwen2-q4_k.gguf" ] && [ -f "$F/vocab/ggml-vocab-gpt-2.gguf" ]; then
    echo "== 151,936-token vocabulary (Qwen2's size), tiny-qwen2's shape: $N tokens x $R runs per mode"
    BENCH_GRAMMAR_MODES=${BENCH_GRAMMAR_MODES:-01} "$B/bench/bench_grammar" --vocab 151936 "$M/tiny-qwen2-q4_k.gguf" \
        "$F/vocab" "$T/grammar-vocab151k.gguf" "$N" "$R" 2>/dev/null || exit 1
    rm -f "$T/grammar-vocab151k.gguf"
else
    echo "skip: the 151k vocabulary needs $M/tiny-qwen2-q4_k.gguf and $F/vocab/"
fi
echo "(vs none: total tokens over total time; median pair: the median of run-by-run ratios;"
echo " cpu tok/s: tokens per CPU-second of the process, the figure least moved by other load."
echo " Peer: llama.cpp samples first and masks the whole vocabulary on rejection; it publishes no figure."
echo " Machine shared and noisy: compare the ratios within one run.)"
