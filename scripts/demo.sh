#!/bin/bash
# `make demo`: ingest samples/ (Chinese and English manuals, policies, a FAQ,
# a CSV table, a PDF and an HTML page) into a demo data directory, then ask
# one Chinese and one English question.  The answers are extractive: the
# best matching sentences from the documents, each cited [n], then the
# numbered sources (file, page or heading, byte offsets).  No model needed.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${RAGD_BIN:-./ragd}
DATA=${RAGD_DEMO_DATA:-./demo-data}
echo "== ragd ingest --data $DATA -c demo samples/"
"$B" ingest --data "$DATA" -c demo -q samples
ask() {
    echo
    echo "== ragd ask --data $DATA -c demo \"$1\""
    "$B" ask --data "$DATA" -c demo "$1"
}
ask "年假有多少天？"
ask "How do I reset the Nimbus R7 router?"
echo
echo "== ragd search --data $DATA -c demo -k 3 \"warranty\""
"$B" search --data "$DATA" -c demo -k 3 "warranty"
echo
echo "Try your own: $B ask --data $DATA -c demo \"...\"   ($B ask --help)"
