#!/bin/bash
# bench/server_guard.sh - what vector/hybrid search and the guard hooks cost
# over HTTP (wrk on loopback):
#   - documents POSTed with --embed-model (embedding on ingest), per chunk;
#   - POST .../search with mode bm25, vector, hybrid (k=5);
#   - bm25 search again with --audit (a line per request; fdatasync grouped
#     every 100 ms, or per line with --audit-sync-ms 0);
#   - ingest into a {"redact":true} collection vs a plain one.
# Knobs: RAGD_BENCH_CHUNKS (default 500), RAGD_BENCH_SECS (5), QUICK=1
# (200 chunks, 2 s).  Embedding model: RAGD_BENCH_EMBED (default the
# fixture tiny-bert-f32; skipped when absent).  No peer figure in
# BASELINES.md for HTTP hybrid search.
set -u
cd "$(dirname "$0")/.."
B=${RAGD_BIN:-$PWD/ragd}
T=${RAGD_BENCH_TMP:-$(mktemp -d)}/server_guard
SECS=${RAGD_BENCH_SECS:-5}
CHUNKS=${RAGD_BENCH_CHUNKS:-500}
[ -n "${QUICK:-}" ] && SECS=2 && CHUNKS=200
M=${RAGD_BENCH_EMBED:-../shared/fixtures/models/tiny-bert-f32.gguf}
command -v wrk >/dev/null && command -v curl >/dev/null || { echo "skip: wrk and curl needed"; exit 0; }
[ -f "$M" ] || { echo "skip: embedding model $M absent"; exit 0; }
rm -rf "$T"; mkdir -p "$T"

. bench/lib/wrk.bash
start() { server_start --threads 2 --cache 0 --max-inflight 100000 "$@"; }
stop() { server_stop; }
trap stop EXIT

# one chunk per document (~600 bytes of words from a 3,000-word vocabulary),
# with a phone number and an email in each so redaction has work to do
DOCS=$CHUNKS
awk -v docs="$DOCS" -v dir="$T" 'BEGIN {
    srand(7);
    for (i = 0; i < 3000; i++) { w = ""; n = 3 + int(rand() * 6);
        for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(rand() * 26)); vocab[i] = w }
    for (d = 0; d < docs; d++) {
        f = sprintf("%s/doc%05d.json", dir, d); s = "";
        while (length(s) < 560) s = s vocab[int(3000 ^ rand()) - 1] " ";
        printf "{\"source\":\"doc%05d.txt\",\"text\":\"%s call 139%08d or mail u%d@example.com.\"}\n", d, s, d, d > f; close(f)
    }
    for (q = 0; q < 500; q++)
        printf "%s %s %s\n", vocab[int(3000 ^ (0.5 + 0.5 * rand())) - 1], vocab[int(3000 ^ (0.5 + 0.5 * rand())) - 1],
            vocab[int(3000 ^ (0.5 + 0.5 * rand())) - 1] > (dir "/queries.txt")
}'
ingest() { # collection -> seconds
    local t0 t1
    t0=$(date +%s.%N)
    for f in "$T"/doc*.json; do
        curl -s -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/collections/$1/documents" \
            -H 'Content-Type: application/json' --data-binary @"$f"
    done | sort | uniq -c | grep -v ' 201$' && { echo "ingest into $1 failed"; exit 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
run() { # label mode collection
    wrk_search_lua "$T/search-$2.lua" "$T/queries.txt" "$3" "$2"
    curl -s -o /dev/null -X POST "$URL/v1/collections/$3/search" -d "{\"query\":\"warm\",\"mode\":\"$2\"}"
    wrk_row "$1" "$T/search-$2.lua" / 8 "$SECS"
}

start --data "$T/data" --embed-model "$M"
curl -s -o /dev/null -X POST "$URL/v1/collections" -d '{"name":"v"}'
curl -s -o /dev/null -X POST "$URL/v1/collections" -d '{"name":"r","redact":true}'
te=$(ingest v)
tr=$(ingest r)
stop
start --data "$T/data2"
curl -s -o /dev/null -X POST "$URL/v1/collections" -d '{"name":"p"}'
tp=$(ingest p)
stop
printf 'ingest over HTTP (one curl per document, %d documents of one chunk):\n' "$DOCS"
printf '  plain %.2f ms/doc; with embedding (%s) %.2f ms/doc; redacting + embedding %.2f ms/doc\n' \
    "$(echo "$tp * 1000 / $DOCS" | bc -l)" "$(basename "$M")" "$(echo "$te * 1000 / $DOCS" | bc -l)" \
    "$(echo "$tr * 1000 / $DOCS" | bc -l)"

echo
echo "wrk -t2 -c8 -d${SECS}s on 127.0.0.1, search k=5 over $CHUNKS chunks (machine shared: figures are noisy)"
echo "| search                             |      QPS | P50 (ms) | P99 (ms) | errors       |"
echo "|------------------------------------|---------:|---------:|---------:|--------------|"
start --data "$T/data" --embed-model "$M"
run "bm25" bm25 v
run "vector ($(basename "$M"))" vector v
run "hybrid (RRF of both)" hybrid v
stop
start --data "$T/data" --embed-model "$M" --audit "$T/audit.jsonl"
run "bm25, --audit (group commit 100 ms)" bm25 v
stop
start --data "$T/data" --embed-model "$M" --audit "$T/audit.jsonl" --audit-sync-ms 0
run "bm25, --audit --audit-sync-ms 0" bm25 v
stop
"$B" audit verify "$T/audit.jsonl"
