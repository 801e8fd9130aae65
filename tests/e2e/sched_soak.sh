#!/bin/bash
# sched_soak.sh - the continuous-batching engine under churn (issue 7):
# `ragd serve -m` with a small KV pool (prefix-cache eviction and
# preemption happen), 16 concurrent streaming clients in a loop with
# random prompt lengths (half of them behind a shared system prompt),
# random max_tokens, and random client disconnects (curl --max-time, and
# curl processes killed with SIGKILL).  Then checks: the server never
# died, no request failed with a 5xx, /metrics goes back to idle with no
# block held by a sequence (used 0, sequence references 0, used + cached +
# free = pool), and RSS (from /proc) did not keep growing.
#   SOAK_SECS (default 30; bench/soak.sh runs 600), SOAK_STREAMS (16),
#   SOAK_MODEL (default the stories260K fixture), SOAK_KV_TOKENS (2048).
set -u
. "$(dirname "$0")/server_common.bash"
SECS=${SOAK_SECS:-30}
STREAMS=${SOAK_STREAMS:-16}
MODEL=${SOAK_MODEL:-${RAGD_SHARED:-../shared}/fixtures/models/stories260K.gguf}
[ -f "$MODEL" ] || { echo "skip: $MODEL absent"; exit 77; }
[ -r /proc/self/status ] || { echo "skip: no /proc"; exit 77; }
D=$TMP/soak
rm -rf "$D"
mkdir -p "$D"

ASAN=$(grep -qa __asan_init "$B" && echo 1)
RAGD_KV_TOKENS=${SOAK_KV_TOKENS:-2048} start_server soak --data "$D/data" -m "$MODEL" --max-batch 16 \
    --max-per-key 256 --max-queue 256 --cache 0 --timeout 60 || exit 1
SPID=$LAST_PID
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SPID/status" 2>/dev/null; }
metric() { grep -E "^$1 " <<<"$M" | awk '{print $2}'; }

WORDS=(once upon a time there was a little girl named lily she liked to play with her ball in the park one day
    saw big dog and it was very happy they played together sun shone bright tree bird sang mom said you can go
    home now because dinner is ready tom boy friend car red blue green small tall funny)
SYSTEM=$(for i in $(seq 1 60); do printf '%s ' "${WORDS[$((RANDOM % ${#WORDS[@]}))]}"; done)

# one client loop: requests until the deadline
client() {
    local id=$1 deadline=$2 n words max body maxt
    RANDOM=$((id * 7919 + 17))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        n=$((2 + RANDOM % 120))
        words=$(for _ in $(seq 1 $n); do printf '%s ' "${WORDS[$((RANDOM % ${#WORDS[@]}))]}"; done)
        max=$((1 + RANDOM % 150))
        if [ $((RANDOM % 2)) = 0 ]; then
            body="{\"model\":\"m\",\"stream\":true,\"max_tokens\":$max,\"temperature\":0.7,\"messages\":[{\"role\":\"system\",\"content\":\"$SYSTEM\"},{\"role\":\"user\",\"content\":\"$words\"}]}"
        else
            body="{\"model\":\"m\",\"stream\":$([ $((RANDOM % 3)) = 0 ] && echo false || echo true),\"max_tokens\":$max,\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"$words\"}]}"
        fi
        maxt=120
        [ $((RANDOM % 4)) = 0 ] && maxt=0.$((1 + RANDOM % 9)) # hang up early
        if [ $((RANDOM % 10)) = 0 ]; then                   # killed client
            curl -s -o /dev/null -X POST "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
                -d "$body" &
            local cp=$!
            sleep 0.$((RANDOM % 10))
            kill -9 $cp 2>/dev/null
            wait $cp 2>/dev/null
            echo killed >>"$D/codes.$id"
            continue
        fi
        curl -s -o /dev/null -w '%{http_code}\n' --max-time "$maxt" -X POST "$URL/v1/chat/completions" \
            -H 'Content-Type: application/json' -d "$body" >>"$D/codes.$id" 2>/dev/null
    done
}

START=$(date +%s)
DEADLINE=$((START + SECS))
PIDS=()
for i in $(seq 1 "$STREAMS"); do
    client "$i" "$DEADLINE" &
    PIDS+=($!)
done
# RSS every 2 s while the clients run
: >"$D/rss"
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
    kill -0 "$SPID" 2>/dev/null || break
    echo "$(($(date +%s) - START)) $(rss)" >>"$D/rss"
    sleep 2
done
for p in "${PIDS[@]}"; do wait "$p"; done
kill -0 "$SPID" 2>/dev/null || { fail "the server died during the soak"; tail -20 "$TMP/soak.log"; exit 1; }

# back to idle (generous: on a loaded machine requests whose client left
# finish at the next engine step, which may take seconds)
for _ in $(seq 1 900); do
    M=$(curl -s -m 10 "$URL/metrics")
    [ "$(metric 'ragd_engine_sequences\{state="running"\}')" = 0 ] &&
        [ "$(metric 'ragd_engine_sequences\{state="waiting"\}')" = 0 ] && break
    sleep 0.2
done
M=$(curl -s -m 10 "$URL/metrics")
used=$(metric 'ragd_kv_blocks\{state="used"\}')
cached=$(metric 'ragd_kv_blocks\{state="cached"\}')
free=$(metric 'ragd_kv_blocks\{state="free"\}')
refs=$(metric ragd_kv_seq_refs)
pre=$(metric ragd_engine_preemptions_total)
hit=$(metric ragd_prefix_cache_hit_ratio)
gen=$(metric ragd_generated_tokens_total)
total=$((${SOAK_KV_TOKENS:-2048} / 32))
cat "$D"/codes.* >"$D/codes"
ok=$(grep -c '^200$' "$D/codes")
hung=$(grep -c '^000$' "$D/codes")
killed=$(grep -c '^killed$' "$D/codes")
bad=$(grep -Ev '^(200|000|killed)$' "$D/codes" | sort | uniq -c | tr '\n' ' ')
echo "soak: ${SECS}s, $STREAMS clients: $ok completed, $hung hung up early, $killed killed; $gen tokens generated;" \
    "$pre preemptions; prefix-cache hit ratio $hit"
echo "idle: KV blocks used $used, cached $cached, free $free (pool $total); sequence references $refs"
[ "$used" = 0 ] || fail "KV blocks still used when idle: $used ($(grep -E '^ragd_(engine|kv)' <<<"$M" | tr '\n' ' '))"
[ "$refs" = 0 ] || fail "sequence references left when idle: $refs"
[ $((used + cached + free)) = "$total" ] || fail "blocks used $used + cached $cached + free $free != pool $total"
[ -z "$bad" ] || fail "unexpected HTTP statuses: $bad"
[ "$ok" -gt 0 ] || fail "no request completed"
# RSS: the last third of the run may not grow past the first third's peak
# by more than 10% + 8 MiB (allocator noise)
n=$(wc -l <"$D/rss")
if [ "$n" -ge 6 ]; then
    read -r early late < <(awk -v n="$n" '{ r[NR] = $2 } END {
        e = 0; for (i = 1; i <= int(n / 3); i++) if (r[i] > e) e = r[i]
        l = 0; for (i = n - int(n / 3) + 1; i <= n; i++) if (r[i] > l) l = r[i]
        print e, l }' "$D/rss")
    echo "RSS: first third peak $((early / 1024)) MiB, last third peak $((late / 1024)) MiB, now $(($(rss) / 1024)) MiB"
    if [ -n "$ASAN" ]; then
        echo "RSS growth not judged: an ASan build keeps freed memory in its quarantine and size-class caches; LeakSanitizer checks for leaks at shutdown instead"
    else
        [ "$late" -le $((early + early / 10 + 8192)) ] || fail "RSS grew: $early kB -> $late kB"
    fi
fi
curl -s -m 10 "$URL/health" | grep -q '"ok"' || fail "/health after the soak"
if [ -n "$ASAN" ]; then
    # graceful shutdown frees everything; LeakSanitizer reports what it did not
    kill -TERM "$SPID"
    wait "$SPID" 2>/dev/null
    grep -q "LeakSanitizer" "$TMP/soak.log" && fail "leaks at shutdown: $(grep -m3 -A3 'LeakSanitizer' "$TMP/soak.log" | tr '\n' ' ')"
fi
[ "$FAILS" = 0 ] && echo "sched_soak: all checks passed"
exit $((FAILS > 0))
