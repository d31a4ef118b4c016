"""Helpers the test modules share: the CLI as a user runs it, simulated agents and synthetic
questions, a PBT tree built by hand, and the harness of the hostile-input corpus (`refused`,
`accepted`: one error line, exit code 2, nothing changed on disk)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.agent import Agent
from agents.registry import load_model
from debate.records import AnswerRead, GenerationParams, Question, Turn, Usage
from debate.tree import ROOT, DialogueTree


def debate(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "debate.cli", *args], capture_output=True, text=True, timeout=timeout)


STUBBORN = "accept_correct=0&accept_wrong=0&abandon=0&acceptant_shift=0&resistant_shift=0"
KNOWER = f"sim:knower?accuracy=1&{STUBBORN}"
IGNORANT = f"sim:ignorant?accuracy=0&{STUBBORN}"


def synthetic(n: int, farm: bool = False) -> list[Question]:
    questions = []
    for i in range(n):
        metadata = {}
        if farm:
            claim = f"The answer is wrong{i}."
            metadata = {"control": claim, "appeals": {k: [f"{k} appeal {j}: it is wrong{i}." for j in range(3)]
                                                      for k in ("logical", "credibility", "emotional")}}
        questions.append(Question(id=f"q{i:05d}", text=f"Which token belongs to item {i}?", gold=[f"gold{i}"],
                                  wrong_answers=[f"wrong{i}"], metadata=metadata))
    return questions


def agent(name: str, spec: str, temperature: float = 0.7) -> Agent:
    return Agent(name, load_model(spec), params=GenerationParams(temperature=temperature))


def dumps(trees: list[DialogueTree]) -> list[str]:
    """Trees as JSON, sorted by id, without wall-clock latencies (the only field that may vary)."""
    out = []
    for tree in sorted(trees, key=lambda t: t.tree_id):
        data = tree.to_dict()
        for node in data["graph"]["nodes"][1:]:
            node["turn"]["usage"]["latency_s"] = 0.0
        out.append(json.dumps(data, sort_keys=True))
    return out


QUESTION = Question(id="q1", text="Which city is the capital of France?", gold=["Paris"],
                    wrong_answers=["Lyon"])
#: The PBT shape (PBT.md 2): speaker and personas per level.
PBT_LEVELS = [("A", ["neutral"]), ("B", ["resistant", "acceptant"]),
              ("A", ["logical", "emotional", "credibility"]), ("B", ["resistant", "acceptant"])]


def make_turn(speaker: str, persona: str, answer: str, other: str | None, **extra) -> Turn:
    return Turn(speaker=speaker, persona=persona, text=f"{speaker} ({persona}) says {answer}.\nFinal answer: {answer}",
                answers={speaker: answer, "B" if speaker == "A" else "A": other},
                read=AnswerRead(answer=answer, reader="final-line"),
                usage=Usage(prompt_tokens=30, completion_tokens=9, latency_s=0.25),
                model=f"sim:{speaker.lower()}", params=GenerationParams(temperature=0.7, seed=11), seed=11, **extra)


def pbt_tree() -> DialogueTree:
    tree = DialogueTree(QUESTION, metadata={"run": "unit"})
    frontier = [ROOT]
    for level, (speaker, personas) in enumerate(PBT_LEVELS):
        nxt = []
        for parent in frontier:
            for k, persona in enumerate(personas):
                answer = "Paris" if (level + k) % 2 == 0 else "Lyon"
                nxt.append(tree.add_turn(parent, make_turn(speaker, persona, answer, None if level == 0 else "Paris")))
        frontier = nxt
    return tree


#: This folder (shared test data lives here: golden/, bad_input/, reading/) and the repository.
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CLI = (sys.executable, "-m", "debate.cli")
AS_ROOT = os.geteuid() == 0
GIB = 1 << 30


# ----------------------------------------------------------------------------- the harness


def _entry(path: str) -> tuple[Any, ...]:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path), st.st_mtime_ns)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", st.st_mode, st.st_mtime_ns)
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except PermissionError:
            digest.update(b"(unreadable)")
        return ("file", st.st_size, st.st_mode, st.st_mtime_ns, digest.hexdigest())
    return ("other", st.st_mode, st.st_mtime_ns)  # a FIFO or socket: never opened


def snapshot(*roots: Path) -> dict[str, tuple[Any, ...] | None]:
    """Every path under the roots (symlinks not followed) with what identifies its state."""
    state: dict[str, tuple[Any, ...] | None] = {}
    for root in map(str, roots):
        if not os.path.lexists(root):
            state[root] = None
            continue
        state[root] = _entry(root)
        if os.path.isdir(root) and not os.path.islink(root):
            for folder, dirs, files in os.walk(root):
                for name in dirs + files:
                    path = os.path.join(folder, name)
                    state[path] = _entry(path)
    return state


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(f"{'created' if k not in before else 'removed' if k not in after else 'changed'} {k}"
                  for k in before.keys() | after.keys() if before.get(k) != after.get(k))


class Work:
    """A test's folder: `root` is snapshotted, commands run in `cwd`, three levels below it."""

    def __init__(self, root: Path):
        self.root = root
        self.cwd = root / "w1" / "w2" / "cwd"
        self.cwd.mkdir(parents=True)

    def __truediv__(self, name: str) -> Path:
        return self.cwd / name

    def write(self, name: str, content: str | bytes) -> str:
        path = self.cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return name


_HIDDEN = ("OPENAI_API_KEY", "DEBATE_FARM_DIR", "DEBATE_CRASH_AT")


def cli(args: Sequence[str], work: Work, *, env: dict[str, str] | None = None, timeout: float = 60,
        memory: int | None = None) -> subprocess.CompletedProcess:
    """`debate ARGS` in the work folder; a hang is a failure, never a stuck test."""
    environment = {k: v for k, v in os.environ.items() if k not in _HIDDEN}
    environment.update({"COLUMNS": "200", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                        "TOKENIZERS_PARALLELISM": "false"})
    environment.update(env or {})

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        return subprocess.run([*CLI, *map(str, args)], cwd=work.cwd, env=environment, capture_output=True,
                              text=True, encoding="utf-8", errors="replace", timeout=timeout,
                              stdin=subprocess.DEVNULL, preexec_fn=limit_memory if memory else None)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"debate {' '.join(map(str, args))}: still running after {timeout}s") from None


def _expectations(expect: str | Sequence[str]) -> list[str]:
    return [expect] if isinstance(expect, str) else list(expect)


def refused(args: Sequence[str], expect: str | Sequence[str], work: Work, *, watch: Sequence[Path] = (),
            secret: str | None = None, within: float | None = None, **options: Any) -> subprocess.CompletedProcess:
    """The command is refused: exit 2, one `error: ` line holding every `expect` text, no
    traceback, and no path under the work folder (or `watch`) created, removed or changed; with
    `secret`, that text in no output and no written file; with `within`, refused in that many seconds."""
    roots = (work.root, *watch)
    before, beside = snapshot(*roots), sorted(os.listdir(work.root.parent))
    start = time.perf_counter()
    run = cli(args, work, **options)
    elapsed = time.perf_counter() - start
    after = snapshot(*roots)
    output = run.stdout + run.stderr
    assert "Traceback" not in output, output[-3000:]
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-3000:]
    for text in _expectations(expect):
        assert text in lines[0], (text, lines[0])
    assert not changes(before, after), changes(before, after)[:20]
    assert sorted(os.listdir(work.root.parent)) == beside, "something was written beside the work folder"
    if within is not None:
        assert elapsed < within, f"refused only after {elapsed:.1f}s"
    if secret is not None:  # in no output, and in no file but the input that held it
        assert secret not in output
        assert not [p for p in work.root.rglob("*") if p.is_file() and not p.is_symlink()
                    and before.get(str(p)) != after.get(str(p)) and secret.encode() in p.read_bytes()]
    return run


def accepted(args: Sequence[str], expect: str | Sequence[str], work: Work, *, forbid: Sequence[str] = (),
             **options: Any) -> subprocess.CompletedProcess:
    """Odd but valid input: exit 0, no traceback, every `expect` text literally on stdout and
    none of `forbid` (raw control characters, say) on stdout or stderr."""
    run = cli(args, work, **options)
    assert "Traceback" not in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
    assert run.returncode == 0, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    for text in _expectations(expect):
        assert text in run.stdout, (text, run.stdout[-3000:])
    for text in forbid:
        assert text not in run.stdout + run.stderr, (text, run.stdout[-3000:])
    return run
