#!/bin/bash
# The official `openai` npm package round-trips a tool call against
# `ragd serve -m` with a fixture model of random weights: tools in, a
# forced call (named function; the grammar makes it valid) out as
# tool_calls with finish_reason "tool_calls", also streamed; the assistant
# message and a role "tool" result go back, and a final assistant message
# comes out.  Skips when node/npm or the npm registry are unavailable (the
# package is cached outside the repository, as in server_openai.sh).
set -u
. tests/e2e/server_common.bash
M=${RAGD_SHARED:-../shared}/fixtures/models/tiny-llama-q8_0.gguf
[ -f "$M" ] || { echo "skip: $M absent"; exit 77; }
need_openai_npm
D=$TMP/oaitools
mkdir -p "$D"
cat >"$D/client.js" <<'JS'
const OpenAI = require('openai');
const {validate} = require(process.argv[4] + '/jsonschema.js');
const [url, key] = process.argv.slice(2);
const client = new OpenAI({baseURL: url + '/v1', apiKey: key, maxRetries: 0, timeout: 120000});
let fails = 0;
const check = (ok, what, extra) => { if (!ok) { fails++; console.log('FAIL:', what, extra !== undefined ? JSON.stringify(extra) : ''); } };
const params = {type: 'object', properties: {city: {type: 'string', maxLength: 10}, unit: {enum: ['c', 'f']}},
                required: ['city', 'unit']};
const tools = [{type: 'function', function: {name: 'get_weather', description: 'Current weather in a city', parameters: params}},
               {type: 'function', function: {name: 'get_time', parameters: {type: 'object', properties: {}}}}];
function checkCalls(calls, what) {
  check(Array.isArray(calls) && calls.length >= 1, what + ': tool_calls', calls);
  for (const c of calls || []) {
    check(c.type === 'function' && /^call_/.test(c.id), what + ': id and type', c);
    check(c.function.name === 'get_weather', what + ': the named function', c.function.name);
    let args = null;
    try { args = JSON.parse(c.function.arguments); } catch (e) { check(false, what + ': arguments are JSON', c.function.arguments); }
    if (args) check(validate(params, args).length === 0, what + ': arguments validate', args);
  }
}
(async () => {
  const messages = [{role: 'system', content: 'You are a weather bot.'}, {role: 'user', content: 'Weather in Oslo?'}];
  const forced = {type: 'function', function: {name: 'get_weather'}};
  const r1 = await client.chat.completions.create({model: 'tiny', messages, tools, tool_choice: forced,
    parallel_tool_calls: false, temperature: 1, seed: 7, max_tokens: 120});
  const m1 = r1.choices[0].message;
  check(r1.choices[0].finish_reason === 'tool_calls', 'finish_reason tool_calls', r1.choices[0]);
  check(m1.role === 'assistant', 'assistant role', m1);
  checkCalls(m1.tool_calls, 'non-streamed');

  // streamed: deltas assemble into the same shape
  const acc = [];
  let fin = null;
  for await (const ch of await client.chat.completions.create({model: 'tiny', messages, tools, tool_choice: forced,
      temperature: 1, seed: 8, max_tokens: 120, stream: true})) {
    const d = ch.choices[0] && ch.choices[0].delta;
    for (const t of (d && d.tool_calls) || []) {
      const c = acc[t.index] || (acc[t.index] = {function: {name: '', arguments: ''}});
      if (t.id) c.id = t.id;
      if (t.type) c.type = t.type;
      if (t.function && t.function.name) c.function.name += t.function.name;
      if (t.function && t.function.arguments) c.function.arguments += t.function.arguments;
    }
    fin = (ch.choices[0] && ch.choices[0].finish_reason) || fin;
  }
  check(fin === 'tool_calls', 'streamed finish_reason', fin);
  checkCalls(acc, 'streamed');

  // the result goes back; the model answers (tools still offered, none forced)
  messages.push(m1);
  for (const c of m1.tool_calls || []) messages.push({role: 'tool', tool_call_id: c.id, content: JSON.stringify({temp: 21, unit: 'c'})});
  const r2 = await client.chat.completions.create({model: 'tiny', messages, tools, tool_choice: 'none',
    temperature: 0, max_tokens: 24});
  const m2 = r2.choices[0].message;
  check(m2.role === 'assistant' && typeof m2.content === 'string' && m2.content.length > 0, 'final assistant message', m2);
  check(!m2.tool_calls || m2.tool_calls.length === 0, 'no tool calls in the final message', m2);
  check(['stop', 'length'].includes(r2.choices[0].finish_reason), 'final finish_reason', r2.choices[0].finish_reason);
  const r0 = await client.chat.completions.create({model: 'tiny', messages: messages.slice(0, 2), tools,
    tool_choice: 'none', temperature: 0, max_tokens: 1});
  check(r2.usage.prompt_tokens > r0.usage.prompt_tokens + 10, 'the call and its result are in the prompt', [r0.usage, r2.usage]);
  process.exit(fails ? 1 : 0);
})().catch((e) => { console.log('FAIL: exception', e); process.exit(1); });
JS
start_server oaitools --data "$D/data" --api-key sk-tools -m "$M" -c 2048 || exit 1
node "$D/client.js" "$URL" sk-tools "$PWD/tests/e2e/lib" || fail "openai client tool-call round trip"
[ $FAILS -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "server_openai_tools: all checks passed"
