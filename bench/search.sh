#!/bin/bash
# Lexical search: ragd's BM25 index vs SQLite FTS5 (bm25(), unicode61) on
# the same generated corpus in the same run.  SEARCH_CHUNKS (default
# 100000; QUICK=1 -> 20000) chunks of 100-300 words, 1,000 queries of 2-4
# words; top-10, one thread, OR (any word) and AND (all words) modes.
# FTS5 is measured with fixtures/lex/fts5bench.c when ../shared is present
# (compiled here); BASELINES.md's debdocs figures are printed for reference.
set -u
cd "$(dirname "$0")/.."
BUILD=${RAGD_BUILD:-build}
TMP=${RAGD_BENCH_TMP:-$(mktemp -d)}/search
mkdir -p "$TMP"
N=${SEARCH_CHUNKS:-100000}
[ -n "${QUICK:-}" ] && N=${SEARCH_CHUNKS:-20000}
BS=$BUILD/bench/bench_search
[ -x "$BS" ] || make -s "$BS" >/dev/null || { echo "cannot build $BS"; exit 1; }
"$BS" gen --out "$TMP" --chunks "$N" --queries 1000 --seed 42
echo "# corpus: $(du -m "$TMP/corpus.tsv" | cut -f1) MiB, $N chunks (machine shared: timings are noisy)"
"$BS" run --corpus "$TMP/corpus.tsv" --queries "$TMP/queries.txt" --k 10
FTS=${RAGD_SHARED:-../shared}/fixtures/lex/fts5bench.c
if [ -f "$FTS" ] && cc -O2 -o "$TMP/fts5bench" "$FTS" -lsqlite3 -lpthread -lm 2>/dev/null; then
    "$TMP/fts5bench" build --corpus "$TMP/corpus.tsv" --db "$TMP/fts.db" --quiet-max-wait 5 |
        grep -E "^build_docs" | sed 's/^/fts5  /'
    for m in and or; do
        "$TMP/fts5bench" query --db "$TMP/fts.db" --queries "$TMP/queries.txt" --mode $m --k 10 \
            --quiet-max-wait 5 --tries 1 --label fts5 | sed 's/ threads=1.*reps=1 / /'
    done
else
    echo "fts5  (fixtures/lex/fts5bench.c not found: side-by-side FTS5 skipped)"
fi
echo "# BASELINES.md (FTS5 on debdocs, 74,823 chunks): build 23k chunks/s; AND 1,034 QPS (p99 4.1 ms); OR 82 QPS (p99 42 ms)"
rm -rf "$TMP"
