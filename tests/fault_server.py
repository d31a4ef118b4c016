"""A real OpenAI-compatible HTTP server on loopback whose behaviour is scripted by the last
message of each request, for testing retries and failures without mocking any library:

- `FAIL:<status>`  always answers with that HTTP status;
- `FLAKY:<n>`      answers 429 (Retry-After: 0) to the first n attempts, then succeeds;
- `EMPTY`          answers 200 with no choices;
- `BADJSON`        answers 200 with a truncated JSON body;
- `SLOW:<s>`       waits s seconds, then succeeds;
- `TRICKLE:<s>`    sends the status line and headers at once, then the body one byte every s
                   seconds (each read is quick; the whole takes minutes);
- anything else    succeeds with the text `echo: <message>`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        #: Every request body received, in arrival order (for tests of what a client sends).
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                      interval: float = 0.0) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()  # wfile is unbuffered: each write below goes out at once
                chunks = [body[i:i + 1] for i in range(len(body))] if interval else [body]
                try:
                    for chunk in chunks:
                        time.sleep(interval)
                        self.wfile.write(chunk)
                except OSError:  # the client gave up
                    self.close_connection = True

            def do_GET(self) -> None:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fault", "object": "model"}]}).encode())

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = request["messages"][-1]["content"]
                with server.lock:
                    server.bodies.append(request)
                    server.attempts[content] += 1
                    attempt = server.attempts[content]
                kind, _, arg = content.partition(":")
                if kind == "FAIL":
                    return self._send(int(arg), json.dumps({"error": {"message": "scripted failure"}}).encode())
                if kind == "FLAKY" and attempt <= int(arg):
                    return self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})
                if kind == "EMPTY":
                    return self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                                       "model": "fault", "choices": []}).encode())
                if kind == "BADJSON":
                    return self._send(200, b'{"id": "x", "choices": [{"message": {"con')
                if kind == "SLOW":
                    time.sleep(float(arg))
                text = f"echo: {content}"
                body = {"id": "x", "object": "chat.completion", "created": 0, "model": request["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": text}}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": len(text.split()), "total_tokens": 0}}
                self._send(200, json.dumps(body).encode(), interval=float(arg) if kind == "TRICKLE" else 0.0)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
