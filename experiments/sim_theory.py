"""Closed-form expectations for simulated agents in the team debate (PBT.md 8.4).

The derivation is in docs/sim-team-debate.md. In short: with the debate's default shape (two
rounds, an independent opening round, stop on agreement, neutral personas) and questions that
list exactly one wrong answer, a question's team score T (the mean correctness of the two final
answers) takes the values 0, 1/2 or 1 with probabilities that follow from each agent's
accuracy a, accept_correct c and accept_wrong w. F speaks first, S second:

| first answers (F, S) | probability | what happens next | T |
|---|---|---|---|
| right, right | a_F a_S | they agree at once | 1 |
| wrong, wrong | (1-a_F)(1-a_S) | they agree on the one wrong answer | 0 |
| right, wrong | a_F (1-a_S) | F adopts S's wrong answer (w_F): agreement | 0 |
| | | else S adopts F's right answer (c_S) | 1 |
| | | else both hold | 1/2 |
| wrong, right | (1-a_F) a_S | F adopts S's right answer (c_F): agreement | 1 |
| | | else S adopts F's wrong answer (w_S) | 0 |
| | | else both hold | 1/2 |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agents.sim import SimParams


@dataclass(frozen=True)
class TeamExpectation:
    #: P(T = 0), P(T = 1/2), P(T = 1) for one question.
    p0: float
    p_half: float
    p1: float

    @property
    def mean(self) -> float:
        return 0.5 * self.p_half + self.p1

    @property
    def variance(self) -> float:
        return 0.25 * self.p_half + self.p1 - self.mean ** 2

    def half_width(self, questions: int, z: float = 3.29) -> float:
        """Half-width of the interval a mean over `questions` questions falls in (z = 3.29: 99.9%)."""
        return z * math.sqrt(self.variance / questions)


def team_expectation(first: SimParams, second: SimParams) -> TeamExpectation:
    """The distribution of one question's team score when `first` speaks first."""
    a_f, a_s = first.accuracy, second.accuracy
    right_wrong, wrong_right = a_f * (1 - a_s), (1 - a_f) * a_s
    p1 = a_f * a_s
    p1 += right_wrong * (1 - first.accept_wrong) * second.accept_correct
    p1 += wrong_right * first.accept_correct
    p_half = right_wrong * (1 - first.accept_wrong) * (1 - second.accept_correct)
    p_half += wrong_right * (1 - first.accept_correct) * (1 - second.accept_wrong)
    return TeamExpectation(p0=1 - p1 - p_half, p_half=p_half, p1=p1)


def order_gap(x: SimParams, y: SimParams) -> float:
    """Expected team accuracy with x first minus with y first."""
    return team_expectation(x, y).mean - team_expectation(y, x).mean


def gap_half_width(x: SimParams, y: SimParams, questions: int, z: float = 3.29) -> float:
    """Half-width for the measured gap. The two orders' dialogues use independent draws (their
    node seeds differ) but share each question's knowledge draws, so the variance of the
    per-question difference is bounded by the sum of the two variances plus twice their product
    of standard deviations; the bound keeps the interval honest without modelling the coupling."""
    e1, e2 = team_expectation(x, y), team_expectation(y, x)
    return z * (math.sqrt(e1.variance) + math.sqrt(e2.variance)) / math.sqrt(questions)
