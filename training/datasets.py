"""From preference pairs to PBT training sets (PBT.md section 6).

Pairs are de-duplicated, split by question (70/15/15, seeded, so no question is in two splits)
and turned into `PreferenceExample`s, TRL's conversational preference records: `prompt` is the
dialogue up to and including the persuasion turn as the speaker saw it when it replied (the same
`debate.render.view` and `agents.agent.prompt_messages` that built its prompt at generation
time), under the neutral task prompt; `chosen` and `rejected` are one assistant message each.
Each example names its source nodes (`PairSource`). The conditions of the paper:

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

from pydantic import BaseModel, ConfigDict

from agents.agent import prompt_messages
from debate.errors import DataError
from debate.records import Role
from debate.render import view
from debate.tree import ROOT, DialogueTree
from training.judge import Verdicts
from training.pairs import Pair

Condition = Literal["balanced", "resist", "accept", "all"]
CONDITIONS: tuple[Condition, ...] = ("balanced", "resist", "accept", "all")
SPLITS = ("train", "dev", "test")
Label = Literal["resist", "accept"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatMessage(_Record):
    """A message as TRL reads it."""

    role: Role
    content: str


class PairSource(_Record):
    """Where an example comes from: its tree and nodes, its scores, and why it has its label."""

    tree_id: str
    question_id: str
    parent: str
    chosen: str
    rejected: str
    speaker: str
    scores: tuple[int, int]
    #: The persuasion strategy of the parent turn (its persona).
    strategy: str
    models: tuple[str, ...]
    #: Why the pair has no label, when it has none.
    reason: str
    #: The trees file the tree was read from (tree ids repeat across passes).
    trees_file: str | None = None
    judge: Verdicts | None = None


class PreferenceExample(_Record):
    prompt: list[ChatMessage]
    chosen: list[ChatMessage]
    rejected: list[ChatMessage]
    label: Label | None
    source: PairSource

    def to_trl(self) -> dict[str, Any]:
        """What TRL's DPO trainer reads."""
        return self.model_dump(mode="json", include={"prompt", "chosen", "rejected"})

    def to_json(self) -> dict[str, Any]:
        """The record of `train.jsonl`: TRL's fields, the label and the provenance."""
        return {**self.to_trl(), "label": self.label, "provenance": self.source.model_dump(mode="json",
                                                                                           exclude_none=True)}

    def to_sft(self) -> dict[str, Any]:
        """The same prompt with the chosen reply as its last message (the SFT warm-up)."""
        trl = self.to_trl()
        return {"messages": trl["prompt"] + trl["chosen"], "label": self.label,
                "provenance": self.to_json()["provenance"]}


def preference_example(tree: DialogueTree, pair: Pair, *, trees_file: str | None = None,
                       judge: Verdicts | None = None) -> PreferenceExample:
    """One preference example: what the speaker saw before its reply, under the neutral prompt
    (the trained model never sees persona prompts), and the two replies."""
    seen = view(tree, pair.parent, pair.speaker, round=tree.round(pair.chosen))
    prompt = prompt_messages(tree.question, seen.messages)
    return PreferenceExample(
        prompt=[ChatMessage(role=m.role, content=m.content) for m in prompt],
        chosen=[ChatMessage(role="assistant", content=tree.turn(pair.chosen).text)],
        rejected=[ChatMessage(role="assistant", content=tree.turn(pair.rejected).text)],
        label=pair.label,  # type: ignore[arg-type]  # mine_pairs labels "resist" or "accept"
        source=PairSource(tree_id=pair.tree_id, question_id=tree.question.id, parent=pair.parent, chosen=pair.chosen,
                          rejected=pair.rejected, speaker=pair.speaker, scores=pair.scores, strategy=pair.strategy,
                          models=pair.models, reason=pair.reason, trees_file=trees_file, judge=judge))


def dedupe(examples: Iterable[PreferenceExample]) -> list[PreferenceExample]:
    seen: set[str] = set()
    unique = []
    for example in examples:
        trl = example.to_trl()
        key = json.dumps([trl["prompt"], trl["chosen"], trl["rejected"]], sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(example)
    return unique


def split_by_question(examples: Sequence[PreferenceExample], seed: int = 0,
                      shares: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> dict[str, list[PreferenceExample]]:
    """Questions (not pairs) are shuffled with `seed` and cut 70/15/15."""
    questions = sorted({e.source.question_id for e in examples})
    random.Random(seed).shuffle(questions)
    cut_train = round(shares[0] * len(questions))
    cut_dev = cut_train + round(shares[1] * len(questions))
    where = {q: "train" if i < cut_train else "dev" if i < cut_dev else "test" for i, q in enumerate(questions)}
    splits: dict[str, list[PreferenceExample]] = {name: [] for name in SPLITS}
    for example in examples:
        splits[where[example.source.question_id]].append(example)
    return splits


def condition(examples: Sequence[PreferenceExample], kind: Condition, seed: int = 0) -> list[PreferenceExample]:
    """The training examples of one condition; N = the count of the scarcer labelled kind."""
    if kind == "all":
        return list(examples)
    by_label = {label: [e for e in examples if e.label == label] for label in ("accept", "resist")}
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


def balanced_items(examples: Sequence[PreferenceExample], seed: int = 0) -> list[PreferenceExample]:
    """Equal numbers of resist and accept examples (the balanced persuasion benchmark)."""
    by_label = {label: [e for e in examples if e.label == label] for label in ("resist", "accept")}
    n = min(len(v) for v in by_label.values())
    rng = random.Random(seed)
    return rng.sample(by_label["resist"], n) + rng.sample(by_label["accept"], n)


def benchmark_prefix(tree: DialogueTree, example: PreferenceExample) -> DialogueTree:
    """The dialogue up to the persuasion turn, labelled, for `debate eval balanced` to replay."""
    source = example.source
    prefix = DialogueTree(tree.question, tree_id=f"{source.tree_id}@{source.chosen}",
                          metadata={"label": example.label, "replay_node": None,
                                    "replay_speaker": source.speaker, "source_tree": source.tree_id},
                          visibility=tree.visibility)
    node = ROOT
    for original in tree.path(source.parent):
        node = prefix.add_turn(node, tree.turn(original), round=tree.round(original))
    prefix.metadata["replay_node"] = node
    return prefix


def card(splits: dict[str, list[PreferenceExample]], train: list[PreferenceExample], kind: Condition) -> dict[str, Any]:
    """Counts by label, split and source model."""
    def counts(examples: Iterable[PreferenceExample]) -> dict[str, int]:
        return dict(Counter(e.label or "unlabelled" for e in examples))
    models = Counter(m for examples in splits.values() for e in examples for m in e.source.models)
    return {"condition": kind, "train": {"records": len(train), "by_label": counts(train)},
            "pairs_by_split": {name: counts(examples) for name, examples in splits.items()},
            "questions_by_split": {name: len({e.source.question_id for e in examples})
                                   for name, examples in splits.items()},
            "source_models": dict(models)}

