#!/bin/bash
# Issue 8 acceptance over HTTP: documents full of PII ingested through the
# API into a collection created with redaction on ({"redact": true}, JSON
# and multipart, with PII in the source name and metadata too) leave no raw
# value in the database (+WAL, sqlite3 .dump), the index files, the server
# log (debug level), the audit log, search results or answers.  Also: the
# collection setting sticks, a policy given at creation is used, and a bad
# policy is a 400.
set -u
. tests/e2e/server_common.bash
command -v curl >/dev/null && command -v jq >/dev/null || { echo "skip: curl and jq are needed"; exit 77; }

D=$TMP/redact
rm -rf "$D"; mkdir -p "$D/docs"
cat >"$D/docs/intake.md" <<'DOC'
# 患者王建国的病历

## 基本信息

患者王建国，男，身份证号 11010519491231002X，手机 13912345678，
邮箱 wang.jianguo@example.com，出生日期：1949年12月31日。

## 费用

医保卡关联银行卡 6222 0212 3456 7890 128 已扣费。
DOC
cat >"$D/docs/vendor.txt" <<'DOC'
Vendor record. Contact: li.na@example.org, mobile +86 138 0013 8000.
Unified social credit code 91350100M000100Y43. IBAN GB82 WEST 1234 5698 7654 32.
Passport E12345678 was scanned; card 4111-1111-1111-1111 on file.
DOC
cat >"$D/docs/contacts.csv" <<'DOC'
name,phone,id
张伟,18612345678,44030519900101123X
DOC
raws=(11010519491231002X 13912345678 wang.jianguo@example.com "6222 0212 3456 7890 128"
      li.na@example.org "138 0013 8000" 91350100M000100Y43 "GB82 WEST 1234 5698 7654 32"
      E12345678 4111-1111-1111-1111 18612345678 44030519900101123X 王建国
      15011112222 zhou.qi@example.net 13700001234)

EXTRA=()
[ -n "${SERVER_EXTRA_ARGS:-}" ] && read -r -a EXTRA <<<"$SERVER_EXTRA_ARGS"
start_server redact --data "$D/data" --log-level debug --audit "$D/audit.jsonl" "${EXTRA[@]}" || exit 1

req POST /v1/collections -d '{"name":"pii","redact":true}'
expect 201 "create a redacting collection" '"redact":true'
req POST /v1/collections -d '{"name":"bad","redact_policy":{"types":{"nope":{}}}}'
expect 400 "bad redact_policy" 'redact_policy'
req POST /v1/collections -d '{"name":"bad","redact":"yes"}'
expect 400 "redact of wrong type"

# JSON body, with PII in the source name and in metadata
req POST /v1/collections/pii/documents --data-binary @<(jq -Rs \
    '{text: ., source: "intake-13700001234.md", metadata: {contact: "zhou.qi@example.net", n: 3}}' <"$D/docs/intake.md")
expect 201 "JSON document" '"redacted":{'
jq -e '.redacted.cn_id >= 1 and .redacted.email >= 2' <<<"$BODY" >/dev/null || fail "redaction counts: $BODY"
DOC1=$(jq -r .id <<<"$BODY")
# multipart uploads
req POST /v1/collections/pii/documents -F "file=@$D/docs/vendor.txt"
expect 201 "multipart txt" '"redacted":{'
req POST /v1/collections/pii/documents -F "file=@$D/docs/contacts.csv" -F 'metadata={"owner":"15011112222"}'
expect 201 "multipart csv" '"redacted":{'

# what comes back: document, search results, RAG answers
req GET "/v1/collections/pii/documents/$DOC1"; expect 200 "get document"
printf '%s\n' "$BODY" >"$D/answers.txt"
grep -q '137\*\*\*\*1234' <<<"$BODY" || fail "source name not masked: $BODY"
for q in "王建国 身份证号 手机" "vendor contact IBAN passport card" "张伟 phone"; do
    req POST /v1/collections/pii/search -d "$(jq -n --arg q "$q" '{query:$q,k:5}')"
    expect 200 "search '$q'"
    printf '%s\n' "$BODY" >>"$D/answers.txt"
    req POST /v1/chat/completions -d "$(jq -n --arg q "$q" '{model:"rag:pii",messages:[{role:"user",content:$q}]}')"
    expect 200 "RAG chat '$q'" '"citations"'
    printf '%s\n' "$BODY" >>"$D/answers.txt"
done
grep -q '\[EMAIL\]' "$D/answers.txt" || fail "no [EMAIL] tag in results: redaction did not run"
grep -q '110\*\*\*\*\*\*\*\*\*\*\*002X' "$D/answers.txt" || fail "resident ID not masked in results"

# a raw value in a URL (404) must not reach the log unmasked
req GET /v1/collections/pii/documents/13912345678; expect 404 "unknown document id"

# a policy given at creation is used (email -> hash)
req POST /v1/collections -d '{"name":"pol","redact_policy":{"types":{"email":{"op":"hash"}}}}'
expect 201 "create with a policy" '"redact":true'
req POST /v1/collections/pol/documents -d '{"text":"Write to li.na@example.org today.","source":"p.txt"}'
expect 201 "ingest with a policy"
req POST /v1/collections/pol/search -d '{"query":"write today","k":1}'
grep -q '\[EMAIL:[0-9a-f]\{16\}\]' <<<"$BODY" || fail "policy op hash not applied: $BODY"
printf '%s\n' "$BODY" >>"$D/answers.txt"
stop_servers

for f in "$D"/data/* "$D"/data/index/*; do
    [ -f "$f" ] || continue
    for r in "${raws[@]}"; do
        grep -a -q -F -- "$r" "$f" && fail "raw value '$r' found in $f"
    done
done
ls "$D"/data/*-wal >/dev/null 2>&1 || ls "$D"/data/*.db >/dev/null 2>&1 || fail "no database files in $D/data"
if command -v sqlite3 >/dev/null; then
    db=$(ls "$D"/data/*.db | head -1)
    dump=$(sqlite3 "$db" .dump 2>/dev/null)
    [ -n "$dump" ] || fail "empty dump of $db"
    for r in "${raws[@]}"; do
        case "$dump" in *"$r"*) fail "raw value '$r' in the sqlite dump" ;; esac
    done
    case "$dump" in *'"redact":true'*) ;; *) fail "collection setting not stored" ;; esac
fi
[ -s "$D/audit.jsonl" ] || fail "no audit log written"
"$B" audit verify "$D/audit.jsonl" >/dev/null || fail "audit chain does not verify"
# the audit record of the first ingest counts what was redacted (types and counts)
grep -q '"route":"/v1/collections/{c}/documents".*"collection":"pii".*"findings":{[^}]*"cn_id":' "$D/audit.jsonl" \
    || fail "audit lacks the ingest's findings: $(head -3 "$D/audit.jsonl")"
# the server's access log went through the PII filter: a raw mobile number in
# a URL is logged masked
grep -q 'documents/139\*\*\*\*5678' "$TMP/redact.log" || fail "masked URL not in the debug log"
for f in "$TMP/redact.log" "$D/audit.jsonl" "$D/answers.txt"; do
    for r in "${raws[@]}"; do
        grep -a -q -F -- "$r" "$f" && fail "raw value '$r' in $(basename "$f")"
    done
done

[ $FAILS -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "server_redact: all checks passed"
