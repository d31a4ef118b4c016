"""Replay: a model continues stored dialogue prefixes once (the balanced evaluation, PBT.md 8.3).

Each input tree is continued at the node named in its metadata (`replay_node`; the root "r"
starts afresh), or else at each of its leaves. The continuation is spoken as the speaker who
spoke before that node (in a two-agent dialogue: the one just addressed), or as `speaker` (or
`replay_speaker` in the metadata) when given, and is written by the run's single agent. The
outcome grades the continuation and keeps the stored label, if any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from debate.grading import grade
from debate.errors import DataError
from debate.tree import ROOT, DialogueTree
from protocols.base import Protocol, TurnSpec, mean


class Replay(Protocol):
    name = "replay"

    def __init__(self, agent: str = "model", *, speaker: str | None = None, opening_round: int = 0):
        self.agent = agent
        self.speaker = speaker
        self.opening_round = opening_round

    @property
    def agents(self) -> tuple[str, ...]:
        return (self.agent,)

    def check(self, item: DialogueTree) -> None:
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
        if self.speaker is not None:
            return self.speaker
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
        return [TurnSpec(node, self._speaker(tree, node), agent=self.agent, tag="replay")
                for node in self._starts(tree)]

    def outcome(self, tree: DialogueTree) -> dict[str, Any]:
        results = []
        for node in tree.nodes():
            turn = tree.turn(node)
            if turn.tag != "replay":
                continue
            answer = turn.answers.get(turn.speaker)
            results.append({"node": node, "from": tree.parent(node), "speaker": turn.speaker, "answer": answer,
                            "correct": grade(answer, tree.question)})
        return {"continuations": results, "label": tree.metadata.get("label")}

    def summarize(self, outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
        by_label: dict[str, list[bool]] = {}
        for o in outcomes:
            for c in o["continuations"]:
                by_label.setdefault(o["label"] or "unlabelled", []).append(c["correct"])
        every = [x for group in by_label.values() for x in group]
        return {"continuations": len(every), "accuracy": mean(every),
                "accuracy_by_label": {label: mean(group) for label, group in sorted(by_label.items())}}
