#!/bin/bash
# ragd inspect: a valid file prints its table, --json is one object, a
# hostile file exits 1 naming the field.
set -u
B=${RAGD_BIN:-./ragd}
fail=0
out=$("$B" inspect fuzz/corpus/fuzz_gguf/valid-small.gguf) || { echo "inspect valid exit $?"; fail=1; }
echo "$out" | grep -q "architecture:  llama" || { echo "no architecture line"; fail=1; }
echo "$out" | grep -Eq "^  w +f32 +\[8, 2\] +64$" || { echo "tensor row missing: $out"; fail=1; }
js=$("$B" inspect --json fuzz/corpus/fuzz_gguf/valid-small.gguf)
echo "$js" | grep -q '"tensors": \[{"name": "w", "type": "f32", "shape": \[8, 2\], "bytes": 64, "offset": 0}\]' \
    || { echo "json tensor: $js"; fail=1; }
err=$("$B" inspect fuzz/corpus/fuzz_gguf/tensor-offset-past-eof.gguf 2>&1); rc=$?
[ $rc -eq 1 ] || { echo "hostile exit $rc"; fail=1; }
echo "$err" | grep -q "tensor 'w' offset 1048576" || { echo "hostile message: $err"; fail=1; }
"$B" inspect 2>/dev/null; [ $? -eq 2 ] || { echo "usage exit"; fail=1; }
"$B" inspect /nonexistent.gguf 2>/dev/null; [ $? -eq 1 ] || { echo "missing file exit"; fail=1; }
exit $fail
