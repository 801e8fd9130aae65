#!/bin/bash
# kill -9 `ragd ingest` at random moments, many times, on one data dir.
#
# Before each run some files are modified (so kills also hit replacements
# of existing documents).  After each kill:
#  - PRAGMA integrity_check is ok;
#  - every "committed <id> <path> <n> chunks" line the killed run printed
#    names a document that exists with that path, n_chunks = n, exactly n
#    chunk rows, and the sha256 of the file as it was during that run;
#  - no document anywhere has a partial chunk list.
# Odd runs commit per document, even runs use group commit (--batch-ms).
# Finally an uninterrupted run completes and covers every file.
# RAGD_KILL_RUNS (default 20) and RAGD_KILL_FILES (default 300) size it.
set -u
B=${RAGD_BIN:-$PWD/ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 CLI not installed"; exit 77; }
RUNS=${RAGD_KILL_RUNS:-20}
NFILES=${RAGD_KILL_FILES:-300}
C=$T/corpus
D=$T/data
rm -rf "$C" "$D"
mkdir -p "$C"

# Generated corpus: markdown, text and csv, English and Chinese, 2-40 KB each.
awk -v dir="$C" -v n="$NFILES" 'BEGIN {
    srand(7);
    split("the policy manual device battery travel expense hotel warranty receipt screen update network", en, " ");
    split("报销 差旅 住宿 设备 电池 保修 发票 网络 更新 屏幕 政策 手册", zh, " ");
    for (f = 0; f < n; f++) {
        kind = f % 3;
        sub_ = sprintf("%s/d%02d", dir, f % 10);
        system("mkdir -p " sub_);
        if (kind == 2) {
            path = sprintf("%s/table%03d.csv", sub_, f);
            print "id,name,city,amount,note" > path;
            rows = 20 + int(rand() * 200);
            for (r = 0; r < rows; r++)
                printf "%d,%s %d,%s,%d,\"%s, %s\"\n", r, en[1 + int(rand() * 12)], r, zh[1 + int(rand() * 12)], int(rand() * 1000), en[1 + int(rand() * 12)], zh[1 + int(rand() * 12)] > path;
        } else {
            path = sprintf("%s/doc%03d.%s", sub_, f, kind == 0 ? "md" : "txt");
            secs = 2 + int(rand() * 8);
            for (s = 0; s < secs; s++) {
                if (kind == 0) printf "## Section %d %s\n\n", s, zh[1 + int(rand() * 12)] > path;
                paras = 1 + int(rand() * 6);
                for (p = 0; p < paras; p++) {
                    sent = 2 + int(rand() * 10);
                    line = "";
                    for (w = 0; w < sent; w++) {
                        if (rand() < 0.5) {
                            line = line sprintf("The %s of %s is %d units. ", en[1 + int(rand() * 12)], en[1 + int(rand() * 12)], int(rand() * 500));
                        } else {
                            line = line sprintf("%s的%s是%d元。", zh[1 + int(rand() * 12)], zh[1 + int(rand() * 12)], int(rand() * 500));
                        }
                    }
                    print line "\n" > path;
                }
            }
        }
        close(path);
    }
}'
mapfile -t FILES < <(find "$C" -type f | sort)
[ "${#FILES[@]}" -eq "$NFILES" ] || { echo "corpus: ${#FILES[@]} files, wanted $NFILES"; exit 1; }

fail=0
killed=0
total_committed=0
RANDOM=12345
for run in $(seq 1 "$RUNS"); do
    # modify a few files so kills land in replacements too
    for k in 1 2 3 4 5 6; do
        f=${FILES[$((RANDOM % NFILES))]}
        case "$f" in
        *.csv) echo "$run,modified $run,$k,1,\"x\"" >> "$f" ;;
        *) printf 'Modified in run %d, edit %d. 第%d次修改。\n\n' "$run" "$k" "$run" >> "$f" ;;
        esac
    done
    log=$T/run$run.out
    # odd runs: one transaction per document; even runs: group commit
    batch=$([ $((run % 2)) -eq 1 ] && echo 0 || echo 100)
    "$B" ingest --data "$D" -c kill --chunk-size 400 --overlap 50 --batch-ms "$batch" "$C" > "$log" 2> "$T/run$run.err" &
    pid=$!
    # random moment: 0-700 ms
    sleep "0.$(printf '%03d' $((RANDOM % 700)))"
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
    wait "$pid" 2>/dev/null

    if [ ! -e "$D/ragd.db" ]; then
        # killed before the database existed: nothing may have been reported
        if grep -q '^committed ' "$log"; then echo "run $run: committed without a database"; fail=1; break; fi
        continue
    fi
    ic=$(sqlite3 "$D/ragd.db" "PRAGMA integrity_check" 2>&1)
    if [ "$ic" != "ok" ]; then echo "run $run: integrity_check: $ic"; fail=1; break; fi

    if [ "$(sqlite3 "$D/ragd.db" "SELECT count(*) FROM sqlite_master WHERE name='documents'")" != 1 ]; then
        # killed while the schema was being created (its transaction rolled back)
        if grep -q '^committed ' "$log"; then echo "run $run: committed without a schema"; fail=1; break; fi
        continue
    fi
    # committed lines of this run vs the database
    grep '^committed ' "$log" | awk '{print $2 "|" $3 "|" $4}' > "$T/want$run"
    n=$(wc -l < "$T/want$run")
    total_committed=$((total_committed + n))
    sqlite3 "$D/ragd.db" "SELECT d.id, d.source, d.n_chunks, (SELECT count(*) FROM chunks c WHERE c.document_id=d.id), d.sha256 FROM documents d" > "$T/have$run"
    # no partial chunk list anywhere
    bad=$(awk -F'|' '$3 != $4' "$T/have$run" | head -3)
    if [ -n "$bad" ]; then echo "run $run: partial documents: $bad"; fail=1; fi
    # every committed document is present, complete and has the file's hash
    if [ "$n" -gt 0 ]; then
        cut -d'|' -f2 "$T/want$run" | xargs -d '\n' sha256sum | awk '{print $2 "|" $1}' > "$T/sha$run"
        msg=$(awk -F'|' -v run="$run" '
            FILENAME ~ /have/ { src[$1] = $2; dn[$1] = $3; cnt[$1] = $4; sha[$1] = $5; next }
            FILENAME ~ /sha/  { fsha[$1] = $2; next }
            {
                id = $1; path = $2; n = $3
                if (!(id in src)) { print "run " run ": committed doc " id " (" path ") missing"; next }
                if (src[id] != path) print "run " run ": doc " id " source " src[id] " != " path
                if (dn[id] != n || cnt[id] != n)
                    print "run " run ": doc " id " (" path "): reported " n " chunks, db n_chunks=" dn[id] " rows=" cnt[id]
                if (fsha[path] != sha[id]) print "run " run ": doc " id " (" path ") sha256 differs from the file"
            }' "$T/have$run" "$T/sha$run" "$T/want$run")
        if [ -n "$msg" ]; then echo "$msg" | head -10; fail=1; fi
    fi
    [ $fail -eq 0 ] || break
done

if [ $fail -eq 0 ]; then
    # an uninterrupted run finishes the job
    "$B" ingest --data "$D" -c kill --chunk-size 400 --overlap 50 "$C" > "$T/final.out" 2> "$T/final.err"
    rc=$?
    [ $rc -eq 0 ] || { echo "final run exit $rc"; tail -5 "$T/final.err"; fail=1; }
    docs=$(sqlite3 "$D/ragd.db" "SELECT count(*) FROM documents")
    [ "$docs" = "$NFILES" ] || { echo "final: $docs documents, want $NFILES"; fail=1; }
    partial=$(sqlite3 "$D/ragd.db" "SELECT count(*) FROM documents d WHERE n_chunks != (SELECT count(*) FROM chunks c WHERE c.document_id=d.id)")
    [ "$partial" = "0" ] || { echo "final: $partial partial documents"; fail=1; }
    [ "$(sqlite3 "$D/ragd.db" "PRAGMA integrity_check")" = "ok" ] || { echo "final integrity"; fail=1; }
fi
echo "ingest_kill: $RUNS runs, $killed killed mid-run, $total_committed committed lines checked, $NFILES files"
exit $fail
