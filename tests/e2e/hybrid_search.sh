#!/bin/bash
# Vector and hybrid retrieval: ingest --embed-model stores an embedding for
# every chunk; search --mode vector/hybrid/bm25; the default mode follows
# the collection's settings; new documents are embedded on the next search.
# The fixture BERT has random weights, so only mechanics are checked.
set -u
FX=${RAGD_SHARED:-../shared}/fixtures/models
M="$FX/tiny-bert-f32.gguf"
[ -f "$M" ] || { echo "skip: $M absent"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
T=${RAGD_TEST_TMP:-/tmp}/hybrid.$$
rm -rf "$T"; mkdir -p "$T/docs"
fail() { echo "FAIL: $*"; exit 1; }
for i in $(seq 1 12); do
    printf 'Document %d talks about topic%d and shared words like river and stone.\n\nA second paragraph number %d mentions lanterns%d in the valley.\n' \
        $i $i $i $i > "$T/docs/d$i.txt"
done
DUP="Zebras graze quietly on the open savanna grasses in large herds."
printf '%s\n' "$DUP" > "$T/docs/zebra.txt"
"$RAGD_BIN" ingest --data "$T/data" -c h --chunk-size 64 --overlap 0 --embed-model "$M" "$T/docs" > "$T/ing.out" 2>&1 \
    || { cat "$T/ing.out"; fail "ingest --embed-model"; }
nch=$(sed -n "s/^collection 'h': [0-9]* documents, \([0-9]*\) chunks/\1/p" "$T/ing.out")
grep -q "^embedded $nch chunks (dim 128, $nch vectors stored)" "$T/ing.out" || { cat "$T/ing.out"; fail "not every chunk embedded"; }
[ "$nch" -gt 12 ] || fail "expected more than 12 chunks, got $nch"

# vector mode: k results with scores, the exact duplicate first with cosine ~1
"$RAGD_BIN" search --data "$T/data" -c h --mode vector -k 5 --json "$DUP" > "$T/v.json" || fail "search --mode vector"
python3 - "$T/v.json" <<'PY' || fail "vector results"
import json, sys
o = json.load(open(sys.argv[1]))
h = o["hits"]
assert o["mode"] == "vector", o["mode"]
assert len(h) == 5, len(h)
assert h[0]["source"].endswith("zebra.txt"), h[0]
assert abs(h[0]["score"] - 1.0) < 1e-3, h[0]["score"]
s = [x["score"] for x in h]
assert s == sorted(s, reverse=True), s
assert all(-1.001 <= x <= 1.001 for x in s), s
PY
# every chunk has a vector: asking for all returns all
nv=$("$RAGD_BIN" search --data "$T/data" -c h --mode vector -k 1000 --json "river" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hits"]))')
[ "$nv" = "$nch" ] || fail "vector search saw $nv of $nch chunks"

# hybrid = weighted RRF of the top k of each list
Q="topic3 river lanterns7"
for m in bm25 vector hybrid; do
    "$RAGD_BIN" search --data "$T/data" -c h --mode $m -k 6 --json "$Q" > "$T/$m.json" || fail "search --mode $m"
done
"$RAGD_BIN" search --data "$T/data" -c h --mode hybrid -k 6 --rrf-k 10 --bm25-weight 2 --vector-weight 0.5 --json "$Q" > "$T/hw.json" || fail "weighted hybrid"
python3 - "$T" <<'PY' || fail "hybrid is not the RRF fusion of bm25 and vector"
import json, sys
d = sys.argv[1]
L = lambda n: json.load(open(f"{d}/{n}.json"))["hits"]
b, v = L("bm25"), L("vector")
def fuse(kr, wb, wv):
    sc = {}
    for w, lst in ((wb, b), (wv, v)):
        for i, x in enumerate(lst):
            sc[x["chunk_id"]] = sc.get(x["chunk_id"], 0) + w / (kr + i + 1)
    return sorted(sc.items(), key=lambda t: (-t[1], t[0]))[:6]
for name, args in (("hybrid", (60, 1, 1)), ("hw", (10, 2, 0.5))):
    h = L(name)
    exp = fuse(*args)
    assert [x["chunk_id"] for x in h] == [c for c, _ in exp], (name, h, exp)
    assert all(abs(x["score"] - s) < 1e-9 for x, (_, s) in zip(h, exp)), name
    ids = {x["chunk_id"] for x in h}
    assert ids <= {x["chunk_id"] for x in b} | {x["chunk_id"] for x in v}
PY

# default mode: hybrid with a model recorded, bm25 without
"$RAGD_BIN" search --data "$T/data" -c h --json "$Q" | grep -q '"mode":"hybrid"' || fail "default should be hybrid"
"$RAGD_BIN" ingest --data "$T/data" -c plain "$T/docs/d1.txt" >/dev/null || fail "plain ingest"
"$RAGD_BIN" search --data "$T/data" -c plain --json river | grep -q '"mode":"bm25"' || fail "default should be bm25"
"$RAGD_BIN" search --data "$T/data" -c plain --mode vector river 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "embedding model" "$T/err" || fail "--mode vector without a model: rc $rc"
"$RAGD_BIN" search --data "$T/data" -c plain --mode vector --embed-model "$M" --json river | grep -q '"mode":"vector"' \
    || fail "--embed-model override"
"$RAGD_BIN" search --data "$T/data" -c h --mode fuzzy x 2>/dev/null; [ $? = 2 ] || fail "bad --mode should be a usage error"

# a document ingested without the flag is embedded by the next search
N2="Quokkas smile at tourists on a small island."
printf '%s\n' "$N2" > "$T/docs/quokka.txt"
"$RAGD_BIN" ingest --data "$T/data" -c h "$T/docs/quokka.txt" >/dev/null || fail "second ingest"
"$RAGD_BIN" search --data "$T/data" -c h --mode vector -k 1 --json "$N2" | grep -q 'quokka.txt' || fail "new chunk not embedded"

# ask uses the mode too
"$RAGD_BIN" ask --data "$T/data" -c h --mode hybrid "Where do zebras graze?" > "$T/ask.out" || fail "ask --mode hybrid"
grep -q "zebra.txt" "$T/ask.out" || { cat "$T/ask.out"; fail "ask did not cite zebra.txt"; }
rm -rf "$T"
echo ok
