#!/bin/bash
# ragd serve driven by the official `openai` npm package: chat and
# streaming chat (through an upstream: a small OpenAI-compatible fake
# server in node, so no model is needed), RAG chat citing the right
# document (extractive and through the upstream), embeddings (with the
# tiny BERT fixture when present), and a client that aborts mid-stream
# (the server must cancel the upstream generation at once).
# The package is installed from the npm registry into a cache directory
# outside the repository; the test skips when node/npm or the registry are
# unavailable.
set -u
. tests/e2e/server_common.bash
command -v curl >/dev/null || { echo "skip: curl not installed"; exit 77; }
need_openai_npm

D=$TMP/oai
mkdir -p "$D"
# --- a fake OpenAI-compatible upstream: streams a canned answer; "SLOW"
# in the last message streams 400 tokens 25 ms apart and records aborts.
cat >"$D/upstream.js" <<'JS'
const http = require('http');
const fs = require('fs');
let stats = {requests: 0, aborted: 0, finished: 0, last_system: ''};
const srv = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, {'Content-Type': 'application/json'});
    return res.end(JSON.stringify(stats));
  }
  let body = '';
  req.on('data', (c) => body += c);
  req.on('end', () => {
    stats.requests++;
    const q = JSON.parse(body);
    const sys = (q.messages || []).find((m) => m.role === 'system');
    stats.last_system = sys ? sys.content : '';
    const last = q.messages ? q.messages[q.messages.length - 1].content : q.prompt;
    const slow = /SLOW/.test(last);
    const words = slow ? Array.from({length: 400}, (_, i) => `w${i} `)
                       : (sys ? ['Employees ', 'get ', '25 ', 'days ', 'of ', 'paid ', 'vacation ', '[1].']
                              : ['Hello ', 'from ', 'the ', 'upstream.']);
    res.writeHead(200, {'Content-Type': 'text/event-stream'});
    let i = 0, done = false;
    res.on('close', () => { if (!done) stats.aborted++; });
    const send = () => {
      if (i < words.length) {
        res.write(`data: ${JSON.stringify({id: 'x', object: 'chat.completion.chunk', model: q.model,
          choices: [{index: 0, delta: {content: words[i++]}, finish_reason: null}]})}\n\n`);
        setTimeout(send, slow ? 25 : 1);
      } else {
        res.write(`data: ${JSON.stringify({id: 'x', object: 'chat.completion.chunk', model: q.model,
          choices: [{index: 0, delta: {}, finish_reason: 'stop'}]})}\n\n`);
        res.write(`data: ${JSON.stringify({id: 'x', object: 'chat.completion.chunk', model: q.model, choices: [],
          usage: {prompt_tokens: 11, completion_tokens: words.length, total_tokens: 11 + words.length}})}\n\n`);
        res.end('data: [DONE]\n\n');
        done = true;
        stats.finished++;
      }
    };
    send();
  });
});
srv.listen(0, '127.0.0.1', () => fs.writeFileSync(process.argv[2], String(srv.address().port)));
JS
node "$D/upstream.js" "$D/upstream.port" &
UP_PID=$!
trap 'stop_servers; kill $UP_PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do [ -s "$D/upstream.port" ] && break; sleep 0.1; done
[ -s "$D/upstream.port" ] || { echo "fake upstream did not start"; exit 1; }
UP=http://127.0.0.1:$(cat "$D/upstream.port")

cat >"$D/client.js" <<'JS'
const OpenAI = require('openai');
const [url, key, mode, upstream] = process.argv.slice(2);
const client = new OpenAI({baseURL: url + '/v1', apiKey: key, maxRetries: 0, timeout: 60000});
let fails = 0;
const check = (ok, what, extra) => { if (!ok) { fails++; console.log('FAIL:', what, extra !== undefined ? JSON.stringify(extra) : ''); } };
const H = {'Content-Type': 'application/json', Authorization: 'Bearer ' + key};
async function api(method, path, body) {
  const r = await fetch(url + path, {method, headers: H, body: body ? JSON.stringify(body) : undefined});
  return {status: r.status, json: await r.json()};
}
// the [n] markers of a text and the sources they point at
function cited(text, citations) {
  const ns = [...text.matchAll(/\[(\d+)\]/g)].map((m) => +m[1]);
  return ns.map((n) => (citations.find((c) => c.index === n) || {}).source);
}
(async () => {
  if (mode === 'embed') {
    const e = await client.embeddings.create({model: 'tiny-bert', input: ['the cat sat', 'a dog ran']});
    check(e.data.length === 2, 'two embeddings', e.data.length);
    const v = e.data[0].embedding;
    check(Array.isArray(v) && v.length > 0 && v.every(Number.isFinite), 'embedding is a float vector');
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    check(Math.abs(n - 1) < 1e-3, 'embedding is L2-normalised', n);
    const f = await client.embeddings.create({model: 'tiny-bert', input: 'the cat sat', encoding_format: 'float'});
    check(f.data[0].embedding.length === v.length, 'float and base64 encodings agree in size');
    check(Math.abs(f.data[0].embedding[0] - v[0]) < 1e-6, 'float and base64 encodings agree', [f.data[0].embedding[0], v[0]]);
    process.exit(fails ? 1 : 0);
  }
  if (mode === 'local') {
    // greedy decoding: the streamed text equals the non-streamed one
    const q = {model: 'stories260K', temperature: 0, max_tokens: 24,
               messages: [{role: 'user', content: 'Once upon a time'}]};
    const c = await client.chat.completions.create(q);
    const text = c.choices[0].message.content;
    check(text.length > 0 && c.usage.completion_tokens > 0 && c.usage.prompt_tokens > 0, 'local chat', c);
    let s = '', fin = null;
    for await (const ch of await client.chat.completions.create({...q, stream: true, temperature: 0})) {
      s += ch.choices[0]?.delta?.content || '';
      fin = ch.choices[0]?.finish_reason || fin;
    }
    check(s === text, 'local streaming chat equals non-streaming (greedy)', {s, text});
    check(fin === c.choices[0].finish_reason, 'same finish_reason', [fin, c.choices[0].finish_reason]);
    const comp = await client.completions.create({model: 'stories260K', prompt: 'Once upon a time', max_tokens: 8, temperature: 0});
    check(comp.choices[0].text.length > 0 && comp.usage.completion_tokens <= 8, 'local completion', comp);
    process.exit(fails ? 1 : 0);
  }
  // documents via the collections API
  let r = await api('POST', '/v1/collections', {name: 'handbook'});
  check(r.status === 201, 'create collection', r);
  const docs = {
    'vacation.md': '# Vacation\n\nEvery employee receives 25 days of paid vacation per year.\n',
    'expenses.md': '# Expenses\n\nTrain tickets are reimbursed in second class. Hotels up to 150 euros per night.\n',
    'security.md': '# Security\n\nPasswords must be rotated every 90 days.\n',
  };
  for (const [source, text] of Object.entries(docs)) {
    r = await api('POST', '/v1/collections/handbook/documents', {text, source});
    check(r.status === 201 && r.json.chunks >= 1, 'add ' + source, r);
  }
  const models = await client.models.list();
  check(models.data.some((m) => m.id === 'rag:handbook'), 'models list rag:handbook', models.data);

  // RAG chat, extractive or through the upstream: the [n] must point at expenses.md
  const rag = await client.chat.completions.create({model: 'rag:handbook',
    messages: [{role: 'user', content: 'Which class of train tickets is reimbursed?'}]});
  const txt = rag.choices[0].message.content;
  check(Array.isArray(rag.citations) && rag.citations.length > 0, 'RAG chat has citations', rag);
  if (mode === 'extractive') {
    check(/second class/.test(txt), 'extractive answer has the fact', txt);
    const srcs = cited(txt, rag.citations);
    check(srcs.length > 0 && srcs.every((s) => s === 'expenses.md'), 'answer cites expenses.md', {txt, c: rag.citations});
  } else {
    const srcs = cited(txt, rag.citations);
    check(srcs.length > 0 && srcs[0] !== undefined, 'upstream answer cites a listed source', {txt, c: rag.citations});
    check(rag.citations[0].source === 'expenses.md', 'top citation is expenses.md', rag.citations);
    const st = await (await fetch(upstream + '/stats')).json();
    check(/\[1\] \(source: expenses\.md/.test(st.last_system), 'upstream got numbered sources', st.last_system.slice(0, 300));
  }
  check(rag.usage && rag.usage.total_tokens > 0, 'usage counted', rag.usage);

  // streaming RAG chat: citations in the first event, text in deltas
  const stream = await client.chat.completions.create({model: 'rag:handbook', stream: true,
    stream_options: {include_usage: true},
    messages: [{role: 'user', content: 'How often must passwords be rotated?'}]});
  let streamed = '', first = null, usage = null, finish = null;
  for await (const chunk of stream) {
    if (!first) first = chunk;
    if (chunk.choices.length) {
      streamed += chunk.choices[0].delta.content || '';
      finish = chunk.choices[0].finish_reason || finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  check(first && Array.isArray(first.citations) && first.citations.length > 0, 'first stream event has citations', first);
  check(finish === 'stop', 'stream finish_reason', finish);
  check(usage && usage.completion_tokens > 0, 'stream usage event', usage);
  if (mode === 'extractive') {
    check(/90 days/.test(streamed), 'streamed extractive answer', streamed);
    check(cited(streamed, first.citations).every((s) => s === 'security.md'), 'stream cites security.md', streamed);
  }

  if (mode === 'upstream') {
    // plain chat and streaming chat through the upstream
    const c = await client.chat.completions.create({model: 'any', temperature: 0.2, max_tokens: 16,
      messages: [{role: 'user', content: 'Say hello'}]});
    check(c.choices[0].message.content === 'Hello from the upstream.', 'chat through upstream', c);
    check(c.usage.completion_tokens === 4, 'upstream usage passed through', c.usage);
    let s = '';
    for await (const ch of await client.chat.completions.create({model: 'any', stream: true,
      messages: [{role: 'user', content: 'Say hello'}]})) s += ch.choices[0]?.delta?.content || '';
    check(s === 'Hello from the upstream.', 'streaming chat through upstream', s);
    const stop = await client.chat.completions.create({model: 'any', stop: ['the'],
      messages: [{role: 'user', content: 'Say hello'}]});
    check(stop.choices[0].message.content === 'Hello from ', 'stop string applied', stop.choices[0].message.content);
    // abort mid-stream: the upstream request must be cancelled at once
    await new Promise((r) => setTimeout(r, 500)); /* let the upstream settle the earlier requests */
    const before = await (await fetch(upstream + '/stats')).json();
    const ac = new AbortController();
    const slow = await client.chat.completions.create({model: 'any', stream: true,
      messages: [{role: 'user', content: 'SLOW please'}]}, {signal: ac.signal});
    let n = 0;
    try { for await (const ch of slow) { if (++n === 5) ac.abort(); } } catch (e) { /* aborted */ }
    let after = before;
    for (let i = 0; i < 100 && after.aborted === before.aborted; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await (await fetch(upstream + '/stats')).json();
    }
    check(after.aborted === before.aborted + 1, 'client abort cancels the upstream generation', {before, after});
    check(after.finished === before.finished, 'aborted generation did not run to the end', after);
  }
  // errors come back as OpenAI errors
  try {
    await client.chat.completions.create({model: 'rag:nope', messages: [{role: 'user', content: 'x'}]});
    check(false, 'missing collection must throw');
  } catch (e) {
    check(e.status === 404, 'missing collection is a 404 APIError', e.status);
  }
  try {
    await new OpenAI({baseURL: url + '/v1', apiKey: 'wrong', maxRetries: 0}).models.list();
    check(false, 'wrong key must throw');
  } catch (e) {
    check(e.status === 401, 'wrong key is a 401', e.status);
  }
  process.exit(fails ? 1 : 0);
})().catch((e) => { console.log('FAIL: exception', e); process.exit(1); });
JS

start_server ext --data "$D/ext" --api-key sk-test-1 || exit 1
node "$D/client.js" "$URL" sk-test-1 extractive || fail "openai client against the extractive server"
stop_servers

start_server up --data "$D/up" --api-key sk-test-2 --upstream "$UP/v1" || exit 1
node "$D/client.js" "$URL" sk-test-2 upstream "$UP" || fail "openai client against the upstream server"
curl -s -H 'Authorization: Bearer sk-test-2' "$URL/metrics" | grep -q '^ragd_client_disconnects_total [1-9]' ||
    fail "client disconnect not counted in /metrics"

LLM=${RAGD_SHARED:-../shared}/fixtures/models/stories260K.gguf
if [ -f "$LLM" ]; then
    start_server local --data "$D/local" --api-key sk-test-4 -m "$LLM" || exit 1
    node "$D/client.js" "$URL" sk-test-4 local || fail "openai client against the local model"
else
    echo "note: $LLM absent: local-model part skipped"
fi
BERT=${RAGD_SHARED:-../shared}/fixtures/models/tiny-bert-f32.gguf
if [ -f "$BERT" ]; then
    start_server emb --data "$D/emb" --api-key sk-test-3 --embed-model "$BERT" || exit 1
    node "$D/client.js" "$URL" sk-test-3 embed || fail "openai embeddings"
else
    echo "note: $BERT absent: embeddings part skipped"
fi
[ $FAILS -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "server_openai: all checks passed"
