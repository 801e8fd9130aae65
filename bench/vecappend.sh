#!/bin/bash
# Incremental vector indexing: adding documents to an embedded collection
# of 20k+ chunks (above RG_RAG_HNSW_MIN, so retrieval walks the persisted
# HNSW graph).  Measured:
#  - `ragd ingest --embed-model` of 100 new documents (CLI, one process);
#  - `ragd serve --embed-model`: 100 documents POSTed one at a time, then
#    the first vector search after them (it brings the graph up to date),
#    then 10 rounds of one POST + one vector search (serving while ingesting).
# With RAGD_BASE_BIN=/path/to/old/ragd the same steps run with that binary
# too, on its own copy of the data (same run, same machine): before/after.
# Peers: Qdrant and hnswlib insert into a live graph (O(log N) per vector);
# there is no published figure for this shape, so the old binary is the
# comparison.  Model: the fixture tiny BERT (dim 128, random weights).
#   RAGD_BENCH_FILES=N  corpus files (default 2300, ~20.7k chunks: above the
#                       20k HNSW threshold, so the graph exists before the adds)
set -u
B=${RAGD_BIN:-$PWD/ragd}
OLD=${RAGD_BASE_BIN:-}
T=${RAGD_BENCH_TMP:-$(mktemp -d)}/vecappend
M=${RAGD_SHARED:-../shared}/fixtures/models/tiny-bert-f32.gguf
NF=${RAGD_BENCH_FILES:-2300}
[ -f "$M" ] || { echo "skip: $M absent"; exit 0; }
command -v curl >/dev/null && command -v jq >/dev/null || { echo "skip: curl and jq are needed"; exit 0; }
M=$(realpath "$M")
rm -rf "$T"
mkdir -p "$T/corpus"
gen() { # dir, first, count: text files of 10 paragraphs (~10 chunks at --chunk-size 200)
    awk -v dir="$1" -v f0="$2" -v n="$3" 'BEGIN {
        srand(f0 + 3);
        split("the policy manual device battery travel expense hotel warranty receipt screen update network router speaker approval manager report city limit night", en, " ");
        for (f = f0; f < f0 + n; f++) {
            path = sprintf("%s/doc%05d.txt", dir, f);
            for (p = 0; p < 10; p++) {
                line = sprintf("Paragraph %d of document %d.", p, f);
                for (w = 0; w < 4; w++)
                    line = line sprintf(" The %s of the %s is %d.", en[1+int(rand()*20)], en[1+int(rand()*20)], int(rand()*500));
                print line "\n" > path;
            }
            close(path);
        }
    }'
}
gen "$T/corpus" 0 "$NF"
mkdir -p "$T/new100" "$T/api"
gen "$T/new100" 100000 100
gen "$T/api" 200000 110
i=0
for f in "$T"/api/doc*.txt; do
    jq -Rs --arg s "api$i.txt" '{text: ., source: $s}' <"$f" >"$T/api/$i.json"
    i=$((i + 1))
done
echo "machine shared and loaded: wall times are noisy; CPU seconds are user+sys of the process"

now() { date +%s.%N; }
el() { echo "$(now) - $1" | bc; }

bench_one() { # label, binary
    local label=$1 bin=$2 D=$T/data-$1
    rm -rf "$D"
    local t0 out
    t0=$(now)
    out=$("$bin" ingest --data "$D" -c big --chunk-size 200 --overlap 0 --embed-model "$M" "$T/corpus" 2>&1) ||
        { echo "$label: setup ingest failed: $out" | tail -3; return 1; }
    local setup nch
    setup=$(el "$t0")
    nch=$(echo "$out" | sed -n "s/^collection 'big': [0-9]* documents, \([0-9]*\) chunks.*/\1/p")
    printf '%-5s setup: %s chunks embedded + graph built in %.1f s\n' "$label" "$nch" "$setup"

    # CLI: 100 new documents
    t0=$(now)
    out=$( { /usr/bin/time -f 'CPU %U %S' "$bin" ingest --data "$D" -c big --chunk-size 200 --overlap 0 --embed-model "$M" "$T/new100"; } 2>&1)
    local cli cpu
    cli=$(el "$t0")
    cpu=$(echo "$out" | awk '/^CPU/ {print $2 + $3}')
    local what
    what=$(echo "$out" | grep -o 'embedded [0-9]* chunks' | head -1)
    echo "$out" | grep -q 'built the HNSW graph' && what="$what, graph rebuilt ($(echo "$out" | grep -o 'graph of [0-9]* vectors in [0-9.]* s'))"
    echo "$out" | grep -q 'updated the HNSW graph' && what="$what, $(echo "$out" | grep -o 'updated the HNSW graph.*')"
    printf '%-5s cli ingest of 100 documents: %.2f s wall, %.2f s CPU (%s)\n' "$label" "$cli" "$cpu" "$what"

    # server
    "$bin" serve --port 0 --data "$D" --threads 2 --embed-model "$M" 2>"$T/server-$label.log" &
    local pid=$! port=
    for _ in $(seq 1 300); do
        port=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$T/server-$label.log" | grep -o '[0-9]*$')
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "$label: server did not start"; kill $pid; return 1; }
    local U=http://127.0.0.1:$port/v1/collections/big
    local q='{"query":"battery warranty of the travel manager","k":5,"mode":"vector"}'
    t0=$(now)
    curl -s -o /dev/null -X POST "$U/search" -d "$q"
    local first
    first=$(el "$t0")
    local c0 c1
    c0=$(awk '{print $14 + $15}' /proc/$pid/stat)
    t0=$(now)
    local first_id
    first_id=$(curl -s -X POST "$U/documents" --data-binary @"$T/api/0.json" | jq -r .id)
    for i in $(seq 1 99); do
        curl -s -o /dev/null -X POST "$U/documents" --data-binary @"$T/api/$i.json"
    done
    local posts
    posts=$(el "$t0")
    t0=$(now)
    curl -s -o /dev/null -X POST "$U/search" -d "$q"
    local s1
    s1=$(el "$t0")
    c1=$(awk '{print $14 + $15}' /proc/$pid/stat)
    local tk
    tk=$(getconf CLK_TCK)
    t0=$(now)
    for i in $(seq 100 109); do
        curl -s -o /dev/null -X POST "$U/documents" --data-binary @"$T/api/$i.json"
        curl -s -o /dev/null -X POST "$U/search" -d "$q"
    done
    local inter
    inter=$(el "$t0")
    # deletes: 10 documents (ids of the first POSTs), then a search (before:
    # a graph rebuild; after: tombstones)
    t0=$(now)
    for i in $(seq 0 9); do
        curl -s -o /dev/null -X DELETE "$U/documents/$((first_id + i))"
    done
    curl -s -o /dev/null -X POST "$U/search" -d "$q"
    local dels
    dels=$(el "$t0")
    kill $pid
    wait $pid 2>/dev/null
    printf '%-5s server: first search %.2f s; 100 POSTs %.2f s (%.1f ms each); next search %.2f s; CPU for both %.2f s; 10 x (POST + search) %.2f s; 10 DELETEs + search %.2f s\n' \
        "$label" "$first" "$posts" "$(echo "$posts * 10" | bc -l)" "$s1" "$(echo "($c1 - $c0) / $tk" | bc -l)" "$inter" "$dels"
    ls -la "$D/index" | awk '/vec-|hnsw-/ {printf "      %s %d bytes\n", $9, $5}'
}

[ -n "$OLD" ] && bench_one before "$OLD"
bench_one after "$B"
