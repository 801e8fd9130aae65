#!/bin/bash
# Ingest-time redaction: documents full of PII ingested with --redact leave
# no raw value in the SQLite files (db, WAL), in the logs, or in answers;
# the setting sticks to the collection; a collection that already holds
# unredacted documents is refused.
set -u
B=${RAGD_BIN:-./ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
"$B" ingest --help >/dev/null 2>&1 || { echo "ragd ingest not in this build"; exit 77; }
fail=0
D="$T/data"
mkdir -p "$T/docs"
cat > "$T/docs/intake.md" <<'DOC'
# 患者王建国的病历

## 基本信息

患者王建国，男，身份证号 11010519491231002X，手机 13912345678，
邮箱 wang.jianguo@example.com，出生日期：1949年12月31日。

## 费用

医保卡关联银行卡 6222 0212 3456 7890 128 已扣费。
DOC
cat > "$T/docs/vendor.txt" <<'DOC'
Vendor record. Contact: li.na@example.org, mobile +86 138 0013 8000.
Unified social credit code 91350100M000100Y43. IBAN GB82 WEST 1234 5698 7654 32.
Passport E12345678 was scanned; card 4111-1111-1111-1111 on file.
DOC
cat > "$T/docs/contacts.csv" <<'DOC'
name,phone,id
张伟,18612345678,44030519900101123X
DOC
cat > "$T/docs/page.html" <<'DOC'
<html><head><title>联系人 赵敏 13500001111</title></head>
<body><h1>Support</h1><p>Call 13500001111 or write to zhao.min@example.cn.</p></body></html>
DOC
raws=(11010519491231002X 13912345678 wang.jianguo@example.com "6222 0212 3456 7890 128"
      li.na@example.org "138 0013 8000" 91350100M000100Y43 "GB82 WEST 1234 5698 7654 32"
      E12345678 4111-1111-1111-1111 18612345678 44030519900101123X 13500001111
      zhao.min@example.cn 王建国 赵敏)
"$B" --log-level debug ingest --data "$D" -c pii --redact "$T/docs" >"$T/out.txt" 2>"$T/log.txt"
rc=$?
[ $rc -eq 0 ] || { echo "ingest --redact exit $rc"; cat "$T/out.txt" "$T/log.txt"; fail=1; }
grep -q "^redacted [1-9][0-9]* values" "$T/out.txt" || { echo "no redaction summary"; cat "$T/out.txt"; fail=1; }
grep -q "committed .* chunks" "$T/out.txt" || { echo "nothing committed"; fail=1; }
# a file added later to the same collection, without the flag, is redacted too
printf '补充：联系人手机 15011112222。\n' > "$T/late.txt"
"$B" ingest --data "$D" -c pii "$T/late.txt" >>"$T/out.txt" 2>>"$T/log.txt" || { echo "second ingest failed"; fail=1; }
raws+=(15011112222)
ls "$D"/* >/dev/null 2>&1 || { echo "no data files in $D"; fail=1; }
for f in "$D"/*; do
    for r in "${raws[@]}"; do
        if grep -a -q -F -- "$r" "$f"; then echo "raw value '$r' found in $f"; fail=1; fi
    done
done
if command -v sqlite3 >/dev/null; then
    db=$(ls "$D"/*.db | head -1)
    dump=$(sqlite3 "$db" .dump 2>/dev/null)
    [ -n "$dump" ] || { echo "empty dump of $db"; fail=1; }
    for r in "${raws[@]}"; do
        case "$dump" in *"$r"*) echo "raw value '$r' in sqlite dump"; fail=1 ;; esac
    done
    case "$dump" in *"[EMAIL]"*) ;; *) echo "no [EMAIL] tag stored: redaction did not run"; fail=1 ;; esac
    case "$dump" in *'"redact":true'*) ;; *) echo "collection setting not stored"; fail=1 ;; esac
fi
for r in "${raws[@]}"; do
    if grep -a -q -F -- "$r" "$T/log.txt" "$T/out.txt"; then echo "raw value '$r' in logs/output"; fail=1; fi
done
# refusing to switch on redaction over unredacted documents
"$B" ingest --data "$D" -c plain "$T/late.txt" >/dev/null 2>&1 || { echo "plain ingest failed"; fail=1; }
err=$("$B" ingest --data "$D" -c plain --redact "$T/docs" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || { echo "redact over unredacted collection: exit $rc"; fail=1; }
case "$err" in *"without redaction"*) ;; *) echo "refusal message: $err"; fail=1 ;; esac
# answers: when ragd ask exists, it must not bring back a raw value
if "$B" ask --help >/dev/null 2>&1; then
    ans=$("$B" ask --data "$D" -c pii "王建国的身份证号和手机号是多少？" 2>&1)
    for r in "${raws[@]}"; do
        case "$ans" in *"$r"*) echo "raw value '$r' in ask answer"; fail=1 ;; esac
    done
else
    echo "note: ragd ask not in this build; answers not checked"
fi
exit $fail
