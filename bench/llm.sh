#!/bin/bash
# LLM speed: `ragd bench` pp512 / tg128 at 1 and 2 threads on random-weight
# models of real shapes (SmolLM2-135M, Qwen2.5-0.5B) in F16, Q8_0, Q4_0 and
# Q4_K_M, made by bench_mkmodel, beside llama.cpp's figures from
# ../shared/BASELINES.md (llama-bench, same shapes, same kind of machine).
# tg is also shown as a fraction of the bandwidth ceiling: measured
# bandwidth (triad, same run) / bytes of weights read per token.
#   BENCH_QUICK=1   SmolLM shapes only (the 0.5B models take ~1 GB of disk each)
#   LLM_BENCH_REPS  repetitions per test (default 3)
#   LLAMA_BENCH     path of a llama-bench you built yourself (llama.cpp is not
#                   part of ragd): it then times the same files in this run,
#                   and its wall-clock figures replace the BASELINES columns
set -u
B=${RAGD_BIN:-$PWD/ragd}
BUILD=${RAGD_BUILD:-build}
MK="$BUILD/bench/bench_mkmodel"
T=${RAGD_BENCH_TMP:-$(mktemp -d)}/llm
R=${LLM_BENCH_REPS:-3}
QUICK=${BENCH_QUICK:-${RAGD_BENCH_QUICK:-}}
[ -x "$MK" ] || { echo "missing $MK (make bench builds it)"; exit 1; }
mkdir -p "$T"

# llama.cpp (build 4748, llama-bench -p 512 -n 128 -t 1,2 -r 3), from ../shared/BASELINES.md:
# shape type pp512_t1 pp512_t2 tg128_t1 tg128_t2
BASE="smollm2-135m f16 218 335 59.4 79.0
smollm2-135m q8_0 298 516 93.9 109.4
smollm2-135m q4_0 295 496 127.7 180.5
smollm2-135m q4_k_m 236 340 99.0 96.6
qwen2.5-0.5b f16 87 184 23.3 33.5
qwen2.5-0.5b q8_0 120 198 30.3 43.5
qwen2.5-0.5b q4_0 - - - -
qwen2.5-0.5b q4_k_m 89 119 33.4 42.9"

bw1=$("$MK" --bw 1); bw2=$("$MK" --bw 2)
echo "memory bandwidth now (triad, 3 x 256 MiB): ${bw1} GB/s (1 thread), ${bw2} GB/s (2 threads);"
echo "BASELINES.md measured 24 / 33 GB/s on an idle machine.  Timings below are on a shared, loaded machine."
echo
printf "| %-13s | %-6s | %2s | %14s | %8s | %9s | %5s | %14s | %8s | %9s | %5s | %9s | %7s |\n" \
    model type t "pp512 ragd" "(cpu)" "llama.cpp" ratio "tg128 ragd" "(cpu)" "llama.cpp" ratio "ceiling" "tg/ceil"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n" --------------- -------- ---- ---------------- \
    ---------- ----------- ------- ---------------- ---------- ----------- ------- ----------- ---------

shapes="smollm2-135m qwen2.5-0.5b"
[ -n "$QUICK" ] && shapes="smollm2-135m"
for shape in $shapes; do
    for type in f16 q8_0 q4_0 q4_k_m; do
        f="$T/$shape-$type.gguf"
        if ! "$MK" "$f" "$shape" "$type"; then echo "!! could not make $f"; continue; fi
        out=$("$B" bench -m "$f" -p 512 -n 128 -t 1,2 -r "$R" --csv) || { echo "!! ragd bench $f failed"; rm -f "$f"; continue; }
        base=$(echo "$BASE" | awk -v s="$shape" -v t="$type" '$1 == s && $2 == t')
        if [ -n "${LLAMA_BENCH:-}" ] && [ -x "$LLAMA_BENCH" ]; then
            # llama-bench's CSV: n_threads is field 12, n_prompt 26, n_gen 27, avg_ts 31
            base=$("$LLAMA_BENCH" -m "$f" -p 512 -n 128 -t 1,2 -r "$R" -o csv 2>/dev/null | awk -F, -v s="$shape" -v t="$type" '
                NR > 1 { gsub(/"/, ""); if ($26 > 0) pp[$12] = $31; else tg[$12] = $31 }
                END { printf "%s %s %.1f %.1f %.1f %.1f", s, t, pp[1], pp[2], tg[1], tg[2] }')
            same_run=1
        fi
        rm -f "$f"
        for th in 1 2; do
            pp=$(echo "$out" | awk -F, -v t="$th" '$2 == t && $3 == "pp512" {printf "%.1f ± %.1f", $4, $5}')
            tg=$(echo "$out" | awk -F, -v t="$th" '$2 == t && $3 == "tg128" {printf "%.1f ± %.1f", $4, $5}')
            ppm=$(echo "$out" | awk -F, -v t="$th" '$2 == t && $3 == "pp512" {print $4}')
            tgm=$(echo "$out" | awk -F, -v t="$th" '$2 == t && $3 == "tg128" {print $4}')
            ppc=$(echo "$out" | awk -F, -v t="$th" '$2 == t && $3 == "pp512" {print $7}')
            tgc=$(echo "$out" | awk -F, -v t="$th" '$2 == t && $3 == "tg128" {print $7}')
            bytes=$(echo "$out" | awk -F, 'NR == 1 {print $6}')
            bpp=$(echo "$base" | awk -v t="$th" '{print (t == 1) ? $3 : $4}')
            btg=$(echo "$base" | awk -v t="$th" '{print (t == 1) ? $5 : $6}')
            bw=$([ "$th" = 1 ] && echo "$bw1" || echo "$bw2")
            awk -v s="$shape" -v ty="$type" -v th="$th" -v pp="$pp" -v tg="$tg" -v ppm="$ppm" \
                -v tgm="$tgm" -v bpp="$bpp" -v btg="$btg" -v bytes="$bytes" -v bw="$bw" \
                -v ppc="$ppc" -v tgc="$tgc" -v same="${same_run:-0}" 'BEGIN {
                # same-run peer: compare wall with wall; BASELINES (idle machine): cpu-normalised
                ppr = same ? ppm : ppc; tgr = same ? tgm : tgc;
                rp = (bpp == "-" || bpp == "" || bpp == 0) ? "-" : sprintf("%.2fx", ppr / bpp);
                rt = (btg == "-" || btg == "" || btg == 0) ? "-" : sprintf("%.2fx", tgr / btg);
                ceil = bw * 1e9 / bytes;
                printf "| %-13s | %-6s | %2s | %14s | %8.1f | %9s | %5s | %14s | %8.1f | %9s | %5s | %7.1f/s | %6.0f%% |\n",
                    s, ty, th, pp, ppc, bpp, rp, tg, tgc, btg, rt, ceil, 100 * tgm / ceil }'
        done
    done
done
echo
echo "ragd columns: wall-clock tokens/s (mean ± sd); (cpu) = tokens x threads / process CPU seconds,"
echo "the speed with a full core per thread, which is what the idle-machine llama.cpp figures"
echo "are compared with (ratio = cpu-normalised ragd / llama.cpp)."
[ -n "${same_run:-}" ] && echo "llama.cpp columns: \$LLAMA_BENCH ($LLAMA_BENCH) on the same files in this run; ratio = wall / wall."
echo "ceiling = measured bandwidth / weight bytes read per token; tg/ceil uses wall-clock tg."
echo "(llama.cpp's Q4_K_M on these shapes is mostly Q5_0: rows of 576/896 are not a multiple of 256;"
echo " bench_mkmodel's q4_k_m applies the same fallback rules)."
