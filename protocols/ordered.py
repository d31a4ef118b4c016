"""OrderedDebate: N >= 2 agents take turns in a fixed order (PBT.md 8.4 is the two-agent case).

Round r is one turn by each agent, in `order`. With an independent opening round, every agent
answers the question in round 0 without seeing the others; from round 1 on each sees the
whole dialogue. The debate stops when its termination fires (by default: all agents agree, or
`rounds` rounds are over); the opening round always completes. The team's final answer is each
agent's last answer (team accuracy = mean correctness), their majority, or a judge agent's
verdict after the debate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field

from debate.errors import ConfigError
from debate.grading import grade, same_answer
from debate.tree import ROOT, DialogueTree, Visibility
from protocols.base import Protocol, ProtocolConfig, Record, TurnSpec, mean
from protocols.termination import Agreement, MaxTurns, Never, Termination

#: Rounds of a debate (one turn by each agent per round); pairing experiments use the same bound.
Rounds = Annotated[int, Field(ge=1, le=100, description="Rounds: one turn by each agent per round.")]


class DebateConfig(ProtocolConfig):
    kind: Literal["debate"] = "debate"
    order: list[str] = Field(default_factory=lambda: ["A", "B"], description="The speaking order (agent names).")
    rounds: Rounds = 2
    independent_opening: bool = Field(default=True, description="Round 0 answers without seeing the others.")
    stop_on_agreement: Literal["all", "two", "never"] = Field(
        default="all", description="Stop once all agents (or any two) hold the same answer, or never.")
    final: Literal["last", "majority", "judge"] = Field(
        default="last", description="The team's answer: each agent's last, their majority, or a judge's verdict.")
    judge: str | None = Field(default=None, description="The judge agent (final = 'judge').")

    def check(self) -> None:
        if len(self.order) < 2:
            raise ConfigError("a debate needs at least two agents", field="order")
        if len(set(self.order)) != len(self.order):
            raise ConfigError("an agent may appear only once in the speaking order", field="order")
        if self.final == "judge" and not self.judge:
            raise ConfigError("final = 'judge' needs a judge agent", field="judge")
        if self.judge is not None and self.judge in self.order:
            raise ConfigError("the judge cannot also debate", field="judge")


class DebateOutcome(Record):
    order: list[str]
    turns: int
    stopped: str
    first_answers: dict[str, str | None]
    first_correct: dict[str, bool]
    final_answers: dict[str, str | None]
    final_correct: dict[str, bool]
    #: Mean correctness of the agents' final answers.
    team_accuracy: float
    team_answer: str | None
    team_correct: bool


class DebateSummary(Record):
    dialogues: int
    solo_accuracy: dict[str, float | None]
    final_accuracy: dict[str, float | None]
    team_accuracy: float | None
    team_answer_accuracy: float | None
    mean_turns: float | None
    stopped: dict[str, int]


class OrderedDebate(Protocol[DebateConfig, DebateOutcome, DebateSummary]):

    def __init__(self, config: DebateConfig | None = None, **settings: object):
        super().__init__(config, **settings)
        c = self.config
        self.order = tuple(c.order)
        stop = Never() if c.stop_on_agreement == "never" else Agreement(c.stop_on_agreement)
        self.stop: Termination = MaxTurns(c.rounds * len(self.order)) | stop

    @property
    def visibility(self) -> Visibility:
        return Visibility(opening_round=1 if self.config.independent_opening else 0)

    @property
    def agents(self) -> tuple[str, ...]:
        return self.order + ((self.config.judge,) if self.config.judge else ())

    def due(self, tree: DialogueTree, new_nodes: Sequence[str]) -> list[TurnSpec]:
        if not new_nodes:
            return []
        node = new_nodes[-1]
        if node == ROOT:
            return [TurnSpec(ROOT, self.order[0], round=0)]
        if tree.turn(node).tag == "judge":
            return []
        spoken = tree.level(node) + 1
        in_opening = self.config.independent_opening and spoken < len(self.order)
        if in_opening or self.stop.reason(tree, node, self.order) is None:
            return [TurnSpec(node, self.order[spoken % len(self.order)], round=spoken // len(self.order))]
        if self.config.final == "judge":
            assert self.config.judge is not None  # final = "judge" without a judge is refused by the config
            return [TurnSpec(node, self.config.judge, persona="judge", round=self.config.rounds, tag="judge")]
        return []

    def outcome(self, tree: DialogueTree) -> DebateOutcome:
        chain = [n for n in tree.path(max(tree.leaves(), key=len)) if tree.turn(n).tag != "judge"]
        last = tree.turn(chain[-1]).answers
        first: dict[str, str | None] = {}
        for node in chain:
            turn = tree.turn(node)
            first.setdefault(turn.speaker, turn.answers.get(turn.speaker))
        correct = {name: grade(last.get(name), tree.question) for name in self.order}
        final = self._team_answer(tree, chain, last)
        return DebateOutcome(
            order=list(self.order), turns=len(chain),
            stopped=self.stop.reason(tree, chain[-1], self.order) or "max-turns",
            first_answers=first, first_correct={n: grade(a, tree.question) for n, a in first.items()},
            final_answers={name: last.get(name) for name in self.order}, final_correct=correct,
            team_accuracy=sum(correct.values()) / len(correct),
            team_answer=final, team_correct=grade(final, tree.question))

    def _team_answer(self, tree: DialogueTree, chain: list[str], last: dict[str, str | None]) -> str | None:
        if self.config.final == "judge":
            verdicts = [n for n in tree.leaves() if tree.turn(n).tag == "judge"]
            return tree.turn(verdicts[0]).answers.get(self.config.judge or "") if verdicts else None
        held = [last.get(name) for name in self.order if last.get(name) is not None]
        if self.config.final == "last":
            # The answer of the agent who spoke last (with "last" each agent's own answer is graded).
            return tree.turn(chain[-1]).answers.get(tree.turn(chain[-1]).speaker)
        # Majority vote over agreeing answers (same_answer); a tie goes to the answer given earliest in order.
        votes: Counter[int] = Counter()
        for answer in held:
            votes[next(i for i, other in enumerate(held) if same_answer(answer, other, tree.question))] += 1
        if not votes:
            return None
        best = max(votes.values())
        return held[min(i for i, v in votes.items() if v == best)]

    def summarize(self, outcomes: Sequence[DebateOutcome]) -> DebateSummary:
        return DebateSummary(
            dialogues=len(outcomes),
            solo_accuracy={n: mean([o.first_correct.get(n, False) for o in outcomes]) for n in self.order},
            final_accuracy={n: mean([o.final_correct[n] for o in outcomes]) for n in self.order},
            team_accuracy=mean([o.team_accuracy for o in outcomes]),
            team_answer_accuracy=mean([o.team_correct for o in outcomes]),
            mean_turns=mean([o.turns for o in outcomes]),
            stopped=dict(Counter(o.stopped for o in outcomes)))
