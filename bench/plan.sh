#!/bin/bash
# Predicted vs measured, and what quantization buys.
#
# 1. For SmolLM2-135M and Qwen2.5-0.5B shapes (random weights, bench_mkmodel)
#    in F16, Q8_0 and Q4_K_M, at 1 and 2 threads: `ragd calibrate` (only the
#    weight types the model holds) immediately followed by `ragd bench -p 512
#    -n 128`, then `ragd predict` from that calibration: predicted pp512 and
#    tg128 beside measured, with the ratio, by wall clock and by CPU time
#    (calibrate's cpu-time profile vs bench's cpu-normalised column: the
#    speed with a full core per thread, which survives a shared machine).
#    Acceptance: within +-20%.
# 2. F16 vs Q8_0 vs Q4_K_M on the Qwen2.5-0.5B shape (from the same runs):
#    TTFT of a 512-token prompt, tokens/s, file size, peak RSS; and quality on
#    stories260K (a real model) quantized with `ragd quantize`: perplexity on
#    tests/data/stories.txt and KL / top-1 agreement against its F32 original.
#
#   BENCH_QUICK=1     SmolLM shape only (the 0.5B files are ~1 GB each)
#   PLAN_BENCH_REPS   repetitions per test (default 1; the machine is shared)
set -u
B=${RAGD_BIN:-$PWD/ragd}
BUILD=${RAGD_BUILD:-build}
MK="$BUILD/bench/bench_mkmodel"
T=${RAGD_BENCH_TMP:-$(mktemp -d)}/plan
R=${PLAN_BENCH_REPS:-1}
QUICK=${BENCH_QUICK:-${RAGD_BENCH_QUICK:-}}
[ -x "$MK" ] || { echo "missing $MK (make bench builds it)"; exit 1; }
mkdir -p "$T"
FX=${RAGD_SHARED:-../shared}/fixtures/models

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo
printf "| %-13s | %-6s | %2s | %-5s | %9s | %9s | %6s | %9s | %9s | %6s |\n" \
    model type t clock "pp512 pred" "measured" ratio "tg128 pred" "measured" ratio
printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n" --------------- -------- ---- ------- ----------- \
    ----------- -------- ----------- ----------- --------
shapes="smollm2-135m qwen2.5-0.5b"
[ -n "$QUICK" ] && shapes="smollm2-135m"
: >"$T/rows.txt"
: >"$T/speed.txt"
for shape in $shapes; do
    for type in f16 q8_0 q4_k_m; do
        f="$T/$shape-$type.gguf"
        "$MK" "$f" "$shape" "$type" || { echo "!! could not make $f"; continue; }
        case $type in
        f16) types=f16 ;;
        q8_0) types=q8_0 ;;
        *) types=q4_k,q5_0,q6_k,q8_0 ;; # llama.cpp's Q4_K_M mix on these shapes
        esac
        # calibrate and measure back to back, so both see the same load
        "$B" calibrate -t 2 --types "$types" -o "$T/prof.json" >/dev/null 2>&1 || { echo "!! calibrate failed"; rm -f "$f"; continue; }
        out=$(/usr/bin/time -f "%M" -o "$T/rss" "$B" bench -m "$f" -p 512 -n 128 -t 1,2 -r "$R" --csv) \
            || { echo "!! ragd bench $f failed"; rm -f "$f"; continue; }
        rss_kb=$(tail -1 "$T/rss")
        size=$(stat -c %s "$f")
        for th in 1 2; do
            for clock in wall cpu; do
                p=$("$B" predict -m "$f" --profile "$T/prof.json" -t "$th" --clock "$clock" --json) || continue
                ppp=$(jq .pp_tokens_per_s <<<"$p"); tgp=$(jq .tg_tokens_per_s <<<"$p")
                col=$([ "$clock" = wall ] && echo 4 || echo 7)
                ppm=$(awk -F, -v t="$th" -v c="$col" '$2 == t && $3 == "pp512" {print $c}' <<<"$out")
                tgm=$(awk -F, -v t="$th" -v c="$col" '$2 == t && $3 == "tg128" {print $c}' <<<"$out")
                awk -v s="$shape" -v ty="$type" -v th="$th" -v cl="$clock" -v pp="$ppp" -v ppm="$ppm" \
                    -v tg="$tgp" -v tgm="$tgm" 'BEGIN {
                    rp = ppm > 0 ? pp / ppm : 0; rt = tgm > 0 ? tg / tgm : 0;
                    printf "| %-13s | %-6s | %2s | %-5s | %9.1f | %9.1f | %5.2fx | %9.1f | %9.1f | %5.2fx |\n",
                        s, ty, th, cl, pp, ppm, rp, tg, tgm, rt
                    printf "%s %s %s %s %.4f %.4f\n", s, ty, th, cl, rp, rt >> "'"$T/rows.txt"'" }'
            done
            ppw=$(awk -F, -v t="$th" '$2 == t && $3 == "pp512" {print $4}' <<<"$out")
            tgw=$(awk -F, -v t="$th" '$2 == t && $3 == "tg128" {print $4}' <<<"$out")
            ppc=$(awk -F, -v t="$th" '$2 == t && $3 == "pp512" {print $7}' <<<"$out")
            tgc=$(awk -F, -v t="$th" '$2 == t && $3 == "tg128" {print $7}' <<<"$out")
            echo "$shape $type $th $ppw $tgw $ppc $tgc $size $rss_kb" >>"$T/speed.txt"
        done
        rm -f "$f"
    done
done
echo
awk '{ for (i = 5; i <= 6; i++) { n[$4]++; if ($i >= 0.8 && $i <= 1.2) ok[$4]++ } }
     END { for (c in n) printf "within +-20%% (%s clock): %d of %d predictions\n", c, ok[c], n[c] }' "$T/rows.txt"
echo "ratio = predicted / measured.  Timings on a shared, loaded machine: wall-clock figures move"
echo "with the load; cpu = tokens x threads / process CPU seconds (bench) vs calibrate's CPU-time rates."

# ---- 2. quantization: speed on the largest shape measured, quality on stories260K ----
big=$(awk '{print $1}' "$T/speed.txt" | tail -1)
echo
echo "F16 vs Q8_0 vs Q4_K_M, $big shape (random weights; speed does not depend on the values):"
printf "| %-6s | %2s | %10s | %10s | %10s | %10s | %9s | %9s |\n" type t "TTFT 512" "(cpu)" "tg t/s" "(cpu)" "file MiB" "peak RSS"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n" -------- ---- ------------ ------------ ------------ ------------ ----------- -----------
awk -v s="$big" '$1 == s {
    printf "| %-6s | %2s | %8.0f ms | %8.0f ms | %10.2f | %10.2f | %9.0f | %6.0f MiB |\n",
        $2, $3, 512000 / $4, 512000 / $6, $5, $7, $8 / 1048576, $9 / 1024 }' "$T/speed.txt"
if [ -f "$FX/stories260K.gguf" ]; then
    S="$FX/stories260K.gguf"
    echo
    echo "quality: stories260K (F32 original; copies made with ragd quantize), tests/data/stories.txt, -c 128:"
    printf "| %-8s | %9s | %8s | %9s | %11s | %8s |\n" type "file KiB" PPL "PPL ratio" "mean KL" "top-1"
    printf "|%s|%s|%s|%s|%s|%s|\n" ---------- ----------- ---------- ----------- ------------- ----------
    "$B" perplexity -m "$S" -f tests/data/stories.txt -c 128 -t 1 --save-logits "$T/base.lp" --json >"$T/f32.json" 2>/dev/null
    printf "| %-8s | %9.0f | %8.4f | %9s | %11s | %8s |\n" F32 "$(($(stat -c %s "$S") / 1024))" "$(jq .ppl "$T/f32.json")" "1" "0" "100%"
    for q in F16 Q8_0 Q4_K_M Q4_0; do
        "$B" quantize "$S" "$T/s-$q.gguf" $q -t 1 >/dev/null 2>&1 || continue
        j=$("$B" perplexity -m "$T/s-$q.gguf" -f tests/data/stories.txt -c 128 -t 1 --kl-logits "$T/base.lp" --json 2>/dev/null) || continue
        printf "| %-8s | %9.0f | %8.4f | %9.4f | %11.6f | %7.2f%% |\n" "$q" "$(($(stat -c %s "$T/s-$q.gguf") / 1024))" \
            "$(jq .ppl <<<"$j")" "$(jq .ppl_ratio <<<"$j")" "$(jq .kl_mean <<<"$j")" "$(jq '.top1_agree * 100' <<<"$j")"
    done
    echo "(stories260K's rows are 64 wide: Q4_K needs 256, so its Q4_K_M falls back to Q5_0/Q8_0 as"
    echo " llama.cpp does; Q4_0 shows a true 4-bit type.)"
fi
rm -rf "$T"
