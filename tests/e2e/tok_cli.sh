#!/bin/bash
# ragd tokenize: ids with and without BOS, the per-token listing, errors.
set -u
B=${RAGD_BIN:-./ragd}
V=${RAGD_SHARED:-../shared}/fixtures/vocab
[ -f "$V/ggml-vocab-llama-spm.gguf" ] || { echo "skipped: $V is absent"; exit 77; }
fail=0
out=$(printf 'Hello world' | "$B" tokenize -m "$V/ggml-vocab-llama-spm.gguf" --ids)
[ "$out" = "1 15043 3186" ] || { echo "spm ids: '$out'"; fail=1; }
out=$(printf 'Hello world' | "$B" tokenize -m "$V/ggml-vocab-llama-spm.gguf" --ids --no-bos)
[ "$out" = "15043 3186" ] || { echo "spm --no-bos: '$out'"; fail=1; }
out=$(printf 'Hello world' | "$B" tokenize -m "$V/ggml-vocab-bert-bge.gguf" --ids)
[ "$out" = "101 7592 2088 102" ] || { echo "bert ids: '$out'"; fail=1; }
out=$(printf 'Hello world\n' | "$B" tokenize -m "$V/ggml-vocab-gpt-2.gguf")
[ "$out" = $'15496\tHello\n995\t world\n198\t\\n' ] || { echo "gpt-2 listing: '$out'"; fail=1; }
out=$(printf '<|endoftext|>' | "$B" tokenize -m "$V/ggml-vocab-gpt-2.gguf" --ids)
[ "$out" = "50256" ] || { echo "special parsed: '$out'"; fail=1; }
out=$(printf '<|endoftext|>' | "$B" tokenize -m "$V/ggml-vocab-gpt-2.gguf" --ids --no-parse-special)
[ "$out" != "50256" ] || { echo "--no-parse-special: '$out'"; fail=1; }
"$B" tokenize 2>/dev/null </dev/null; [ $? -eq 2 ] || { echo "usage exit"; fail=1; }
"$B" tokenize -m fuzz/corpus/fuzz_gguf/valid-small.gguf </dev/null 2>"$RAGD_TEST_TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q "tokenizer.ggml.model" "$RAGD_TEST_TMP/err" || { echo "no-tokenizer file: rc $rc"; fail=1; }
exit $fail
