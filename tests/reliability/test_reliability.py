"""Reliability: endpoint faults, kills at chosen moments, and secrets. Every run here is a real
`debate run` against a real loopback server (tests/chaos_server.py) whose model is
deterministic, so a damaged run must end with exactly the records of an undamaged one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos_server import FAULTS, running, set_rate, stats
from debate.tree import load_trees
from helpers import REPO, dumps

ROOT_DIR = REPO


def config(path: Path, base_url: str, *, limit: int, retries: int = 10, window: int = 256,
           key_env: str | None = None) -> Path:
    options = f"base_url={base_url}&timeout=0.5&max_retries={retries}&backoff=0.01&max_backoff=0.05&concurrency=32"
    if key_env:
        options += f"&api_key_env={key_env}"
    agent = f'model = "openai:chaos?{options}"\ntemperature = 0.7\nmax_tokens = 40\n'
    path.write_text(f'questions = "sample:open"\nlimit = {limit}\nseed = 3\nwindow = {window}\n'
                    f'[protocol]\nkind = "tree"\n[agents.A]\n{agent}[agents.B]\n{agent}')
    return path


def debate_run(cfg: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "debate.cli", "run", str(cfg), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT_DIR), **(env or {})})


def records(out: Path) -> list[str]:
    return dumps(load_trees(out / "trees.jsonl"))


@pytest.fixture(scope="module")
def chaos():
    with running(rate=0.0) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def clean_run(chaos, tmp_path_factory):
    """50 PBT trees against the fault-free server: the records every damaged run must match."""
    folder = tmp_path_factory.mktemp("clean")
    set_rate(chaos, 0.0)
    done = debate_run(config(folder / "run.toml", chaos, limit=50), folder / "run")
    assert done.returncode == 0, done.stderr
    return folder / "run"


def test_a_20_percent_fault_rate_changes_nothing_in_the_records(chaos, clean_run, tmp_path):
    before = stats(chaos)
    set_rate(chaos, 0.2)
    try:
        done = debate_run(config(tmp_path / "run.toml", chaos, limit=50), tmp_path / "run")
    finally:
        set_rate(chaos, 0.0)
    assert done.returncode == 0, done.stderr
    after = stats(chaos)
    served = {k: after["served"].get(k, 0) - before["served"].get(k, 0) for k in (*FAULTS, "ok")}
    faults = sum(served[k] for k in FAULTS)
    attempts = faults + served["ok"]
    assert all(served[k] > 0 for k in FAULTS), served  # every kind of fault was met
    assert 0.15 < faults / attempts < 0.25, served
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stats"]["retries"] == faults and manifest["failed"] == 0
    assert f"{faults} retries" in done.stdout
    assert records(tmp_path / "run") == records(clean_run)


def test_requests_that_keep_failing_fail_their_dialogues_and_a_rerun_retries_only_those(chaos, clean_run, tmp_path):
    cfg = config(tmp_path / "run.toml", chaos, limit=50, retries=0)
    set_rate(chaos, 0.3)
    try:
        first = debate_run(cfg, tmp_path / "run")
    finally:
        set_rate(chaos, 0.0)
    assert first.returncode == 2 and "dialogues failed" in first.stderr and "re-run the same command" in first.stderr
    failed = [json.loads(line) for line in (tmp_path / "run" / "failed.jsonl").read_text().splitlines()]
    finished = load_trees(tmp_path / "run" / "trees.jsonl")
    assert failed and len(failed) + len(finished) == 50
    assert all("failed after 1 attempts" in f["metadata"]["failed"] for f in failed)
    before = stats(chaos)["attempts"]
    second = debate_run(cfg, tmp_path / "run")
    assert second.returncode == 0, second.stderr
    assert f"{len(failed)} dialogues finished, {len(finished)} already done" in second.stdout
    # Only the failed dialogues went back to the server, and only for turns not already cached.
    assert 0 < stats(chaos)["attempts"] - before <= 21 * len(failed)
    assert (tmp_path / "run" / "failed.jsonl").read_text() == ""
    assert records(tmp_path / "run") == records(clean_run)


# Ten moments to die: (crash point, how many times it is reached first). Flushes happen after
# every engine step; "atomic-rename" counts the atomic writes (config, then manifests).
KILLS = ["manifest:1", "step:1", "step:3", "trees-write:1", "trees-write:2", "trees-sync:2",
         "cache-put:1", "cache-put:5", "atomic-rename:2", "atomic-rename:3"]


@pytest.mark.parametrize("kill", KILLS)
def test_a_kill_at_any_moment_resumes_to_the_records_of_an_uninterrupted_run(chaos, clean_run, tmp_path, kill):
    cfg = config(tmp_path / "run.toml", chaos, limit=50, window=8)  # 8 trees a window: many flushes
    killed = debate_run(cfg, tmp_path / "run", env={"DEBATE_CRASH_AT": kill})
    assert killed.returncode == -9, (kill, killed.returncode, killed.stderr[-500:])
    resumed = debate_run(cfg, tmp_path / "run")
    assert resumed.returncode == 0, resumed.stderr
    lines = (tmp_path / "run" / "trees.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(line)["tree_id"] for line in lines}) == 50  # none lost, none twice
    assert records(tmp_path / "run") == records(clean_run)
    assert not list((tmp_path / "run").glob(".*.tmp"))
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "finished"


def test_an_api_key_never_reaches_any_output(chaos, tmp_path):
    key = "sk-test-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:24]
    set_rate(chaos, 0.5)
    try:  # faults and failed dialogues too: error messages are a classic place for a key to leak
        runs = [debate_run(config(tmp_path / f"{name}.toml", chaos, limit=8, retries=retries, key_env=key_env),
                           tmp_path / name, env={key_env or "OPENAI_API_KEY": key})
                for name, retries, key_env in (("default-env", 0, None), ("named-env", 2, "MY_ENDPOINT_KEY"))]
    finally:
        set_rate(chaos, 0.0)
    assert hashlib.sha256(f"Bearer {key}".encode()).hexdigest() in stats(chaos)["authorizations"]  # it was used
    outputs = [r.stdout + r.stderr for r in runs]
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".toml")]
    assert len(written) >= 10
    assert not any(key in text for text in outputs) and not any(key.encode() in data for data in written)
