"""The engine and run directories: batching, seeds, the cache, resume after a kill, failures,
one writer per directory; with simulated agents, the tiny random model and SmolLM2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.agent import Agent
from agents.base import ChatModel
from agents.registry import load_model
from debate.errors import ConfigError, UserError
from debate.records import ChatRequest, GenerationParams, Reply
from debate.tree import DialogueTree, load_trees
from fault_server import FaultServer
from protocols.challenge import Challenge
from protocols.config import parse_config
from protocols.engine import Engine, node_seed
from protocols.recursive import RecursiveTree
from protocols.rundir import RunDir
from protocols.run import execute
from helpers import IGNORANT, KNOWER, REPO, dumps, synthetic

ROOT_DIR = REPO


class Recording(ChatModel):
    """Wraps a model and records the size of every batched call."""

    def __init__(self, model: ChatModel):
        self.model = model
        self.model_id = model.model_id
        self.batches: list[int] = []

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        self.batches.append(len(requests))
        return await self.model.generate(requests)



def run_trees(protocol, agents, items, **kwargs) -> list[DialogueTree]:
    out: list[DialogueTree] = []
    Engine(protocol, agents, **kwargs).run(items, out.append)
    return out


def test_node_seeds_depend_on_run_tree_and_node_only():
    assert node_seed(0, "q1", "r.0.1") == node_seed(0, "q1", "r.0.1")
    seeds = {node_seed(s, t, n) for s in (0, 1) for t in ("q1", "q2") for n in ("r.0", "r.0.1", "r.0.0")}
    assert len(seeds) == 12 and all(0 <= s < 2**31 for s in seeds)


def test_one_batched_call_per_model_per_level():
    a, b = Recording(load_model(KNOWER)), Recording(load_model(IGNORANT))
    agents = {"A": Agent("A", a), "B": Agent("B", b)}
    engine = Engine(RecursiveTree(), agents, window=100)
    trees = []
    engine.run(synthetic(100), trees.append)
    assert a.batches == [100, 600] and b.batches == [200, 1200]
    assert engine.stats.steps == 4 and engine.stats.turns == 2100 and len(trees) == 100


def test_results_do_not_depend_on_the_window():
    agents = {"A": Agent("A", load_model("sim:strong"), params=GenerationParams(temperature=0.7)),
              "B": Agent("B", load_model("sim:gullible"), params=GenerationParams(temperature=0.7))}
    one = run_trees(RecursiveTree(), agents, synthetic(30), window=1, seed=7)
    many = run_trees(RecursiveTree(), agents, synthetic(30), window=64, seed=7)
    other_seed = run_trees(RecursiveTree(), agents, synthetic(30), window=64, seed=8)
    assert dumps(one) == dumps(many)
    assert dumps(one) != dumps(other_seed)


def test_the_window_bounds_the_trees_in_flight():
    model = Recording(load_model(IGNORANT))
    agents = {"model": Agent("model", model)}
    run_trees(Challenge(), agents, synthetic(25), window=10)
    assert max(model.batches) == 10 and sum(model.batches) == 25 * 3


def test_missing_agent_and_duplicate_ids_are_user_errors():
    with pytest.raises(ConfigError, match="needs an agent named 'B'"):
        Engine(RecursiveTree(), {"A": Agent("A", load_model(KNOWER))})
    questions = synthetic(2) + synthetic(1)
    with pytest.raises(UserError, match="duplicate id 'q00000'"):
        run_trees(Challenge(), {"model": Agent("model", load_model(KNOWER))}, questions)


@pytest.mark.slow
def test_tiny_model_tree_is_batch_invariant_and_resumes_from_the_cache(tiny_model_dir, tmp_path):
    spec = f"hf:{tiny_model_dir}"
    agent = {"model": spec, "temperature": 0.9, "max_tokens": 6}
    config = parse_config({"protocol": {"kind": "tree", "stop_on_agreement": False}, "questions": "sample:open",
                           "limit": 4, "agents": {"A": agent, "B": agent}, "seed": 3})
    first = execute(config, tmp_path / "a", progress=False)
    assert first.stats.trees == 4 and first.stats.turns == 84
    single = execute(config.model_copy(update={"window": 1}), tmp_path / "b", progress=False)
    assert dumps(load_trees(tmp_path / "a" / "trees.jsonl")) == dumps(load_trees(tmp_path / "b" / "trees.jsonl"))
    assert single.stats.steps == 16  # one tree at a time: 4 levels each
    # A crash after two trees were written, the third cut mid-line: the re-run regenerates the rest
    # from the cache (no model call) and ends with the same records.
    trees_file = tmp_path / "a" / "trees.jsonl"
    lines = trees_file.read_text().splitlines(keepends=True)
    trees_file.write_text("".join(lines[:2]) + lines[2][:100])
    again = execute(config, tmp_path / "a", progress=False)
    assert again.stats.skipped == 2 and again.stats.trees == 2
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["cache"] == {"hits": 42, "misses": 0} and manifest["status"] == "finished"
    assert dumps(load_trees(trees_file)) == dumps(load_trees(tmp_path / "b" / "trees.jsonl"))
    debate = execute(parse_config({"protocol": {"kind": "debate", "stop_on_agreement": "never"}, "limit": 2,
                                   "agents": {"A": agent, "B": agent}}), tmp_path / "debate", progress=False)
    assert debate.stats.trees == 2 and debate.stats.turns == 8


@pytest.mark.slow
def test_smollm2_completes_a_pbt_tree_and_a_debate(tmp_path):
    agent = {"model": "gguf:smollm2", "temperature": 0.7, "max_tokens": 40}
    tree = execute(parse_config({"protocol": {"kind": "tree", "stop_on_agreement": False}, "questions": "sample:open",
                                 "limit": 1, "agents": {"A": agent, "B": agent}}), tmp_path / "tree", progress=False)
    (built,) = load_trees(tmp_path / "tree" / "trees.jsonl")
    assert tree.stats.turns == 21 and len(built.leaves()) == 12
    assert all(built.turn(n).text.strip() and built.turn(n).model == "gguf:smollm2" for n in built.nodes())
    assert len({built.turn(n).seed for n in built.nodes()}) == 21
    debate = execute(parse_config({"protocol": {"kind": "debate"}, "questions": "sample:open", "limit": 3,
                                   "agents": {"A": {**agent, "informed": True}, "B": agent}}),
                     tmp_path / "debate", progress=False)
    assert debate.stats.trees == 3 and 0.0 <= debate.summary.team_accuracy <= 1.0
    assert debate.summary.mean_turns >= 2


def test_a_failing_request_marks_its_dialogue_failed_and_a_rerun_retries_only_it(tmp_path):
    server = FaultServer()
    try:
        questions = tmp_path / "q.jsonl"
        rows = [{"id": "ok1", "text": "first question", "gold": ["x"]},
                {"id": "bad", "text": "FAIL:500", "gold": ["x"]},
                {"id": "ok2", "text": "second question", "gold": ["x"]}]
        questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
        spec = f"openai:fault?base_url={server.base_url}&max_retries=1&backoff=0"
        config = parse_config({"protocol": {"kind": "challenge"}, "questions": str(questions),
                               "agents": {"model": {"model": spec}}})
        result = execute(config, tmp_path / "run", progress=False)
        assert result.failed == 1 and result.stats.trees == 2
        (failed,) = [json.loads(line) for line in (tmp_path / "run" / "failed.jsonl").read_text().splitlines()]
        assert failed["tree_id"] == "bad" and "node r.0" in failed["metadata"]["failed"]
        assert "500" in failed["metadata"]["failed"]
        assert sorted(t.tree_id for t in load_trees(tmp_path / "run" / "trees.jsonl")) == ["ok1", "ok2"]
        assert server.attempts["FAIL:500"] == 2  # the first try and one retry
        attempts_before = sum(server.attempts.values())
        again = execute(config, tmp_path / "run", progress=False)
        assert again.stats.skipped == 2 and again.failed == 1
        assert sum(server.attempts.values()) - attempts_before == 2  # only the failed dialogue was retried
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert manifest["status"] == "finished-with-failures" and manifest["failed"] == 1
    finally:
        server.stop()


def test_one_writer_per_run_directory_and_no_resume_across_configs(tmp_path):
    config = parse_config({"protocol": {"kind": "challenge"}, "agents": {"model": {"model": KNOWER}}, "limit": 3})
    execute(config, tmp_path / "run", progress=False)
    identity = json.loads((tmp_path / "run" / "config.json").read_text())
    del identity["format"]
    with RunDir(tmp_path / "run", identity):
        with pytest.raises(UserError, match="another run is writing"):
            execute(config, tmp_path / "run", progress=False)
    changed = config.model_copy(update={"seed": 5})
    with pytest.raises(ConfigError, match="field 'seed'"):
        execute(changed, tmp_path / "run", progress=False)
    assert execute(changed, tmp_path / "run", overwrite=True, progress=False).stats.trees == 3
    # `limit` is not part of a run's identity: raising it extends the run.
    more = execute(changed.model_copy(update={"limit": 5}), tmp_path / "run", progress=False)
    assert more.stats.skipped == 3 and more.stats.trees == 2


def _run_command(out: Path, config: Path) -> list[str]:
    return [sys.executable, "-m", "debate.cli", "run", str(config), "--out", str(out), "--no-progress"]


def test_a_run_killed_mid_way_resumes_to_the_records_of_an_uninterrupted_run(tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text('questions = "sample"\nwindow = 8\nseed = 1\n[protocol]\nkind = "tree"\n'
                      '[agents.A]\nmodel = "sim:strong?latency=0.03"\ntemperature = 0.7\n'
                      '[agents.B]\nmodel = "sim:gullible?latency=0.03"\ntemperature = 0.7\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
    subprocess.run(_run_command(tmp_path / "clean", config), check=True, env=env, capture_output=True)
    victim = tmp_path / "killed"
    process = subprocess.Popen(_run_command(victim, config), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    trees_file = victim / "trees.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not trees_file.exists() or trees_file.stat().st_size < 20_000):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(trees_file.read_text().splitlines())
    assert 0 < written < 170, "the kill must land mid-run"
    finished = subprocess.run(_run_command(victim, config), env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    clean = dumps(load_trees(tmp_path / "clean" / "trees.jsonl"))
    resumed = dumps(load_trees(trees_file))
    assert len(resumed) == 170 and resumed == clean


def test_finished_trees_are_freed_without_the_cyclic_collector():
    # Memory stays flat only if a finished tree dies as soon as it is written: no reference cycles.
    import gc

    agents = {"A": Agent("A", load_model("sim:strong")), "B": Agent("B", load_model("sim:weak"))}
    engine = Engine(RecursiveTree(), agents)
    gc.collect()
    gc.disable()
    try:
        engine.run(synthetic(50), lambda tree: tree.to_json())
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        leaked = [type(o).__name__ for o in gc.garbage if isinstance(o, (DialogueTree,)) or
                  type(o).__name__ in ("DiGraph", "Turn", "Reply", "ChatRequest")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert leaked == []
