# server_common.bash - helpers sourced by tests/e2e/server_*.sh: start a
# `ragd serve` on 127.0.0.1 with a free port, wait for /health, stop it.
B=${RAGD_BIN:-$PWD/ragd}
TMP=${RAGD_TEST_TMP:-$(mktemp -d)}
SERVER_PIDS=()

# start_server NAME ARGS... : sets PORT and URL; log in $TMP/NAME.log
start_server() {
    local name=$1
    shift
    "$B" serve --port 0 "$@" 2>"$TMP/$name.log" &
    local pid=$!
    SERVER_PIDS+=("$pid")
    PORT=
    for _ in $(seq 1 100); do
        PORT=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$TMP/$name.log" 2>/dev/null | grep -o '[0-9]*$')
        [ -n "$PORT" ] && break
        kill -0 "$pid" 2>/dev/null || { echo "server $name died:"; cat "$TMP/$name.log"; return 1; }
        sleep 0.1
    done
    [ -n "$PORT" ] || { echo "server $name did not start"; cat "$TMP/$name.log"; return 1; }
    URL=http://127.0.0.1:$PORT
    LAST_PID=$pid
}

stop_servers() {
    for p in "${SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${SERVER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    SERVER_PIDS=()
}
trap stop_servers EXIT

# need_openai_npm: the `openai` npm package in a cache shared by the tests
# (installed once from the registry), on NODE_PATH; exits 77 (skip) when it
# cannot be had.
need_openai_npm() {
    command -v node >/dev/null && command -v npm >/dev/null || { echo "skip: node/npm not installed"; exit 77; }
    NPM_CACHE=${RAGD_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragd-e2e-npm}
    mkdir -p "$NPM_CACHE"
    if [ ! -f "$NPM_CACHE/node_modules/openai/package.json" ]; then
        (cd "$NPM_CACHE" && timeout 180 npm install --silent --no-audit --no-fund openai@4 >/dev/null 2>&1) ||
            { echo "skip: cannot install the openai npm package (registry unreachable?)"; exit 77; }
    fi
    export NODE_PATH=$NPM_CACHE/node_modules
}

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# req METHOD PATH [curl args...] : sets CODE and BODY
req() {
    local m=$1 p=$2
    shift 2
    BODY=$(curl -s -m 30 -X "$m" "$URL$p" -w '\n%{http_code}' "$@")
    CODE=${BODY##*$'\n'}
    BODY=${BODY%$'\n'*}
}

# expect CODE DESCRIPTION [grep-pattern-in-body]
expect() {
    local want=$1 what=$2 pat=${3:-}
    if [ "$CODE" != "$want" ]; then
        fail "$what: HTTP $CODE, expected $want: $BODY"
    elif [ -n "$pat" ] && ! grep -q -- "$pat" <<<"$BODY"; then
        fail "$what: body lacks '$pat': $BODY"
    fi
}
