"""Runs on a real local Ray instance: shards as Ray tasks, a killed worker, and SmolLM2."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from protocols.config import parse_config
from protocols.run import execute
from protocols.scale import shard_dir

ray = pytest.importorskip("ray")

TREE = {"protocol": {"kind": "tree"}, "questions": "sample-train", "limit": 23, "seed": 3,
        "agents": {"A": {"model": "sim:strong", "temperature": 0.7}, "B": {"model": "sim:gullible",
                                                                          "temperature": 0.7}}}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _lines(folder: Path) -> list[str]:
    return sorted((folder / "trees.jsonl").read_text().splitlines())


def test_a_run_on_ray_equals_the_single_process_run(tmp_path):
    whole = execute(parse_config(TREE), tmp_path / "whole", progress=False)
    scaled = execute(parse_config({**TREE, "scale": {"workers": 3}}), tmp_path / "ray", progress=False)
    assert _lines(tmp_path / "ray") == _lines(tmp_path / "whole") and len(_lines(tmp_path / "ray")) == 23
    assert scaled.summary == whole.summary and scaled.stats.turns == whole.stats.turns
    assert sorted(p.name for p in (tmp_path / "ray" / "shards").iterdir()) == ["1-of-3", "2-of-3", "3-of-3"]
    config = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert config == json.loads((tmp_path / "whole" / "config.json").read_text())  # no shard, no scale


def test_a_killed_worker_is_resumed_and_the_output_is_the_same(tmp_path):
    # One dialogue at a time, 50 ms per call: a shard runs for seconds, long enough to be killed.
    slow = {**TREE, "limit": 30, "window": 1,
            "agents": {name: {**agent, "model": f"{agent['model']}?latency=0.05"}
                       for name, agent in TREE["agents"].items()}}
    execute(parse_config(slow), tmp_path / "whole", progress=False)
    out = tmp_path / "ray"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            execute(parse_config({**slow, "scale": {"workers": 2, "retries": 2}}), out, progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    driver = threading.Thread(target=run)
    driver.start()
    victim = shard_dir(out, 1, 2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until shard 1 has written a few trees
        trees = victim / "trees.jsonl"
        if trees.exists() and trees.read_text().count("\n") >= 3:  # whole lines (a last one may be half-written)
            break
        time.sleep(0.05)
    pid = int((victim / ".lock").read_text())  # the worker process that holds the shard's lock
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=120)
    assert not driver.is_alive() and not errors, errors
    assert _lines(out) == _lines(tmp_path / "whole")
    manifest = json.loads((victim / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["stats"]["skipped"] >= 3  # resumed, not restarted


@pytest.mark.slow
def test_smollm2_on_ray(tmp_path):
    config = {"protocol": {"kind": "debate"}, "questions": "sample:open", "limit": 4,
              "agents": {"A": {"model": "gguf:smollm2", "informed": True, "max_tokens": 24},
                         "B": {"model": "gguf:smollm2", "max_tokens": 24}},
              "scale": {"workers": 2}}
    result = execute(parse_config(config), tmp_path / "ray", progress=False)
    assert result.failed == 0 and result.summary is not None and result.summary.dialogues == 4
    trees = [json.loads(line) for line in _lines(tmp_path / "ray")]
    assert len(trees) == 4 and all(t["metadata"]["outcome"]["final_answers"] for t in trees)
    for k in (1, 2):
        manifest = json.loads((shard_dir(tmp_path / "ray", k, 2) / "manifest.json").read_text())
        assert manifest["status"] == "finished" and manifest["stats"]["trees"] == 2
