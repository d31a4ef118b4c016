"""What the loopback test servers share: raw HTTP/1.1 responses, and running a server script in
a child process that prints `listening on PORT` once ready."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def http_response(status: str, body: bytes, extra_headers: str = "", length: int | None = None) -> bytes:
    """A JSON response; `length` may differ from the body's (to simulate a truncated body)."""
    size = len(body) if length is None else length
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n{extra_headers}\r\n"
    return head.encode() + body


@contextmanager
def running_server(command: Sequence[str]) -> Iterator[str]:
    """Start the server command in a child process and yield its base URL; stop it on leaving."""
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"the server {command[-1]!r} did not start (said {line!r})")
        yield f"http://127.0.0.1:{int(line.split()[-1])}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)
