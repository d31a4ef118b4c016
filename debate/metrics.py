"""Metrics for pairing experiments: accuracies, paired intervals and tests, pull-up, and the
directional persuasion matrix (PBT.md 8.4). Pure functions over per-question outcomes, so that
any experiment (simulated or real) is scored the same way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the mean of no values")
    return sum(values) / len(values)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def bootstrap_interval(values: Sequence[float], *, resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean of `values` (questions resampled with replacement).

    For a paired comparison pass the per-question differences: resampling questions keeps the
    pairing.
    """
    if not values:
        raise ValueError("a bootstrap interval needs at least one value")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    return Interval(means[int(math.floor(tail * (resamples - 1)))], means[int(math.ceil((1 - tail) * (resamples - 1)))])


def mcnemar_exact(first_better: int, second_better: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (a binomial sign test, p = 1/2)."""
    n = first_better + second_better
    if n == 0:
        return 1.0
    k = min(first_better, second_better)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_sign_counts(first: Sequence[float], second: Sequence[float]) -> tuple[int, int]:
    """How many questions scored higher under the first condition, and how many under the second.

    With binary outcomes these are McNemar's discordant cells; with team scores of 0, 1/2 or 1
    they are the questions where the order changed the outcome, in each direction.
    """
    if len(first) != len(second):
        raise ValueError("paired outcomes need the same questions in both conditions")
    return sum(a > b for a, b in zip(first, second)), sum(a < b for a, b in zip(first, second))


def pull_up(team: float, weak_solo: float, strong_solo: float) -> float | None:
    """(team - weak solo) / (strong solo - weak solo): 0 = the team is as good as the weaker agent
    alone, 1 = as good as the stronger one. None when the two solo accuracies are equal."""
    if strong_solo == weak_solo:
        return None
    return (team - weak_solo) / (strong_solo - weak_solo)


TRANSITIONS = ("correct->wrong", "wrong->correct", "held correct", "held wrong")


def transition(first_correct: bool, final_correct: bool) -> str:
    """One cell of the directional persuasion matrix, from an agent's first and final answers."""
    if first_correct:
        return "held correct" if final_correct else "correct->wrong"
    return "wrong->correct" if final_correct else "held wrong"


def transition_counts(pairs: Sequence[tuple[bool, bool]]) -> dict[str, int]:
    counts = dict.fromkeys(TRANSITIONS, 0)
    for first_correct, final_correct in pairs:
        counts[transition(first_correct, final_correct)] += 1
    return counts
