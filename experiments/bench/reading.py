"""How well answers are read and graded, on the labelled corpus (tests/reading/).

Every item is run through the engine itself: its dialogue context becomes a stored tree, the
Replay protocol continues it with the item's reply (a model that returns the stored reply),
and the engine reads and resolves the answer exactly as in a run, with each reader asked for.
Figures per reader:

- resolved accuracy: the resolved answer is the labelled one (the same after normalising, one
  of the label's `also` forms, or both correct);
- correctness agreement: graded correct exactly when the label says correct;
- false-correct: graded correct although the label says wrong (share of the wrong-labelled items);
- by category (what the reply calls for: answer / Agree / Disagree / NONE), source, question kind,
  and the confusion between the labelled and the read category.

    python -m experiments.bench.reading [--readers default final-line candidates ...] [--errors 20]

The `probe` reader needs the speaker's model: `--probe-model gguf:smollm2` stands behind the
stored replies and answers the probe on its side branch (`llm:SPEC` loads its own model).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agents.agent import Agent
from agents.base import ChatModel
from agents.registry import load_model
from debate.grading import grade, normalize, yes_no
from debate.records import AnswerRead, ChatRequest, Reply, Turn
from debate.tree import ROOT, DialogueTree
from experiments.bench.common import DEFAULT_OUT, machine, save
from experiments.bench.corpus import CorpusItem, load_corpus
from protocols.engine import Engine
from protocols.readers import PROBE_PROMPTS, make_reader
from protocols.replay import Replay

READERS = ("default", "final-line", "candidates", "open", "yes-no", "option")
TARGETS = {"resolved_accuracy": 0.95, "correctness_agreement": 0.97, "false_correct": 0.01, "category_floor": 0.90}


class StoredReplies(ChatModel):
    """Returns each item's stored reply for its turn; anything else (a probe) goes to `fallback`."""

    model_id = "corpus"

    def __init__(self, replies: dict[str, str], fallback: ChatModel | None = None):
        self.replies = replies
        self.fallback = fallback

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        out: list[Reply | None] = []
        follow_ups = []
        for request in requests:
            assert request.question is not None
            reply = self.replies[request.question.id]
            if request.messages[-1].content in PROBE_PROMPTS.values():
                follow_ups.append((len(out), request))
                out.append(None)
            else:
                out.append(Reply(text=reply, model=self.model_id))
        if follow_ups:
            if self.fallback is None:
                raise SystemExit("this reader asks the speaker's model again: give --probe-model SPEC")
            for (i, _), answered in zip(follow_ups, await self.fallback.generate([r for _, r in follow_ups])):
                out[i] = answered
        return [r for r in out if r is not None]


def item_tree(item: CorpusItem) -> DialogueTree:
    """The item's context as a stored tree, to be continued by the item's speaker at its last turn."""
    question = item.question.model_copy(update={"id": item.id})
    tree = DialogueTree(question)
    answers: dict[str, str | None] = {}
    parent = ROOT
    for turn in item.context:
        if turn.speaker != "user":
            answers[turn.speaker] = turn.answer
        parent = tree.add_turn(parent, Turn(speaker=turn.speaker, text=turn.text, answers=dict(answers),
                                            tag="scripted" if turn.speaker == "user" else None))
    tree.metadata = {"replay_node": parent, "replay_speaker": item.speaker}
    return tree


@dataclass
class Outcome:
    item: CorpusItem
    read: AnswerRead
    resolved: str | None

    @property
    def category(self) -> str:
        return self.read.special if self.read.special is not None else "answer"

    @property
    def right(self) -> bool:
        return matches_label(self.resolved, self.item)

    @property
    def graded(self) -> bool:
        return grade(self.resolved, self.item.question)


def matches_label(answer: str | None, item: CorpusItem) -> bool:
    if answer is None or item.resolved is None:
        return answer is None and item.resolved is None
    if item.question.kind == "yes-no":
        return yes_no(answer) == item.resolved
    if normalize(answer) in {normalize(x) for x in (item.resolved, *item.also)}:
        return True
    return item.correct and grade(answer, item.question)


def run_reader(name: str, items: Sequence[CorpusItem], probe_model: ChatModel | None = None) -> list[Outcome]:
    """Read every item through the engine with reader `name`."""
    model = StoredReplies({item.id: item.reply for item in items}, fallback=probe_model)
    engine = Engine(Replay(agent="model"), {"model": Agent("model", model)}, reader=make_reader(name))
    trees: dict[str, DialogueTree] = {}
    engine.run((item_tree(item) for item in items), lambda tree: trees.__setitem__(tree.tree_id, tree))
    outcomes = []
    for item in items:
        tree = trees[item.id]
        if "failed" in tree.metadata:
            raise SystemExit(f"item {item.id}: {tree.metadata['failed']}")
        turn = next(tree.turn(n) for n in tree.nodes() if tree.turn(n).tag == "replay")
        assert turn.read is not None
        outcomes.append(Outcome(item, turn.read, turn.answers.get(item.speaker)))
    return outcomes


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def figures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    wrong = [o for o in outcomes if not o.item.correct]
    groups: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for o in outcomes:
        groups["category"][o.item.category].append(o)
        groups["source"][o.item.source].append(o)
        groups["kind"][o.item.question.kind].append(o)
        groups["style"][o.item.style].append(o)
        groups["split"][o.item.split].append(o)
    confusion = Counter(f"{o.item.category} -> {o.category}" for o in outcomes)
    return {
        "items": len(outcomes),
        "resolved_accuracy": _share([o.right for o in outcomes]),
        "correctness_agreement": _share([o.graded == o.item.correct for o in outcomes]),
        "false_correct": _share([o.graded for o in wrong]),
        "false_correct_items": sum(o.graded for o in wrong),
        "wrong_items": len(wrong),
        "unread_share": _share([o.resolved is None for o in outcomes]),
        "labelled_unread_share": _share([o.item.resolved is None for o in outcomes]),
        "by": {key: {value: {"n": len(group), "resolved_accuracy": _share([o.right for o in group]),
                             "correctness_agreement": _share([o.graded == o.item.correct for o in group])}
                     for value, group in sorted(values.items())}
               for key, values in groups.items()},
        "confusion": dict(sorted(confusion.items())),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def report(results: dict[str, dict[str, Any]], console: Console) -> None:
    table = Table(title="Answer reading on the labelled corpus (%)")
    for column in ("reader", "n", "resolved", "correctness", "false-correct", "unread (labelled)",
                   "answer", "Agree", "Disagree", "NONE"):
        table.add_column(column, justify="left" if column == "reader" else "right")
    for name, fig in results.items():
        cats = fig["by"]["category"]
        table.add_row(name, str(fig["items"]), _pct(fig["resolved_accuracy"]), _pct(fig["correctness_agreement"]),
                      f"{_pct(fig['false_correct'])} ({fig['false_correct_items']}/{fig['wrong_items']})",
                      f"{_pct(fig['unread_share'])} ({_pct(fig['labelled_unread_share'])})",
                      *(_pct(cats.get(c, {}).get("resolved_accuracy"))
                        for c in ("answer", "Agree", "Disagree", "NONE")))
    console.print(table)
    for key in ("source", "kind", "split"):
        sub = Table(title=f"Resolved accuracy / correctness agreement by {key} (%)")
        values = sorted({v for fig in results.values() for v in fig["by"][key]})
        sub.add_column("reader")
        for value in values:
            sub.add_column(f"{value} (n={next(iter(results.values()))['by'][key][value]['n']})", justify="right")
        for name, fig in results.items():
            sub.add_row(name, *(f"{_pct(fig['by'][key][v]['resolved_accuracy'])} / "
                                f"{_pct(fig['by'][key][v]['correctness_agreement'])}" for v in values))
        console.print(sub)


def show_errors(outcomes: Sequence[Outcome], limit: int, console: Console) -> None:
    errors = [o for o in outcomes if not o.right or o.graded != o.item.correct]
    console.print(f"[bold]{len(errors)} misread items[/bold] (first {min(limit, len(errors))})")
    for o in errors[:limit]:
        reply = " ".join(o.item.reply.split())
        console.print(f"{o.item.id} [{o.item.category}] label={o.item.resolved!r} "
                      f"({'right' if o.item.correct else 'wrong'})"
                      f"  read={o.resolved!r} via {o.read.reader} {o.read.special or ''}\n    {reply[:300]}",
                      markup=False, highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="Answer reading and grading on the labelled corpus.")
    parser.add_argument("--readers", nargs="+", default=list(READERS), help="readers to measure (default: all rules)")
    parser.add_argument("--corpus", nargs="+", type=Path, help="corpus files (default: tests/reading/*.jsonl)")
    parser.add_argument("--source", choices=["smollm2", "written"], help="only the items of one source")
    parser.add_argument("--split", choices=["dev", "heldout"], help="only the items of one split")
    parser.add_argument("--probe-model", help="the speaker's model, for the probe reader (e.g. gguf:smollm2)")
    parser.add_argument("--errors", type=int, default=0, help="print the first N misread items of the first reader")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    items = load_corpus(args.corpus)
    if args.source:
        items = [i for i in items if i.source == args.source]
    if args.split:
        items = [i for i in items if i.split == args.split]
    probe_model = load_model(args.probe_model) if args.probe_model else None
    console = Console(width=150)
    results, timings = {}, {}
    first: list[Outcome] = []
    for name in args.readers:
        start = time.perf_counter()
        outcomes = run_reader(name, items, probe_model)
        timings[name] = round(time.perf_counter() - start, 2)
        results[name] = figures(outcomes)
        first = first or outcomes
    report(results, console)
    default = results.get("default")
    if default is not None:
        floor = min(c["resolved_accuracy"] for c in default["by"]["category"].values())
        met = (default["resolved_accuracy"] >= TARGETS["resolved_accuracy"]
               and default["correctness_agreement"] >= TARGETS["correctness_agreement"]
               and default["false_correct"] <= TARGETS["false_correct"] and floor >= TARGETS["category_floor"])
        console.print(f"default chain: targets (resolved >= 95%, correctness >= 97%, false-correct <= 1%, "
                      f"every category >= 90%) {'met' if met else 'NOT met'}")
    if args.errors:
        show_errors(first, args.errors, console)
    path = save(args.out, "reading", {"machine": machine(), "items": len(items), "targets": TARGETS,
                                      "readers": results, "seconds": timings})
    console.print(f"saved {path}")


if __name__ == "__main__":
    main()
