#!/bin/bash
# Vector and hybrid retrieval over HTTP: `ragd serve --embed-model` embeds
# the chunks of documents added through the API (JSON and multipart), search
# takes "mode": vector|hybrid|bm25 (hybrid by default for a collection with
# an embedding model), hybrid is the weighted-RRF fusion of the other two,
# a collection embedded by `ragd ingest --embed-model` is served the same
# way, and RAG chat retrieves through the same path.  The fixture BERT has
# random weights, so only mechanics are checked (an exact duplicate of a
# chunk is its own nearest vector).
set -u
. tests/e2e/server_common.bash
FX=${RAGD_SHARED:-../shared}/fixtures/models
M="$FX/tiny-bert-f32.gguf"
[ -f "$M" ] || { echo "skip: $M absent"; exit 77; }
command -v curl >/dev/null && command -v jq >/dev/null && command -v python3 >/dev/null \
    || { echo "skip: curl, jq and python3 are needed"; exit 77; }

D=$TMP/vec
rm -rf "$D"; mkdir -p "$D/docs"
for i in $(seq 1 8); do
    printf 'Document %d talks about topic%d and shared words like river and stone.\n\nA second paragraph number %d mentions lanterns%d in the valley.\n' \
        $i $i $i $i > "$D/docs/d$i.txt"
done
DUP="Zebras graze quietly on the open savanna grasses in large herds."
# a collection embedded by the CLI before the server starts
"$B" ingest --data "$D/data" -c cli --chunk-size 64 --overlap 0 --embed-model "$M" "$D/docs" >"$D/ing.out" 2>&1 \
    || { cat "$D/ing.out"; echo "FAIL: ingest --embed-model"; exit 1; }

start_server vec --data "$D/data" --embed-model "$M" || exit 1

req POST /v1/collections -d '{"name":"v"}'; expect 201 "create collection"
for i in 1 2 3 4; do
    req POST /v1/collections/v/documents --data-binary @<(jq -Rs "{text: ., source: \"d$i.txt\"}" <"$D/docs/d$i.txt")
    expect 201 "add JSON document $i" '"embedded":'
    [ "$(jq -r .embedded <<<"$BODY")" -ge 1 ] || fail "document $i: no chunk embedded: $BODY"
done
printf '%s\n' "$DUP" >"$D/docs/zebra.txt"
req POST /v1/collections/v/documents -F "file=@$D/docs/zebra.txt"
expect 201 "multipart upload" '"embedded":1'
req GET /v1/collections/v; expect 200 "collection shows its model" '"embedding_model":"tiny-bert-f32.gguf"'

# vector: the exact duplicate first with cosine ~1, scores descending
req POST /v1/collections/v/search -d "$(jq -n --arg q "$DUP" '{query:$q,k:4,mode:"vector"}')"
expect 200 "vector search" '"mode":"vector"'
python3 - "$BODY" <<'PY' || fail "vector results: $BODY"
import json, sys
o = json.loads(sys.argv[1]); h = o["results"]
assert len(h) == 4, len(h)
assert h[0]["source"] == "zebra.txt", h[0]
assert abs(h[0]["score"] - 1.0) < 1e-3, h[0]["score"]
s = [x["score"] for x in h]
assert s == sorted(s, reverse=True), s
PY

# default: hybrid; hybrid = RRF(60) of the bm25 and vector top k
Q="topic3 river lanterns2"
for m in bm25 vector hybrid; do
    req POST /v1/collections/v/search -d "{\"query\":\"$Q\",\"k\":5,\"mode\":\"$m\"}"
    expect 200 "search mode $m" "\"mode\":\"$m\""
    printf '%s' "$BODY" >"$D/$m.json"
done
req POST /v1/collections/v/search -d "{\"query\":\"$Q\",\"k\":5}"
expect 200 "default mode" '"mode":"hybrid"'
printf '%s' "$BODY" >"$D/default.json"
python3 - "$D" <<'PY' || fail "hybrid is not the RRF fusion of bm25 and vector"
import json, sys
d = sys.argv[1]
L = lambda n: json.load(open(f"{d}/{n}.json"))["results"]
b, v = L("bm25"), L("vector")
sc = {}
for lst in (b, v):
    for i, x in enumerate(lst):
        sc[x["chunk_id"]] = sc.get(x["chunk_id"], 0) + 1 / (60 + i + 1)
exp = sorted(sc.items(), key=lambda t: (-t[1], t[0]))[:5]
for name in ("hybrid", "default"):
    h = L(name)
    assert [x["chunk_id"] for x in h] == [c for c, _ in exp], (name, h, exp)
    assert all(abs(x["score"] - s) < 1e-9 for x, (_, s) in zip(h, exp)), name
PY

# a document added later is embedded and found by vector search at once
NEW="Lighthouse keepers polish brass lenses every winter morning by the harbour."
req POST /v1/collections/v/documents -d "$(jq -n --arg t "$NEW" '{text:$t,source:"light.txt"}')"
expect 201 "add a document later" '"embedded":1'
req POST /v1/collections/v/search -d "$(jq -n --arg q "$NEW" '{query:$q,k:1,mode:"vector"}')"
[ "$(jq -r '.results[0].source' <<<"$BODY")" = light.txt ] || fail "new document not found by vector search: $BODY"

# the CLI-embedded collection: hybrid by default, vectors usable
req POST /v1/collections/cli/search -d '{"query":"river stone","k":3}'
expect 200 "CLI collection search" '"mode":"hybrid"'
req POST /v1/collections/cli/search -d "$(jq -n --arg q "$(head -1 "$D/docs/d5.txt")" '{query:$q,k:1,mode:"vector"}')"
expect 200 "CLI collection vector search" '"mode":"vector"'
[ "$(jq -r '.results[0].source' <<<"$BODY")" = "$D/docs/d5.txt" ] || fail "CLI collection: vector top hit: $BODY"

# RAG chat (extractive) retrieves through the same path and cites
req POST /v1/chat/completions -d '{"model":"rag:v","messages":[{"role":"user","content":"What do lighthouse keepers polish?"}]}'
expect 200 "RAG chat over a hybrid collection" '"citations"'
[ "$(jq -r '.citations[0].source' <<<"$BODY")" = light.txt ] || fail "RAG chat cites the wrong source: $BODY"

# errors
req POST /v1/collections/v/search -d '{"query":"x","mode":"fuzzy"}'; expect 400 "bad mode"
req POST /v1/collections -d '{"name":"plain"}'; expect 201 "create plain"
stop_servers

# without --embed-model: bm25 by default, vector is a 400 that says why
start_server novec --data "$D/data" || exit 1
req POST /v1/collections/v/search -d '{"query":"river","k":2}'
expect 200 "search without embedder" '"mode":"bm25"'
req POST /v1/collections/v/search -d '{"query":"river","mode":"vector"}'
expect 400 "vector without embedder" 'embed-model'
req POST /v1/collections/v/documents -d '{"text":"No vectors for this one.","source":"nv.txt"}'
expect 201 "add without embedder"
jq -e 'has("embedded") | not' <<<"$BODY" >/dev/null || fail "embedded reported without a model: $BODY"
stop_servers

# back with the model: the chunk added meanwhile is embedded on the next search
start_server vec2 --data "$D/data" --embed-model "$M" || exit 1
req POST /v1/collections/v/search -d '{"query":"No vectors for this one.","k":1,"mode":"vector"}'
expect 200 "search after restart"
[ "$(jq -r '.results[0].source' <<<"$BODY")" = nv.txt ] || fail "chunk added without a model not embedded later: $BODY"
stop_servers

[ $FAILS -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "server_vector: all checks passed"
