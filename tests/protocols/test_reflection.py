"""The self-reflection protocol: the one-module protocol that shows how a protocol is added.

Outcomes are checked against hand-computed values on scripted replies; the `debate run` case
shows that the protocol is found, configured, checked and run without any other file naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from agents.agent import Agent
from agents.base import ChatModel
from debate.errors import ConfigError
from debate.records import ChatRequest, Question, Reply
from debate.tree import DialogueTree
from protocols.base import known_protocols
from protocols.engine import Engine
from protocols.reflection import NUDGE, Reflection, ReflectionOutcome
from helpers import debate

PARIS = Question(id="fr", text="What is the capital of France?", gold=["Paris"])


class ByTurn(ChatModel):
    """The k-th reply of the agent is `answers[k]` (k counted from the request's messages)."""

    model_id = "scripted"

    def __init__(self, answers: Sequence[str]):
        self.answers = list(answers)

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        # system + question, then (assistant, nudge) per reflection before this turn
        return [Reply(text=f"Final answer: {self.answers[(len(r.messages) - 2) // 2]}", model=self.model_id)
                for r in requests]


def reflect(answers: Sequence[str], **settings: object) -> DialogueTree:
    trees: list[DialogueTree] = []
    Engine(Reflection(**settings), {"model": Agent("model", ByTurn(answers))}).run([PARIS], trees.append)
    return trees[0]


def test_a_corrected_answer_by_hand():
    tree = reflect(["Lyon", "Paris", "Paris"], rounds=2)
    path = tree.path(max(tree.leaves(), key=len))
    assert [tree.turn(n).speaker for n in path] == ["model", "user", "model", "user", "model"]
    assert tree.turn(path[1]).text == NUDGE and tree.turn(path[1]).tag == "nudge"
    # The model sees its own answers as assistant turns and the nudges as plain user messages.
    assert ReflectionOutcome.model_validate(tree.metadata["outcome"]) == ReflectionOutcome(
        answers=["Lyon", "Paris", "Paris"], correct_first=False, correct_last=True, changes=1, corrected=True,
        broken=False)


def test_stop_when_stable_ends_at_the_first_kept_answer():
    kept = reflect(["Paris", "Paris", "Lyon"], rounds=3, stop_when_stable=True)
    assert len(kept) == 3  # answer, nudge, the reflection that kept it
    changing = reflect(["Paris", "Lyon", "Lyon", "Paris"], rounds=3, stop_when_stable=True)
    outcome = ReflectionOutcome.model_validate(changing.metadata["outcome"])
    assert len(changing) == 5 and outcome.answers == ["Paris", "Lyon", "Lyon"] and outcome.broken
    assert len(reflect(["Paris", "Paris", "Lyon", "Lyon"], rounds=3)) == 7  # without it, every round runs


def test_summary_by_hand():
    protocol = Reflection()
    outcomes = [protocol.outcome(reflect(answers)) for answers in
                (["Lyon", "Paris", "Paris"], ["Paris", "Lyon", "Lyon"], ["Paris", "Paris", "Paris"])]
    summary = protocol.summarize(outcomes)
    assert (summary.questions, summary.corrected, summary.broken) == (3, 1, 1)
    assert summary.accuracy_first == pytest.approx(2 / 3) and summary.accuracy_last == pytest.approx(2 / 3)
    assert summary.mean_changes == pytest.approx(2 / 3)


def test_settings_are_checked_where_they_are_declared():
    with pytest.raises(ConfigError, match="greater than or equal to 1"):
        Reflection(rounds=0)
    with pytest.raises(ConfigError, match="sends the nudges"):
        Reflection(agent="user")
    assert "reflection" in known_protocols()


def test_debate_run_finds_the_protocol_by_its_module_alone(tmp_path):
    config = tmp_path / "reflect.toml"
    config.write_text('questions = "sample:open"\nlimit = 4\n[protocol]\nkind = "reflection"\nrounds = 1\n'
                      '[agents.model]\nmodel = "sim:strong"\n')
    done = debate("run", str(config), "--out", str(tmp_path / "run"), "--no-progress")
    assert done.returncode == 0, done.stderr
    trees = [json.loads(line) for line in (tmp_path / "run" / "trees.jsonl").read_text().splitlines()]
    assert len(trees) == 4 and all(t["metadata"]["protocol"] == "reflection" for t in trees)
    assert all(t["visibility"] == {"opening_round": 0, "label_others": False} for t in trees)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["summary"]["questions"] == 4
    config.write_text(config.read_text().replace("rounds = 1", "rounds = 0"))
    refused = debate("run", str(config), "--out", str(tmp_path / "bad"))
    assert refused.returncode == 2 and f"{config}:5: field 'protocol.rounds'" in refused.stderr
    assert not (tmp_path / "bad").exists()
