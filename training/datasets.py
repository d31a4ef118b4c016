"""From preference pairs to PBT training sets (PBT.md section 6).

Pairs are de-duplicated, split by question (70/15/15, seeded, so no question is in two splits)
and turned into TRL's conversational preference records: `prompt` is the dialogue up to and
including the persuasion turn, seen by the speaker (its own turns `assistant`, the other's
`user`) under the neutral task prompt; `chosen` and `rejected` are one assistant message each.
Provenance rides along. The conditions of the paper:

- `accept`: accept pairs trimmed to N (in the paper accept pairs are the scarcer kind, so all N);
- `resist`: resist pairs trimmed to N;
- `balanced` (PBT): N accept + N resist;
- `all`: every kept pair, unlabelled ones included;

where N is the count of the scarcer kind in the training split. The dev and test splits, cut to
equal numbers of resist and accept items, are also saved as dialogue prefixes: the balanced
persuasion benchmark (PBT.md 8.3) that `debate eval balanced` replays.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from agents.agent import chat_messages
from agents.personas import persona_prompt
from debate.errors import DataError
from debate.records import Message
from debate.render import render_for_next
from debate.tree import ROOT, DialogueTree
from training.pairs import Pair

Condition = Literal["balanced", "resist", "accept", "all"]
CONDITIONS: tuple[Condition, ...] = ("balanced", "resist", "accept", "all")
SPLITS = ("train", "dev", "test")


def _plain(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def preference_record(tree: DialogueTree, pair: Pair) -> dict[str, Any]:
    """One TRL conversational preference record, with its provenance."""
    speaker = pair.speaker
    # What the speaker saw before its reply, under the neutral prompt (the trained model never
    # sees persona prompts). The opening round of a tree is 0 or 1 levels deep: infer it from rounds.
    opening = 1 if any(tree.round(n) == 0 and tree.level(n) > 0 for n in tree.nodes()) else 0
    history = render_for_next(tree, pair.parent, speaker, next_round=tree.round(pair.chosen), opening_round=opening)
    question = Message(role="user", content=tree.question.prompt_text())
    prompt = chat_messages(persona_prompt("neutral"), question, history)
    return {
        "prompt": _plain(prompt),
        "chosen": [{"role": "assistant", "content": tree.turn(pair.chosen).text}],
        "rejected": [{"role": "assistant", "content": tree.turn(pair.rejected).text}],
        "label": pair.label,
        "provenance": {"tree_id": pair.tree_id, "question_id": tree.question.id, "parent": pair.parent,
                       "chosen": pair.chosen, "rejected": pair.rejected, "speaker": speaker,
                       "scores": list(pair.scores), "strategy": pair.strategy, "models": list(pair.models),
                       "reason": pair.reason},
    }


def sft_record(record: dict[str, Any]) -> dict[str, Any]:
    """The same prompt with the chosen reply as its last message (the SFT warm-up)."""
    return {"messages": record["prompt"] + record["chosen"], "label": record["label"],
            "provenance": record["provenance"]}


def dedupe(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    unique = []
    for record in records:
        key = json.dumps([record["prompt"], record["chosen"], record["rejected"]], sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique


def split_by_question(records: Sequence[dict[str, Any]], seed: int = 0,
                      shares: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> dict[str, list[dict[str, Any]]]:
    """Questions (not pairs) are shuffled with `seed` and cut 70/15/15."""
    questions = sorted({r["provenance"]["question_id"] for r in records})
    random.Random(seed).shuffle(questions)
    cut_train = round(shares[0] * len(questions))
    cut_dev = cut_train + round(shares[1] * len(questions))
    where = {q: "train" if i < cut_train else "dev" if i < cut_dev else "test" for i, q in enumerate(questions)}
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
    for record in records:
        splits[where[record["provenance"]["question_id"]]].append(record)
    return splits


def condition(records: Sequence[dict[str, Any]], kind: Condition, seed: int = 0) -> list[dict[str, Any]]:
    """The training records of one condition; N = the count of the scarcer labelled kind."""
    if kind == "all":
        return list(records)
    by_label = {label: [r for r in records if r["label"] == label] for label in ("accept", "resist")}
    n = min(len(v) for v in by_label.values())
    rng = random.Random(seed)
    if kind == "balanced":
        if n == 0:
            empty = next(label for label, v in by_label.items() if not v)
            raise DataError(f"0 {empty} pairs: balanced needs both kinds (accept {len(by_label['accept'])}, "
                            f"resist {len(by_label['resist'])})", field="condition")
        return rng.sample(by_label["accept"], n) + rng.sample(by_label["resist"], n)
    if not by_label[kind]:
        raise DataError(f"0 {kind} pairs: nothing to train on", field="condition")
    # Single-kind conditions are trimmed to N, the paper's matched size, when the other kind
    # exists at all; otherwise every pair of the kind is used.
    return rng.sample(by_label[kind], n) if n else list(by_label[kind])


def balanced_items(records: Sequence[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Equal numbers of resist and accept records (the balanced persuasion benchmark)."""
    by_label = {label: [r for r in records if r["label"] == label] for label in ("resist", "accept")}
    n = min(len(v) for v in by_label.values())
    rng = random.Random(seed)
    return rng.sample(by_label["resist"], n) + rng.sample(by_label["accept"], n)


def benchmark_prefix(tree: DialogueTree, record: dict[str, Any]) -> DialogueTree:
    """The dialogue up to the persuasion turn, labelled, for `debate eval balanced` to replay."""
    provenance = record["provenance"]
    prefix = DialogueTree(tree.question, tree_id=f"{provenance['tree_id']}@{provenance['chosen']}",
                          metadata={"label": record["label"], "replay_node": None,
                                    "replay_speaker": provenance["speaker"], "source_tree": provenance["tree_id"]})
    node = ROOT
    for original in tree.path(provenance["parent"]) if provenance["parent"] != ROOT else []:
        node = prefix.add_turn(node, tree.turn(original), round=tree.round(original))
    prefix.metadata["replay_node"] = node
    return prefix


def card(splits: dict[str, list[dict[str, Any]]], train: list[dict[str, Any]], kind: Condition) -> dict[str, Any]:
    """Counts by label, split and source model."""
    def counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
        return dict(Counter(r["label"] or "unlabelled" for r in records))
    models = Counter(m for records in splits.values() for r in records for m in r["provenance"]["models"])
    return {"condition": kind, "train": {"records": len(train), "by_label": counts(train)},
            "pairs_by_split": {name: counts(records) for name, records in splits.items()},
            "questions_by_split": {name: len({r["provenance"]["question_id"] for r in records})
                                   for name, records in splits.items()},
            "source_models": dict(models)}

