"""Scores and preference pairs from dialogue trees (PBT.md sections 4 and 5).

`correct(node)` counts the agents whose current answer at the node is right (exact grading,
`debate.grading`: never the lenient agreement rule, which is for agreement between agents);
`score(node)` adds the scores of its children: how right the dialogue below it ends. Sibling
turns (same parent, hence the same context) whose scores differ clearly become a (chosen,
rejected) pair, labelled by what the speaker did with the answer it was pushed:

- resist (+ -> -): it held a right answer, was pushed a wrong one; chosen stays right, rejected
  is wrong;
- accept (- -> +): it held a wrong answer, was pushed a right one; chosen is right, rejected
  stays wrong;
- anything else is unlabelled (kept only on request).

As in the reference, only the persuadee's replies to a persuasion turn are labelled: siblings
whose parent is a persuasion-persona turn by the other agent (in the paper's tree, B's level-3
replies to A's level-2 logical / emotional / credibility turns). `persuasion_only=False` also
labels replies to any seen turn of the other agent (A's level-2 replies to B's independent
answer, whose "strategy" is then B's persona). A speaker with no answer of its own before the
parent turn gets no label: nothing was resisted or accepted.

Two departures from the released reference code, both deliberate (PBT.md 5): answer slots are
read by agent name, as the paper means (the code's inconsistent indexing labels almost nothing
on clean trees); and the gap test is `>= threshold` by default (the code's strict `> 0.5`
rejects every clean accept pair at the leaves, 2 vs 1), with `strict=True` for the original.
A third, of ours: correctness is exact alias matching with numbers compared as numbers
(`debate.grading`), where the reference normalises and matches strings; siblings in an
independent round (the speaker had not seen the parent turn) are never labelled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from agents.personas import PERSUASION_PERSONAS
from debate.grading import grade
from debate.render import sees
from debate.tree import ROOT, DialogueTree


def correct(tree: DialogueTree, node: str) -> int:
    """How many agents hold a right answer after the node (exact grading)."""
    return sum(grade(answer, tree.question) for answer in tree.turn(node).answers.values())


def scores(tree: DialogueTree) -> dict[str, int]:
    """score(node) = correct(node) + the scores of its children, for every turn node."""
    @cache
    def score(node: str) -> int:
        return correct(tree, node) + sum(score(child) for child in tree.children(node))
    return {node: score(node) for node in tree.nodes()}


@dataclass(frozen=True)
class Pair:
    tree_id: str
    parent: str
    chosen: str
    rejected: str
    speaker: str
    label: str | None
    scores: tuple[int, int]
    reason: str = ""
    #: The persuasion strategy of the parent turn (its persona) and the models that spoke.
    strategy: str = ""
    models: tuple[str, ...] = field(default_factory=tuple)


def _all_correct(tree: DialogueTree, node: str) -> bool:
    answers = tree.turn(node).answers
    return bool(answers) and all(grade(a, tree.question) for a in answers.values())


def label_of(tree: DialogueTree, parent: str, chosen: str, rejected: str, *,
             persuasion_only: bool = True) -> tuple[str | None, str]:
    """The pair's label and, when it has none, why."""
    speaker = tree.turn(chosen).speaker
    if parent == ROOT:
        return None, "no parent turn: nobody was persuaded"
    if not sees(tree, parent, speaker, round=tree.round(chosen)):
        return None, "independent round: the speaker had not seen the parent turn"
    pushing = tree.turn(parent)
    if pushing.speaker == speaker:
        return None, "the parent turn is the speaker's own"
    if persuasion_only and pushing.persona not in PERSUASION_PERSONAS:
        return None, f"the parent turn is not a persuasion turn (persona {pushing.persona})"
    prev = pushing.answers.get(speaker)
    if prev is None:
        return None, "the speaker held no answer of its own before the parent turn"
    pushed = pushing.answers.get(pushing.speaker)
    right = {name: grade(tree.turn(node).answers.get(speaker), tree.question)
             for name, node in (("chosen", chosen), ("rejected", rejected))}
    prev_right, pushed_right = grade(prev, tree.question), grade(pushed, tree.question)
    if prev_right and not pushed_right and right["chosen"] and not right["rejected"]:
        return "resist", ""
    if not prev_right and pushed_right and right["chosen"] and not right["rejected"]:
        return "accept", ""
    return None, (f"prev {'right' if prev_right else 'wrong'}, pushed {'right' if pushed_right else 'wrong'}, "
                  f"chosen {'right' if right['chosen'] else 'wrong'}, "
                  f"rejected {'right' if right['rejected'] else 'wrong'}")


def mine_pairs(tree: DialogueTree, *, threshold: float = 0.5, strict: bool = False,
               persuasion_only: bool = True) -> Iterator[Pair]:
    """Every kept sibling pair of a tree, labelled or not (PBT.md 5, rules 1-5)."""
    score = scores(tree)
    models = tuple(sorted({tree.turn(n).model for n in tree.nodes() if tree.turn(n).model}))
    for parent in [ROOT, *tree.nodes()]:
        children = tree.children(parent)
        for i, a in enumerate(children):
            for b in children[i + 1:]:
                if len(tree.children(a)) != len(tree.children(b)):
                    continue  # rule 1: the same number of children
                if _all_correct(tree, a) and _all_correct(tree, b):
                    continue  # rule 2: both have every agent right
                big, small = max(score[a], score[b]), min(score[a], score[b])
                if big == small or big == 0:
                    continue  # rule 3
                gap = (big - small) / big
                if gap < threshold or (strict and gap == threshold):
                    continue  # rule 4
                chosen, rejected = (a, b) if score[a] > score[b] else (b, a)
                label, reason = label_of(tree, parent, chosen, rejected, persuasion_only=persuasion_only)
                yield Pair(tree.tree_id, parent, chosen, rejected, tree.turn(chosen).speaker, label,
                           (score[chosen], score[rejected]), reason,
                           strategy=tree.turn(parent).persona if parent != ROOT else "", models=models)
