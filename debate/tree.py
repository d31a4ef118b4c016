"""DialogueTree: the one record of a dialogue, whatever its shape.

A linear debate is a tree with one branch per level, a PBT tree branches by persona, and
challenge and misinformation dialogues are short chains: all are turns on a `networkx.DiGraph`
rooted at the question (node "r"). A child's id is `f"{parent}.{k}"` (k-th child, in insertion
order), so a node id is its own path from the root: seeds derived from (run seed, tree id,
node id) stay the same whatever order the nodes were generated in.

A tree also records what its protocol lets each speaker see (`Visibility`: the independent
opening round, whether others' turns are labelled), so that whoever renders a turn later (the
engine, pair mining, training prompts, a replay) applies the same rule without guessing it.

On disk a tree is a versioned JSON document (node-link data, each turn a JSON object);
`to_graphml` exports flat scalar attributes for graph tools. Version 1 files did not record
their visibility: it is recovered on loading from the rounds they did record.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from debate.errors import DataError
from debate.records import Question, Turn, check_printable
from debate.storage import MAX_LINE_BYTES, atomic_write_text, parse_json, read_lines

ROOT = "r"
FORMAT = "debate-tree"
VERSION = 2
#: Version 1 had no `visibility`; it is still read.
READABLE_VERSIONS = (1, 2)
_KEYS = {"format", "version", "tree_id", "question", "metadata", "visibility", "graph"}
_Fail = Callable[..., DataError]
# Characters XML 1.0 forbids (most C0 controls, surrogates, U+FFFE/U+FFFF): readers reject a file with one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Visibility(BaseModel):
    """What a speaker sees of the turns before its own, as its protocol decided."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Turns with round < opening_round are independent: while a speaker's own turn is in that
    #: round, the others' opening turns stay hidden from it.
    opening_round: int = Field(default=0, ge=0)
    #: Label other speakers' turns ("Agent B: ..."); off when one user talks to one model.
    label_others: bool = True


class DialogueTree:
    """Turns on a directed tree rooted at the question; node ids are paths ("r.0.2")."""

    def __init__(self, question: Question, tree_id: str | None = None, metadata: dict[str, Any] | None = None,
                 visibility: Visibility | None = None):
        self.question = question
        self.tree_id = tree_id if tree_id is not None else question.id
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.visibility = visibility if visibility is not None else Visibility()
        self.graph = nx.DiGraph()
        self.graph.add_node(ROOT)

    # ------------------------------------------------------------------ building

    def add_turn(self, parent: str, turn: Turn, *, round: int | None = None) -> str:
        """Add `turn` as the next child of `parent` and return its node id.

        `round` defaults to the level; turns of one independent opening round share a round.
        """
        if parent not in self.graph:
            raise ValueError(f"unknown parent node '{parent}' in tree '{self.tree_id}'")
        node = _child_id(parent, self.child_count(parent))
        level = 0 if parent == ROOT else self.level(parent) + 1
        self.graph.add_node(node, turn=turn, level=level, round=level if round is None else round)
        self.graph.add_edge(parent, node)
        return node

    def next_child_ids(self, parents: Iterable[str]) -> list[str]:
        """The ids that children added under `parents`, in this order, will get (a parent may
        repeat): what the engine seeds a batch of turns with before their texts exist."""
        taken: dict[str, int] = {}
        ids = []
        for parent in parents:
            k = taken.get(parent, self.child_count(parent))
            taken[parent] = k + 1
            ids.append(_child_id(parent, k))
        return ids

    # ------------------------------------------------------------------ reading

    def _data(self, node: str) -> dict[str, Any]:
        # `_node` is networkx's own node-attribute dict: the engine reads it in its hot loop, and
        # the `nodes` view costs several times more (and is cached on the graph: see `_edges`).
        data = self.graph._node.get(node)
        if data is None or node == ROOT:
            if node == ROOT:
                raise ValueError("the root holds the question, not a turn")
            raise ValueError(f"unknown node '{node}' in tree '{self.tree_id}'")
        return data

    def turn(self, node: str) -> Turn:
        return self._data(node)["turn"]

    def level(self, node: str) -> int:
        return self._data(node)["level"]

    def round(self, node: str) -> int:
        return self._data(node)["round"]

    def child_count(self, node: str) -> int:
        return sum(1 for _ in self.graph.successors(node))

    def children(self, node: str) -> list[str]:
        if node not in self.graph:
            raise ValueError(f"unknown node '{node}' in tree '{self.tree_id}'")
        return list(self.graph.successors(node))

    def parent(self, node: str) -> str:
        """The parent's id ("r" for a level-0 turn)."""
        self._data(node)
        return next(iter(self.graph.predecessors(node)))

    def path(self, node: str) -> list[str]:
        """Node ids from level 0 down to `node` (root excluded; empty for the root)."""
        if node == ROOT:
            return []
        self._data(node)
        parts = node.split(".")
        return [".".join(parts[:i]) for i in range(2, len(parts) + 1)]

    def path_turns(self, node: str) -> list[Turn]:
        return [self.turn(n) for n in self.path(node)]

    def siblings(self, node: str) -> list[str]:
        """The other children of `node`'s parent: the alternatives generated in the same context."""
        return [n for n in self.children(self.parent(node)) if n != node]

    def nodes(self) -> list[str]:
        """Every turn node, breadth-first, children in insertion order."""
        return [child for _, child in nx.bfs_edges(self.graph, ROOT)]

    def leaves(self) -> list[str]:
        return [n for n in self.graph if n != ROOT and not self.child_count(n)]

    def levels(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for node in self.nodes():
            out.setdefault(self.level(node), []).append(node)
        return out

    def _edges(self) -> Iterator[tuple[str, str]]:
        """(parent, child) pairs in insertion order.

        The graph's cached views (`edges`, `nodes`, `out_degree`, ...) are avoided throughout:
        networkx stores each on the graph, a reference cycle that keeps every finished tree in
        memory until the cyclic garbage collector runs.
        """
        for parent in self.graph:
            for child in self.graph.successors(parent):
                yield parent, child

    def __len__(self) -> int:
        return self.graph.number_of_nodes() - 1

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = [{"id": ROOT}]
        for node, data in self.graph._node.items():
            if node != ROOT:
                nodes.append({"id": node, "level": data["level"], "round": data["round"],
                              "turn": data["turn"].model_dump(mode="json")})
        edges = [{"source": u, "target": v} for u, v in self._edges()]
        return {"format": FORMAT, "version": VERSION, "tree_id": self.tree_id,
                "question": self.question.model_dump(mode="json"), "metadata": dict(self.metadata),
                "visibility": self.visibility.model_dump(mode="json"),
                "graph": {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "edges": edges}}

    @classmethod
    def from_dict(cls, data: Any, source: str = "<tree>", line: int | None = None) -> DialogueTree:
        """Rebuild a tree from `to_dict` output; every problem is a one-line DataError."""
        def fail(message: str, field: str | None = None) -> DataError:
            return DataError(message, file=source, line=line, field=field)

        if not isinstance(data, dict):
            raise fail(f"expected a JSON object, got {type(data).__name__}")
        # reprlib: a value from the file is shown short and with its control characters escaped.
        if data.get("format") != FORMAT:
            raise fail(f"not a dialogue tree (format {reprlib.repr(data.get('format'))}, expected '{FORMAT}')",
                       "format")
        version = data.get("version")
        if type(version) is not int or version not in READABLE_VERSIONS:  # `true` is no version
            raise fail(f"version {reprlib.repr(version)} is not supported (expected one of "
                       f"{', '.join(map(str, READABLE_VERSIONS))})", "version")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise fail("unknown field (not in the dialogue tree format)", unknown[0])
        if "question" not in data:
            raise fail("missing (required)", "question")
        question = _validate(Question, data["question"], "question", fail)
        tree_id = data.get("tree_id", question.id)
        if not isinstance(tree_id, str) or not tree_id.strip():
            raise fail("expected a non-empty string", "tree_id")
        try:
            check_printable(tree_id, "a tree id")
        except ValueError as exc:
            raise fail(str(exc), "tree_id") from None
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise fail(f"expected an object, got {type(metadata).__name__}", "metadata")
        graph = data.get("graph")
        if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list) \
                or not isinstance(graph.get("edges"), list):
            raise fail("expected node-link data with 'nodes' and 'edges' lists", "graph")
        records = _node_records(graph["nodes"], fail)
        edges = _tree_edges(graph["edges"], records, fail)
        if version == 1:
            visibility = _v1_visibility(records)
        elif "visibility" not in data:
            raise fail("missing (required)", "visibility")
        else:
            visibility = _validate(Visibility, data["visibility"], "visibility", fail)
        tree = cls(question, tree_id, metadata, visibility)
        # Nodes and edges go in in document order, so node and child order survive a round trip.
        for node, (turn, level, round_) in records.items():
            depth = node.count(".") - 1
            if level is not None and level != depth:
                raise fail(f"level {level} does not match the node's depth {depth}", f"graph.nodes[{node}].level")
            tree.graph.add_node(node, turn=turn, level=depth, round=depth if round_ is None else round_)
        tree.graph.add_edges_from(edges)
        return tree

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_json(cls, text: str, source: str = "<tree>", line: int | None = None) -> DialogueTree:
        return cls.from_dict(parse_json(text, source, line), source=source, line=line)

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.to_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> DialogueTree:
        """A tree saved by `save` (one JSON document over many lines), of at most MAX_LINE_BYTES."""
        lines: list[str] = []
        size = 0
        for number, line in read_lines(Path(path), record="dialogue tree"):
            size += len(line.encode("utf-8")) + 1
            if size > MAX_LINE_BYTES:
                raise DataError(f"longer than {MAX_LINE_BYTES:,} bytes; a dialogue tree may have at most "
                                f"{MAX_LINE_BYTES:,} bytes", file=str(path), line=number)
            lines.append(line)
        return cls.from_json("\n".join(lines), source=str(path))

    # ------------------------------------------------------------------ GraphML

    def to_graphml(self, path: str | Path) -> Path:
        """Export with scalar attributes only (GraphML has no nested values), atomically; characters
        XML cannot hold are written escaped (\\x1b)."""
        flat = nx.DiGraph(tree_id=_xml_text(self.tree_id), question_id=_xml_text(self.question.id))
        flat.add_node(ROOT, kind="question", text=_xml_text(self.question.text), gold=json.dumps(self.question.gold))
        for node in self.nodes():
            turn = self.turn(node)
            attrs: dict[str, Any] = {
                "kind": "turn", "speaker": turn.speaker, "persona": turn.persona, "text": turn.text,
                "model": turn.model, "seed": turn.seed, "level": self.level(node), "round": self.round(node),
                "answers": json.dumps(turn.answers, ensure_ascii=False),
                "reader": turn.read.reader if turn.read else None,
                "prompt_tokens": turn.usage.prompt_tokens, "completion_tokens": turn.usage.completion_tokens,
                "error": turn.error}
            flat.add_node(node, **{k: _xml_text(v) if isinstance(v, str) else v
                                   for k, v in attrs.items() if v is not None})
        flat.add_edges_from(self._edges())
        return atomic_write_text(path, "\n".join(nx.generate_graphml(flat)) + "\n")


def _child_id(parent: str, k: int) -> str:
    return f"{parent}.{k}"


def _v1_visibility(records: dict[str, tuple[Turn, Any, Any]]) -> Visibility:
    """A version-1 tree's visibility, from its rounds: every protocol of that version had an
    opening round of 0 or 1 levels, which shows as a turn below level 0 in round 0."""
    opening = any(round_ == 0 and node.count(".") > 1 for node, (_, _, round_) in records.items())
    return Visibility(opening_round=1 if opening else 0)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _validate(model: type[BaseModel], value: Any, field: str, fail: _Fail) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        message = "missing (required)" if err.get("type") == "missing" else \
            str(err.get("msg", "invalid")).replace("Value error, ", "")
        raise fail(message, f"{field}.{loc}" if loc else field) from None


def _node_records(nodes: list[Any], fail: _Fail) -> dict[str, tuple[Turn, Any, Any]]:
    """(turn, level, round) of each turn node by id, in document order; the root is checked."""
    records: dict[str, tuple[Turn, Any, Any]] = {}
    has_root = False
    for number, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise fail("expected an object with a string 'id'", f"graph.nodes[{number}]")
        node_id = node["id"]
        if node_id == ROOT:
            has_root = True
            continue
        if node_id in records:
            raise fail(f"duplicate node id '{node_id}'", "graph")
        field = f"graph.nodes[{node_id}]"
        if "turn" not in node:
            raise fail("missing (required)", f"{field}.turn")
        for key in ("level", "round"):
            value = node.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise fail(f"expected an integer of 0 or more, got {reprlib.repr(value)}", f"{field}.{key}")
        records[node_id] = (_validate(Turn, node["turn"], f"{field}.turn", fail), node.get("level"), node.get("round"))
    if not has_root:
        raise fail(f"not a tree rooted at '{ROOT}': no node '{ROOT}'", "graph")
    return records


def _tree_edges(edges: list[Any], records: dict[str, Any], fail: _Fail) -> list[tuple[str, str]]:
    """The edges, checked to form a tree rooted at "r" whose node ids are paths.

    Each turn node has one parent and is named parent.k, its parent's k-th child: ids then grow
    along every edge, so there is no cycle and every node hangs below the root.
    """
    parents: dict[str, str] = {}
    counts: dict[str, int] = {}
    out: list[tuple[str, str]] = []
    not_tree = f"not a tree rooted at '{ROOT}': "
    for number, edge in enumerate(edges):
        if not isinstance(edge, dict) or not isinstance(edge.get("source"), str) \
                or not isinstance(edge.get("target"), str):
            raise fail("expected {'source': id, 'target': id}", f"graph.edges[{number}]")
        parent, child = edge["source"], edge["target"]
        if (parent != ROOT and parent not in records) or child not in records:
            raise fail(f"{not_tree}edge {parent} -> {child} does not lead from a node to a turn node", "graph")
        if child in parents:
            raise fail(f"{not_tree}node '{child}' has two parents ('{parents[child]}' and '{parent}')", "graph")
        expected = f"{parent}.{counts.get(parent, 0)}"
        if child != expected:
            raise fail(f"{not_tree}child '{child}' of '{parent}' should be '{expected}' "
                       "(node ids are paths, children numbered in order)", "graph")
        parents[child] = parent
        counts[parent] = counts.get(parent, 0) + 1
        out.append((parent, child))
    orphan = next((node for node in records if node not in parents), None)
    if orphan is not None:
        raise fail(f"{not_tree}node '{orphan}' has no parent", "graph")
    return out


def save_trees(path: str | Path, trees: Iterable[DialogueTree]) -> Path:
    """JSONL, one tree per line, written atomically."""
    return atomic_write_text(path, "".join(tree.to_json() + "\n" for tree in trees))


def iter_trees(path: str | Path) -> Iterator[DialogueTree]:
    """The trees of a JSONL file one at a time (memory stays flat); errors name file and line."""
    for number, row in read_lines(Path(path), record="dialogue tree"):
        if row.strip():
            yield DialogueTree.from_json(row, source=str(path), line=number)


def load_trees(path: str | Path) -> list[DialogueTree]:
    """Every tree of a JSONL file; an error names the file and the line."""
    return list(iter_trees(path))
