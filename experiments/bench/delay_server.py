"""A loopback OpenAI-compatible server that answers every chat completion after a fixed delay.

It stands in for a model server whose latency is all waiting (no compute), so a benchmark
against it measures how well the client side overlaps requests. Requests are served
concurrently (stdlib asyncio streams, HTTP/1.1 keep-alive). Every reply names a fresh made-up
answer (`Final answer: x<32 hex digits>`): no two replies agree, so every PBT tree is full.

With `--slots K` it answers at most K requests at a time (the others wait their turn), as a
model server with K batch slots does: one such server is one replica of limited capacity.

It runs in its own process, so that its work does not share the benchmarked client's event
loop: `running()` starts it and stops it; by hand, `python -m experiments.bench.delay_server`
prints `listening on PORT` once ready and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from contextlib import AbstractContextManager

from experiments.bench.loopback import http_response, running_server


def _reply(model: str) -> bytes:
    text = f"I hold my own view.\nFinal answer: x{uuid.uuid4().hex}"
    return json.dumps({
        "id": "delay", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7},
    }).encode()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float,
                 slots: asyncio.Semaphore | None) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(":", 1) for line in header_lines if ":" in line)
            length = int(next((v for k, v in headers.items() if k.strip().lower() == "content-length"), 0))
            body = await reader.readexactly(length) if length else b""
            if request_line.startswith("POST") and "/chat/completions" in request_line:
                if slots is None:
                    await asyncio.sleep(delay)
                else:
                    async with slots:
                        await asyncio.sleep(delay)
                writer.write(http_response("200 OK", _reply(json.loads(body).get("model", "delay"))))
            else:
                writer.write(http_response("404 Not Found", b'{"error": {"message": "not found"}}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed the connection
    finally:
        writer.close()


async def main(host: str, port: int, delay: float, slots: int | None = None) -> None:
    limit = asyncio.Semaphore(slots) if slots else None
    server = await asyncio.start_server(lambda r, w: _serve(r, w, delay, limit), host, port, backlog=1024)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def running(delay: float = 0.05, slots: int | None = None) -> AbstractContextManager[str]:
    """Start the server in a child process; a context manager yielding its base URL."""
    return running_server([sys.executable, "-m", "experiments.bench.delay_server", "--delay", str(delay),
                           *(["--slots", str(slots)] if slots else [])])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds before each reply")
    parser.add_argument("--slots", type=int, default=None, help="requests answered at a time (default: all)")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.delay, args.slots))
