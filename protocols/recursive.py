"""RecursiveTree: the counterfactual dialogue trees of PBT (PBT.md section 2).

Each level names a speaker and a set of personas; every node of a level gets one child per
persona of the next level (1-2-6-12 in the paper's default shape: 21 turns, 12 leaves). With an
independent first round, the levels up to the first repeated speaker answer without seeing
each other. A node whose agents agree is not expanded further.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.personas import persona_prompt
from debate.errors import ConfigError
from debate.grading import grade
from debate.tree import ROOT, DialogueTree, Visibility
from protocols.base import Protocol, ProtocolConfig, Record, TurnSpec, agreed, mean


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    speaker: str = Field(min_length=1)
    personas: list[str] = Field(min_length=1)

    @field_validator("personas")
    @classmethod
    def _known_personas(cls, personas: list[str]) -> list[str]:
        for persona in personas:  # an unknown persona fails here, before any generation
            try:
                persona_prompt(persona)
            except ConfigError as exc:
                raise ValueError(exc.detail) from None
        return personas


PAPER_LEVELS = (
    Level(speaker="A", personas=["neutral"]),
    Level(speaker="B", personas=["resistant", "acceptant"]),
    Level(speaker="A", personas=["logical", "emotional", "credibility"]),
    Level(speaker="B", personas=["resistant", "acceptant"]),
)


#: The most turns a tree may reach unless the config raises it (the paper's shape has 21).
MAX_TURNS = 5_000


class TreeConfig(ProtocolConfig):
    kind: Literal["tree"] = "tree"
    levels: list[Level] = Field(default_factory=lambda: [lv.model_copy() for lv in PAPER_LEVELS], min_length=1,
                                description="Each level's speaker and personas (one child per persona).")
    independent_first_round: bool = Field(
        default=True, description="The levels before a speaker first speaks again answer independently.")
    stop_on_agreement: bool = Field(default=True, description="Do not expand a node whose agents agree.")
    max_depth: int | None = Field(default=None, ge=1, description="Use only the first N levels.")
    max_turns: int = Field(default=MAX_TURNS, ge=1, le=10_000_000,
                           description="A bound on the worst-case tree size (the engine holds whole trees).")
    guards = frozenset({"max_turns"})

    def used_levels(self) -> list[Level]:
        return self.levels[:self.max_depth] if self.max_depth else list(self.levels)

    def full_size(self) -> int:
        """Turns in a tree that never stops early (21 for the paper's shape)."""
        size, width = 0, 1
        for level in self.used_levels():
            width *= len(level.personas)
            size += width
        return size

    def check(self) -> None:
        if self.full_size() > self.max_turns:
            raise ConfigError(f"a tree of these levels can reach {self.full_size():,} turns per question, more "
                              f"than max_turns = {self.max_turns:,}; use fewer levels or personas, or raise "
                              "max_turns", field="levels")


class TreeOutcome(Record):
    turns: int
    leaves: int
    per_level: dict[str, int]
    agreement_nodes: int
    correct_answers: int
    unread: int


class TreeSummary(Record):
    trees: int
    turns: int
    mean_turns: float | None
    leaves: int
    full_trees: int
    agreement_nodes: int
    unread_share: float | None


class RecursiveTree(Protocol[TreeConfig, TreeOutcome, TreeSummary]):

    def __init__(self, config: TreeConfig | None = None, **settings: object):
        super().__init__(config, **settings)
        self.levels = self.config.used_levels()
        speakers = [level.speaker for level in self.levels]
        self.speakers = tuple(dict.fromkeys(speakers))
        # The opening round: the levels before a speaker first speaks again.
        first_repeat = next((i for i, s in enumerate(speakers) if s in speakers[:i]), len(speakers))
        self.opening_levels = first_repeat if self.config.independent_first_round else 0

    @property
    def visibility(self) -> Visibility:
        return Visibility(opening_round=1 if self.opening_levels else 0)

    @property
    def agents(self) -> tuple[str, ...]:
        return self.speakers

    def round_of(self, level: int) -> int:
        if not self.opening_levels:
            return level
        return 0 if level < self.opening_levels else level - self.opening_levels + 1

    def due(self, tree: DialogueTree, new_nodes: Sequence[str]) -> list[TurnSpec]:
        specs = []
        for node in new_nodes:
            next_level = 0 if node == ROOT else tree.level(node) + 1
            if next_level >= len(self.levels):
                continue
            if (node != ROOT and self.config.stop_on_agreement
                    and agreed(tree.turn(node).answers, self.speakers, tree.question)):
                continue
            level = self.levels[next_level]
            specs += [TurnSpec(node, level.speaker, persona=p, round=self.round_of(next_level))
                      for p in level.personas]
        return specs

    def outcome(self, tree: DialogueTree) -> TreeOutcome:
        nodes = tree.nodes()
        agreeing = [n for n in nodes if agreed(tree.turn(n).answers, self.speakers, tree.question)]
        correct_answers = sum(grade(a, tree.question) for n in nodes for a in tree.turn(n).answers.values())
        return TreeOutcome(turns=len(nodes), leaves=len(tree.leaves()),
                           per_level={str(k): len(v) for k, v in tree.levels().items()},
                           agreement_nodes=len(agreeing), correct_answers=correct_answers,
                           unread=sum((read := tree.turn(n).read) is not None and read.answer is None for n in nodes))

    def summarize(self, outcomes: Sequence[TreeOutcome]) -> TreeSummary:
        turns = sum(o.turns for o in outcomes)
        return TreeSummary(trees=len(outcomes), turns=turns, mean_turns=mean([o.turns for o in outcomes]),
                           leaves=sum(o.leaves for o in outcomes),
                           full_trees=sum(o.turns == self.config.full_size() for o in outcomes),
                           agreement_nodes=sum(o.agreement_nodes for o in outcomes),
                           unread_share=sum(o.unread for o in outcomes) / turns if turns else None)
