#!/bin/bash
# `ragd ingest` end to end on samples/: first run commits every file,
# a second run finds them unchanged, an edited file is replaced, bad files
# are reported and skipped (exit 1) while the rest commits, --prune removes
# documents of deleted files, usage errors exit 2.
set -u
B=${RAGD_BIN:-$PWD/ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 CLI not installed"; exit 77; }
fail=0
err() { echo "ingest_cli: $*"; fail=1; }
C=$T/c
D=$T/data
rm -rf "$C" "$D"
cp -r samples "$C"
n=$(find "$C" -type f | wc -l)

out=$("$B" ingest --data "$D" -c s "$C" 2>"$T/err1"); rc=$?
[ $rc -eq 0 ] || err "first run exit $rc: $(cat "$T/err1")"
[ "$(grep -c '^committed ' <<< "$out")" -eq "$n" ] || err "first run: want $n committed lines"
grep -q "^committed [0-9]* $C/en/aurora-x2-warranty.pdf 3 chunks$" <<< "$out" || err "pdf line: $(grep pdf <<< "$out")"
docs=$(sqlite3 "$D/ragd.db" "SELECT count(*) FROM documents")
[ "$docs" -eq "$n" ] || err "documents $docs != $n"
pages=$(sqlite3 "$D/ragd.db" "SELECT group_concat(DISTINCT page) FROM chunks c JOIN documents d ON d.id=c.document_id WHERE d.source LIKE '%.pdf'")
[ "$pages" = "1,2" ] || err "pdf pages: $pages"
h=$(sqlite3 "$D/ragd.db" "SELECT heading FROM chunks WHERE text LIKE '%800元。%' LIMIT 1")
[ "$h" = "差旅费用报销制度 > 住宿标准" ] || err "zh heading: $h"
grep -q "script\|analytics" <<< "$(sqlite3 "$D/ragd.db" "SELECT text FROM chunks c JOIN documents d ON d.id=c.document_id WHERE d.source LIKE '%.html'")" && err "html script text stored"

out=$("$B" ingest --data "$D" -c s "$C"); rc=$?
[ $rc -eq 0 ] || err "second run exit $rc"
[ "$(grep -c '^unchanged ' <<< "$out")" -eq "$n" ] || err "second run: want $n unchanged"
gen1=$(sqlite3 "$D/ragd.db" "SELECT generation FROM collections WHERE name='s'")

echo "Added paragraph. 新增一段。" >> "$C/en/meeting-rooms.txt"
old=$(sqlite3 "$D/ragd.db" "SELECT id FROM documents WHERE source='$C/en/meeting-rooms.txt'")
out=$("$B" ingest --data "$D" -c s "$C")
grep -q "^committed $old $C/en/meeting-rooms.txt " <<< "$out" || err "edited file not replaced under the same id"
[ "$(grep -c '^committed ' <<< "$out")" -eq 1 ] || err "only the edited file should commit"
gen2=$(sqlite3 "$D/ragd.db" "SELECT generation FROM collections WHERE name='s'")
[ "$gen2" -gt "$gen1" ] || err "generation did not move ($gen1 -> $gen2)"
sqlite3 "$D/ragd.db" "SELECT text FROM chunks WHERE document_id=$old" | grep -q "新增一段" || err "new text missing"

# bad files: reported, skipped, the rest committed, exit 1
printf 'a,b\n1,"open\n' > "$C/bad.csv"
printf '%%PDF-1.4 garbage' > "$C/broken.pdf"
printf 'good new file.\n' > "$C/new.txt"
head -c 3000 /dev/urandom > "$C/blob.bin"
out=$("$B" ingest --data "$D" -c s "$C" "$T/does-not-exist" 2>"$T/err2"); rc=$?
[ $rc -eq 1 ] || err "bad files: exit $rc, want 1"
grep -q "bad.csv: csv: line 2: unterminated quoted field" "$T/err2" || err "bad csv not reported: $(cat "$T/err2")"
grep -q "broken.pdf: pdf:" "$T/err2" || err "broken pdf not reported"
grep -q "does-not-exist: No such file" "$T/err2" || err "missing path not reported"
grep -q "^committed [0-9]* $C/new.txt 1 chunks" <<< "$out" || err "good file not committed next to bad ones"
grep -q "3 failed" <<< "$out" || err "summary: $(grep ingested <<< "$out")"
grep -q "^failed: .*bad.csv" <<< "$out" || err "summary lacks the failure list"

# --prune
rm "$C/en/release-notes.md" "$C/bad.csv" "$C/broken.pdf" "$C/blob.bin"
out=$("$B" ingest --data "$D" -c s --prune "$C"); rc=$?
[ $rc -eq 0 ] || err "prune run exit $rc"
grep -q "^deleted [0-9]* $C/en/release-notes.md" <<< "$out" || err "prune did not delete release-notes.md"
[ "$(sqlite3 "$D/ragd.db" "SELECT count(*) FROM documents WHERE source LIKE '%release-notes.md'")" = 0 ] || err "pruned doc still there"
[ "$(sqlite3 "$D/ragd.db" "PRAGMA integrity_check")" = ok ] || err "integrity"

# usage errors
"$B" ingest --data "$D" -c s 2>/dev/null; [ $? -eq 2 ] || err "no PATH: want exit 2"
"$B" ingest --data "$D" --chunk-size 10 "$C" 2>/dev/null; [ $? -eq 2 ] || err "bad chunk size: want exit 2"
"$B" ingest --data "$D" --overlap 500 --chunk-size 800 "$C" 2>/dev/null; [ $? -eq 2 ] || err "bad overlap: want exit 2"
"$B" ingest --data "$D" -c 'bad name' "$C" >/dev/null 2>&1; [ $? -eq 1 ] || err "bad collection name: want exit 1"
"$B" ingest --help | grep -q "usage: ragd ingest" || err "--help"
exit $fail
