#!/bin/bash
# ragd embed: JSON lines and float32 output agree with llama.cpp's
# embeddings of the fixture sentences (tiny-bert-f32).
set -u
FX=${RAGD_SHARED:-../shared}/fixtures/models
[ -f "$FX/tiny-bert-f32.gguf" ] || { echo "skip: $FX absent"; exit 77; }
T=${RAGD_TEST_TMP:-/tmp}
"$RAGD_BIN" embed -m "$FX/tiny-bert-f32.gguf" -o "$T/out.bin" < "$FX/prompts/tiny-bert.sentences.txt" || exit 1
python3 "${RAGD_SHARED:-../shared}/fixtures/check_logits.py" "$FX/refs/tiny-bert-f32.embeddings.bin" "$T/out.bin" \
    --preset embed-f32 --dim 128 || exit 1
n=$("$RAGD_BIN" embed -m "$FX/tiny-bert-f32.gguf" --json < "$FX/prompts/tiny-bert.sentences.txt" | wc -l)
[ "$n" = 8 ] || { echo "expected 8 JSON lines, got $n"; exit 1; }
"$RAGD_BIN" embed -m "$FX/stories260K.gguf" < /dev/null 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "expected 'bert'" "$T/err" || { echo "non-bert model: rc $rc"; cat "$T/err"; exit 1; }
"$RAGD_BIN" embed 2>/dev/null; [ $? = 2 ] || { echo "missing -m should be a usage error"; exit 1; }
echo ok
