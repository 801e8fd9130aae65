// check_response.js FILE SCHEMA STREAM - reads a chat completion (JSON, or
// an SSE stream when STREAM is "true"), checks that the assistant content
// parses as JSON and validates against SCHEMA; prints why not, exit 1.
'use strict';
const fs = require('fs');
const {validate} = require('./jsonschema.js');
const [file, schemaText, stream] = process.argv.slice(2);
const raw = fs.readFileSync(file, 'utf8');
let content = '', finish = null;
try {
  if (stream === 'true') {
    if (!/data: \[DONE\]\s*$/.test(raw)) throw new Error('stream does not end with [DONE]');
    for (const line of raw.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const ev = JSON.parse(line.slice(6));
      if (ev.error) throw new Error('error event ' + JSON.stringify(ev.error));
      const ch = ev.choices && ev.choices[0];
      if (ch && ch.delta && ch.delta.content) content += ch.delta.content;
      if (ch && ch.finish_reason) finish = ch.finish_reason;
    }
  } else {
    const o = JSON.parse(raw);
    if (o.error) throw new Error('error ' + JSON.stringify(o.error));
    content = o.choices[0].message.content;
    finish = o.choices[0].finish_reason;
  }
  let v;
  try { v = JSON.parse(content); } catch (e) { throw new Error('content is not JSON: ' + JSON.stringify(content)); }
  const errs = validate(JSON.parse(schemaText), v);
  if (errs.length) throw new Error('does not validate: ' + errs.join('; ') + ' in ' + content);
  if (finish !== 'stop') throw new Error('finish_reason ' + finish + ' (a complete document ends with stop)');
} catch (e) {
  console.log(file + ': ' + e.message);
  process.exit(1);
}
