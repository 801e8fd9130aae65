#!/bin/bash
# ragd search / ask on samples/ (real ingest, real SQLite, the real binary):
# ranked hits with sources, phrase and +/- syntax, Chinese and traditional
# queries, extractive answers with [n] citations and a source list,
# "nothing found" instead of an invented answer, JSON output, and the
# persisted BM25 index rebuilt when the collection changes.
set -u
B=${RAGD_BIN:-$PWD/ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
D=$T/data
rm -rf "$D"
fail=0
f() { echo "FAIL: $*"; fail=1; }
"$B" ingest --data "$D" -c demo -q samples >/dev/null 2>&1 || f "ingest samples"

out=$("$B" search --data "$D" -c demo -k 3 warranty 2>/dev/null) || f "search exit"
echo "$out" | head -1 | grep -q "aurora-x2-warranty.pdf, page" || f "search: warranty pdf with page first: $out"
[ -f "$D/index/bm25-1.idx" ] || f "index file not persisted"

# phrase, must, not
"$B" search --data "$D" -c demo '"factory settings"' 2>/dev/null | grep -q "aurora-x2-manual.md" || f "phrase"
n=$("$B" search --data "$D" -c demo --json 'reset -router' | python3 -c 'import sys,json; h=json.load(sys.stdin)["hits"]; print(sum("router" in x["text"].lower() for x in h))')
[ "$n" = "0" ] || f "-router still returned $n router chunks"
"$B" search --data "$D" -c demo --json '+nonexistentword reset' | python3 -c 'import sys,json; assert json.load(sys.stdin)["hits"]==[]' || f "+missing must give nothing"

# Chinese, and traditional characters finding simplified text
"$B" search --data "$D" -c demo -k 1 "年假" 2>/dev/null | grep -q "请假制度.md" || f "zh search"
"$B" search --data "$D" -c demo -k 1 "報銷制度" 2>/dev/null | grep -q "差旅报销制度.md" || f "traditional query"

# ask: cited sentences and sources
a=$("$B" ask --data "$D" -c demo "年假有多少天？") || f "ask zh exit"
echo "$a" | grep -q "年假5天.*\[1\]" || f "ask zh answer: $a"
echo "$a" | grep -q "^\[1\] samples/zh/请假制度.md" || f "ask zh source: $a"
a=$("$B" ask --data "$D" -c demo "How do I reset the Nimbus R7 router?") || f "ask en exit"
echo "$a" | grep -q "Reset button.*\[1\]" || f "ask en answer: $a"
echo "$a" | grep -q "nimbus-r7-router-manual.md" || f "ask en source: $a"
"$B" ask --data "$D" -c demo --json "What is the capital of France?" |
    python3 -c 'import sys,json; o=json.load(sys.stdin); assert o["found"] is False and o["sources"]==[], o' ||
    f "unrelated question must say nothing was found"
"$B" ask --data "$D" -c demo --json "极光X2怎么恢复出厂设置？" |
    python3 -c 'import sys,json; o=json.load(sys.stdin); assert o["found"] and "[1]" in o["answer"] and o["sources"][0]["source"].endswith(".md"), o' ||
    f "ask --json zh"

# a new document bumps the generation: the index is rebuilt and finds it
mkdir -p "$T/more"
printf '# Zebra policy\n\nZebras must be walked daily by the quokka team.\n' > "$T/more/zebra.md"
"$B" ingest --data "$D" -c demo -q "$T/more" >/dev/null 2>&1 || f "ingest more"
"$B" search --data "$D" -c demo quokka 2>/dev/null | grep -q "zebra.md" || f "index not refreshed after ingest"

# usage errors
"$B" search --data "$D" -c demo 2>/dev/null; [ $? -eq 2 ] || f "search without query: exit 2"
"$B" search --data "$D" -c nosuch x 2>/dev/null; [ $? -eq 1 ] || f "unknown collection: exit 1"
"$B" ask --data "$T/nodata" -c demo x 2>/dev/null; [ $? -eq 1 ] || f "missing data dir: exit 1"
exit $fail
