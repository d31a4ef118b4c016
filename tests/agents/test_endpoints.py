"""Several endpoints behind one `openai:` spec (`base_url=URL1,URL2,URL3`), against real HTTP
servers on loopback: dialogue affinity, load spread, failover when a replica dies mid-run, and
the errors of a bad list or of every endpoint down.

Each replica answers with the deterministic model of tests/chaos_server.py (the reply is a hash
of the request), so a run that lost a replica must end with the records of a healthy run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agents.gguf_backend import free_port
from agents.openai_backend import OpenAIChatModel
from agents.registry import check_spec, load_model
from chaos_server import Chaos
from debate.errors import EndpointError, SpecError
from debate.records import ChatRequest, Message
from debate.tree import load_trees
from helpers import REPO, debate, dumps
from protocols.config import parse_config
from protocols.run import execute

#: Which dialogue a request belongs to: every prompt of a dialogue holds its question's text.
_TAG = re.compile(r"\bitem (d\d\d)\b")
OPTIONS = "max_retries=2&backoff=0.01&max_backoff=0.05&timeout=5&concurrency=16"


class Replica:
    """An OpenAI-compatible chat server on loopback (one `vllm serve` replica, in a thread).

    It records the dialogue of every request it answers. With `die_after=N` it answers N
    requests and then dies: it stops listening (new connections are refused) and resets every
    connection it still has, answering nothing more.
    """

    def __init__(self, die_after: int | None = None) -> None:
        self.served: list[str] = []  # the dialogue of each request answered, in order
        self.dropped = 0  # requests that reached it after it died
        self.die_after = die_after
        self.dead = False
        self.lock = threading.Lock()
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers: the client reuses connections

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = "\n".join(m["content"] for m in body["messages"])
                tag = match.group(1) if (match := _TAG.search(text)) else body["messages"][0]["content"]
                with replica.lock:
                    if not replica.dead and replica.die_after is not None and len(replica.served) >= replica.die_after:
                        replica.kill()
                    if replica.dead:
                        replica.dropped += 1
                    else:
                        replica.served.append(tag)
                if replica.dead:  # reset the connection: SO_LINGER 0 makes close() send RST
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                reply = Chaos.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def kill(self) -> None:
        """Stop listening; connections still open are reset by their handlers."""
        self.dead = True
        threading.Thread(target=self._close, daemon=True).start()  # shutdown() waits for serve_forever

    def _close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def stop(self) -> None:
        if not self.dead:
            self.dead = True
            self._close()
        self.thread.join(5)


@pytest.fixture()
def replicas(request):
    """Three replicas; `@pytest.mark.parametrize("replicas", [{1: N}], indirect=True)` makes
    the one at that position die after N requests."""
    deaths = getattr(request, "param", {})
    servers = [Replica(die_after=deaths.get(k)) for k in range(3)]
    yield servers
    for server in servers:
        server.stop()


def questions(path: Path, n: int = 12) -> str:
    rows = [{"id": f"d{i:02d}", "text": f"Which word names item d{i:02d}: alpha, beta or gamma?", "gold": ["alpha"],
             "wrong_answers": ["beta"]} for i in range(n)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def tree_run(tmp_path: Path, name: str, base_url: str) -> tuple[object, Path, str]:
    """PBT trees (up to 21 turns each) on 12 questions, both agents on the spec given."""
    spec = f"openai:replica?base_url={base_url}&{OPTIONS}"
    agent = {"model": spec, "temperature": 0.7, "max_tokens": 40}
    config = parse_config({"protocol": {"kind": "tree"}, "questions": questions(tmp_path / "q.jsonl"),
                           "limit": 12, "seed": 3, "agents": {"A": agent, "B": agent}})
    result = execute(config, tmp_path / name, progress=False)
    return result, tmp_path / name, spec


def records(out: Path, model_id: str) -> list[str]:
    """The trees as JSON, with the model id (which names the URLs) replaced by one word."""
    return [line.replace(model_id, "MODEL") for line in dumps(load_trees(out / "trees.jsonl"))]


def routes(servers: list[Replica]) -> dict[str, list[int]]:
    """Each dialogue's servers (positions), in the order they first answered it."""
    seen: dict[str, list[int]] = defaultdict(list)
    for position, server in enumerate(servers):
        for tag in dict.fromkeys(server.served):
            seen[tag].append(position)
    return seen


def test_each_dialogue_sticks_to_one_endpoint_and_dialogues_spread_over_all(replicas, tmp_path):
    urls = ",".join(s.base_url for s in replicas)
    result, out, spec = tree_run(tmp_path, "run", urls)
    assert result.failed == 0 and result.stats.trees == 12 and result.stats.retries == 0
    assert all(server.served for server in replicas), [len(s.served) for s in replicas]  # every endpoint used
    seen = routes(replicas)
    assert sorted(seen) == [f"d{i:02d}" for i in range(12)]
    assert all(len(positions) == 1 for positions in seen.values()), seen  # A's and B's turns alike
    assert sum(len(s.served) for s in replicas) == result.stats.turns
    # The model id: the list as given, the same for every turn whichever endpoint answered it.
    model = load_model(spec)
    assert model.model_id == f"openai:replica@{urls}" and model.failovers == 0
    assert {t.model for tree in load_trees(out / "trees.jsonl") for t in map(tree.turn, tree.nodes())} == \
        {model.model_id}
    # Without a question, the first message keys the affinity.
    before = [len(s.served) for s in replicas]
    firsts = [f"item x{i % 6}" for i in range(30)]
    requests = [ChatRequest(messages=[Message(role="system", content=first), Message(role="user", content=str(i))])
                for i, first in enumerate(firsts)]
    assert all(r.ok for r in model.generate_sync(requests))
    by_first: dict[str, set[int]] = defaultdict(set)
    for position, server in enumerate(replicas):
        for tag in server.served[before[position]:]:
            by_first[tag].add(position)
    assert len(by_first) == 6 and all(len(p) == 1 for p in by_first.values()), by_first


def test_a_single_endpoint_keeps_its_model_id():
    url = "http://127.0.0.1:8000/v1"
    assert OpenAIChatModel("m", base_url=url).model_id == f"openai:m@{url}"
    assert OpenAIChatModel("m", base_url=url, model_id="gguf:x").model_id == "gguf:x"
    with pytest.raises(EndpointError, match="separated by single commas, each endpoint once"):
        OpenAIChatModel("m", base_url=f"{url},{url}")  # the constructor, without the spec's checks


@pytest.mark.parametrize("replicas", [{0: 12}], indirect=True)
def test_a_replica_dying_mid_run_loses_nothing_and_the_trees_match_a_healthy_run(replicas, tmp_path):
    healthy = Replica()
    try:
        reference, reference_out, reference_spec = tree_run(tmp_path, "healthy", healthy.base_url)
    finally:
        healthy.stop()
    urls = ",".join(s.base_url for s in replicas)
    result, out, spec = tree_run(tmp_path, "failover", urls)
    dying = replicas[0]
    assert dying.dead and len(dying.served) == 12 and dying.dropped > 0  # it died mid-run, under load
    assert result.failed == 0 and result.stats.trees == 12
    assert (out / "failed.jsonl").read_text() == ""
    assert result.stats.retries == 0  # moving to a live endpoint is not a retry
    model = load_model(spec)
    assert model.failovers >= dying.dropped > 0  # each request it dropped moved to a live one
    assert records(out, model.model_id) == records(reference_out, load_model(reference_spec).model_id)
    # Only the dead replica's dialogues moved, each to one live replica; the others stayed put.
    seen = routes(replicas)
    moved = {tag: positions for tag, positions in seen.items() if 0 in positions}
    assert moved and all(len(p) <= 2 and p[0] == 0 for p in moved.values()), moved
    assert any(len(p) == 2 for p in moved.values())
    assert all(len(p) == 1 for tag, p in seen.items() if tag not in moved), seen
    assert sum(len(s.served) for s in replicas) == result.stats.turns


def test_check_passes_with_one_live_endpoint_and_requests_avoid_the_dead(replicas):
    dead = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    model = OpenAIChatModel("m", base_url=",".join([dead[0], replicas[1].base_url, dead[1]]), max_retries=0)
    model.check()  # two of three unreachable: passes, and marks them down
    requests = [ChatRequest(messages=[Message(role="user", content=f"item d{i:02d}")]) for i in range(20)]
    assert all(r.ok for r in model.generate_sync(requests))
    assert len(replicas[1].served) == 20 and model.failovers == 0  # none was sent to a dead one


def test_every_endpoint_down_fails_check_in_one_line_and_requests_like_a_lone_endpoint(replicas):
    urls = [s.base_url for s in replicas]
    model = OpenAIChatModel("m", base_url=",".join(urls), max_retries=1, backoff=0.01)
    assert all(r.ok for r in model.generate_sync([ChatRequest(messages=[Message(role="user", content="hi")])]))
    for server in replicas:
        server.stop()
    ports = [u.split(":")[2].split("/")[0] for u in urls]
    with pytest.raises(EndpointError) as caught:
        model.check()
    line = str(caught.value)
    assert "\n" not in line and line.startswith(f"field '{model.model_id}': cannot reach any of its 3 endpoints: ")
    assert all(f"http://127.0.0.1:{port} (Connection refused)" in line for port in ports), line
    (reply,) = model.generate_sync([ChatRequest(messages=[Message(role="user", content="hi")])])
    assert reply.error == "failed after 2 attempts: APIConnectionError (all 3 endpoints down)"
    assert reply.retries == 1


def test_moves_to_other_endpoints_are_bounded_even_when_marks_expire_at_once():
    # A mark that expires before the next endpoint has failed (a timeout longer than `down_s`)
    # must not send a request round the endpoints for ever: one move to each, then counted retries.
    model = OpenAIChatModel("m", base_url=",".join(f"http://127.0.0.1:{free_port()}/v1" for _ in range(3)),
                            max_retries=1, backoff=0.01)
    model.down_s = 0.0
    (reply,) = asyncio.run(asyncio.wait_for(model.generate([ChatRequest(messages=[Message(role="user",
                                                                                          content="hi")])]), 20))
    assert reply.error == "failed after 2 attempts: APIConnectionError" and reply.retries == 1
    assert model.failovers == 2 and model.retries == 1


def test_all_endpoints_down_stops_a_run_before_it_starts_in_one_line(tmp_path):
    urls = ",".join(f"http://127.0.0.1:{free_port()}/v1" for _ in range(3))
    (tmp_path / "run.toml").write_text(f'questions = "sample:open"\nlimit = 2\n[protocol]\nkind = "challenge"\n'
                                       f'[agents.model]\nmodel = "openai:m?base_url={urls}"\n')
    done = debate("run", str(tmp_path / "run.toml"), "--out", str(tmp_path / "out"), "--no-progress")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: field 'agents.model.model': cannot reach any of its 3 endpoints: http://127.0.0.1:")
    assert lines[0].count("(Connection refused)") == 3
    assert not (tmp_path / "out").exists()


BAD_LISTS = [
    ("http://127.0.0.1:8001/v1,http://127.0.0.1:99999/v1",
     "URL 2 of 2: expected a host and a port from 1 to 65535, e.g. http://127.0.0.1:8000/v1"),
    ("http://127.0.0.1:8001/v1,,http://127.0.0.1:8002/v1", "URL 2 of 3 is empty (expected URLs separated by single "
     "commas, e.g. http://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1)"),
    ("http://127.0.0.1:8001/v1,", "URL 2 of 2 is empty"),
    ("ftp://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1", "URL 1 of 2: expected an http:// or https:// URL, e.g."),
    ("http://127.0.0.1:8001/v1,http://u:sk-secret@127.0.0.1:8002/v1", "URL 2 of 2: a key in the URL would be saved"),
    ("http://127.0.0.1:8001/v1,http://127.0.0.1:8001/v1", "URL 2 of 2 is URL 1 again (list each endpoint once)"),
]


@pytest.mark.parametrize(("urls", "expected"), BAD_LISTS)
def test_each_url_of_a_list_is_checked(urls, expected):
    with pytest.raises(SpecError) as caught:
        check_spec(f"openai:m?base_url={urls}")
    assert str(caught.value).startswith(f"option 'base_url' for openai models: {expected}")
    assert "sk-secret" not in str(caught.value)
    check_spec("openai:m?base_url=http://127.0.0.1:8001/v1,https://[::1]:8002/v1,http://h.example/v1")


def test_a_bad_url_in_the_list_is_one_line_and_exit_code_2_on_the_cli():
    done = debate("ask", "openai:m?base_url=http://127.0.0.1:8001/v1,http://127.0.0.1:99999/v1", "hi")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: option 'base_url' for openai models: URL 2 of 2: expected a host and a port from 1 to 65535, "
        "e.g. http://127.0.0.1:8000/v1"]


def test_routing_is_rendezvous_over_the_live_endpoints():
    urls = ",".join(f"http://127.0.0.1:{8001 + k}/v1" for k in range(4))
    model = OpenAIChatModel("m", base_url=urls)
    requests = [ChatRequest(messages=[Message(role="user", content=f"m{i}")]) for i in range(400)]
    first = [model._route(r, 0) for r in requests]
    assert min(Counter(first).values()) > 70  # spread: about 100 each
    model._down[2] = time.monotonic()  # as a failed request marks it
    after = [model._route(r, 0) for r in requests]
    assert all(a == f for a, f in zip(after, first) if f != 2)  # only the dead one's dialogues moved
    assert 2 not in after and len({a for a, f in zip(after, first) if f == 2}) == 3  # spread over the rest
    # The same routing in another process (a stable hash, not Python's salted hash()).
    script = ("from agents.openai_backend import OpenAIChatModel\n"
              "from debate.records import ChatRequest, Message\n"
              f"model = OpenAIChatModel('m', base_url={urls!r})\n"
              "print([model._route(ChatRequest(messages=[Message(role='user', content=f'm{i}')]), 0) "
              "for i in range(400)])")
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO,
                           env={**os.environ, "PYTHONHASHSEED": "random"})
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout) == first
