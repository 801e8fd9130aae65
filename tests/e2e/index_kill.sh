#!/bin/bash
# kill -9 during an index save leaves the old or the new file, never a
# broken one.  `ragd index-bench --flat --save` writes a ~50 MB index; the
# script waits until the temporary file appears (the save is under way),
# kills the process, and checks the index still loads with the old or the
# new vector count.
set -u
B=${RAGD_BIN:-./ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
command -v python3 >/dev/null || { echo "skip: python3 needed to write test vectors"; exit 77; }
python3 - "$T" <<'PY'
import array, random, sys
random.seed(7)
d = 128
rows = [array.array('i', [d]).tobytes() + array.array('f', [random.uniform(-1, 1) for _ in range(d)]).tobytes()
        for _ in range(1000)]
with open(sys.argv[1] + "/b.fvecs", "wb") as f:
    for i in range(100):
        f.write(b"".join(rows))
with open(sys.argv[1] + "/q.fvecs", "wb") as f:
    f.write(b"".join(rows[:5]))
PY
idx=$T/v.idx
fail=0
# the old file: 40,000 vectors
"$B" index-bench --flat --base "$T/b.fvecs" --queries "$T/q.fvecs" --limit 40000 --save "$idx" --ef 10 >/dev/null ||
    { echo "initial save failed"; exit 1; }
count() { "$B" index-bench --load "$idx" --queries "$T/q.fvecs" --ef 10 2>&1 | sed -n 's/^loaded .*: \([0-9]*\) vectors.*/\1/p'; }
[ "$(count)" = 40000 ] || { echo "initial index does not load"; exit 1; }
mid=0
for i in 1 2 3 4 5 6; do
    # the new file: 100,000 vectors
    "$B" index-bench --flat --base "$T/b.fvecs" --queries "$T/q.fvecs" --save "$idx" --ef 10 >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 4000); do
        ls "$idx".tmp.* >/dev/null 2>&1 && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.002
    done
    # a little later on some rounds, to land at different points of the save
    [ $((i % 2)) = 0 ] && sleep 0.0$((RANDOM % 5))
    ls "$idx".tmp.* >/dev/null 2>&1 && mid=$((mid + 1))
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    rm -f "$idx".tmp.*
    c=$(count)
    if [ "$c" != 40000 ] && [ "$c" != 100000 ]; then
        echo "round $i: index broken after kill -9 (count '$c')"
        "$B" index-bench --load "$idx" --queries "$T/q.fvecs" --ef 10
        fail=1
    fi
done
echo "$mid of 6 kills landed during a save"
[ $mid -ge 1 ] || { echo "no kill landed during a save: the test did not test anything"; fail=1; }
# a completed save gives the new file
"$B" index-bench --flat --base "$T/b.fvecs" --queries "$T/q.fvecs" --save "$idx" --ef 10 >/dev/null || fail=1
[ "$(count)" = 100000 ] || { echo "completed save not visible"; fail=1; }
# a truncated file is a clear error, exit 1
head -c 1000000 "$idx" > "$T/trunc.idx"
out=$("$B" index-bench --load "$T/trunc.idx" --queries "$T/q.fvecs" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "trunc.idx: index file: truncated" || { echo "truncated file: rc $rc: $out"; fail=1; }
exit $fail
