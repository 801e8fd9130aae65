#!/bin/bash
# nn kernels: memory bandwidth (triad) and rg_nn_matmul per weight type at
# batch 1 (GB/s of weights, fraction of the measured bandwidth) and batch
# 512 (GFLOP/s).  QUICK=1 for a short run; NN_THREADS=1,2 by default.
set -u
B=${RAGD_BUILD:-build}/bench/bench_nn
[ -x "$B" ] || { echo "missing $B (run make bench)"; exit 1; }
args=(-t "${NN_THREADS:-1,2}")
[ -n "${QUICK:-}" ] && args+=(-q)
"$B" "${args[@]}"
cat <<'TXT'

llama.cpp reference (../shared/BASELINES.md, whole-model decode, tg128 as a
fraction of the bandwidth ceiling): F16 64-67% (SmolLM2) / ~100% (Qwen2.5);
Q8_0 47-56% / 66-69%; Q4_0 48-49%; Q4_K_M 51-55%.  Kernel-only GB/s above is
an upper bound for ragd's decode; the machine is shared, figures move 10-30%.
TXT
