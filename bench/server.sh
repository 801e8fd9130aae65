#!/bin/bash
# bench/server.sh - HTTP server throughput and latency with wrk on loopback:
# POST /v1/collections/{c}/search (BM25, k=5) on a 10,000-chunk collection,
# and GET /health.  Prints QPS and P50/P99 latency.
#   RAGD_BENCH_SECS (default 10) per run, RAGD_BENCH_CHUNKS (default 10000),
#   RAGD_BENCH_CONNS (default 16), QUICK=1 for 3 s runs.
# Goal (issue 6): search >= 2,000 QPS with P99 < 20 ms on 2 cores.
# No peer figure in BASELINES.md for HTTP search; SQLite FTS5 in-process
# (no HTTP) is the nearest: AND queries 1,034 QPS p99 4.1 ms, OR 82 QPS.
set -u
cd "$(dirname "$0")/.."
B=${RAGD_BIN:-$PWD/ragd}
T=${RAGD_BENCH_TMP:-$(mktemp -d)}/server
SECS=${RAGD_BENCH_SECS:-10}
[ -n "${QUICK:-}" ] && SECS=3
CHUNKS=${RAGD_BENCH_CHUNKS:-10000}
CONNS=${RAGD_BENCH_CONNS:-16}
command -v wrk >/dev/null || { echo "skip: wrk not installed"; exit 0; }
command -v curl >/dev/null || { echo "skip: curl not installed"; exit 0; }
mkdir -p "$T"

. bench/lib/wrk.bash
server_start --data "$T/data" --threads 2 --cache 0 --max-inflight 100000
trap server_stop EXIT

# A synthetic corpus: documents of paragraphs (~700 bytes, one chunk each)
# of words drawn from a 5,000-word vocabulary with a Zipf-like (1/rank)
# distribution; deterministic.  Queries are 3 content words of rank 70 and
# beyond (the head of the distribution plays the part of stop words, which
# the analyzer drops in real text): each matches ~100-1,600 chunks.
DOCS=$(( (CHUNKS + 19) / 20 ))
curl -s -X POST "$URL/v1/collections" -d '{"name":"bench"}' >/dev/null
t0=$(date +%s.%N)
awk -v docs="$DOCS" -v dir="$T" 'BEGIN {
    srand(42);
    for (i = 0; i < 5000; i++) { w = ""; n = 3 + int(rand() * 6);
        for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(rand() * 26)); vocab[i] = w }
    for (d = 0; d < docs; d++) {
        f = sprintf("%s/doc%05d.json", dir, d); printf "{\"source\":\"doc%05d.txt\",\"text\":\"", d > f;
        for (p = 0; p < 20; p++) { s = "";
            while (length(s) < 680) { s = s vocab[int(5000 ^ rand()) - 1] " " }
            printf "%s.\\n\\n", s > f }
        printf "\"}\n" > f; close(f)
    }
    for (q = 0; q < 1000; q++)
        printf "%s %s %s\n", vocab[int(5000 ^ (0.5 + 0.5 * rand())) - 1], vocab[int(5000 ^ (0.5 + 0.5 * rand())) - 1],
            vocab[int(5000 ^ (0.5 + 0.5 * rand())) - 1] > (dir "/queries.txt")
}'
for f in "$T"/doc*.json; do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/collections/bench/documents" \
        -H 'Content-Type: application/json' --data-binary @"$f"
done | sort | uniq -c | grep -v ' 201$' && { echo "ingest failed"; exit 1; }
t1=$(date +%s.%N)
NCH=$(curl -s "$URL/v1/collections/bench" | grep -o '"chunks":[0-9]*' | cut -d: -f2)
# first search builds the index
t2=$(date +%s.%N)
curl -s -o /dev/null -X POST "$URL/v1/collections/bench/search" -d '{"query":"warm up","k":5}'
t3=$(date +%s.%N)
printf 'corpus: %s chunks in %d documents, ingested over HTTP in %.1f s; index build on first search %.0f ms\n' \
    "$NCH" "$DOCS" "$(echo "$t1 - $t0" | bc)" "$(echo "($t3 - $t2) * 1000" | bc)"

wrk_search_lua "$T/search.lua" "$T/queries.txt" bench
wrk_plain_lua "$T/plain.lua"
echo
echo "wrk -t2 -c$CONNS -d${SECS}s on 127.0.0.1, server --threads 2 (machine shared: figures are noisy)"
echo "| route                              |      QPS | P50 (ms) | P99 (ms) | errors       |"
echo "|------------------------------------|---------:|---------:|---------:|--------------|"
wrk_row "POST .../search (k=5)" "$T/search.lua" /v1/collections/bench/search "$CONNS" "$SECS"
wrk_row "GET /health" "$T/plain.lua" /health "$CONNS" "$SECS"
echo "goal: search >= 2,000 QPS with P99 < 20 ms (2 cores); SQLite FTS5 in-process, no HTTP: AND 1,034 QPS p99 4.1 ms / OR 82 QPS p99 42 ms"
