#!/bin/bash
# ragd serve driven with curl: every route and every error status
# (400 401 404 405 409 413 429 503), tenant isolation, the response cache,
# streaming, and the start-up warning of an open server.
set -u
. tests/e2e/server_common.bash
command -v curl >/dev/null && command -v jq >/dev/null || { echo "skip: curl and jq are needed"; exit 77; }

D=$TMP/api
mkdir -p "$D/docs"
cat >"$D/docs/vacation-policy.md" <<'DOC'
# Vacation policy

Every employee receives 25 days of paid vacation per year. Unused vacation days
carry over until March 31 of the next year.

## Sick leave

Sick leave does not count against vacation days.
DOC
cat >"$D/docs/expenses.md" <<'DOC'
# Travel expenses

Train tickets are reimbursed in second class. Hotel costs up to 150 euros per
night are covered when travelling for a customer visit.
DOC
printf 'Passwords must be rotated every 90 days. Laptops use full-disk encryption.\n' >"$D/docs/security.txt"

start_server open --data "$D/data" --cache 16 || exit 1
grep -q "WARNING: no --api-key" "$TMP/open.log" || fail "open server does not warn at start-up"

req GET /health; expect 200 "health" '"status":"ok"'
req GET /v1/models; expect 200 "models" '"object":"list"'
req GET /nope; expect 404 "unknown route" '"error"'
req PUT /v1/models; expect 405 "PUT on models"
req DELETE /v1/chat/completions; expect 405 "DELETE on chat"

# collections
req POST /v1/collections -d '{"name":"hr"}'; expect 201 "create collection" '"name":"hr"'
req POST /v1/collections -d '{"name":"hr"}'; expect 409 "create existing collection" '"type":"conflict_error"'
req POST /v1/collections -d '{"name":"../etc"}'; expect 400 "bad collection name"
req POST /v1/collections -d '{"name":'; expect 400 "truncated JSON" 'malformed JSON'
req POST /v1/collections -d '[1,2]'; expect 400 "JSON array body"
req POST /v1/collections -d '{"name":5}'; expect 400 "name of wrong type" "'name' must be a string"
req GET /v1/collections; expect 200 "list collections" '"name":"hr"'
req GET /v1/collections/hr; expect 200 "get collection" '"documents":0'
req GET /v1/collections/nope; expect 404 "get missing collection" '"code":"collection_not_found"'

# documents: JSON and multipart
req POST /v1/collections/hr/documents -H 'Content-Type: application/json' \
    --data-binary @<(jq -Rs '{text: ., source: "vacation-policy.md", metadata: {dept: "hr"}}' <"$D/docs/vacation-policy.md")
expect 201 "add JSON document" '"chunks":'
VAC_ID=$(jq -r .id <<<"$BODY")
req POST /v1/collections/hr/documents -F "file=@$D/docs/expenses.md" -F 'metadata={"dept":"finance"}'
expect 201 "multipart upload (md)" '"chunks":'
EXP_ID=$(jq -r .id <<<"$BODY")
req POST /v1/collections/hr/documents -F "file=@$D/docs/security.txt"
expect 201 "multipart upload (txt)"
req POST /v1/collections/hr/documents -F "other=@$D/docs/security.txt"
expect 400 "multipart without file field"
head -c 3000 /dev/urandom >"$D/blob.bin"
req POST /v1/collections/hr/documents -F "file=@$D/blob.bin"
expect 400 "binary upload"
req POST /v1/collections/nope/documents -d '{"text":"x"}'; expect 404 "document into missing collection"
req POST /v1/collections/hr/documents -d '{"source":"a"}'; expect 400 "document without text"
req GET /v1/collections/hr/documents; expect 200 "list documents" '"source":"expenses.md"'
req GET "/v1/collections/hr/documents/$VAC_ID"; expect 200 "get document" '"dept":"hr"'
req GET /v1/collections/hr/documents/999999; expect 404 "get missing document" '"code":"document_not_found"'
req GET /v1/collections/hr/documents/abc; expect 404 "get non-numeric document id"

# search
req POST /v1/collections/hr/search -d '{"query":"how many paid vacation days","k":3}'
expect 200 "search" '"results"'
[ "$(jq -r '.results[0].source' <<<"$BODY")" = vacation-policy.md ] || fail "search: top hit is not vacation-policy.md: $BODY"
for f in document_id chunk_id source text score page heading; do
    jq -e ".results[0] | has(\"$f\")" <<<"$BODY" >/dev/null || fail "search result lacks $f"
done
req POST /v1/collections/hr/search -d '{"query":"hotel costs","k":5,"filter":{"dept":"hr"}}'
expect 200 "search with filter"
jq -e '[.results[].source] | all(. == "vacation-policy.md")' <<<"$BODY" >/dev/null || fail "filter not applied: $BODY"
req POST /v1/collections/hr/search -d '{"query":"hotel","k":"3"}'; expect 400 "k of wrong type" "'k' must be an integer"
req POST /v1/collections/hr/search -d '{"query":"hotel","k":1e400}'; expect 400 "huge number"
req POST /v1/collections/hr/search -d '{"query":"hotel","k":99999999999999999999999}'; expect 400 "integer overflow"
req POST /v1/collections/hr/search --data-binary $'{"query":"\xff\xfe"}'; expect 400 "invalid UTF-8"
req POST /v1/collections/hr/search -d '{"query":"hotel","mode":"vector"}'; expect 400 "vector search without embeddings"
req POST /v1/collections/nope/search -d '{"query":"hotel"}'; expect 404 "search missing collection"

# chat / completions / embeddings
req POST /v1/chat/completions -d '{"model":"rag:hr","messages":[{"role":"user","content":"How many days of paid vacation do employees get?"}]}'
expect 200 "RAG chat (model rag:hr)" '"citations"'
grep -q '25 days' <<<"$BODY" || fail "RAG answer lacks the fact: $BODY"
CIT_N=$(jq -r '.choices[0].message.content' <<<"$BODY" | grep -o '\[[0-9]*\]' | head -1 | tr -d '[]')
[ -n "$CIT_N" ] || fail "RAG answer has no [n] marker: $BODY"
[ "$(jq -r ".citations[] | select(.index == ${CIT_N:-0}) | .source" <<<"$BODY")" = vacation-policy.md ] \
    || fail "citation [$CIT_N] does not point at vacation-policy.md: $BODY"
jq -e '.usage.total_tokens > 0' <<<"$BODY" >/dev/null || fail "usage missing: $BODY"
req POST /v1/chat/completions -d '{"collection":"hr","messages":[{"role":"user","content":"Which train class is reimbursed?"}]}'
expect 200 "RAG chat (collection field)" 'second class'
req POST /v1/chat/completions -d '{"collection":"hr","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hotel costs per night"}]}'
expect 200 "streaming RAG chat"
grep -v '^$' <<<"$BODY" | tail -n 1 | grep -qx 'data: \[DONE\]' || fail "stream does not end with [DONE]: $BODY"
head -n 1 <<<"$BODY" | grep -q '"citations":\[{' || fail "first stream event lacks citations: $(head -n 1 <<<"$BODY")"
grep -q '"usage":{"prompt_tokens"' <<<"$BODY" || fail "stream lacks the usage event"
STREAMED=$(grep '^data: {' <<<"$BODY" | sed 's/^data: //' | jq -j '.choices[0].delta.content // empty')
grep -q '150 euros' <<<"$STREAMED" || fail "streamed text lacks the fact: $STREAMED"
req POST /v1/chat/completions -d '{"messages":[{"role":"user","content":"hi"}]}'
expect 400 "chat without any model" '"code":"model_not_available"'
req POST /v1/chat/completions -d '{"collection":"nope","messages":[{"role":"user","content":"hi"}]}'
expect 404 "chat on missing collection"
req POST /v1/chat/completions -d '{"collection":"hr","messages":[]}'; expect 400 "empty messages"
req POST /v1/chat/completions -d '{"collection":"hr","messages":[{"role":"wizard","content":"x"}]}'; expect 400 "bad role"
req POST /v1/chat/completions -d '{"collection":"hr","temperature":"hot","messages":[{"role":"user","content":"x"}]}'; expect 400 "temperature of wrong type"
req POST /v1/chat/completions -d '{"collection":"hr","max_tokens":-5,"messages":[{"role":"user","content":"x"}]}'; expect 400 "negative max_tokens"
req POST /v1/completions -d '{"model":"rag:hr","prompt":"full-disk encryption laptops"}'
expect 200 "RAG completion" '"text_completion"'
req POST /v1/completions -d '{"model":"rag:hr"}'; expect 400 "completion without prompt"
req POST /v1/embeddings -d '{"input":"hello"}'; expect 501 "embeddings without a model" '"code":"embeddings_unavailable"'
req POST /v1/embeddings -d '{"input":[]}'; expect 400 "embeddings with empty input"

# response cache (temperature 0)
Q='{"collection":"hr","temperature":0,"messages":[{"role":"user","content":"When do unused vacation days expire?"}]}'
req POST /v1/chat/completions -d "$Q"; expect 200 "cacheable chat"
A1=$(jq -r '.choices[0].message.content' <<<"$BODY")
req POST /v1/chat/completions -d "$Q"; expect 200 "cached chat" '"cached":true'
A2=$(jq -r '.choices[0].message.content' <<<"$BODY")
[ "$A1" = "$A2" ] || fail "cached answer differs: '$A1' vs '$A2'"
req GET /metrics; expect 200 "metrics"
for m in 'ragd_requests_total{route="/v1/chat/completions",status="200"}' \
    'ragd_request_duration_seconds_bucket{route="/v1/collections/{c}/search"' \
    'ragd_time_to_first_token_seconds_count' 'ragd_inter_token_latency_seconds_bucket' \
    'ragd_retrieval_duration_seconds_count' 'ragd_tokens_total{direction="out"}' \
    'ragd_cache_requests_total{result="hit"} 1' 'ragd_queue_depth' \
    'ragd_requests_total{route="/v1/collections",status="409"} 1'; do
    grep -qF "$m" <<<"$BODY" || fail "metrics lack $m"
done

# deletes
req DELETE "/v1/collections/hr/documents/$EXP_ID"; expect 200 "delete document" '"deleted":true'
req GET "/v1/collections/hr/documents/$EXP_ID"; expect 404 "deleted document is gone"
req POST /v1/collections/hr/search -d '{"query":"hotel train tickets"}'
jq -e '[.results[].source] | index("expenses.md") == null' <<<"$BODY" >/dev/null || fail "deleted document still found: $BODY"
req DELETE /v1/collections/hr; expect 200 "delete collection"
req GET /v1/collections/hr; expect 404 "deleted collection is gone"
req DELETE /v1/collections/hr; expect 404 "delete missing collection"
stop_servers

# limits: body size, header size, per-key concurrency (429), overload (503)
start_server limits --data "$D/data2" --max-body 1000 --api-key ka --api-key kb --api-key kc \
    --max-per-key 1 --max-inflight 2 || exit 1
grep -q "WARNING" "$TMP/limits.log" && fail "server with keys still warns it is open"
H=(-H 'Authorization: Bearer ka')
req POST /v1/collections "${H[@]}" -d "{\"name\":\"$(head -c 2000 /dev/zero | tr '\0' a)\"}"
expect 413 "body over --max-body" '"code":"request_too_large"'
req POST /v1/collections "${H[@]}" -H 'Transfer-Encoding: chunked' --data-binary @<(printf '{"name":"%s"}' "$(head -c 3000 /dev/zero | tr '\0' b)")
expect 413 "chunked body over --max-body"
req GET /v1/models "${H[@]}" -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' x)"
case $CODE in 4[0-9][0-9]) ;; *) fail "40 KB header: HTTP $CODE, expected 4xx" ;; esac
req GET /health; expect 200 "server alive after oversized requests"
# hold one request per key open: headers now, body 3 s later
slow() { (sleep 3; echo '{"name":"slow'"$1"'"}') | curl -s -o /dev/null -X POST -T - "$URL/v1/collections" \
    -H "Authorization: Bearer k$1" -H 'Content-Type: application/json' & }
slow a; SA=$!
sleep 0.5
req GET /v1/collections -H 'Authorization: Bearer ka'; expect 429 "second concurrent request of one key" '"type":"rate_limit_error"'
slow b; SB=$!
sleep 0.5
req GET /v1/collections -H 'Authorization: Bearer kc'; expect 503 "over --max-inflight" '"code":"overloaded"'
wait $SA $SB
req GET /v1/collections -H 'Authorization: Bearer ka'; expect 200 "key usable again after its request ended" '"slowa"'
stop_servers

# API keys and tenant isolation
printf '# keys\nkey-gamma team-g\n' >"$D/keys.txt"
start_server auth --data "$D/data3" --api-key key-alpha --api-key key-beta --api-keys "$D/keys.txt" || exit 1
req GET /health; expect 200 "health needs no key"
req GET /v1/models; expect 401 "no key" '"code":"missing_api_key"'
req GET /metrics; expect 401 "metrics need a key"
req GET /v1/models -H 'Authorization: Bearer nope'; expect 401 "wrong key" '"code":"invalid_api_key"'
req GET /v1/models -H 'Authorization: Basic a2V5LWFscGhh'; expect 401 "non-bearer auth"
A=(-H 'Authorization: Bearer key-alpha')
Bk=(-H 'Authorization: Bearer key-beta')
G=(-H 'Authorization: Bearer key-gamma')
req POST /v1/collections "${A[@]}" -d '{"name":"private"}'; expect 201 "alpha creates a collection"
req POST /v1/collections/private/documents "${A[@]}" -d '{"text":"The launch code is 4242.","source":"secret.txt"}'; expect 201 "alpha adds a document"
DOC=$(jq -r .id <<<"$BODY")
req GET /v1/collections "${Bk[@]}"; expect 200 "beta lists"
grep -q private <<<"$BODY" && fail "beta sees alpha's collection: $BODY"
req GET /v1/collections/private "${Bk[@]}"; expect 404 "beta cannot open alpha's collection"
req POST /v1/collections/private/search "${Bk[@]}" -d '{"query":"launch code"}'; expect 404 "beta cannot search alpha's collection"
req GET "/v1/collections/private/documents/$DOC" "${Bk[@]}"; expect 404 "beta cannot read alpha's document"
req POST /v1/chat/completions "${Bk[@]}" -d '{"model":"rag:private","messages":[{"role":"user","content":"launch code?"}]}'; expect 404 "beta cannot RAG over alpha's collection"
req POST /v1/collections "${Bk[@]}" -d '{"name":"private"}'; expect 201 "beta has its own namespace"
req GET /v1/collections/private "${Bk[@]}"; expect 200 "beta's own collection" '"documents":0'
req GET /v1/models "${A[@]}"; expect 200 "alpha's models" '"rag:private"'
req POST /v1/collections/private/search "${A[@]}" -d '{"query":"launch code"}'; expect 200 "alpha searches" 'secret.txt'
req GET /v1/collections "${G[@]}"; expect 200 "key from --api-keys works"
grep -q private <<<"$BODY" && fail "gamma sees another tenant's collection"
stop_servers

[ $FAILS -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "server_api: all checks passed"
