#!/bin/bash
# ragd quantize on the tiny-llama fixture: --pure Q4_K_M gives the same file
# size and tensor table (names, types, shapes, bytes) as llama-quantize (the
# tensor bytes themselves are compared in tests/test_quant.c); usage errors
# exit 2, runtime errors 1.
set -u
B=${RAGD_BIN:-./ragd}
T=${RAGD_TEST_TMP:-/tmp}
FX=${RAGD_SHARED:-../shared}/fixtures/models
fail=0
"$B" quantize 2>/dev/null; [ $? -eq 2 ] || { echo "no args: exit code"; fail=1; }
"$B" quantize a.gguf b.gguf Q3_K 2>/dev/null; [ $? -eq 2 ] || { echo "bad type: exit code"; fail=1; }
"$B" quantize /nonexistent.gguf "$T/x.gguf" Q8_0 2>"$T/err"; [ $? -eq 1 ] || { echo "missing input: exit code"; fail=1; }
grep -q nonexistent "$T/err" || { echo "missing input: message"; fail=1; }
[ -f "$FX/tiny-llama-f32.gguf" ] || { echo "skip: fixtures absent ($FX)"; [ $fail = 0 ] && exit 77; exit $fail; }
"$B" quantize "$FX/tiny-llama-f32.gguf" "$T/q.gguf" Q4_K_M --pure -t 2 2>/dev/null || { echo "quantize failed"; exit 1; }
a=$(stat -c %s "$T/q.gguf"); b=$(stat -c %s "$FX/tiny-llama-q4_k.gguf")
[ "$a" = "$b" ] || { echo "size $a != $b"; fail=1; }
"$B" inspect "$T/q.gguf" | grep -E '^  (blk|token|output)' | awk '{print $1, $2, $3, $4, $5}' | sort >"$T/a.txt" || fail=1
"$B" inspect "$FX/tiny-llama-q4_k.gguf" | grep -E '^  (blk|token|output)' | awk '{print $1, $2, $3, $4, $5}' | sort >"$T/b.txt"
[ -s "$T/a.txt" ] && cmp -s "$T/a.txt" "$T/b.txt" || { echo "tensor tables differ"; diff "$T/a.txt" "$T/b.txt" | head; fail=1; }
exit $fail
