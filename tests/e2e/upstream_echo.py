#!/usr/bin/env python3
"""A tiny OpenAI-compatible upstream for tests/e2e/server_guard.sh: records
every request body it receives (one JSON line each in RECORD) and answers
/v1/chat/completions and /v1/completions by echoing the prompt back,
streamed in 3-byte SSE pieces so that placeholders and filter words are
split across events.  Usage: upstream_echo.py PORTFILE RECORD"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, RECORD = sys.argv[1], sys.argv[2]


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        try:
            self.answer()
        except (BrokenPipeError, ConnectionResetError):
            pass  # ragd hung up (a blocked answer, a cancelled stream)

    def answer(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with open(RECORD, "ab") as f:
            f.write(body + b"\n")
        req = json.loads(body)
        if "messages" in req:
            msgs = req["messages"]
            user = [m["content"] for m in msgs if m["role"] == "user"][-1]
            system = "".join(m["content"] for m in msgs if m["role"] == "system")
            text = "ECHO: " + user + ((" SOURCES: " + system) if system else "")
            chat = True
        else:
            text = "ECHO: " + req.get("prompt", "")
            chat = False
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        raw = text.encode()
        pieces, i = [], 0
        while i < len(raw):  # 3-byte pieces, never splitting a UTF-8 sequence
            j = min(i + 3, len(raw))
            while j < len(raw) and (raw[j] & 0xC0) == 0x80:
                j += 1
            pieces.append(raw[i:j].decode())
            i = j
        for p in pieces:
            ch = {"index": 0, "delta": {"content": p}} if chat else {"index": 0, "text": p}
            ev = {"object": "chat.completion.chunk", "choices": [ch]}
            self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
            self.wfile.flush()
        fin = {"index": 0, "delta": {}, "finish_reason": "stop"} if chat else \
              {"index": 0, "text": "", "finish_reason": "stop"}
        self.wfile.write(b"data: " + json.dumps({"choices": [fin]}).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
