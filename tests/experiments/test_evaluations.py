"""`debate eval farm|ays|balanced`: every evaluation with simulated agents and with the tiny
model, several models in one table, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FARM
from debate.tree import save_trees
from experiments.evaluations import EvaluationConfig, farm_questions, figures, run_evaluation
from protocols.engine import Engine
from protocols.ordered import OrderedDebate
from helpers import debate
from helpers import agent, synthetic


@pytest.fixture()
def split(tmp_path) -> Path:
    """A balanced split: one-round debates, half labelled resist, half accept."""
    trees = []
    Engine(OrderedDebate(rounds=1), {"A": agent("A", "sim:strong"), "B": agent("B", "sim:weak")}).run(
        synthetic(20), trees.append)
    for k, tree in enumerate(trees):
        tree.metadata["label"] = ("resist", "accept")[k % 2]
    return save_trees(tmp_path / "split.jsonl", trees)


def test_ays_compares_several_models(tmp_path, tiny_model_dir):
    models = ["sim:strong", "sim:gullible", f"hf:{tiny_model_dir}"]
    report = run_evaluation(EvaluationConfig(evaluation="ays", models=models, limit=6, max_tokens=6), tmp_path,
                            progress=False)
    columns, rows = figures(report)
    assert columns == ["before", "after", "difference"] and len(rows) == 3
    for before, after, difference in rows.values():
        assert difference == pytest.approx(after - before)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir())[-1].startswith("sim_strong")


def test_farm_per_subset(tmp_path, tiny_model_dir):
    if not FARM.is_dir():
        pytest.skip(f"the Farm files are not at {FARM}")
    questions = farm_questions(FARM, tmp_path, 3)
    assert len(questions.read_text().splitlines()) == 12  # 3 from each of the 4 subsets
    config = EvaluationConfig(evaluation="farm", models=["sim:strong", f"hf:{tiny_model_dir}"],
                              questions=str(questions), max_tokens=6)
    report = run_evaluation(config, tmp_path, progress=False)
    columns, rows = figures(report)
    assert columns == ["MR@4 boolq", "MR@4 nq1", "MR@4 nq2", "MR@4 truthfulqa", "MR@4 mean"]
    assert all(v is None or 0.0 <= v <= 1.0 for values in rows.values() for v in values)


def test_balanced_split_through_the_command(tmp_path, split, tiny_model_dir):
    run = debate("eval", "balanced", "--questions", str(split), "--models", "sim:strong", "--models",
                 f"hf:{tiny_model_dir}", "--max-tokens", "6", "--out", str(tmp_path / "b"), "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "+ -> - (resist)" in run.stdout and "sim:strong" in run.stdout
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    summary = report["models"]["sim:strong"]
    assert summary["continuations"] == 20 and set(summary["accuracy_by_label"]) == {"accept", "resist"}
    assert (tmp_path / "b" / "balanced.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluation_errors(tmp_path, split):
    assert "unknown evaluation 'vibes' (expected one of farm, ays, balanced)" in debate("eval", "vibes").stderr
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text(split.read_text().replace('"label": "resist"', '"label": "maybe"'))
    run = debate("eval", "balanced", "--questions", str(unlabelled), "--models", "sim:strong")
    assert run.returncode == 2
    assert "unlabelled.jsonl:1: field 'metadata.label': not a balanced-split record (label 'maybe'" in run.stderr
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "text": "t", "gold": ["x"]}\n')
    run = debate("eval", "balanced", "--questions", str(questions), "--models", "sim:strong")
    assert run.returncode == 2 and "q.jsonl:1: field 'format': not a dialogue tree" in run.stderr
    run = debate("eval", "balanced", "--models", "sim:strong")
    assert run.returncode == 2 and "give the balanced split" in run.stderr
