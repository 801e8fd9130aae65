#!/bin/bash
# OpenAI tools on POST /v1/chat/completions with a local model of random
# weights: tool_choice required / a named function make the grammar force
# a valid call (name from `tools`, arguments valid for its parameters
# schema), returned as tool_calls with finish_reason "tool_calls", also
# streamed as deltas; a conversation with the call and a role "tool" result
# continues.  Then the server-run loop ("tool_execution": "server") with
# per-key allowlists: the calculator / sql_query / search_collection run for
# a key that lists them, and a key that does not list a tool never gets it
# run (403, counted as denied in /metrics, the run counter unchanged).
set -u
. tests/e2e/server_common.bash
command -v curl >/dev/null || { echo "skip: curl not installed"; exit 77; }
command -v node >/dev/null || { echo "skip: node not installed (the validator)"; exit 77; }
M=${RAGD_SHARED:-../shared}/fixtures/models/tiny-llama-q8_0.gguf
[ -f "$M" ] || { echo "skip: $M absent"; exit 77; }
D=$TMP/tools
mkdir -p "$D"
LIB=$PWD/tests/e2e/lib

cat >"$D/check.js" <<'JS'
// check.js MODE FILE TOOLS_JSON [NAME]: MODE call|stream|answer
const fs = require('fs');
const {validate} = require(process.env.LIB + '/jsonschema.js');
const [mode, file, toolsText, want] = process.argv.slice(2);
const tools = JSON.parse(toolsText);
const raw = fs.readFileSync(file, 'utf8');
function fail(m) { console.log(file + ': ' + m + '\n' + raw.slice(0, 800)); process.exit(1); }
let msg = {content: null, tool_calls: []}, finish = null, extra = {};
if (mode === 'stream') {
  if (!/data: \[DONE\]\s*$/.test(raw)) fail('stream does not end with [DONE]');
  for (const line of raw.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const ev = JSON.parse(line.slice(6));
    if (ev.error) fail('error event');
    const ch = ev.choices && ev.choices[0];
    if (!ch) continue;
    if (ch.delta.content) msg.content = (msg.content || '') + ch.delta.content;
    for (const d of ch.delta.tool_calls || []) {
      const c = msg.tool_calls[d.index] || (msg.tool_calls[d.index] = {function: {name: '', arguments: ''}});
      if (d.id) c.id = d.id;
      if (d.type) c.type = d.type;
      if (d.function && d.function.name) c.function.name += d.function.name;
      if (d.function && d.function.arguments) c.function.arguments += d.function.arguments;
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
} else {
  const o = JSON.parse(raw);
  if (o.error) fail('error ' + JSON.stringify(o.error));
  msg = o.choices[0].message;
  finish = o.choices[0].finish_reason;
  extra = o;
}
if (mode === 'answer') {
  if (typeof msg.content !== 'string') fail('no content');
  if (msg.tool_calls && msg.tool_calls.length) fail('unexpected tool_calls');
  process.stdout.write(JSON.stringify(extra.server_tool_calls || []));
  process.exit(0);
}
if (finish !== 'tool_calls') fail('finish_reason ' + finish);
if (!msg.tool_calls.length) fail('no tool_calls');
for (const c of msg.tool_calls) {
  if (!/^call_[0-9a-f]+$/.test(c.id || '') || c.type !== 'function') fail('bad id/type ' + JSON.stringify(c));
  if (want && c.function.name !== want) fail('called ' + c.function.name + ', not ' + want);
  const t = tools.find((x) => x.function.name === c.function.name);
  if (!t) fail('unknown function ' + c.function.name);
  if (typeof c.function.arguments !== 'string') fail('arguments not a string');
  let args;
  try { args = JSON.parse(c.function.arguments); } catch (e) { fail('arguments not JSON ' + c.function.arguments); }
  const errs = validate(t.function.parameters || {type: 'object'}, args);
  if (errs.length) fail('arguments invalid: ' + errs.join('; '));
}
process.stdout.write(JSON.stringify(msg.tool_calls));
JS
export LIB

TOOLS='[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"]}}},{"type":"function","function":{"name":"add","parameters":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]}}}]'
USER='{"role":"user","content":"Weather in Paris?"}'

start_server tools --data "$D/data" -m "$M" -c 2048 || exit 1
chat() { curl -s -m 120 "$URL/v1/chat/completions" -H 'Content-Type: application/json' "$@"; }
for seed in 1 2; do
    chat -d "{\"messages\":[$USER],\"tools\":$TOOLS,\"tool_choice\":\"required\",\"temperature\":1,\"seed\":$seed,\"max_tokens\":120}" >"$D/req.$seed"
    node "$D/check.js" call "$D/req.$seed" "$TOOLS" >/dev/null || fail "tool_choice required, seed $seed"
done
for seed in 4; do
    chat -d "{\"messages\":[$USER],\"tools\":$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"add\"}},\"parallel_tool_calls\":false,\"temperature\":1,\"seed\":$seed,\"max_tokens\":120}" >"$D/named.$seed"
    node "$D/check.js" call "$D/named.$seed" "$TOOLS" add >/dev/null || fail "named function, seed $seed"
done
chat -d "{\"messages\":[$USER],\"tools\":$TOOLS,\"tool_choice\":\"required\",\"stream\":true,\"temperature\":1,\"seed\":9,\"max_tokens\":120}" >"$D/stream"
node "$D/check.js" stream "$D/stream" "$TOOLS" >/dev/null || fail "streamed tool call"

# the conversation goes on: the call and its result (role tool) come back
CALLS=$(node "$D/check.js" call "$D/req.1" "$TOOLS") || fail "no call to continue from"
ID=$(node -e 'console.log(JSON.parse(process.argv[1])[0].id)' "$CALLS")
chat -d "{\"messages\":[$USER,{\"role\":\"assistant\",\"content\":null,\"tool_calls\":$CALLS},{\"role\":\"tool\",\"tool_call_id\":\"$ID\",\"content\":\"{\\\"temp\\\":21}\"}],\"tools\":$TOOLS,\"tool_choice\":\"none\",\"temperature\":0,\"max_tokens\":16}" >"$D/cont"
node "$D/check.js" answer "$D/cont" "$TOOLS" >/dev/null || fail "conversation with a tool result"
# auto: the model may answer or call; either way the response is well formed
req POST /v1/chat/completions -d "{\"messages\":[$USER],\"tools\":$TOOLS,\"max_tokens\":16}"
expect 200 "tool_choice auto" '"finish_reason"'
req POST /v1/chat/completions -d "{\"messages\":[$USER],\"tools\":$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}}"
expect 400 "named function not in tools" "nope"
req POST /v1/chat/completions -d '{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"bad name"}}]}'
expect 400 "invalid function name" "name"
stop_servers

# ---- server-run tools and allowlists ----
rm -f "$D/shop.db"
sqlite3 "$D/shop.db" "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, amount REAL);
  INSERT INTO orders(customer, amount) VALUES ('ann', 12.5), ('bob', 7), ('cy', 30);"
cat >"$D/keys" <<'K'
sk-all  acme   tools=calculator,sql_query,search_collection
sk-calc acme   tools=calculator
sk-none other
K
start_server srvtools --data "$D/data2" -m "$M" -c 2048 --api-keys "$D/keys" --sql-db shop="$D/shop.db" --tool-rounds 1 || exit 1
A=(-H 'Authorization: Bearer sk-all')
curl -s "${A[@]}" "$URL/v1/collections" -d '{"name":"handbook"}' >/dev/null
curl -s "${A[@]}" "$URL/v1/collections/handbook/documents" -d '{"text":"Every employee receives 25 days of paid vacation per year.","source":"vacation.md"}' >/dev/null
metric() { curl -s "${A[@]}" "$URL/metrics" | grep "^ragd_tool_calls_total{tool=\"$1\",result=\"$2\"}" | awk '{print $2}'; }
srv() { # KEY TOOL -> response in $D/srv.out
    curl -s -m 120 "$URL/v1/chat/completions" -H "Authorization: Bearer $1" \
        -d "{\"messages\":[{\"role\":\"user\",\"content\":\"use $2\"}],\"tool_execution\":\"server\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"$2\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"$2\"}},\"temperature\":1,\"seed\":3,\"max_tokens\":150}" -w '\n%{http_code}' >"$D/srv.out"
}
for tool in calculator sql_query search_collection; do
    srv sk-all $tool
    code=$(tail -1 "$D/srv.out")
    sed -i '$d' "$D/srv.out"
    [ "$code" = 200 ] || { fail "server-run $tool: HTTP $code $(cat "$D/srv.out")"; continue; }
    made=$(node "$D/check.js" answer "$D/srv.out" '[]') || { fail "server-run $tool: no final answer"; continue; }
    node -e '
      const m = JSON.parse(process.argv[1]), tool = process.argv[2];
      if (!m.length || m[0].function.name !== tool || typeof m[0].result !== "object") { console.log("calls made:", process.argv[1]); process.exit(1); }
      // the grammar makes the model pick one of the collections of the key; its random
      // query may match nothing, but every hit must come from that collection
      if (tool === "search_collection" && (JSON.parse(m[0].function.arguments).collection !== "handbook" ||
          !Array.isArray(m[0].result.results) || m[0].result.results.some((h) => h.source !== "vacation.md"))) {
        console.log("search call:", process.argv[1]); process.exit(1); }
      if (tool === "sql_query" && !(m[0].result.error || Array.isArray(m[0].result.rows))) { console.log("sql:", process.argv[1]); process.exit(1); }
      if (tool === "calculator" && !(m[0].result.error || typeof m[0].result.result === "number")) { console.log("calc:", process.argv[1]); process.exit(1); }
    ' "$made" $tool || fail "server-run $tool: the call and its result are not reported"
    [ "$(metric $tool run)" -ge 1 ] || fail "$tool run not counted"
done
# citations come with the hits the search returned
node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const n = o.server_tool_calls[0].result.results.length;
  if (n ? !(o.citations && o.citations.length === n && o.citations[0].source === "vacation.md") : o.citations) process.exit(1);' \
    "$D/srv.out" || fail "search_collection: citations do not match the hits"
# a key whose allowlist lacks the tool: refused, never run
for pair in sk-calc:sql_query sk-none:calculator sk-calc:search_collection; do
    key=${pair%%:*} tool=${pair#*:}
    before=$(metric $tool run) denied=$(metric $tool denied)
    srv "$key" "$tool"
    grep -q '^403$' "$D/srv.out" && grep -q tool_not_allowed "$D/srv.out" || fail "$key ran $tool: $(cat "$D/srv.out")"
    [ "$(metric $tool run)" = "$before" ] || fail "$key: $tool run counter moved"
    [ "$(metric $tool denied)" -gt "$denied" ] || fail "$key: $tool denial not counted"
done
# without naming tools, a key gets only its own built-ins offered: sk-none none at all
curl -s -m 120 "$URL/v1/chat/completions" -H 'Authorization: Bearer sk-none' \
    -d '{"messages":[{"role":"user","content":"hi"}],"tool_execution":"server","tool_choice":"required","max_tokens":8}' -w '\n%{http_code}' >"$D/none.out"
grep -q '^400$' "$D/none.out" || fail "tool_choice required with no tools for the key: $(cat "$D/none.out")"
stop_servers
[ $FAILS -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "server_tools: all checks passed"
