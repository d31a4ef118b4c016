"""A loopback OpenAI-compatible server that fails a share of requests the ways real endpoints do.

Behind the faults is a deterministic model: the reply to a request depends only on its body
(messages, sampling parameters, seed), so a run against a faulty server must end with exactly
the records of a run against a clean one. Whether an attempt fails, and how, is a hash of the
body and the attempt number, so retries of one request see fresh draws and the whole schedule
repeats from run to run.

Faults (each equally likely once an attempt is chosen to fail):

- `429`: rate limited, with `Retry-After: 1`;
- `500`, `503`: server errors;
- `timeout`: no answer until long after the client's timeout;
- `reset`: the connection is reset (RST) before any answer;
- `truncated`: a 200 whose body stops half-way (the connection closes early);
- `malformed`: a 200 whose JSON is cut off (complete as HTTP, broken as JSON);
- `empty`: a 200 with no choices.

Run it in its own process: `running(rate=0.2)` yields its base URL. `GET /stats` returns the
attempts and what was served (and digests of the Authorization headers seen); `POST /rate`
with `{"rate": x}` changes the fault rate. By hand: `python tests/chaos_server.py --rate 0.2`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import struct
import sys
import urllib.request
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path

from experiments.bench.loopback import http_response, running_server

FAULTS = ("429", "500", "503", "timeout", "reset", "truncated", "malformed", "empty")
ANSWERS = ("alpha", "beta", "gamma")


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


class Chaos:
    def __init__(self, rate: float, hang: float):
        self.rate = rate
        self.hang = hang
        self.attempts: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.authorizations: set[str] = set()

    def fault_for(self, key: str) -> str | None:
        self.attempts[key] += 1
        draw = _digest(key, self.attempts[key])
        if (draw & 0xFFFFFFFF) / 2**32 >= self.rate:
            return None
        return FAULTS[(draw >> 32) % len(FAULTS)]

    @staticmethod
    def reply(body: dict) -> bytes:
        key = _request_key(body)
        answer = ANSWERS[_digest(key, "answer") % len(ANSWERS)]
        text = f"My view is {answer}.\nFinal answer: {answer}"
        return json.dumps({
            "id": key[:12], "object": "chat.completion", "created": 0, "model": body.get("model", "chaos"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]),
                      "completion_tokens": len(text.split()), "total_tokens": 0},
        }).encode()


def _request_key(body: dict) -> str:
    fields = {k: body.get(k) for k in ("model", "messages", "temperature", "top_p", "max_tokens", "seed", "stop")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


async def _serve(chaos: Chaos, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines if ":" in h)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            path = request_line.split()[1]
            if path.endswith(("/stats", "/rate")):
                if path.endswith("/rate"):
                    chaos.rate = json.loads(body)["rate"]
                stats = {"attempts": sum(chaos.attempts.values()), "requests": len(chaos.attempts),
                         "served": dict(chaos.served), "authorizations": sorted(chaos.authorizations)}
                writer.write(http_response("200 OK", json.dumps(stats).encode()))
                await writer.drain()
                continue
            # Only a digest of the credentials is kept: enough for a test to check which key was sent.
            chaos.authorizations.add(hashlib.sha256(headers.get("authorization", "").encode()).hexdigest())
            request = json.loads(body)
            fault = chaos.fault_for(_request_key(request))
            chaos.served[fault or "ok"] += 1
            if fault in ("timeout", "reset", "truncated"):
                if fault == "timeout":
                    await asyncio.sleep(chaos.hang)
                elif fault == "truncated":
                    whole = chaos.reply(request)
                    writer.write(http_response("200 OK", whole[: len(whole) // 2], length=len(whole)))
                    await writer.drain()
                else:  # SO_LINGER 0: close() sends RST instead of FIN
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if fault in ("429", "500", "503"):
                extra = "Retry-After: 1\r\n" if fault == "429" else ""
                writer.write(http_response(f"{fault} Chaos", b'{"error": {"message": "injected fault"}}', extra))
            elif fault == "malformed":
                writer.write(http_response("200 OK", b'{"id": "x", "choices": [{"message": {"con'))
            elif fault == "empty":
                writer.write(http_response("200 OK", b'{"id": "x", "object": "chat.completion", "choices": []}'))
            else:
                writer.write(http_response("200 OK", chaos.reply(request)))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed the connection
    finally:
        writer.close()


async def main(rate: float, hang: float) -> None:
    chaos = Chaos(rate, hang)
    server = await asyncio.start_server(lambda r, w: _serve(chaos, r, w), "127.0.0.1", 0, backlog=1024)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def running(rate: float, hang: float = 3.0) -> AbstractContextManager[str]:
    """Start a chaos server in a child process; a context manager yielding its base URL."""
    return running_server([sys.executable, str(Path(__file__)), "--rate", str(rate), "--hang", str(hang)])


def stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/stats", timeout=10) as response:
        return json.loads(response.read())


def set_rate(base_url: str, rate: float) -> dict:
    request = urllib.request.Request(f"{base_url}/rate", data=json.dumps({"rate": rate}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.2, help="share of attempts that fail")
    parser.add_argument("--hang", type=float, default=3.0, help="seconds a 'timeout' fault waits")
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.hang))
