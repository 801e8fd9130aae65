#!/bin/bash
# ragd perplexity on stories260K (a real trained model) and on quantized
# copies made with `ragd quantize`: the trained model's perplexity on a
# TinyStories-like text is low (uniform over its 512 tokens would be 512),
# the same words in reverse order score much worse, a model against itself
# has KL 0 and full top-1 agreement, Q8_0 and Q4_0 copies have a small KL > 0
# (Q4_0 above Q8_0), and KL from saved base log-probs equals KL against the
# base model run alongside.
set -u
B=${RAGD_BIN:-./ragd}
T=${RAGD_TEST_TMP:-/tmp}
FX=${RAGD_SHARED:-../shared}/fixtures/models
TXT=tests/data/stories.txt
fail=0
"$B" perplexity 2>/dev/null; [ $? -eq 2 ] || { echo "no args: exit code"; fail=1; }
"$B" perplexity -m x.gguf 2>/dev/null; [ $? -eq 2 ] || { echo "no -f: exit code"; fail=1; }
[ -f "$FX/stories260K.gguf" ] || { echo "skip: fixtures absent ($FX)"; [ $fail = 0 ] && exit 77; exit $fail; }
S="$FX/stories260K.gguf"
A="-c 128 --chunks 8 -t 1"
num() { sed -n "s/^  \"$1\": \([-0-9.e+]*\).*/\1/p" "$2"; }
check() { awk "BEGIN { exit !($1) }" || { echo "FAILED: $1 ($2)"; fail=1; }; }

"$B" perplexity -m "$S" -f "$TXT" $A --json >"$T/f32.json" 2>"$T/err" || { echo "f32 run failed"; cat "$T/err"; exit 1; }
ppl=$(num ppl "$T/f32.json"); n=$(num scored "$T/f32.json")
echo "stories260K F32: PPL $ppl over $n tokens"
check "$n == 8 * 63" "8 windows of 128 score 63 tokens each"
check "$ppl > 1.5 && $ppl < 8" "trained model on a TinyStories-like text"

awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "\n") }' "$TXT" >"$T/rev.txt"
"$B" perplexity -m "$S" -f "$T/rev.txt" $A --json >"$T/rev.json" 2>/dev/null || { echo "reversed run failed"; fail=1; }
rppl=$(num ppl "$T/rev.json")
echo "same words reversed: PPL $rppl"
check "$rppl > 3 * $ppl" "word salad scores much worse"

"$B" perplexity -m "$S" -f "$TXT" $A --kl-base "$S" --json >"$T/self.json" 2>/dev/null || { echo "self KL failed"; fail=1; }
check "$(num kl_mean "$T/self.json") == 0 && $(num top1_agree "$T/self.json") == 1" "model vs itself"

for q in Q8_0 Q4_0; do
    "$B" quantize "$S" "$T/$q.gguf" $q -t 1 2>/dev/null || { echo "quantize $q failed"; fail=1; continue; }
    "$B" perplexity -m "$T/$q.gguf" -f "$TXT" $A --kl-base "$S" --json >"$T/$q.json" 2>/dev/null || { echo "$q KL failed"; fail=1; continue; }
    echo "$q: PPL $(num ppl "$T/$q.json"), ratio $(num ppl_ratio "$T/$q.json"), KL $(num kl_mean "$T/$q.json"), top-1 $(num top1_agree "$T/$q.json")"
done
k8=$(num kl_mean "$T/Q8_0.json"); k4=$(num kl_mean "$T/Q4_0.json")
check "$k8 > 0 && $k8 < 0.01" "Q8_0 KL small but not zero"
check "$k4 > $k8 && $k4 < 0.2" "Q4_0 KL above Q8_0's, still small"
check "$(num top1_agree "$T/Q8_0.json") > 0.95" "Q8_0 top-1 agreement"
check "$(num base_ppl "$T/Q8_0.json") == $ppl" "base PPL equals the F32 run"

# saved base log-probs give the same KL as running the base alongside
"$B" perplexity -m "$S" -f "$TXT" $A --save-logits "$T/base.lp" >/dev/null 2>&1 || { echo "save failed"; fail=1; }
"$B" perplexity -m "$T/Q4_0.gguf" -f "$TXT" $A --kl-logits "$T/base.lp" --json >"$T/file.json" 2>/dev/null || { echo "kl-logits failed"; fail=1; }
check "$(num kl_mean "$T/file.json") == $k4" "KL from the saved file"
# a file saved for other windows is refused with a reason
"$B" perplexity -m "$T/Q4_0.gguf" -f "$TXT" -c 128 --chunks 4 -t 1 --kl-logits "$T/base.lp" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "another run" "$T/err" || { echo "mismatched file not refused"; fail=1; }
head -c 100 "$T/base.lp" >"$T/short.lp"
"$B" perplexity -m "$S" -f "$TXT" $A --kl-logits "$T/short.lp" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "bytes" "$T/err" || { echo "truncated file not refused"; cat "$T/err"; fail=1; }

# strided windows: 4 windows every 64 tokens score the last 64 of each
"$B" perplexity -m "$S" -f "$TXT" -c 128 --stride 64 --chunks 4 -t 1 --json >"$T/stride.json" 2>/dev/null || { echo "stride failed"; fail=1; }
check "$(num scored "$T/stride.json") == 4 * 64" "stride scored count"
check "$(num ppl "$T/stride.json") < 8" "stride PPL"
exit $fail
