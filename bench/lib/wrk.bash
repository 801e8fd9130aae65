# bench/lib/wrk.bash - helpers sourced by the HTTP benches (bench/server*.sh):
# start and stop a `ragd serve` on a free loopback port, write wrk Lua
# scripts that print one machine-readable RESULT line, and run wrk into a
# table row.  Callers set B (the ragd binary) and T (a scratch dir).

SERVER_PID=
# server_start ARGS... : runs `ragd serve --port 0 ARGS`, sets PORT and URL
server_start() {
    "$B" serve --port 0 "$@" 2>"$T/server.log" &
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 100); do
        PORT=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$T/server.log" | grep -o '[0-9]*$')
        [ -n "$PORT" ] && break
        sleep 0.1
    done
    [ -n "$PORT" ] || { echo "server did not start"; cat "$T/server.log"; exit 1; }
    URL=http://127.0.0.1:$PORT
}
server_stop() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }

# The summary line every script ends with: QPS, P50 and P99 in ms, errors,
# requests.
WRK_DONE='done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end'

# wrk_plain_lua FILE : a script for plain GETs
wrk_plain_lua() { printf '%s\n' "$WRK_DONE" >"$1"; }

# wrk_search_lua FILE QUERIES COLLECTION [MODE] : POST .../search (k=5) with
# the lines of QUERIES in turn
wrk_search_lua() {
    local mode=${4:+,\"mode\":\"$4\"}
    cat >"$1" <<LUA
local qs = {}
for l in io.lines("$2") do qs[#qs + 1] = l end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #qs + 1
  return wrk.format(nil, "/v1/collections/$3/search", nil, '{"query":"' .. qs[i] .. '","k":5$mode}')
end
LUA
    printf '%s\n' "$WRK_DONE" >>"$1"
}

# wrk_row LABEL SCRIPT PATH CONNS SECS : one markdown row
wrk_row() {
    local r
    r=$(wrk -t2 -c"$4" -d"$5s" -s "$2" "$URL$3" 2>&1 | grep '^RESULT')
    set -- "$1" $r
    printf '| %-34s | %8s | %8s | %8s | %6s of %s |\n' "$1" "$3" "$4" "$5" "$6" "$7"
}
