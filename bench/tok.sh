#!/bin/bash
# Tokenizer throughput (one thread) per fixture vocabulary, on the English
# Cranfield corpus and the Chinese CMRC 2018 corpus (BEIR layout).
# QUICK=1 runs each for 0.5 s instead of 2 s.
set -u
B=${RAGD_BUILD:-build}
FX=${RAGD_SHARED:-../shared}/fixtures
bin="$B/bench/bench_tok"
[ -x "$bin" ] || { echo "missing $bin (make bench builds it)"; exit 1; }
[ -d "$FX/vocab" ] || { echo "skipped: $FX/vocab is absent"; exit 0; }
secs=2
[ -n "${QUICK:-}" ] && secs=0.5
echo "tokenizer throughput, 1 thread, no special tokens (machine shared; timings are noisy)"
echo "peer: llama.cpp publishes no tokenizer throughput figure in BASELINES.md; its"
echo "test-tokenizer-0 conformance is matched exactly (make test T=tok_vocab)."
for corpus in cranfield cmrc2018-trial-zh; do
    c="$FX/beir/$corpus/corpus.jsonl"
    [ -f "$c" ] || continue
    echo "-- $corpus"
    for v in "$FX"/vocab/ggml-vocab-*.gguf; do
        printf '%-32s ' "$(basename "$v" .gguf | sed 's/ggml-vocab-//')"
        "$bin" "$v" "$c" "$secs" || echo "failed"
    done
done
