"""What a protocol is: a declarative rule for which turns are due next in a dialogue tree.

A protocol never calls a model. The engine asks it, for each open tree, which turns are due
given the nodes added in the last step (`ROOT` at the start); generates them all in batches;
adds them to the trees; and asks again. A tree is finished when nothing more is due; the
protocol then summarises it (`outcome`), and the summary is stored in the tree's metadata.

Because `due` depends only on the tree, a resumed run re-expands an unfinished tree exactly as
the first run would have (its generations come back from the cache).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from debate.grading import same_answer
from debate.records import Question
from debate.tree import ROOT, DialogueTree


@dataclass(frozen=True)
class TurnSpec:
    """One turn due: a new child of `parent` spoken by `speaker`.

    A generated turn has `text=None`: the speaker's agent writes it (with `persona` in place of
    its own persona when given). A scripted turn carries its `text` (a challenge, a planted
    claim, a probe question) and, optionally, the `answer` it asserts; no model is called.
    """

    parent: str
    speaker: str
    persona: str | None = None
    #: The agent that writes the turn, when it is not the agent named `speaker` (Replay lets
    #: one model continue a stored dialogue as one of its speakers).
    agent: str | None = None
    round: int | None = None
    text: str | None = None
    answer: str | None = None
    tag: str | None = None

    @property
    def scripted(self) -> bool:
        return self.text is not None


class Protocol(abc.ABC):
    #: The name used in configs and stored in each tree's metadata.
    name: str = ""
    #: Turns with round < opening_round are independent: others' stay hidden until it is over.
    opening_round: int = 0
    #: Label other speakers' turns ("Agent B: ...") when rendering; off when one user talks.
    label_others: bool = True

    @property
    @abc.abstractmethod
    def agents(self) -> tuple[str, ...]:
        """The agent names whose turns a model writes (each needs an agent in the run)."""

    def check(self, item: Any) -> None:  # noqa: B027 - a default that accepts everything
        """Refuse an input this protocol cannot run (a DataError), before anything is written."""

    def new_tree(self, question: Question) -> DialogueTree:
        return DialogueTree(question, metadata={"protocol": self.name})

    @abc.abstractmethod
    def due(self, tree: DialogueTree, new_nodes: Sequence[str]) -> list[TurnSpec]:
        """The turns due after `new_nodes` were added (`[ROOT]` for a new tree)."""

    @abc.abstractmethod
    def outcome(self, tree: DialogueTree) -> dict[str, Any]:
        """A JSON-ready summary of a finished tree (what experiments aggregate)."""

    @abc.abstractmethod
    def summarize(self, outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The run's figures from the outcomes of its finished trees."""


# ---------------------------------------------------------------------- shared helpers

def held_answers(tree: DialogueTree, node: str) -> dict[str, str | None]:
    """Every agent's current answer at `node` (empty at the root)."""
    return {} if node == ROOT else dict(tree.turn(node).answers)


def agreed(answers: dict[str, str | None], names: Sequence[str], question: Question) -> bool:
    """True when every named agent holds an answer and all of them are the same (`same_answer`)."""
    held = [answers.get(name) for name in names]
    if len(held) < 2 or any(a is None for a in held):
        return False
    return all(same_answer(held[0], other, question) for other in held[1:])



def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
