#!/bin/bash
# Ingest throughput: `ragd ingest` of a generated corpus (markdown, text and
# CSV; English and Chinese) that yields about 100k chunks at the default
# chunk size, measured as MB/s and chunks/s (wall and CPU): default
# (synchronous=FULL, group commit every 500 ms), --batch-ms 0 (one fsync'd
# transaction per document) and --no-fsync (synchronous=NORMAL).  Beside it: SQLite FTS5 building
# its index over the very same chunk texts (sqlite3 CLI), and FTS5's figure
# from BASELINES.md (23k chunks/s on Debian-doc chunks).
#   RAGD_BENCH_QUICK=1   ~10k chunks instead of ~100k
#   RAGD_BENCH_FILES=N   number of files (default 2100, quick 210)
set -u
B=${RAGD_BIN:-$PWD/ragd}
T=${RAGD_BENCH_TMP:-$(mktemp -d)}/ingest
QUICK=${RAGD_BENCH_QUICK:-}
NF=${RAGD_BENCH_FILES:-$([ -n "$QUICK" ] && echo 210 || echo 2100)}
rm -rf "$T"
mkdir -p "$T/corpus"

t0=$(date +%s.%N)
awk -v dir="$T/corpus" -v n="$NF" 'BEGIN {
    srand(11);
    split("the a policy manual device battery travel expense hotel warranty receipt screen update network router speaker approval manager report city limit night", en, " ");
    split("报销 差旅 住宿 设备 电池 保修 发票 网络 更新 屏幕 政策 手册 审批 经理 城市 标准 每晚 上限 申请 费用", zh, " ");
    for (f = 0; f < n; f++) {
        kind = f % 10;
        sub_ = sprintf("%s/d%02d", dir, f % 20);
        if (f < 20) system("mkdir -p " sub_);
        if (kind == 9) {
            path = sprintf("%s/t%04d.csv", sub_, f);
            print "id,item,city,amount,note" > path;
            for (r = 0; r < 100; r++)
                printf "%d,%s %s,%s,%d,\"%s %s, %s\"\n", r, en[1+int(rand()*20)], en[1+int(rand()*20)], zh[1+int(rand()*20)], int(rand()*1000), en[1+int(rand()*20)], zh[1+int(rand()*20)], en[1+int(rand()*20)] > path;
        } else {
            path = sprintf("%s/doc%04d.%s", sub_, f, kind < 6 ? "md" : "txt");
            for (s = 0; s < 12; s++) {
                if (kind < 6) printf "## Section %d %s\n\n", s, zh[1+int(rand()*20)] > path;
                for (p = 0; p < 6; p++) {
                    line = "";
                    for (w = 0; w < 9; w++) {
                        if ((f + s) % 3 == 0)
                            line = line sprintf("%s的%s%s是%d元。", zh[1+int(rand()*20)], zh[1+int(rand()*20)], zh[1+int(rand()*20)], int(rand()*500));
                        else
                            line = line sprintf("The %s of the %s %s is %d units. ", en[1+int(rand()*20)], en[1+int(rand()*20)], en[1+int(rand()*20)], int(rand()*500));
                    }
                    print line "\n" > path;
                }
            }
        }
        close(path);
    }
}'
gen=$(echo "$(date +%s.%N) - $t0" | bc)
MB=$(du -sb "$T/corpus" | awk '{printf "%.1f", $1/1e6}')
echo "corpus: $NF files, $MB MB generated in ${gen}s (machine shared and loaded: wall times are noisy)"

run() { # label, extra args
    local label=$1
    shift
    rm -rf "$T/data"
    local s0 u0 out
    s0=$(date +%s.%N)
    out=$( { /usr/bin/time -f "%U %S" "$B" ingest --data "$T/data" -c bench -q "$@" "$T/corpus" > "$T/out.txt"; } 2>&1 )
    local wall cpu chunks
    wall=$(echo "$(date +%s.%N) - $s0" | bc)
    cpu=$(echo "$out" | tail -1 | awk '{print $1 + $2}')
    chunks=$(awk '/^ingested/ {print $4; exit}' "$T/out.txt" | tr -d '(')
    if [ -z "$chunks" ] || [ "$chunks" = 0 ]; then echo "$label: ingest failed: $out"; return 1; fi
    printf "%-28s %8s chunks %7.2f s wall %6.1f MB/s %8.0f chunks/s | cpu %6.2f s: %6.1f MB/s %8.0f chunks/s\n" \
        "$label" "$chunks" "$wall" "$(echo "$MB / $wall" | bc -l)" "$(echo "$chunks / $wall" | bc -l)" \
        "$cpu" "$(echo "$MB / $cpu" | bc -l)" "$(echo "$chunks / $cpu" | bc -l)"
}

echo
echo "what                          chunks      wall                                 cpu (user+sys)"
run "ingest (default)"
run "ingest --batch-ms 0" --batch-ms 0
run "ingest --no-fsync" --no-fsync
CH=$(sqlite3 "$T/data/ragd.db" "SELECT count(*) FROM chunks")

if command -v sqlite3 >/dev/null; then
    s0=$(date +%s.%N)
    fcpu=$( { /usr/bin/time -f "%U %S" sqlite3 "$T/data/ragd.db" "ATTACH '$T/fts.db' AS f; CREATE VIRTUAL TABLE f.fts USING fts5(text, tokenize='porter'); INSERT INTO f.fts(rowid, text) SELECT id, text FROM chunks;" ; } 2>&1 | tail -1 | awk '{print $1 + $2}')
    w=$(echo "$(date +%s.%N) - $s0" | bc)
    printf "%-28s %8s chunks %7.2f s wall %6.1f MB/s %8.0f chunks/s | cpu %6.2f s: %6.1f MB/s %8.0f chunks/s (FTS5 index build only, same chunks)\n" \
        "SQLite FTS5 porter (here)" "$CH" "$w" "$(echo "$MB / $w" | bc -l)" "$(echo "$CH / $w" | bc -l)" \
        "$fcpu" "$(echo "$MB / $fcpu" | bc -l)" "$(echo "$CH / $fcpu" | bc -l)"
fi
echo "SQLite FTS5 (BASELINES.md)   74823 chunks, 107 MiB: build 23k chunks/s"
echo "note: ragd ingest = walk + read + sha256 + parse + chunk + store;"
echo "      the BM25 index is built lazily by search/ask from the store (see bench/search.sh)."
rm -rf "$T"
