"""When an ordered debate stops: small conditions that compose with `|`.

`MaxTurns(6) | Agreement("all")` stops after six turns or as soon as every agent holds the same
answer, whichever comes first. A condition returns the reason it fired, or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from debate.tree import DialogueTree
from protocols.base import agreed


class Termination:
    def reason(self, tree: DialogueTree, node: str, agents: Sequence[str]) -> str | None:
        raise NotImplementedError

    def __or__(self, other: Termination) -> Termination:
        return AnyOf((self, other))


@dataclass(frozen=True)
class AnyOf(Termination):
    conditions: tuple[Termination, ...]

    def reason(self, tree: DialogueTree, node: str, agents: Sequence[str]) -> str | None:
        return next((r for c in self.conditions if (r := c.reason(tree, node, agents)) is not None), None)


@dataclass(frozen=True)
class MaxTurns(Termination):
    turns: int

    def reason(self, tree: DialogueTree, node: str, agents: Sequence[str]) -> str | None:
        return "max-turns" if tree.level(node) + 1 >= self.turns else None


@dataclass(frozen=True)
class Agreement(Termination):
    """`all`: every agent holds the same answer; `two`: at least two agents do."""

    among: Literal["all", "two"] = "all"

    def reason(self, tree: DialogueTree, node: str, agents: Sequence[str]) -> str | None:
        answers = tree.turn(node).answers
        if self.among == "all":
            return "agreement" if agreed(answers, agents, tree.question) else None
        pairs = ((a, b) for i, a in enumerate(agents) for b in agents[i + 1:])
        return "agreement" if any(agreed(answers, pair, tree.question) for pair in pairs) else None


class Never(Termination):
    """Never fires: the debate runs all its rounds."""

    def reason(self, tree: DialogueTree, node: str, agents: Sequence[str]) -> str | None:
        return None
