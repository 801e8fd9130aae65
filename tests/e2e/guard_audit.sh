#!/bin/bash
# ragd audit verify: a chain written by `ragd redact --audit` verifies; an
# edited or deleted line is named; raw values never reach the log.
set -u
B=${RAGD_BIN:-./ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
fail=0
log="$T/audit.jsonl"
for v in 13800138000 11010519491231002X li@example.com; do
    echo "value $v here" | "$B" redact --audit "$log" >/dev/null || { echo "redact --audit failed"; fail=1; }
done
out=$("$B" audit verify "$log") || { echo "verify failed: $out"; fail=1; }
[ "$out" = "$log: ok, 3 lines" ] || { echo "verify output: $out"; fail=1; }
for v in 13800138000 11010519491231002X li@example.com; do
    grep -q "$v" "$log" && { echo "raw value $v in audit log"; fail=1; }
done
grep -q '"findings":{"cn_id":1}' "$log" || { echo "findings counts missing"; fail=1; }
sed '2s/"status":0/"status":1/' "$log" > "$T/t1.jsonl"
err=$("$B" audit verify "$T/t1.jsonl" 2>&1); rc=$?
[ $rc -eq 1 ] || { echo "tampered exit $rc"; fail=1; }
case "$err" in *"t1.jsonl:2:"*) ;; *) echo "tampered message: $err"; fail=1 ;; esac
sed '1d' "$log" > "$T/t2.jsonl"
err=$("$B" audit verify "$T/t2.jsonl" 2>&1); rc=$?
[ $rc -eq 1 ] || { echo "deleted-line exit $rc"; fail=1; }
case "$err" in *"t2.jsonl:1:"*) ;; *) echo "deleted-line message: $err"; fail=1 ;; esac
"$B" audit 2>/dev/null; [ $? -eq 2 ] || { echo "usage exit"; fail=1; }
exit $fail
