"""Replay: a model continues stored dialogue prefixes once (the balanced evaluation, PBT.md 8.3).

Each input tree is continued at the node named in its metadata (`replay_node`; the root "r"
starts afresh), or else at each of its leaves. The continuation is spoken as the speaker who
spoke before that node (in a two-agent dialogue: the one just addressed), or as `speaker` (or
`replay_speaker` in the metadata) when given, and is written by the run's single agent. The
outcome grades the continuation and keeps the stored label, if any. The stored tree keeps its
own visibility: a continuation sees what its protocol let that speaker see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import ConfigDict, Field

from debate.errors import DataError
from debate.grading import grade
from debate.tree import ROOT, DialogueTree
from protocols.base import Protocol, ProtocolConfig, Record, TurnSpec, mean


class ReplayConfig(ProtocolConfig):
    kind: Literal["replay"] = "replay"
    agent: str = Field(default="model", description="The agent that writes every continuation.")
    speaker: str | None = Field(default=None, description="Continue as this speaker (default: from each tree).")


class Continuation(Record):
    node: str
    #: The stored node it continues.
    from_: str = Field(alias="from")
    speaker: str
    answer: str | None
    correct: bool

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)


class ReplayOutcome(Record):
    continuations: list[Continuation]
    label: str | None


class ReplaySummary(Record):
    continuations: int
    accuracy: float | None
    accuracy_by_label: dict[str, float | None]


class Replay(Protocol[ReplayConfig, ReplayOutcome, ReplaySummary]):
    reads_trees = True

    @property
    def agents(self) -> tuple[str, ...]:
        return (self.config.agent,)

    def check(self, item: Any) -> None:
        if not isinstance(item, DialogueTree):
            raise DataError("replay needs stored dialogue trees as input (trees = 'FILE.jsonl')", field="trees")
        for node in self._starts(item):
            self._speaker(item, node)

    def new_tree(self, item: DialogueTree) -> DialogueTree:  # type: ignore[override]  # a stored tree, not a question
        self.check(item)
        item.metadata = {**item.metadata, "replayed_protocol": item.metadata.get("protocol"), "protocol": self.name}
        return item

    def _starts(self, tree: DialogueTree) -> list[str]:
        node = tree.metadata.get("replay_node")
        if node == ROOT:
            return [ROOT]  # answer the question afresh (the speaker must then be named)
        if node is not None:
            if node not in tree.graph:
                raise DataError(f"replay_node '{node}' is not a turn of tree '{tree.tree_id}'",
                                field="metadata.replay_node")
            return [node]
        return tree.leaves()

    def _speaker(self, tree: DialogueTree, node: str) -> str:
        if self.config.speaker is not None:
            return self.config.speaker
        if tree.metadata.get("replay_speaker"):
            return tree.metadata["replay_speaker"]
        earlier = [] if node == ROOT else [tree.turn(n).speaker for n in tree.path(node)[:-1]
                                           if tree.turn(n).speaker != tree.turn(node).speaker]
        if not earlier:
            raise DataError(f"cannot tell who continues tree '{tree.tree_id}' after '{node}': set speaker in the "
                            "config", field="metadata.replay_speaker")
        return earlier[-1]

    def due(self, tree: DialogueTree, new_nodes: Sequence[str]) -> list[TurnSpec]:
        if list(new_nodes) != [ROOT]:
            return []
        return [TurnSpec(node, self._speaker(tree, node), agent=self.config.agent, tag="replay")
                for node in self._starts(tree)]

    def outcome(self, tree: DialogueTree) -> ReplayOutcome:
        results = []
        for node in tree.nodes():
            turn = tree.turn(node)
            if turn.tag != "replay":
                continue
            answer = turn.answers.get(turn.speaker)
            results.append(Continuation.model_validate({"node": node, "from": tree.parent(node),
                                                        "speaker": turn.speaker, "answer": answer,
                                                        "correct": grade(answer, tree.question)}))
        return ReplayOutcome(continuations=results, label=tree.metadata.get("label"))

    def summarize(self, outcomes: Sequence[ReplayOutcome]) -> ReplaySummary:
        by_label: dict[str, list[bool]] = {}
        for o in outcomes:
            for c in o.continuations:
                by_label.setdefault(o.label or "unlabelled", []).append(c.correct)
        every = [x for group in by_label.values() for x in group]
        return ReplaySummary(continuations=len(every), accuracy=mean(every),
                             accuracy_by_label={label: mean(group) for label, group in sorted(by_label.items())})
