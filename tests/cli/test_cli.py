"""The `debate` command as a user runs it: a subprocess, its output and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import debate

COMMANDS = ["ask", "questions", "demo", "run", "tree", "show", "export", "pairing", "eval", "prefs", "train", "convert",
            "pbt"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_everywhere(command):
    run = debate(*command, "--help")
    assert run.returncode == 0 and "Usage" in run.stdout


def test_option_defaults_are_the_records_defaults():
    """An option that fills a record field shows that field's default, so the two cannot drift."""
    import typer.main

    from debate.cli import app
    from debate.records import GenerationParams
    from experiments.evaluations import EvaluationConfig
    from experiments.pbt import PBTConfig
    from training.build import PrefsConfig
    from training.trainer import TrainConfig

    records = {"ask": [GenerationParams()], "eval": [EvaluationConfig(evaluation="ays", models=["sim:strong"])],
               "prefs": [PrefsConfig()], "train": [TrainConfig()], "pbt": [PBTConfig(), PBTConfig().train]}
    renamed = {("pbt", "passes"): "tree_passes"}
    group = typer.main.get_command(app)
    checked = 0
    for command, instances in records.items():
        for param in group.commands[command].params:  # type: ignore[attr-defined]
            field = renamed.get((command, param.name), param.name)
            owners = [r for r in instances if field in type(r).model_fields]
            if owners and param.default is not None:
                assert param.default == getattr(owners[0], field), (command, param.name)
                checked += 1
    assert checked >= 20


def test_core_imports_stay_light():
    code = ("import sys, debate, agents, debate.cli, debate.answers, debate.data, agents.registry, agents.sim;"
            "heavy = [m for m in ('torch', 'transformers', 'vllm', 'trl', 'xllamacpp') if m in sys.modules];"
            "print(heavy)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


@pytest.mark.parametrize("spec,expected", [
    ("nothing", "unknown model spec 'nothing' (expected KIND:TARGET with KIND one of openai, hf, vllm, gguf, sim"),
    ("gpt:4", "unknown model spec 'gpt:4'"),
    ("hf:", "names no target after 'hf:'"),
    ("sim:nobody", "unknown sim preset 'nobody'"),
    ("openai:m?base_url=http://x&colour=red", "unknown option 'colour' for openai models"),
    ("gguf:/no/such/model.gguf", "/no/such/model.gguf: no such model file"),
])
def test_bad_specs_give_one_line_and_exit_2(spec, expected):
    run = debate("ask", spec, "Is this a question?")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert run.stdout == ""


def test_ask_a_sim_agent_shows_answer_and_usage():
    run = debate("ask", "sim:oracle", "What is the capital of France?", "--gold", "Paris")
    assert run.returncode == 0, run.stderr
    assert "Final answer: Paris" in run.stdout and "correct: True" in run.stdout and "completion" in run.stdout


def test_bad_cli_values_exit_2():
    run = debate("ask", "sim:oracle", "q", "--temperature", "-1")
    assert run.returncode == 2
    run = debate("ask", "sim:oracle", "q", "--gold", "Paris", "--persona", "angry")
    assert run.returncode == 2 and "unknown persona 'angry'" in run.stderr


def test_demo_with_sim_writes_results(tmp_path):
    out = tmp_path / "demo"
    run = debate("demo", "--model", "sim:strong", "--out", str(out))
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    by_agent = {s["agent"]: s for s in summary["summaries"]}
    assert by_agent["uninformed"]["questions"] == 120 and by_agent["informed"]["questions"] == 120
    # The sim ignores the passage: both agents answer alike; every reply is read by the final-line reader.
    assert by_agent["uninformed"]["accuracy"] == by_agent["informed"]["accuracy"]
    assert by_agent["uninformed"]["readers"] == {"final-line": 120}
    assert len((out / "replies.jsonl").read_text().splitlines()) == 240
    assert "uninformed" in run.stdout and "accuracy" in run.stdout


@pytest.mark.slow
def test_gguf_smollm2_end_to_end():
    run = debate("ask", "gguf:smollm2", "What is the capital of France?", "--gold", "Paris", "--max-tokens", "32")
    assert run.returncode == 0, run.stderr
    assert "Paris" in run.stdout and "correct: True" in run.stdout


def test_sim_ask_needs_gold():
    run = debate("ask", "sim:oracle", "What is the capital of France?")
    assert run.returncode == 2 and "field '--gold': a sim agent needs --gold" in run.stderr
