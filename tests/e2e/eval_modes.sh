#!/bin/bash
# ragd eval --mode vector|hybrid on a generated BEIR-layout collection:
# every chunk is embedded and queries rank through the same retrieval as
# `ragd search`.  Each query is the exact text of one document (no title),
# so its embedding equals that chunk's: vector nDCG@10 must be 1.  The
# fixture BERT has random weights, so nothing else about quality is checked.
set -u
FX=${RAGD_SHARED:-../shared}/fixtures/models
M="$FX/tiny-bert-f32.gguf"
[ -f "$M" ] || { echo "skip: $M absent"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
T=${RAGD_TEST_TMP:-/tmp}/evalmodes.$$
rm -rf "$T"; mkdir -p "$T/b/qrels"
fail() { echo "FAIL: $*"; exit 1; }
python3 - "$T/b" <<'PY'
import json, random, sys
d = sys.argv[1]
random.seed(5)
w = "river stone lantern valley engine battery policy travel report network winter harvest".split()
docs = [" ".join(random.choice(w) for _ in range(12)) + " item%d" % i for i in range(24)]
with open(d + "/corpus.jsonl", "w") as f:
    for i, t in enumerate(docs):
        f.write(json.dumps({"_id": "d%d" % i, "title": "", "text": t}) + "\n")
with open(d + "/queries.jsonl", "w") as f, open(d + "/qrels/test.tsv", "w") as q:
    q.write("query-id\tcorpus-id\tscore\n")
    for i in (3, 11, 20):
        f.write(json.dumps({"_id": "q%d" % i, "text": docs[i]}) + "\n")
        q.write("q%d\td%d\t1\n" % (i, i))
PY
for m in bm25 vector hybrid; do
    "$RAGD_BIN" eval --beir "$T/b" --mode $m --embed-model "$M" -t 1 --json > "$T/$m.json" 2> "$T/$m.err" \
        || { cat "$T/$m.err"; fail "eval --mode $m"; }
done
python3 - "$T" <<'PY' || fail "eval results"
import json, sys
t = sys.argv[1]
r = {m: json.load(open("%s/%s.json" % (t, m))) for m in ("bm25", "vector", "hybrid")}
for m, o in r.items():
    assert o["mode"] == m, o
    assert o["queries"] == 3, o
    assert 0 <= o["ndcg@10"] <= 1, o
assert r["vector"]["ndcg@10"] > 0.999, r["vector"]
assert r["vector"]["embed_s"] > 0 and r["bm25"]["embed_s"] == 0, r
print("ndcg@10 bm25 %.3f vector %.3f hybrid %.3f" % tuple(r[m]["ndcg@10"] for m in ("bm25", "vector", "hybrid")))
PY
# vector mode without a model is a usage error
"$RAGD_BIN" eval --beir "$T/b" --mode vector > /dev/null 2>&1; [ $? -eq 2 ] || fail "--mode vector without --embed-model should exit 2"
rm -rf "$T"
echo "eval_modes: all checks passed"
