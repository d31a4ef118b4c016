"""Self-reflection: one model reconsiders its own answer, with no partner to persuade it.

The model answers the question; then, up to `rounds` times, a fixed nudge asks it to check its
last answer and keep or correct it, and it replies. Nothing new is argued, so any change of
answer is the model's own doing: the baseline that persuasion effects (a partner's turns, a
challenge, a planted claim) are measured against. With `stop_when_stable`, the dialogue ends at
the first reflection that keeps the answer.

The outcome follows the answer through the rounds: how often it changed, and whether the last
answer corrects a wrong first one (`corrected`) or abandons a right one (`broken`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from debate.errors import ConfigError
from debate.grading import grade, same_answer
from debate.tree import ROOT, DialogueTree, Visibility
from protocols.base import Protocol, ProtocolConfig, Record, TurnSpec, mean

NUDGE = ("Review your previous answer carefully. If you find a mistake, correct it; otherwise keep it. "
         "End with your final answer.")
#: Who sends the nudges (scripted turns, no model).
NUDGER = "user"


class ReflectionConfig(ProtocolConfig):
    kind: Literal["reflection"] = "reflection"
    agent: str = Field(default="model", description="The agent that reflects.")
    rounds: int = Field(default=2, ge=1, le=20, description="Reflections after the first answer.")
    nudge: str = Field(default=NUDGE, min_length=1, description="The message that asks for a reflection.")
    stop_when_stable: bool = Field(default=False, description="End at the first reflection that keeps the answer.")

    def check(self) -> None:
        if self.agent == NUDGER:
            raise ConfigError(f"'{NUDGER}' sends the nudges; name the agent otherwise", field="agent")


class ReflectionOutcome(Record):
    #: The agent's answer after each of its turns (the first answer, then each reflection).
    answers: list[str | None]
    correct_first: bool
    correct_last: bool
    #: Reflections whose answer differs from the one before (an unread answer counts as no change).
    changes: int
    corrected: bool
    broken: bool


class ReflectionSummary(Record):
    questions: int
    accuracy_first: float | None
    accuracy_last: float | None
    corrected: int
    broken: int
    mean_changes: float | None


class Reflection(Protocol[ReflectionConfig, ReflectionOutcome, ReflectionSummary]):

    @property
    def visibility(self) -> Visibility:
        return Visibility(label_others=False)  # the nudge is a plain user message

    @property
    def agents(self) -> tuple[str, ...]:
        return (self.config.agent,)

    def due(self, tree: DialogueTree, new_nodes: Sequence[str]) -> list[TurnSpec]:
        if not new_nodes:
            return []
        node = new_nodes[-1]
        if node == ROOT:
            return [TurnSpec(ROOT, self.config.agent)]
        if tree.turn(node).speaker == NUDGER:
            return [TurnSpec(node, self.config.agent, tag="reflection")]
        reflected = tree.level(node) // 2
        settled = reflected > 0 and self.config.stop_when_stable and not self._changed(tree, node)
        if reflected >= self.config.rounds or settled:
            return []
        return [TurnSpec(node, NUDGER, text=self.config.nudge, tag="nudge")]

    def _changed(self, tree: DialogueTree, reply: str) -> bool:
        """Whether a reflection's answer differs from the agent's answer before it."""
        before = tree.turn(tree.parent(reply)).answers.get(self.config.agent)
        after = tree.turn(reply).answers.get(self.config.agent)
        return not same_answer(before, after, tree.question) if before and after else False

    def outcome(self, tree: DialogueTree) -> ReflectionOutcome:
        own = [n for n in tree.path(max(tree.leaves(), key=len)) if tree.turn(n).speaker == self.config.agent]
        answers = [tree.turn(n).answers.get(self.config.agent) for n in own]
        first, last = grade(answers[0], tree.question), grade(answers[-1], tree.question)
        return ReflectionOutcome(answers=answers, correct_first=first, correct_last=last,
                                 changes=sum(self._changed(tree, n) for n in own[1:]),
                                 corrected=not first and last, broken=first and not last)

    def summarize(self, outcomes: Sequence[ReflectionOutcome]) -> ReflectionSummary:
        return ReflectionSummary(questions=len(outcomes), accuracy_first=mean([o.correct_first for o in outcomes]),
                                 accuracy_last=mean([o.correct_last for o in outcomes]),
                                 corrected=sum(o.corrected for o in outcomes), broken=sum(o.broken for o in outcomes),
                                 mean_changes=mean([o.changes for o in outcomes]))
