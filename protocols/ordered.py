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
from typing import Any, Literal

from debate.grading import grade, same_answer
from debate.errors import ConfigError
from debate.tree import ROOT, DialogueTree
from protocols.base import Protocol, TurnSpec, mean
from protocols.termination import Agreement, MaxTurns, Termination

FinalRule = Literal["last", "majority", "judge"]


class OrderedDebate(Protocol):
    name = "debate"

    def __init__(self, order: Sequence[str] = ("A", "B"), *, rounds: int = 2, independent_opening: bool = True,
                 stop: Termination | None = None, final: FinalRule = "last", judge: str | None = None):
        if len(order) < 2:
            raise ConfigError("a debate needs at least two agents", field="order")
        if len(set(order)) != len(order):
            raise ConfigError("an agent may appear only once in the speaking order", field="order")
        if rounds < 1:
            raise ConfigError("must be at least 1", field="rounds")
        if final == "judge" and not judge:
            raise ConfigError("final = 'judge' needs a judge agent", field="judge")
        if judge is not None and judge in order:
            raise ConfigError("the judge cannot also debate", field="judge")
        self.order = tuple(order)
        self.rounds = rounds
        self.independent_opening = independent_opening
        self.opening_round = 1 if independent_opening else 0
        self.stop = MaxTurns(rounds * len(order)) | (stop if stop is not None else Agreement("all"))
        self.final = final
        self.judge = judge

    @property
    def agents(self) -> tuple[str, ...]:
        return self.order + ((self.judge,) if self.judge else ())

    def due(self, tree: DialogueTree, new_nodes: Sequence[str]) -> list[TurnSpec]:
        if not new_nodes:
            return []
        node = new_nodes[-1]
        if node == ROOT:
            return [TurnSpec(ROOT, self.order[0], round=0)]
        if tree.turn(node).tag == "judge":
            return []
        spoken = tree.level(node) + 1
        in_opening = self.independent_opening and spoken < len(self.order)
        if in_opening or self.stop.reason(tree, node, self.order) is None:
            return [TurnSpec(node, self.order[spoken % len(self.order)], round=spoken // len(self.order))]
        if self.final == "judge":
            assert self.judge is not None  # final = "judge" without a judge is refused when built
            return [TurnSpec(node, self.judge, persona="judge", round=self.rounds, tag="judge")]
        return []

    def outcome(self, tree: DialogueTree) -> dict[str, Any]:
        chain = [n for n in tree.path(max(tree.leaves(), key=len)) if tree.turn(n).tag != "judge"]
        last = tree.turn(chain[-1]).answers
        first: dict[str, str | None] = {}
        for node in chain:
            turn = tree.turn(node)
            first.setdefault(turn.speaker, turn.answers.get(turn.speaker))
        correct = {name: grade(last.get(name), tree.question) for name in self.order}
        final = self._team_answer(tree, chain, last)
        return {
            "order": list(self.order), "turns": len(chain),
            "stopped": self.stop.reason(tree, chain[-1], self.order) or "max-turns",
            "first_answers": first, "first_correct": {n: grade(a, tree.question) for n, a in first.items()},
            "final_answers": {name: last.get(name) for name in self.order}, "final_correct": correct,
            "team_accuracy": sum(correct.values()) / len(correct),
            "team_answer": final, "team_correct": grade(final, tree.question),
        }

    def _team_answer(self, tree: DialogueTree, chain: list[str], last: dict[str, str | None]) -> str | None:
        if self.final == "judge":
            verdicts = [n for n in tree.leaves() if tree.turn(n).tag == "judge"]
            return tree.turn(verdicts[0]).answers.get(self.judge or "") if verdicts else None
        held = [last.get(name) for name in self.order if last.get(name) is not None]
        if self.final == "last":
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

    def summarize(self, outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
        stopped = Counter(o["stopped"] for o in outcomes)
        return {
            "dialogues": len(outcomes),
            "solo_accuracy": {n: mean([o["first_correct"].get(n, False) for o in outcomes]) for n in self.order},
            "final_accuracy": {n: mean([o["final_correct"][n] for o in outcomes]) for n in self.order},
            "team_accuracy": mean([o["team_accuracy"] for o in outcomes]),
            "team_answer_accuracy": mean([o["team_correct"] for o in outcomes]),
            "mean_turns": mean([o["turns"] for o in outcomes]),
            "stopped": dict(stopped),
        }
