#!/bin/bash
# kill -9 `ragd ingest --embed-model` at random moments, many times, on one
# data dir whose collection already has vectors, so kills land while
# documents are committed, while their chunks are embedded and while the
# vector log is appended to.  After each kill:
#  - the vector file (DIR/index/vec-<cid>.vec) loads: a valid header and a
#    chain of whole, checksummed records (checked by an independent reader
#    below, not by ragd), at most followed by a torn tail;
#  - every id it holds is a chunk id the store had at some point (no
#    invented rows), and the ids ascend;
#  - `ragd search --mode vector` then succeeds without re-embedding the
#    collection, and afterwards the file's live ids are exactly the store's
#    chunk ids: every committed document has its vectors, deleted ones none.
# Each run adds 16 files, modifies one and removes one (--prune), so adds,
# replacements and deletes are all logged.
# Odd runs are killed at any moment, even runs in the embedding phase
# (aimed by an uninterrupted calibration run of the same size).  RAGD_KILL_RUNS (default 12).
set -u
B=${RAGD_BIN:-$PWD/ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
M=${RAGD_SHARED:-../shared}/fixtures/models/tiny-bert-f32.gguf
[ -f "$M" ] || { echo "skip: $M absent"; exit 77; }
command -v sqlite3 >/dev/null && command -v python3 >/dev/null ||
    { echo "skip: sqlite3 and python3 are needed"; exit 77; }
RUNS=${RAGD_KILL_RUNS:-12}
L=$T/live
D=$T/data
rm -rf "$L" "$D"
mkdir -p "$L"

mk() { # n: one text file of ~30 short chunks at --chunk-size 64
    awk -v path="$L/doc$1.txt" -v f="$1" 'BEGIN {
        srand(f);
        split("river stone lantern valley policy battery travel hotel warranty screen", w, " ");
        for (p = 0; p < 30; p++) {
            printf "Doc %d part %d: the %s near the %s is %d.\n\n", f, p, w[1+int(rand()*10)], w[1+int(rand()*10)], int(rand()*900) > path
        }
    }'
}

# the independent reader of the v2 log: prints "ok <records> <tail bytes>"
# and the live ids (one per line) to $2, or "BAD <why>"
cat > "$T/check.py" <<'PY'
import struct, sys
M = (1 << 64) - 1
def hw(b, seed):
    h = seed ^ 0x243f6a8885a308d3
    n = len(b)
    full = n - n % 8
    for (w,) in struct.iter_unpack('<Q', b[:full]):
        h = ((h ^ w) * 0x9e3779b97f4a7c15) & M
        h ^= h >> 29
    if full < n:
        w = int.from_bytes(b[full:] + bytes(8 - (n - full)), 'little')
        h = ((h ^ w) * 0x9e3779b97f4a7c15) & M
        h ^= h >> 29
    h = ((h ^ n) * 0xbf58476d1ce4e5b9) & M
    return h ^ (h >> 31)
b = open(sys.argv[1], 'rb').read()
def bad(why):
    print("BAD", why); sys.exit(0)
if len(b) < 32 or b[:8] != b"RGVEC\0\0\1": bad("magic")
ver, dim, mlen, z = struct.unpack_from('<IIII', b, 8)
if ver != 2: bad("version %d" % ver)
hl = 24 + mlen + 8
if len(b) < hl or struct.unpack_from('<Q', b, hl - 8)[0] != hw(b[:hl - 8], 0): bad("header checksum")
off, live, last, recs = hl, [], 0, 0
dead = set()
while len(b) - off >= 64:
    t, z, cnt, gen, mx, lv = struct.unpack_from('<IIQqqQ', b, off)
    row = 8 + 4 * dim if t == 1 else 8
    if t not in (1, 2) or cnt > (len(b) - off - 64) // row: break
    rlen = 40 + cnt * row + 24
    prev = struct.unpack_from('<Q', b, off - 8)[0]
    ln, hs, ch = struct.unpack_from('<QQQ', b, off + rlen - 24)
    if ln != rlen or ch != hw(b[off:off + rlen - 8], prev): break
    ids = struct.unpack_from('<%dq' % cnt, b, off + 40)
    if t == 1:
        for i in ids:
            if i <= last: bad("ids not ascending at record %d" % recs)
            last = i
        live.extend(ids)
    else:
        dead.update(ids)
    recs += 1
    off += rlen
with open(sys.argv[2], 'w') as f:
    for i in live:
        if i not in dead: f.write("%d\n" % i)
print("ok", recs, len(b) - off)
PY

# the collection starts with 30 documents and their vectors
for i in $(seq 1 30); do mk $i; done
"$B" ingest --data "$D" -c kv --chunk-size 64 --overlap 0 --embed-model "$M" "$L" >"$T/init.out" 2>&1 ||
    { cat "$T/init.out"; echo "initial ingest failed"; exit 1; }
CID=$(sqlite3 "$D/ragd.db" "SELECT id FROM collections WHERE name='kv'")
V=$D/index/vec-$CID.vec
sqlite3 "$D/ragd.db" "SELECT id FROM chunks WHERE collection_id=$CID" > "$T/ever"

# calibration: an uninterrupted run of the same size, to aim the kills of
# even runs at its embedding phase (the last `embedding took` seconds)
for k in $(seq 1 16); do mk $((1000 + k)); done
c0=$(date +%s%N)
"$B" ingest --data "$D" -c kv --chunk-size 64 --overlap 0 --embed-model "$M" "$L" >"$T/cal.out" 2>&1 ||
    { cat "$T/cal.out"; echo "calibration ingest failed"; exit 1; }
TOT=$(( ($(date +%s%N) - c0) / 1000000 ))
EMB=$(sed -n 's/^embedding took \([0-9.]*\) s/\1/p' "$T/cal.out" | awk '{printf "%d", $1 * 1000}')
[ "${EMB:-0}" -gt 0 ] || EMB=50
echo "calibration: ingest ${TOT} ms, of which embedding ${EMB} ms"
sqlite3 "$D/ragd.db" "SELECT id FROM chunks WHERE collection_id=$CID" >> "$T/ever"

fail=0
killed=0
lagging=0
torn=0
next=31
RANDOM=4242
for run in $(seq 1 "$RUNS"); do
    for k in $(seq 1 16); do mk $next; next=$((next + 1)); done
    mapfile -t have < <(ls "$L")
    printf 'Edited in run %d.\n' "$run" >> "$L/${have[$((RANDOM % ${#have[@]}))]}"
    rm -f "$L/${have[$((RANDOM % ${#have[@]}))]}"
    "$B" ingest --data "$D" -c kv --chunk-size 64 --overlap 0 --prune --embed-model "$M" "$L" \
        >"$T/run$run.out" 2>&1 &
    pid=$!
    if [ $((run % 2)) = 1 ]; then
        ms=$((RANDOM % (TOT + 1)))                         # anywhere in the run
    else
        ms=$((TOT - EMB + RANDOM % (EMB * 9 / 10 + 1)))    # while embedding and appending
    fi
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    kill -9 $pid 2>/dev/null && killed=$((killed + 1))
    wait $pid 2>/dev/null
    sqlite3 "$D/ragd.db" "SELECT id FROM chunks WHERE collection_id=$CID" >> "$T/ever"
    r=$(python3 "$T/check.py" "$V" "$T/ids")
    case "$r" in
    ok*) ;;
    *) echo "run $run: vector file does not load after kill -9: $r"; fail=1; break ;;
    esac
    [ "$(echo "$r" | awk '{print $3}')" != 0 ] && torn=$((torn + 1))
    # rows only for chunks that existed
    extra=$(sort -u "$T/ever" | comm -13 - <(sort -u "$T/ids") | head -3)
    [ -z "$extra" ] || { echo "run $run: vectors for ids the store never had: $extra"; fail=1; break; }
    sqlite3 "$D/ragd.db" "SELECT id FROM chunks WHERE collection_id=$CID ORDER BY id" > "$T/want"
    cmp -s "$T/want" "$T/ids" || lagging=$((lagging + 1))
    # the next reader catches up, from the log (no full re-embed)
    "$B" search --data "$D" -c kv --mode vector -k 3 "river lantern" >"$T/s$run.out" 2>"$T/s$run.err" ||
        { echo "run $run: search failed"; cat "$T/s$run.err"; fail=1; break; }
    if grep -q "re-embedding every chunk" "$T/s$run.err"; then
        echo "run $run: the vector file had to be rebuilt: $(cat "$T/s$run.err")"
        fail=1
        break
    fi
    r=$(python3 "$T/check.py" "$V" "$T/ids")
    [ "$(echo "$r" | awk '{print $1, $3}')" = "ok 0" ] || { echo "run $run: after search: $r"; fail=1; break; }
    cmp -s "$T/want" "$T/ids" ||
        { echo "run $run: vector ids differ from the store's chunks after catching up"; diff "$T/want" "$T/ids" | head -5; fail=1; break; }
done
echo "vec_kill: $RUNS runs, $killed killed mid-run, $lagging left committed chunks without vectors (caught up by the next search), $torn left a torn tail"
[ $fail -eq 0 ] && [ "$lagging" -lt 1 ] && { echo "no kill landed between commit and vector append: the test did not test anything"; fail=1; }
exit $fail
