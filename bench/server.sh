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

"$B" serve --port 0 --data "$T/data" --threads 2 --cache 0 --max-inflight 100000 2>"$T/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    PORT=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$T/server.log" | grep -o '[0-9]*$')
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "${PORT:-}" ] || { echo "server did not start"; cat "$T/server.log"; exit 1; }
URL=http://127.0.0.1:$PORT

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

cat >"$T/search.lua" <<LUA
local qs = {}
for l in io.lines("$T/queries.txt") do qs[#qs + 1] = l end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #qs + 1
  return wrk.format(nil, "/v1/collections/bench/search", nil, '{"query":"' .. qs[i] .. '","k":5}')
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA
cat >"$T/plain.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA
run() { # name script path
    local r
    r=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$2" "$URL$3" 2>&1 | grep '^RESULT')
    set -- "$1" $r
    printf '| %-28s | %8s | %8s | %8s | %6s of %s |\n' "$1" "$3" "$4" "$5" "$6" "$7"
}
echo
echo "wrk -t2 -c$CONNS -d${SECS}s on 127.0.0.1, server --threads 2 (machine shared: figures are noisy)"
echo "| route                        |      QPS | P50 (ms) | P99 (ms) | errors       |"
echo "|------------------------------|---------:|---------:|---------:|--------------|"
run "POST .../search (k=5)" "$T/search.lua" /v1/collections/bench/search
run "GET /health" "$T/plain.lua" /health
echo "goal: search >= 2,000 QPS with P99 < 20 ms (2 cores); SQLite FTS5 in-process, no HTTP: AND 1,034 QPS p99 4.1 ms / OR 82 QPS p99 42 ms"
