"""Hostile input for every command (issue 12, "grow the corpus").

Every refused case goes through one harness, `refused`: exit code 2; exactly one line on stderr,
starting `error: ` and naming the file, the line and the field where there is one; no traceback;
and nothing written or changed. "Nothing changed" is checked on a snapshot of the test's whole
folder (every path with its type, size, mode, mtime_ns and content hash, symlinks by their target,
folders by their mtime, so a temporary file made and removed again shows too), taken before and
after the command, plus the names beside that folder (nothing may escape it). The command runs
with its working directory three levels below the snapshot's root, so a path that climbs out of
`--out` lands inside the snapshot.

`accepted` is the other side: input that is odd but valid (CRLF, a UTF-8 BOM, Rich markup in a
name) must work and show the literal text.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import AS_ROOT, GIB, Work, accepted, changes, cli, refused, snapshot



# ----------------------------------------------------------------------------- cases

#: A case: `setup(work)` writes what it needs and returns the command's arguments.
Setup = Callable[[Work], Sequence[str]]


@dataclass
class Case:
    id: str
    cls: str                      # the defect class (for the report)
    setup: Setup
    expect: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()   # session fixtures the setup takes after `work`
    not_as_root: bool = False


REFUSED: list[Case] = []
ACCEPTED: list[Case] = []


def case(cases: list[Case], cid: str, cls: str, setup: Setup, *expect: str, needs: tuple[str, ...] = (),
         not_as_root: bool = False, **options: Any) -> None:
    assert cid not in {c.id for c in REFUSED + ACCEPTED}, cid
    cases.append(Case(cid, cls, setup, tuple(expect), options, needs, not_as_root))


def bad(cid: str, cls: str, setup: Setup, *expect: str, **kw: Any) -> None:
    case(REFUSED, cid, cls, setup, *expect, **kw)


def good(cid: str, cls: str, setup: Setup, *expect: str, **kw: Any) -> None:
    case(ACCEPTED, cid, cls, setup, *expect, **kw)


def writes(name: str, content: str | bytes | Callable[[], str | bytes], *args: str) -> Setup:
    """A setup that writes one file and runs ARGS (with `{f}` standing for the file's name)."""
    def setup(work: Work) -> list[str]:
        work.write(name, content() if callable(content) else content)
        return [a.replace("{f}", name) for a in args]
    return setup


def plain(*args: str) -> Setup:
    return lambda work: list(args)


# -------------------------------------------------------------- question files

QUESTION = {"id": "q1", "text": "What is the capital of France?", "gold": ["Paris"], "wrong_answers": ["Lyon"]}


def qline(**fields: Any) -> str:
    record = {**QUESTION, **fields}
    return json.dumps({k: v for k, v in record.items() if v is not ...}) + "\n"


QUESTION_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("id-integer", {"id": 1}, "field 'id'"),
    ("id-empty", {"id": ""}, "field 'id'"),
    ("id-terminal-escape", {"id": "q\u001b[2J1"}, "field 'id'"),
    ("id-newline", {"id": "q\n1"}, "field 'id'"),
    ("text-integer", {"text": 5}, "field 'text'"),
    ("text-empty", {"text": ""}, "field 'text'"),
    ("text-whitespace-only", {"text": " \t  "}, "field 'text'"),
    ("text-nul-character", {"text": "What\u0000 is it?"}, "field 'text'"),
    ("text-terminal-escape", {"text": "What \u001b[31mis\u001b[0m it?"}, "field 'text'"),
    ("gold-integer-item", {"gold": [1]}, "field 'gold"),
    ("gold-empty-string", {"gold": [""]}, "field 'gold"),
    ("gold-punctuation-only", {"gold": ["!!!"]}, "field 'gold"),
    ("gold-article-only", {"gold": ["the"]}, "field 'gold"),
    ("gold-whitespace-only", {"gold": ["   "]}, "field 'gold"),
    ("gold-nested-list", {"gold": [["Paris"]]}, "field 'gold"),
    ("gold-missing", {"gold": ...}, "field 'gold'"),
    ("gold-also-a-wrong-answer", {"wrong_answers": ["Paris"]}, "field 'wrong_answers"),
    ("gold-also-a-wrong-answer-once-normalised", {"wrong_answers": ["the PARIS."]}, "field 'wrong_answers"),
    ("kind-uppercase", {"kind": "OPEN"}, "field 'kind'"),
    ("kind-integer", {"kind": 3}, "field 'kind'"),
    ("options-a-string", {"kind": "multiple-choice", "options": "Paris, Lyon"}, "field 'options"),
    ("options-only-one", {"kind": "multiple-choice", "options": ["Paris"]}, "field 'options'"),
    ("options-without-the-gold", {"kind": "multiple-choice", "options": ["Lyon", "Nice"]}, "field 'options'"),
    ("options-on-an-open-question", {"options": ["Paris", "Lyon"]}, "field 'options'"),
    ("yes-no-gold-both", {"kind": "yes-no", "gold": ["yes", "no"]}, "field 'gold'"),
    ("wrong-answers-a-string", {"wrong_answers": "Lyon"}, "field 'wrong_answers"),
    ("context-integer", {"context": 5}, "field 'context'"),
    ("source-null", {"source": None}, "field 'source'"),
    ("metadata-list", {"metadata": [1]}, "field 'metadata'"),
    ("field-name-capitalised", {"Gold": ["Paris"]}, "field 'Gold'"),
]
for _id, _fields, _field in QUESTION_FIELDS:
    bad(f"questions/{_id}", "question file: field", writes("q.jsonl", qline(**_fields), "questions", "{f}"),
        "q.jsonl:1: ", _field)

_BIG = "1" * 5000
_rng = random.Random(12)
QUESTION_RAW: list[tuple[str, str | bytes | Callable[[], str | bytes], tuple[str, ...]]] = [
    ("huge-integer-id", '{"id": ' + _BIG + ', "text": "t", "gold": ["x"]}\n', ("q.jsonl:1: ",)),
    ("huge-integer-in-metadata", '{"id": "q1", "text": "t", "gold": ["x"], "metadata": {"n": ' + _BIG + "}}\n",
     ("q.jsonl:1: ",)),
    ("huge-exponent-in-metadata", '{"id": "q1", "text": "t", "gold": ["x"], "metadata": {"n": 1e99999}}\n',
     ("q.jsonl:1: ", "a JSON number must be finite, got 1e99999")),
    ("deep-json-array", lambda: "[" * 100_000 + "\n", ("q.jsonl:1: ",)),
    ("deep-json-in-metadata", lambda: '{"id": "q1", "text": "t", "gold": ["x"], "metadata": '
     + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}\n", ("q.jsonl:1: ",)),
    ("line-of-5-MB-without-newline", lambda: '{"id": "q1", "text": "' + "x" * 5_000_000, ("q.jsonl:1: ",)),
    ("binary-random-bytes", bytes(_rng.randrange(256) for _ in range(4096)), ("q.jsonl:",)),
    ("binary-nul-bytes", b"\x00" * 64 + b"\n", ("q.jsonl:1: ",)),
    ("utf-16-text", qline().encode("utf-16"), ("q.jsonl:1: ",)),
    ("raw-control-character-in-a-string", '{"id": "q1", "text": "a\x01b", "gold": ["x"]}\n', ("q.jsonl:1: ",)),
    ("lone-surrogate-in-text", '{"id": "q1", "text": "What \\ud800 is it?", "gold": ["x"]}\n', ("q.jsonl:1: ",)),
    ("bad-second-line", qline() + '{"id": "q2", "gold": ["x"]}\n', ("q.jsonl:2: ", "field 'text'")),
    ("carriage-returns-only", qline(id="a").strip() + "\r" + qline(id="b").strip() + "\r", ("q.jsonl:1: ",)),
]
for _id, _content, _expect in QUESTION_RAW:
    bad(f"questions/{_id}", "question file: encoding and size", writes("q.jsonl", _content, "questions", "{f}"),
        *_expect)


def _directory(work: Work) -> list[str]:
    (work / "d.jsonl").mkdir()
    return ["questions", "d.jsonl"]


def _dangling(work: Work) -> list[str]:
    (work / "q.jsonl").symlink_to(work / "gone.jsonl")
    return ["questions", "q.jsonl"]


def _loop(work: Work) -> list[str]:
    (work / "a.jsonl").symlink_to("b.jsonl")
    (work / "b.jsonl").symlink_to("a.jsonl")
    return ["questions", "a.jsonl"]


def _unreadable(work: Work) -> list[str]:
    work.write("q.jsonl", qline())
    (work / "q.jsonl").chmod(0)
    return ["questions", "q.jsonl"]


def _fifo(work: Work) -> list[str]:
    os.mkfifo(work / "q.jsonl")
    return ["questions", "q.jsonl"]


bad("questions/dev-zero", "question file: special files", plain("questions", "/dev/zero"), "/dev/zero",
    timeout=20, memory=GIB)
bad("questions/a-directory", "question file: special files", _directory, "d.jsonl: ")
bad("questions/dangling-symlink", "question file: special files", _dangling, "q.jsonl: ")
bad("questions/symlink-loop", "question file: special files", _loop, "a.jsonl: ")
bad("questions/no-read-permission", "question file: special files", _unreadable, "q.jsonl: ", not_as_root=True)
bad("questions/named-pipe", "question file: special files", _fifo, "q.jsonl: ", timeout=5)
bad("questions/empty-path", "question file: special files", plain("questions", ""), "error: ")
bad("questions/unknown-sample-kind", "question file: special files", plain("questions", "sample:essay"),
    "sample kind 'essay'")
bad("questions/missing-farm-folder", "question file: special files", plain("questions", "farm:nowhere"), "nowhere")
bad("questions/unknown-hf-dataset", "question file: special files", plain("questions", "hf:nothing"), "nothing")

good("questions/crlf-line-endings", "question file: encoding and size",
     writes("q.jsonl", qline(id="a").replace("\n", "\r\n") + qline(id="b").replace("\n", "\r\n"),
            "questions", "{f}"), "2 questions")
good("questions/utf-8-bom", "question file: encoding and size",
     writes("q.jsonl", b"\xef\xbb\xbf" + qline().encode(), "questions", "{f}"), "1 questions")
good("questions/tab-and-newline-in-text", "question file: encoding and size",
     writes("q.jsonl", qline(text="What is\tthe capital\nof France?"), "questions", "{f}"), "1 questions")

# The same loaders behind the other commands.
_BAD_Q = qline() + '{"id": "q2", "gold": ["x"]}\n'
SIM_RUN = ('questions = "{q}"\nlimit = 2\n[protocol]\nkind = "debate"\n'
           '[agents.A]\nmodel = "sim:strong"\n[agents.B]\nmodel = "sim:weak"\n')
bad("run/questions-file-bad-line", "question file: other commands",
    lambda w: [w.write("q.jsonl", _BAD_Q), w.write("c.toml", SIM_RUN.format(q="q.jsonl"))] and
    ["run", "c.toml", "--out", "out", "--no-progress"], "q.jsonl:2: ", "field 'text'")
bad("run/questions-override-deep-json", "question file: other commands",
    lambda w: [w.write("q.jsonl", "[" * 100_000 + "\n"), w.write("c.toml", SIM_RUN.format(q="sample:open"))] and
    ["run", "c.toml", "--questions", "q.jsonl", "--out", "out", "--no-progress"], "q.jsonl:1: ")
bad("tree/questions-file-bad-line", "question file: other commands",
    writes("q.jsonl", _BAD_Q, "tree", "--a", "sim:strong", "--b", "sim:weak", "--questions", "{f}", "--out", "out",
           "--no-progress"), "q.jsonl:2: ", "field 'text'")
bad("tree/questions-lone-surrogate", "question file: other commands",
    writes("q.jsonl", '{"id": "q1", "text": "What \\ud800 is it?", "gold": ["x"]}\n', "tree", "--a", "sim:strong",
           "--b", "sim:weak", "--questions", "{f}", "--out", "out", "--no-progress"), "q.jsonl:1: ")
bad("tree/questions-gold-punctuation-only", "question file: other commands",
    writes("q.jsonl", qline(gold=["!!!"]), "tree", "--a", "sim:strong", "--b", "sim:weak", "--questions", "{f}",
           "--out", "out", "--no-progress"), "q.jsonl:1: ", "field 'gold")
bad("demo/questions-file-bad-line", "question file: other commands",
    writes("q.jsonl", _BAD_Q, "demo", "--model", "sim:strong", "--questions", "{f}", "--out", "out"),
    "q.jsonl:2: ", "field 'text'")
bad("demo/questions-dev-zero", "question file: other commands",
    plain("demo", "--model", "sim:strong", "--questions", "/dev/zero", "--out", "out"), "/dev/zero",
    timeout=20, memory=GIB)
bad("pairing/questions-file-bad-line", "question file: other commands",
    writes("q.jsonl", _BAD_Q, "pairing", "--backend", "sim", "--questions", "{f}", "--out", "out", "--no-progress"),
    "q.jsonl:2: ", "field 'text'")
bad("eval-ays/questions-file-bad-line", "question file: other commands",
    writes("q.jsonl", _BAD_Q, "eval", "ays", "--models", "sim:strong", "--questions", "{f}", "--out", "out",
           "--no-progress"), "q.jsonl:2: ", "field 'text'")
bad("eval-ays/questions-whitespace-text", "question file: other commands",
    writes("q.jsonl", qline(text="   "), "eval", "ays", "--models", "sim:strong", "--questions", "{f}", "--out",
           "out", "--no-progress"), "q.jsonl:1: ", "field 'text'")

# -------------------------------------------------------------- tree files


def tree_doc(tree_id: str = "t1", label: str = "resist") -> dict[str, Any]:
    def turn(speaker: str, answers: dict[str, str], text: str) -> dict[str, Any]:
        return {"speaker": speaker, "text": text, "answers": answers}
    nodes = [{"id": "r"},
             {"id": "r.0", "level": 0, "round": 0, "turn": turn("A", {"A": "Paris"}, "Final answer: Paris")},
             {"id": "r.0.0", "level": 1, "round": 1, "turn": turn("B", {"A": "Paris", "B": "Lyon"},
                                                                  "Final answer: Lyon")}]
    edges = [{"source": "r", "target": "r.0"}, {"source": "r.0", "target": "r.0.0"}]
    return {"format": "debate-tree", "version": 1, "tree_id": tree_id, "question": dict(QUESTION),
            "metadata": {"label": label}, "graph": {"directed": True, "multigraph": False, "graph": {},
                                                    "nodes": nodes, "edges": edges}}


def tree_line(mutate: Callable[[dict[str, Any]], Any] | None = None, **kw: Any) -> str:
    doc = tree_doc(**kw)
    if mutate is not None:
        mutate(doc)
    return json.dumps(doc) + "\n"


def _turn(doc: dict[str, Any], node: int = 1) -> dict[str, Any]:
    return doc["graph"]["nodes"][node]["turn"]


def _node(doc: dict[str, Any], node: int = 1) -> dict[str, Any]:
    return doc["graph"]["nodes"][node]


def _edges(*pairs: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["graph"]["edges"] = [{"source": s, "target": t} for s, t in pairs]
    return mutate


def _add_node(node_id: str, level: int = 1) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["graph"]["nodes"].append({"id": node_id, "level": level,
                                      "turn": {"speaker": "B", "text": "Final answer: Nice", "answers": {}}})
    return mutate


def _both(*mutations: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        for m in mutations:
            m(doc)
    return mutate


def _deep_chain(depth: int) -> str:
    doc = tree_doc()
    nodes, edges, parent = [{"id": "r"}], [], "r"
    for level in range(depth):
        node = f"{parent}.0"
        speaker = "AB"[level % 2]
        nodes.append({"id": node, "level": level, "turn": {"speaker": speaker, "text": "Final answer: Paris",
                                                           "answers": {speaker: "Paris"}}})
        edges.append({"source": parent, "target": node})
        parent = node
    doc["graph"]["nodes"], doc["graph"]["edges"] = nodes, edges
    return json.dumps(doc) + "\n"


N1 = "graph.nodes[r.0]"
TREE_MUTATIONS: list[tuple[str, str | Callable[[], str], tuple[str, ...]]] = [
    ("turn-speaker-integer", tree_line(lambda d: _turn(d).update(speaker=5)), (f"{N1}.turn.speaker",)),
    ("turn-speaker-empty", tree_line(lambda d: _turn(d).update(speaker="")), (f"{N1}.turn.speaker",)),
    ("turn-speaker-terminal-escape", tree_line(lambda d: _turn(d).update(speaker="A\u001b[2J")),
     (f"{N1}.turn.speaker",)),
    ("turn-text-null", tree_line(lambda d: _turn(d).update(text=None)), (f"{N1}.turn.text",)),
    ("turn-answers-a-string", tree_line(lambda d: _turn(d).update(answers="Paris")), (f"{N1}.turn.answers",)),
    ("turn-answer-integer", tree_line(lambda d: _turn(d).update(answers={"A": 5})), (f"{N1}.turn.answers",)),
    ("turn-temperature-99", tree_line(lambda d: _turn(d).update(params={"temperature": 99})),
     (f"{N1}.turn.params.temperature",)),
    ("turn-read-special-unknown", tree_line(lambda d: _turn(d).update(read={"reader": "x", "special": "Maybe"})),
     (f"{N1}.turn.read.special",)),
    ("turn-usage-tokens-negative", tree_line(lambda d: _turn(d).update(usage={"prompt_tokens": -5})),
     (f"{N1}.turn.usage.prompt_tokens",)),
    ("turn-seed-huge-integer", lambda: tree_line().replace('"level": 0,', '"level": 0, "seed": ' + _BIG + ","),
     ("t.jsonl:1: ",)),
    ("turn-unknown-field", tree_line(lambda d: _turn(d).update(mood="happy")), (f"{N1}.turn.mood",)),
    ("turn-missing", tree_line(lambda d: _node(d).pop("turn")), (f"{N1}.turn",)),
    ("level-a-string", tree_line(lambda d: _node(d).update(level="0")), (f"{N1}.level",)),
    ("level-wrong-depth", tree_line(lambda d: _node(d).update(level=3)), (f"{N1}.level",)),
    ("round-negative", tree_line(lambda d: _node(d).update(round=-1)), (f"{N1}.round",)),
    ("node-id-integer", tree_line(lambda d: _node(d).update(id=0)), ("graph.nodes[1]",)),
    ("node-id-empty", tree_line(lambda d: _node(d).update(id="")), ("field 'graph",)),
    ("node-id-not-a-path", tree_line(_both(lambda d: _node(d, 2).update(id="r.x"),
                                           _edges(("r", "r.0"), ("r.0", "r.x")))), ("field 'graph",)),
    ("node-id-skips-a-number", tree_line(_both(lambda d: _node(d, 2).update(id="r.0.1"),
                                               _edges(("r", "r.0"), ("r.0", "r.0.1")))), ("field 'graph",)),
    ("node-id-terminal-escape", tree_line(_both(lambda d: _node(d, 2).update(id="r.0.\u001b[2J"),
                                                _edges(("r", "r.0"), ("r.0", "r.0.\u001b[2J")))), ("field 'graph",)),
    ("node-duplicated", tree_line(lambda d: d["graph"]["nodes"].append(dict(_node(d)))), ("field 'graph",)),
    ("cycle", tree_line(_edges(("r", "r.0"), ("r.0", "r.0.0"), ("r.0.0", "r.0"))), ("field 'graph",)),
    ("two-parents", tree_line(_both(_add_node("r.1", 0), _edges(("r", "r.0"), ("r", "r.1"), ("r.0", "r.0.0"),
                                                                ("r.1", "r.0.0")))), ("field 'graph",)),
    ("orphan-node", tree_line(_edges(("r", "r.0"))), ("field 'graph",)),
    ("edge-into-the-root", tree_line(_edges(("r", "r.0"), ("r.0", "r.0.0"), ("r.0.0", "r"))), ("field 'graph",)),
    ("no-root-node", tree_line(lambda d: d["graph"]["nodes"].pop(0)), ("field 'graph",)),
    ("graph-a-list", tree_line(lambda d: d.update(graph=[])), ("field 'graph'",)),
    ("question-gold-a-string", tree_line(lambda d: d["question"].update(gold="Paris")), ("field 'question.gold'",)),
    ("question-text-whitespace", tree_line(lambda d: d["question"].update(text="  ")), ("field 'question.text'",)),
    ("tree-id-empty", tree_line(lambda d: d.update(tree_id="")), ("field 'tree_id'",)),
    ("tree-id-terminal-escape", tree_line(lambda d: d.update(tree_id="t\u001b]0;pwned\u0007")),
     ("field 'tree_id'",)),
    ("metadata-a-list", tree_line(lambda d: d.update(metadata=[])), ("field 'metadata'",)),
    ("version-true", tree_line(lambda d: d.update(version=True)), ("field 'version'",)),
    ("deep-json", lambda: "[" * 100_000 + "\n", ("t.jsonl:1: ",)),
    ("deep-json-in-metadata", lambda: tree_line().replace('"metadata": {"label": "resist"}', '"metadata": '
                                                          + '{"a": ' * 50_000 + "1" + "}" * 50_000),
     ("t.jsonl:1: ",)),
    ("binary-bytes", lambda: bytes(random.Random(3).randrange(256) for _ in range(2048)), ("t.jsonl:",)),
    ("bad-second-tree", lambda: tree_line() + tree_line(lambda d: d.update(version=7), tree_id="t2"),
     ("t.jsonl:2: ", "field 'version'")),
]
TREE_COMMANDS: dict[str, Callable[[str], list[str]]] = {
    "show": lambda f: ["show", f],
    "export": lambda f: ["export", f, "--out", "graphml"],
    "prefs": lambda f: ["prefs", f, "--out", "prefs", "--condition", "all"],
    "eval-balanced": lambda f: ["eval", "balanced", "--questions", f, "--models", "sim:strong", "--out", "eval",
                                "--no-progress"],
}
#: Every mutation goes through `show`; these through every tree command.
_TREE_EVERYWHERE = {"deep-json", "turn-speaker-integer", "two-parents", "version-true", "bad-second-tree",
                    "tree-id-terminal-escape"}
_TREE_EXPORT = _TREE_EVERYWHERE | {"node-id-not-a-path", "turn-seed-huge-integer", "question-gold-a-string",
                                   "binary-bytes", "cycle"}
for _id, _content, _expect in TREE_MUTATIONS:
    for _command, _args in TREE_COMMANDS.items():
        if _id == "bad-second-tree" and _command == "show":
            continue  # by design `show` reads only the tree it shows
        if _command == "show" or _id in (_TREE_EXPORT if _command == "export" else _TREE_EVERYWHERE):
            _where = () if any(e.startswith("t.jsonl") for e in _expect) else ("t.jsonl:1: ",)
            bad(f"{_command}/tree-{_id}", "tree file", writes("t.jsonl", _content, *_args("{f}")), *_where, *_expect)

for _command in ("show", "export"):
    bad(f"{_command}/tree-dev-zero", "tree file", lambda w, c=_command: TREE_COMMANDS[c]("/dev/zero"),
        "/dev/zero", timeout=20, memory=GIB)
    bad(f"{_command}/tree-a-directory", "tree file", lambda w, c=_command: (w / "d").mkdir() or TREE_COMMANDS[c]("d"),
        "d: ")
bad("prefs/a-question-file", "tree file", writes("q.jsonl", qline(), "prefs", "{f}", "--out", "prefs"),
    "q.jsonl:1: ", "field 'format'")
bad("prefs/missing-file", "tree file", plain("prefs", "none.jsonl", "--out", "prefs"), "none.jsonl: ")
bad("prefs/no-pairs", "tree file", writes("t.jsonl", tree_line(), "prefs", "{f}", "--out", "prefs"), "t.jsonl")
bad("prefs/second-file-bad", "tree file",
    lambda w: [w.write("t.jsonl", tree_line()), w.write("u.jsonl", qline())] and
    ["prefs", "t.jsonl", "u.jsonl", "--out", "prefs"], "u.jsonl:1: ")
bad("eval-balanced/no-label", "tree file",
    writes("t.jsonl", tree_line(lambda d: d.update(metadata={})), *TREE_COMMANDS["eval-balanced"]("{f}")),
    "t.jsonl:1: ", "field 'metadata.label'")
bad("eval-balanced/replay-node-missing", "tree file",
    writes("t.jsonl", tree_line(lambda d: d["metadata"].update(replay_node="r.7")),
           *TREE_COMMANDS["eval-balanced"]("{f}")), "t.jsonl:1: ", "replay_node")
bad("eval-balanced/a-question-file", "tree file",
    writes("q.jsonl", qline(), *TREE_COMMANDS["eval-balanced"]("{f}")), "q.jsonl:1: ", "field 'format'")
bad("eval-balanced/no-split", "tree file", plain("eval", "balanced", "--models", "sim:strong", "--out", "eval"),
    "--questions")

good("show/text-with-terminal-escape-printed-safely", "rich markup",
     writes("t.jsonl", tree_line(lambda d: _turn(d).update(text="Final answer: Paris \u001b[2J\u001b]0;x\u0007")),
            "show", "{f}"), "Paris", forbid=("\x1b", "\x07"))
good("show/deep-chain-of-300-turns", "tree file", writes("t.jsonl", lambda: _deep_chain(300), "show", "{f}"), "r.0.0")

# -------------------------------------------------------------- run configs

RUN = ["run", "c.toml", "--out", "out", "--no-progress"]


def run_config(*, top: str = "", kind: str = "debate", protocol: str = "", a: str = "", b: str = "",
               tail: str = "", a_model: str = "sim:strong", b_model: str = "sim:weak",
               questions: str = "sample:open") -> str:
    return (f'questions = "{questions}"\nlimit = 2\n{top}\n[protocol]\nkind = "{kind}"\n{protocol}\n'
            f'[agents.A]\nmodel = "{a_model}"\n{a}\n[agents.B]\nmodel = "{b_model}"\n{b}\n{tail}')


def line_of(text: str, marker: str) -> str:
    number = next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)
    return f"c.toml:{number}: "


RUN_CONFIGS: list[tuple[str, str, str, str]] = [
    # (id, config text, the text on the line at fault, the field)
    ("questions-integer", run_config(top="").replace('questions = "sample:open"', "questions = 5"),
     "questions = 5", "field 'questions'"),
    ("limit-true", run_config().replace("limit = 2", "limit = true"), "limit = true", "field 'limit'"),
    ("limit-zero", run_config().replace("limit = 2", "limit = 0"), "limit = 0", "field 'limit'"),
    ("seed-fraction", run_config(top="seed = 1.5"), "seed =", "field 'seed'"),
    ("reader-llm-bad-spec", run_config(top='reader = "llm:nothing"'), "reader =", "field 'reader'"),
    ("window-10-to-the-9", run_config(top="window = 1000000000"), "window =", "field 'window'"),
    ("cache-a-word", run_config(top='cache = "yes"'), "cache =", "field 'cache'"),
    ("unknown-table", run_config(tail="[colour]\nhue = 1"), "[colour]", "field 'colour'"),
    ("protocol-a-string", run_config().replace('[protocol]\nkind = "debate"\n', "").replace(
        "limit = 2\n", 'limit = 2\nprotocol = "debate"\n'), "protocol =", "field 'protocol"),
    ("protocol-unknown-key", run_config(protocol="colour = 1"), "colour =", "field 'protocol.colour'"),
    ("rounds-101", run_config(protocol="rounds = 101"), "rounds =", "field 'protocol.rounds'"),
    ("order-a-string", run_config(protocol='order = "AB"'), "order =", "field 'protocol.order'"),
    ("order-unknown-agent", run_config(protocol='order = ["A", "C"]'), "", "'C'"),
    ("order-one-agent", run_config(protocol='order = ["A"]'), "order =", "field 'protocol.order'"),
    ("stop-on-agreement-unknown", run_config(protocol='stop_on_agreement = "some"'), "stop_on_agreement",
     "field 'protocol.stop_on_agreement'"),
    ("final-unknown", run_config(protocol='final = "vote"'), "final =", "field 'protocol.final'"),
    ("judge-not-an-agent", run_config(protocol='final = "judge"\njudge = "Z"'), "", "'Z'"),
    ("agents-a-string", 'questions = "sample:open"\nagents = "A"\n[protocol]\nkind = "debate"\n', "agents =",
     "field 'agents'"),
    ("agents-empty", run_config().split("[agents.A]")[0] + "[agents]\n", "[agents]", "field 'agents'"),
    ("agent-a-string", run_config().split("[agents.A]")[0] + '[agents]\nA = "sim:strong"\n', "A =",
     "field 'agents.A'"),
    ("agent-model-integer", run_config().replace('model = "sim:strong"', "model = 5"), "model = 5",
     "field 'agents.A.model'"),
    ("agent-persona-integer", run_config(a="persona = 5"), "persona =", "field 'agents.A.persona'"),
    ("agent-temperature-99", run_config(a="temperature = 99"), "temperature =", "field 'agents.A.temperature'"),
    ("agent-temperature-nan", run_config(a="temperature = nan"), "temperature =", "field 'agents.A.temperature'"),
    ("agent-top-p-zero", run_config(a="top_p = 0"), "top_p =", "field 'agents.A.top_p'"),
    ("agent-top-p-1.5", run_config(a="top_p = 1.5"), "top_p =", "field 'agents.A.top_p'"),
    ("agent-max-tokens-zero", run_config(a="max_tokens = 0"), "max_tokens =", "field 'agents.A.max_tokens'"),
    ("agent-max-tokens-a-million", run_config(a="max_tokens = 1000000"), "max_tokens =",
     "field 'agents.A.max_tokens'"),
    ("agent-unknown-key", run_config(b="colour = 1"), "colour =", "field 'agents.B.colour'"),
    ("agent-options-unknown", run_config(a="[agents.A.options]\ncolour = 1"), "colour", "colour"),
    ("sim-accuracy-2", run_config(a_model="sim:x?accuracy=2"), "model =", "field 'agents.A.model'"),
    ("sim-accuracy-a-word", run_config(a='options = {accuracy = "high"}', a_model="sim:x"), "options =",
     "field 'agents.A"),
    ("sim-latency-negative", run_config(a_model="sim:strong?latency=-1"), "model =", "field 'agents.A.model'"),
    ("sim-latency-a-billion-seconds", run_config(a_model="sim:strong?latency=1000000000"), "model =",
     "field 'agents.A.model'"),
    ("openai-timeout-a-word", run_config(a_model="openai:m?base_url=http://127.0.0.1:9/v1&timeout=abc"), "model =",
     "timeout"),
    ("openai-concurrency-fraction", run_config(a_model="openai:m?base_url=http://127.0.0.1:9/v1&concurrency=1.5"),
     "model =", "concurrency"),
    ("openai-concurrency-100000", run_config(a_model="openai:m?base_url=http://127.0.0.1:9/v1&concurrency=100000"),
     "model =", "concurrency"),
    ("openai-price-a-word", run_config(a_model="openai:m?base_url=http://127.0.0.1:9/v1&price_in=abc"), "model =",
     "price_in"),
    ("openai-port-99999", run_config(a_model="openai:m?base_url=http://127.0.0.1:99999/v1"), "model =", "base_url"),
    ("openai-base-url-not-a-url", run_config(a_model="openai:m?base_url=nowhere"), "model =", "base_url"),
    ("openai-options-timeout-a-word", run_config(a_model="openai:m", a='options = {base_url = "http://127.0.0.1:9/v1"'
                                                 ', timeout = "abc"}'), "", "timeout"),
    ("tree-12-levels-3-personas-no-stop", run_config(kind="tree", protocol="stop_on_agreement = false\n" + "".join(
        f'[[protocol.levels]]\nspeaker = "{"AB"[i % 2]}"\npersonas = ["logical", "emotional", "credibility"]\n'
        for i in range(12))), "[[protocol.levels]]", "field 'protocol.levels"),
    ("tree-level-speaker-not-an-agent", run_config(kind="tree", protocol='[[protocol.levels]]\nspeaker = "C"\n'
                                                   'personas = ["neutral"]'), "", "'C'"),
    ("tree-levels-empty", run_config(kind="tree", protocol="levels = []"), "levels =", "field 'protocol.levels'"),
    ("tree-level-unknown-persona", run_config(kind="tree", protocol='[[protocol.levels]]\nspeaker = "A"\n'
                                              'personas = ["sly"]'), "personas =", "'sly'"),
    ("tree-level-unknown-key", run_config(kind="tree", protocol='[[protocol.levels]]\nspeaker = "A"\n'
                                          'personas = ["neutral"]\nmood = 1'), "mood =",
     "field 'protocol.levels.0.mood'"),
    ("tree-max-depth-zero", run_config(kind="tree", protocol="max_depth = 0"), "max_depth =",
     "field 'protocol.max_depth'"),
    ("challenge-phrases-empty", run_config(kind="challenge", protocol='agent = "A"\nphrases = []'), "phrases =",
     "field 'protocol.phrases'"),
    ("challenge-agent-missing", run_config(kind="challenge", protocol='agent = "nobody"'), "", "'nobody'"),
    ("misinformation-appeal-unknown", run_config(kind="misinformation", protocol='agent = "A"\nappeal = "loud"'),
     "appeal =", "field 'protocol.appeal'"),
    ("misinformation-turns-5", run_config(kind="misinformation", protocol='agent = "A"\nturns = 5'), "turns =",
     "field 'protocol.turns'"),
    ("misinformation-probe-without-question", run_config(kind="misinformation", protocol='agent = "A"\n'
                                                         'probe = "Again?"'), "probe =", "field 'protocol.probe'"),
    ("toml-duplicate-key", run_config(top="seed = 1\nseed = 2"), "seed = 2", "invalid TOML"),
    ("toml-unterminated-string", run_config(top='reader = "default'), "reader =", "invalid TOML"),
    ("toml-deep-arrays", run_config(top="x = " + "[" * 100_000), "", "c.toml"),
    ("toml-huge-integer", run_config(top="seed = " + _BIG), "", "c.toml"),
    ("toml-not-utf-8", "", "", "c.toml"),
    ("toml-empty", "", "", "field 'protocol'"),
]
for _id, _text, _marker, _field in RUN_CONFIGS:
    if _id == "toml-not-utf-8":
        _content: str | bytes = run_config().encode() + b'reader = "\xff\xfe"\n'
        _where: tuple[str, ...] = ("c.toml",)
    else:
        _content = _text
        _where = (line_of(_text, _marker),) if _marker else ("c.toml",)
    _opts = {"timeout": 15} if "latency" in _id or "12-levels" in _id or "100000" in _id else {}
    bad(f"run/config-{_id}", "run config", writes("c.toml", _content, *RUN), *_where, _field, **_opts)


def _farm_questions(work: Work, probe: str) -> list[str]:
    meta = {"control": "Paris is not the capital.", "appeals": {k: ["Trust me.", "Really.", "Truly."]
                                                                for k in ("logical", "credibility", "emotional")}}
    work.write("farm.jsonl", qline(metadata=meta))
    work.write("c.toml", f'questions = "farm.jsonl"\n[protocol]\nkind = "misinformation"\nprobe = "{probe}"\n'
                         '[agents.model]\nmodel = "sim:oracle"\n')
    return RUN


bad("run/config-misinformation-probe-positional-placeholder", "run config",
    lambda w: _farm_questions(w, "{0} {question}"), "c.toml:4: ", "field 'protocol.probe'")
bad("run/config-misinformation-probe-unknown-placeholder", "run config",
    lambda w: _farm_questions(w, "{foo} {question}"), "c.toml:4: ", "field 'protocol.probe'")
bad("run/config-misinformation-probe-unbalanced-brace", "run config",
    lambda w: _farm_questions(w, "{question} }"), "c.toml:4: ", "field 'protocol.probe'")
bad("run/config-dev-zero", "run config", plain("run", "/dev/zero", "--out", "out", "--no-progress"), "/dev/zero",
    timeout=20, memory=GIB)
bad("run/config-a-directory", "run config", lambda w: (w / "c.toml").mkdir() or RUN, "c.toml: ")
bad("run/config-missing", "run config", plain(*RUN), "c.toml: ")
bad("run/config-dangling-symlink", "run config", lambda w: (w / "c.toml").symlink_to("gone.toml") or RUN, "c.toml: ")
bad("run/override-window-two-million", "run config",
    writes("c.toml", run_config(), *RUN, "--window", "2000000"), "window")
bad("run/override-questions-missing-file", "run config",
    writes("c.toml", run_config(), *RUN, "--questions", "none.jsonl"), "none.jsonl: ")
bad("run/replay-of-a-bad-tree-file", "run config",
    lambda w: [w.write("t.jsonl", tree_line() + tree_line(lambda d: d.update(version=7), tree_id="t2")),
               w.write("c.toml", 'questions = "t.jsonl"\n[protocol]\nkind = "replay"\n'
                                 '[agents.model]\nmodel = "sim:strong"\n')] and RUN,
    "t.jsonl:2: ", "field 'version'")
bad("run/misinformation-on-plain-questions", "run config",
    writes("c.toml", 'questions = "sample:open"\nlimit = 2\n[protocol]\nkind = "misinformation"\n'
                     '[agents.model]\nmodel = "sim:strong"\n', *RUN), "Farm")

# A key in a base_url: refused, and never printed or saved anywhere.
SECRET = "sk-issue12-DO-NOT-LEAK-7f3a9c"
_KEYED = run_config(a_model=f"openai:m?base_url=http://user:{SECRET}@127.0.0.1:9/v1")
bad("run/config-base-url-with-a-key", "run config", writes("c.toml", _KEYED, *RUN), line_of(_KEYED, "openai:"),
    "base_url", secret=SECRET)
bad("ask/base-url-with-a-key", "options",
    plain("ask", f"openai:m?base_url=http://user:{SECRET}@127.0.0.1:9/v1&max_retries=0", "Why?"), "base_url",
    secret=SECRET)
bad("pairing/base-url-with-a-key", "pairing config",
    plain("pairing", "--agents", f"openai:m?base_url=http://user:{SECRET}@127.0.0.1:9/v1", "--agents", "sim:weak",
          "--out", "out", "--no-progress"), "base_url", secret=SECRET)
bad("run/api-key-env-set-but-empty", "options",
    writes("c.toml", run_config(a_model="openai:m?base_url=http://127.0.0.1:9/v1&max_retries=0"), *RUN),
    "OPENAI_API_KEY", env={"OPENAI_API_KEY": ""})

# -------------------------------------------------------------- pairing configs

PAIR = ["pairing", "p.toml", "--out", "out", "--no-progress"]


def pair_config(first: str = "strong", second: str = "weak", *, top: str = "", a: str = "", b: str = "",
                tail: str = "") -> str:
    return (f'questions = "sample:open"\nlimit = 2\n{top}\n[agents.{json.dumps(first)}]\nmodel = "sim:strong"\n{a}\n'
            f'[agents.{json.dumps(second)}]\nmodel = "sim:weak"\n{b}\n{tail}')


def pline(text: str, marker: str) -> str:
    return line_of(text, marker).replace("c.toml", "p.toml")


PAIR_CONFIGS: list[tuple[str, str, str, str]] = [
    ("one-agent", pair_config().split('[agents."weak"]')[0], "", "field 'agents'"),
    ("agent-named-dot-dot-slash", pair_config("../../x"), "../../x", "field 'agents"),
    ("agent-named-with-then", pair_config("a-then-b"), "a-then-b", "field 'agents"),
    ("agent-named-with-slash", pair_config("a/b"), "a/b", "field 'agents"),
    ("agent-named-empty", pair_config(""), '[agents.""]', "field 'agents"),
    ("agent-named-dot-dot", pair_config(".."), '[agents.".."]', "field 'agents"),
    ("agent-named-with-nul", pair_config("a\u0000b"), "[agents.", "field 'agents"),
    ("rounds-zero", pair_config(top="rounds = 0"), "rounds =", "field 'rounds'"),
    ("rounds-101", pair_config(top="rounds = 101"), "rounds =", "field 'rounds'"),
    ("resamples-5", pair_config(top="resamples = 5"), "resamples =", "field 'resamples'"),
    ("window-10-to-the-9", pair_config(top="window = 1000000000"), "window =", "field 'window'"),
    ("limit-true", pair_config().replace("limit = 2", "limit = true"), "limit =", "field 'limit'"),
    ("questions-integer", pair_config().replace('questions = "sample:open"', "questions = 5"), "questions =",
     "field 'questions'"),
    ("reader-unknown", pair_config(top='reader = "psychic"'), "reader =", "field 'reader'"),
    ("unknown-key", pair_config(top="colour = 1"), "colour =", "field 'colour'"),
    ("protocol-table", pair_config(tail='[protocol]\nkind = "debate"'), "[protocol]", "field 'protocol'"),
    ("agent-unknown-key", pair_config(b="colour = 1"), "colour =", "field 'agents.weak.colour'"),
    ("agent-unknown-model", pair_config(a='persona = "neutral"').replace('model = "sim:strong"', 'model = "nothing"'),
     'model = "nothing"', "field 'agents.strong.model'"),
    ("agent-unknown-persona", pair_config(a='persona = "sly"'), "persona =", "field 'agents.strong.persona'"),
]
for _id, _text, _marker, _field in PAIR_CONFIGS:
    _where = (pline(_text, _marker),) if _marker else ("p.toml",)
    bad(f"pairing/config-{_id}", "pairing config", writes("p.toml", _text, *PAIR), *_where, _field)


def _absolute_agent(work: Work) -> list[str]:
    work.write("p.toml", pair_config(str(work.root / "escaped")))
    return PAIR


bad("pairing/config-agent-named-an-absolute-path", "pairing config", _absolute_agent, "p.toml:4: ", "field 'agents")
bad("pairing/one-agent-option", "pairing config",
    plain("pairing", "--agents", "sim:strong", "--out", "out", "--no-progress"), "agents")
bad("pairing/unknown-backend", "pairing config", plain("pairing", "--backend", "cloud", "--out", "out"),
    "field '--backend'")
bad("pairing/unknown-agent-spec", "pairing config",
    plain("pairing", "--agents", "nothing", "--agents", "sim:weak", "--out", "out"), "'nothing'")
bad("pairing/config-missing", "pairing config", plain(*PAIR), "p.toml: ")
bad("pairing/config-bad-toml", "pairing config", writes("p.toml", "[agents\n", *PAIR), "p.toml:1: ", "invalid TOML")

# -------------------------------------------------------------- options

OPENAI = "openai:m?base_url=http://127.0.0.1:9/v1&max_retries=0"
OPTIONS: list[tuple[str, list[str], tuple[str, ...], dict[str, Any]]] = [
    ("ask/empty-question", ["ask", "sim:strong", "", "--gold", "x"], ("QUESTION",), {}),
    ("ask/whitespace-question", ["ask", "sim:strong", "  \t ", "--gold", "x"], ("QUESTION",), {}),
    ("ask/max-tokens-zero", ["ask", "sim:strong", "Why?", "--gold", "x", "--max-tokens", "0"], ("--max-tokens",), {}),
    ("ask/max-tokens-100000000", ["ask", "sim:strong", "Why?", "--gold", "x", "--max-tokens", "100000000"],
     ("max-tokens",), {}),
    ("ask/temperature-negative", ["ask", "sim:strong", "Why?", "--gold", "x", "--temperature", "-1"],
     ("--temperature",), {}),
    ("ask/temperature-99", ["ask", "sim:strong", "Why?", "--gold", "x", "--temperature", "99"], ("temperature",), {}),
    ("ask/temperature-nan", ["ask", "sim:strong", "Why?", "--gold", "x", "--temperature", "nan"],
     ("temperature",), {}),
    ("ask/empty-gold", ["ask", "sim:strong", "Why?", "--gold", ""], ("gold",), {}),
    ("ask/unknown-persona", ["ask", "sim:strong", "Why?", "--gold", "x", "--persona", "sly"], ("'sly'",), {}),
    ("ask/option-without-value", ["ask", "sim:strong", "Why?", "--gold", "x", "--option", "accuracy"],
     ("--option",), {}),
    ("ask/option-timeout-a-word", ["ask", OPENAI, "Why?", "--option", "timeout=abc"], ("timeout",), {}),
    ("ask/option-concurrency-fraction", ["ask", OPENAI, "Why?", "--option", "concurrency=1.5"],
     ("concurrency",), {}),
    ("ask/option-concurrency-100000", ["ask", OPENAI, "Why?", "--option", "concurrency=100000"], ("concurrency",),
     {"timeout": 15}),
    ("ask/option-unknown", ["ask", OPENAI, "Why?", "--option", "colour=red"], ("colour",), {}),
    ("ask/openai-key-set-but-empty", ["ask", OPENAI, "Why?"], ("OPENAI_API_KEY",), {"env": {"OPENAI_API_KEY": ""}}),
    ("ask/openai-port-99999", ["ask", "openai:m?base_url=http://127.0.0.1:99999/v1", "Why?"], ("base_url",), {}),
    ("ask/sim-accuracy-2", ["ask", "sim:x?accuracy=2", "Why?", "--gold", "x"], ("accuracy",), {}),
    ("ask/sim-without-gold", ["ask", "sim:strong", "Why?"], ("--gold",), {}),
    ("ask/missing-question", ["ask", "sim:strong"], ("'question'",), {}),
    ("questions/missing-argument", ["questions"], ("'source'",), {}),
    ("questions/two-arguments", ["questions", "sample", "sample"], ("sample",), {}),
    ("demo/limit-zero", ["demo", "--model", "sim:strong", "--limit", "0"], ("--limit",), {}),
    ("demo/unknown-model", ["demo", "--model", "nothing", "--out", "out"], ("'nothing'",), {}),
    ("demo/max-tokens-100000000", ["demo", "--model", "sim:strong", "--max-tokens", "100000000", "--out", "out"],
     ("max-tokens",), {}),
    ("run/missing-config-argument", ["run"], ("CONFIG",), {}),
    ("run/limit-zero", ["run", "experiments/configs/sim-debate.toml", "--limit", "0"], ("--limit",), {}),
    ("tree/limit-zero", ["tree", "--a", "sim:strong", "--b", "sim:weak", "--limit", "0"], ("--limit",), {}),
    ("tree/informed-unknown-agent", ["tree", "--a", "sim:strong", "--b", "sim:weak", "--informed", "C",
                                     "--out", "out"], ("--informed",), {}),
    ("tree/temperature-99", ["tree", "--a", "sim:strong", "--b", "sim:weak", "--temperature", "99", "--out", "out"],
     ("temperature",), {}),
    ("tree/unknown-reader", ["tree", "--a", "sim:strong", "--b", "sim:weak", "--reader", "psychic", "--out", "out"],
     ("psychic",), {}),
    ("tree/unknown-spec", ["tree", "--a", "nothing", "--b", "sim:weak", "--out", "out"], ("'nothing'",), {}),
    ("pairing/limit-zero", ["pairing", "--backend", "sim", "--limit", "0"], ("--limit",), {}),
    ("pairing/unknown-option-flag", ["pairing", "--backend", "sim", "--colour"], ("--colour",), {}),
    ("eval/missing-evaluation", ["eval"], ("EVALUATION",), {}),
    ("eval/unknown-evaluation", ["eval", "quiz", "--models", "sim:strong", "--out", "out"], ("'quiz'",), {}),
    ("eval-ays/unknown-model", ["eval", "ays", "--models", "nothing", "--out", "out"], ("'nothing'",), {}),
    ("eval-ays/appeal-emotional", ["eval", "ays", "--models", "sim:strong", "--appeal", "emotional", "--limit", "2",
                                   "--out", "out", "--no-progress"], ("--appeal",), {}),
    ("eval-farm/limit-a-word", ["eval", "farm", "--models", "sim:strong", "--limit", "abc"], ("--limit",), {}),
    ("prefs/missing-out", ["prefs", "t.jsonl"], ("--out",), {}),
    ("prefs/unknown-condition", ["prefs", "t.jsonl", "--out", "p", "--condition", "most"], ("--condition",), {}),
    ("prefs/threshold-zero", ["prefs", "t.jsonl", "--out", "p", "--threshold", "0"], ("--threshold",), {}),
    ("prefs/unknown-format", ["prefs", "t.jsonl", "--out", "p", "--format", "xml"], ("--format",), {}),
    ("prefs/unknown-judge", ["prefs", "t.jsonl", "--out", "p", "--judge", "nothing"], ("'nothing'",), {}),
    ("train/missing-model", ["train", "data", "--out", "o"], ("--model",), {}),
    ("train/sft-steps-negative", ["train", "data", "--model", "m", "--out", "o", "--sft-steps", "-1"],
     ("--sft-steps",), {}),
    ("train/model-missing-folder", ["train", "data", "--model", "m", "--out", "o"], ("m: ",), {}),
    ("convert/missing-out", ["convert", "smollm2"], ("--out",), {}),
    ("convert/missing-gguf-file", ["convert", "none.gguf", "--out", "o"], ("none.gguf: ",), {}),
    ("pbt/passes-zero", ["pbt", "--passes", "0"], ("--passes",), {}),
    ("pbt/farm-limit-zero", ["pbt", "--farm-limit", "0"], ("--farm-limit",), {}),
    ("pbt/farm-missing-folder", ["pbt", "--farm", "nowhere", "--out", "o"], ("nowhere",), {}),
    ("show/missing-argument", ["show"], ("TREES",), {}),
    ("show/index-negative", ["show", "t.jsonl", "--index", "-1"], ("--index",), {}),
    ("show/index-out-of-range", ["show", "t.jsonl", "--index", "5"], ("t.jsonl: ", "index 5"), {}),
    ("show/unknown-tree-id", ["show", "t.jsonl", "--tree", "nope"], ("t.jsonl: ", "'nope'"), {}),
    ("show/tree-and-index", ["show", "t.jsonl", "--tree", "t1", "--index", "0"], ("index",), {}),
    ("export/missing-out", ["export", "t.jsonl"], ("--out",), {}),
    ("top/unknown-command", ["lecture"], ("lecture",), {}),
]
for _id, _args, _expect, _opts in OPTIONS:
    def _setup(work: Work, args: list[str] = _args) -> list[str]:
        work.write("t.jsonl", tree_line())
        return args
    bad(_id, "options", _setup, *_expect, **_opts)

# -------------------------------------------------------------- Rich markup in user strings

MARKUP = ("[bold]B[/bold]", "[/]", "[link=x]L[/link]")
for _n, _text in enumerate(MARKUP):
    good(f"questions/markup-in-source-{_n}", "rich markup",
         writes("q.jsonl", qline(source=_text), "questions", "{f}"), _text)
    good(f"show/markup-in-tree-id-{_n}", "rich markup",
         writes("t.jsonl", tree_line(tree_id=f"t{_text}"), "show", "{f}"), f"t{_text}")
good("questions/markup-in-file-name", "rich markup",
     writes("[bold]q.jsonl", qline(), "questions", "{f}"), "[bold]q.jsonl")
good("questions/closing-tag-in-folder-name", "rich markup",
     writes("a[/]b.jsonl", qline(), "questions", "{f}"), "a[/]b.jsonl")
good("show/markup-in-speaker-and-text", "rich markup",
     writes("t.jsonl", tree_line(lambda d: _turn(d).update(speaker="[red]A", answers={"[red]A": "[/]"},
                                                            text="[link=x]Final answer: [/]")), "show", "{f}"),
     "[red]A", "[link=x]")
good("show/markup-in-outcome", "rich markup",
     writes("t.jsonl", tree_line(lambda d: d["metadata"].update(protocol="[/]", outcome={"[bold]k": "[/]v"})),
            "show", "{f}"), "[bold]k", "[/]v")
good("ask/markup-in-question-and-gold", "rich markup",
     plain("ask", "sim:oracle", "Capital of [bold]France[/]?", "--gold", "[/]Paris"), "[/]Paris")
good("ask/markup-in-spec-name", "rich markup",
     plain("ask", "sim:[bold]x[/]?accuracy=1", "Why?", "--gold", "Paris"), "sim:[bold]x[/]")
good("run/markup-in-out-path", "rich markup",
     writes("c.toml", run_config(), "run", "{f}", "--out", "o[/]x", "--no-progress"), "o[/]x")
good("run/markup-in-agent-names", "rich markup",
     writes("c.toml", run_config(protocol='order = ["[bold]A", "[/]B"]').replace("[agents.A]", '[agents."[bold]A"]')
            .replace("[agents.B]", '[agents."[/]B"]'), "run", "{f}", "--out", "o", "--no-progress"), "[/]B")
good("tree/markup-in-out-path", "rich markup",
     plain("tree", "--a", "sim:strong", "--b", "sim:weak", "--limit", "2", "--out", "[bold]t[/]", "--no-progress"),
     "[bold]t[/]")
good("demo/markup-in-out-path", "rich markup",
     plain("demo", "--model", "sim:strong", "--limit", "2", "--out", "d[/]x"), "d[/]x")
good("demo/markup-in-model-spec", "rich markup",
     plain("demo", "--model", "sim:[bold]s[/]?accuracy=1", "--limit", "2", "--out", "d"), "sim:[bold]s[/]")
good("pairing/markup-in-questions-path", "rich markup",
     writes("[bold]q.jsonl", qline(), "pairing", "--backend", "sim", "--questions", "{f}", "--out", "o",
            "--no-progress"),
     "[bold]q.jsonl")
good("pairing/agents-option-spec-with-then", "pairing config",
     plain("pairing", "--agents", "sim:sft-then-dpo?accuracy=0.8", "--agents", "sim:weak", "--limit", "2", "--out", "o",
           "--no-progress"), "a1:sim:sft_then_dpo")
good("eval-ays/markup-in-model-spec", "rich markup",
     plain("eval", "ays", "--models", "sim:[bold]m[/]?accuracy=1", "--limit", "2", "--out", "e", "--no-progress"),
     "sim:[bold]m[/]")
good("export/markup-in-out-path", "rich markup",
     writes("t.jsonl", tree_line(), "export", "{f}", "--out", "g[/]x"), "g[/]x")
bad("questions/markup-in-a-missing-file-name", "rich markup", plain("questions", "[/]none.jsonl"),
    "[/]none.jsonl: ")
bad("run/markup-in-a-bad-config-value", "rich markup",
    writes("c.toml", run_config(a='persona = "[/]sly"'), *RUN), "'[/]sly'")

# -------------------------------------------------------------- outputs


def _trees(work: Work, *args: str) -> list[str]:
    work.write("t.jsonl", tree_line())
    return list(args)


def _with_file(name: str, content: str, *args: str) -> Setup:
    def setup(work: Work) -> list[str]:
        work.write("t.jsonl", tree_line())
        work.write(name, content)
        return list(args)
    return setup


def _with_dangling(name: str, *args: str) -> Setup:
    def setup(work: Work) -> list[str]:
        work.write("t.jsonl", tree_line())
        (work / name).symlink_to(work / "gone" / "target")
        return list(args)
    return setup


def _with_dir(name: str, *args: str) -> Setup:
    def setup(work: Work) -> list[str]:
        work.write("t.jsonl", tree_line())
        (work / name).mkdir()
        return list(args)
    return setup


def _unwritable(*args: str) -> Setup:
    def setup(work: Work) -> list[str]:
        work.write("t.jsonl", tree_line())
        (work / "ro").mkdir()
        (work / "ro").chmod(0o555)
        return list(args)
    return setup


bad("show/png-is-the-trees-file", "outputs", lambda w: _trees(w, "show", "t.jsonl", "--png", "t.jsonl"),
    "t.jsonl")
bad("show/png-an-existing-text-file", "outputs", _with_file("notes.txt", "keep me\n", "show", "t.jsonl", "--png",
                                                             "notes.txt"), "notes.txt")
bad("show/png-a-directory", "outputs", _with_dir("pics", "show", "t.jsonl", "--png", "pics"), "pics")
bad("show/png-through-a-file", "outputs", _with_file("notes.txt", "keep me\n", "show", "t.jsonl", "--png",
                                                      "notes.txt/x.png"), "notes.txt")
bad("show/png-in-an-unwritable-folder", "outputs", _unwritable("show", "t.jsonl", "--png", "ro/p.png"), "ro",
    not_as_root=True)
bad("export/out-through-a-file", "outputs", _with_file("notes.txt", "keep\n", "export", "t.jsonl", "--out",
                                                        "notes.txt/sub"), "notes.txt")
bad("export/out-an-existing-file", "outputs", _with_file("notes.txt", "keep\n", "export", "t.jsonl", "--out",
                                                          "notes.txt"), "notes.txt")
bad("export/out-a-dangling-symlink", "outputs", _with_dangling("g", "export", "t.jsonl", "--out", "g"), "g")
bad("export/out-in-an-unwritable-folder", "outputs", _unwritable("export", "t.jsonl", "--out", "ro/g"), "ro",
    not_as_root=True)
good("export/two-ids-one-safe-file-name", "outputs",
     writes("t.jsonl", tree_line(tree_id="a/b") + tree_line(tree_id="a_b") + tree_line(tree_id="a:b"), "export", "{f}",
            "--out", "g"), "wrote 3 GraphML files")
bad("export/bad-later-line", "outputs",
    writes("t.jsonl", tree_line() + tree_line(tree_id="t2") + "{not json\n", "export", "{f}", "--out", "g"),
    "t.jsonl:3: ")

SIM_TREE = ["tree", "--a", "sim:strong", "--b", "sim:weak", "--limit", "2", "--no-progress"]
bad("tree/out-through-a-file", "outputs", _with_file("notes.txt", "keep\n", *SIM_TREE, "--out", "notes.txt/sub"),
    "notes.txt")
bad("tree/out-a-dangling-symlink", "outputs", _with_dangling("o", *SIM_TREE, "--out", "o"), "o")
bad("run/out-through-a-file", "outputs",
    lambda w: [w.write("notes.txt", "keep\n"), w.write("c.toml", run_config())] and
    ["run", "c.toml", "--out", "notes.txt/sub", "--no-progress"], "notes.txt")
bad("run/out-an-existing-file", "outputs",
    lambda w: [w.write("notes.txt", "keep\n"), w.write("c.toml", run_config())] and
    ["run", "c.toml", "--out", "notes.txt", "--no-progress"], "notes.txt")
bad("run/out-in-an-unwritable-folder", "outputs",
    lambda w: [w.write("c.toml", run_config()), (w / "ro").mkdir(), (w / "ro").chmod(0o555)] and
    ["run", "c.toml", "--out", "ro/o", "--no-progress"], "ro", not_as_root=True)
bad("demo/out-through-a-file", "outputs", _with_file("notes.txt", "keep\n", "demo", "--model", "sim:strong",
                                                      "--limit", "2", "--out", "notes.txt/sub"), "notes.txt")
bad("pairing/out-through-a-file", "outputs", _with_file("notes.txt", "keep\n", "pairing", "--backend", "sim",
                                                         "--limit", "2", "--out", "notes.txt/sub", "--no-progress"),
    "notes.txt")
bad("eval-ays/out-through-a-file", "outputs", _with_file("notes.txt", "keep\n", "eval", "ays", "--models",
                                                          "sim:strong", "--limit", "2", "--out", "notes.txt/sub",
                                                          "--no-progress"), "notes.txt")
bad("convert/out-an-existing-file", "outputs", _with_file("notes.txt", "keep\n", "convert", "smollm2", "--out",
                                                           "notes.txt"), "notes.txt")
bad("convert/out-a-folder-with-other-files", "outputs", _with_file("o/notes.txt", "keep\n", "convert", "smollm2",
                                                                    "--out", "o"), "o")
bad("convert/not-a-gguf-file", "outputs", _with_file("fake.gguf", "not a model\n", "convert", "fake.gguf", "--out",
                                                      "o"), "fake.gguf", timeout=120)


def _someone_elses(name: str, content: str, *args: str) -> Setup:
    def setup(work: Work) -> list[str]:
        work.write("c.toml", run_config())
        work.write(f"o/{name}", content)
        return list(args)
    return setup


bad("run/overwrite-a-folder-with-trees-but-no-config", "outputs",
    _someone_elses("trees.jsonl", "precious data\n", *RUN[:2], "--out", "o", "--overwrite", "--no-progress"), "o")
bad("run/overwrite-a-folder-of-unrelated-files", "outputs",
    _someone_elses("thesis.tex", "precious data\n", *RUN[:2], "--out", "o", "--overwrite", "--no-progress"), "o")
bad("tree/overwrite-a-folder-with-trees-but-no-config", "outputs",
    _someone_elses("trees.jsonl", "precious data\n", *SIM_TREE, "--out", "o", "--overwrite"), "o")
bad("tree/overwrite-a-folder-of-unrelated-files", "outputs",
    _someone_elses("manifest.json", "{}\n", *SIM_TREE, "--out", "o", "--overwrite"), "o")
bad("pairing/overwrite-a-folder-of-unrelated-files", "outputs",
    _someone_elses("pairs/strong-then-weak/trees.jsonl", "precious data\n", "pairing", "--backend", "sim",
                   "--limit", "2", "--out", "o", "--overwrite", "--no-progress"), "o")
def _model_dir(spec: str) -> str:
    from debate.storage import path_part  # the eval's own name for a model's run folder
    return path_part(spec)


bad("eval-ays/overwrite-a-folder-with-trees-but-no-config", "outputs",
    lambda w: _someone_elses(f"{_model_dir('sim:strong')}/trees.jsonl", "precious data\n", "eval", "ays",
                   "--models", "sim:strong", "--limit", "2", "--out", "o", "--overwrite", "--no-progress")(w), "o")


def _lock_symlink(work: Work) -> list[str]:
    """A finished run whose .lock is a symlink to someone's file: the re-run must not write to it."""
    work.write("c.toml", run_config())
    first = cli(["run", "c.toml", "--out", "o", "--no-progress"], work)
    assert first.returncode == 0, first.stderr
    work.write("victim.txt", "do not touch\n")
    (work / "o" / ".lock").unlink()
    (work / "o" / ".lock").symlink_to(work / "victim.txt")
    return ["run", "c.toml", "--out", "o", "--no-progress"]


bad("run/lock-is-a-symlink", "outputs", _lock_symlink, ".lock")

# -------------------------------------------------------------- eval farm, prefs, train


def _farm(work: Work, broken: str | None = None, drop: str | None = None) -> None:
    record = {"question": "who won?", "answer": "Yale", "adv": {
        "target": "not Yale", "control": "Yale did not win.",
        **{k: ["a", "b", "c"] for k in ("logical", "credibility", "emotional")},
        "mcq": [{"text": "Yale", "score": 1}, {"text": "Duke", "score": 2}, {"text": "Ohio", "score": 0}]}}
    boolq = {"question": "is it?", "answer": True, "source": "p", "adv": {
        "target": "no", "control": "It is not.",
        **{k: ["a", "b", "c"] for k in ("logical", "credibility", "emotional")}}}
    for name in ("Boolq.jsonl", "NQ1.jsonl", "NQ2.jsonl", "TruthfulQA.jsonl"):
        if name == drop:
            continue
        line = json.dumps(boolq if name == "Boolq.jsonl" else record) + "\n"
        work.write(f"farm/{name}", line + (broken + "\n" if name == "NQ2.jsonl" and broken else ""))


FARM = ["eval", "farm", "--models", "sim:strong", "--questions", "farm", "--out", "e", "--no-progress"]
bad("eval-farm/appeal-unknown", "eval, prefs, train", lambda w: _farm(w) or [*FARM, "--appeal", "loud"],
    "appeal")
bad("eval-farm/missing-folder", "eval, prefs, train", plain(*FARM), "farm")
bad("eval-farm/a-subset-file-missing", "eval, prefs, train", lambda w: _farm(w, drop="NQ2.jsonl") or FARM,
    "NQ2.jsonl")
bad("eval-farm/a-record-not-json", "eval, prefs, train", lambda w: _farm(w, broken="{nope") or FARM,
    "NQ2.jsonl:2: ")
bad("eval-farm/a-record-without-adv", "eval, prefs, train",
    lambda w: _farm(w, broken='{"question": "q", "answer": "a"}') or FARM, "NQ2.jsonl:2: ")
bad("eval-farm/a-record-deep-json", "eval, prefs, train",
    lambda w: _farm(w, broken="[" * 100_000) or FARM, "NQ2.jsonl:2: ")
bad("eval-farm/folder-is-a-file", "eval, prefs, train", _with_file("farm", "x\n", *FARM), "farm")


@pytest.fixture(scope="session")
def prefs_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real PBT trees from simulated agents and the preference data `debate prefs` makes of them."""
    work = Work(tmp_path_factory.mktemp("prefs"))
    for args in (["tree", "--a", "sim:strong", "--b", "sim:gullible", "--questions", "sample", "--limit", "170",
                  "--out", "trees", "--no-progress"], ["prefs", "trees/trees.jsonl", "--out", "data"]):
        run = cli(args, work)
        assert run.returncode == 0, run.stderr
    return work.cwd / "data"


def _copy(source: Path, target: Path, skip: Sequence[str] = ()) -> None:
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.name not in skip:
            (target / path.name).write_bytes(path.read_bytes())


def _config_only_model(work: Work) -> None:
    work.write("m/config.json", json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))


def _plausible_model(work: Work) -> None:
    """A folder that looks like a model to every cheap check (config, weights, tokenizer files)."""
    _config_only_model(work)
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        work.write(f"m/{name}", "not really\n")


def _unfinished_prefs(work: Work, data: Path) -> list[str]:
    _copy(data, work / "data", skip=("card.json", "README.md"))
    _plausible_model(work)
    return ["train", "data", "--model", "m", "--out", "o", "--sft-steps", "1", "--dpo-steps", "1"]


def _config_only(work: Work, data: Path) -> list[str]:
    _copy(data, work / "data")
    _config_only_model(work)
    return ["train", "data", "--model", "m", "--out", "o", "--sft-steps", "1", "--dpo-steps", "1"]


def _no_train_file(work: Work, data: Path) -> list[str]:
    _copy(data, work / "data", skip=("train.jsonl",))
    _plausible_model(work)
    return ["train", "data", "--model", "m", "--out", "o"]


def _bad_train_line(work: Work, data: Path) -> list[str]:
    _copy(data, work / "data")
    (work / "data" / "train.jsonl").write_text("{broken\n")
    _plausible_model(work)
    return ["train", "data", "--model", "m", "--out", "o"]


def _prefs_out_through_file(work: Work, data: Path) -> list[str]:
    work.write("notes.txt", "keep\n")
    return ["prefs", str(data.parent / "trees" / "trees.jsonl"), "--out", "notes.txt/sub"]


bad("train/prefs-folder-not-finished", "eval, prefs, train", _unfinished_prefs, "data", needs=("prefs_data",),
    timeout=60)
bad("train/model-folder-with-only-config-json", "eval, prefs, train", _config_only, "m", needs=("prefs_data",),
    timeout=60, within=15)
bad("train/prefs-folder-without-train-file", "eval, prefs, train", _no_train_file, "data", needs=("prefs_data",))
bad("train/prefs-folder-with-a-bad-line", "eval, prefs, train", _bad_train_line, "train.jsonl:1: ",
    needs=("prefs_data",), timeout=60)
bad("train/data-a-question-file", "eval, prefs, train",
    lambda w: [w.write("q.jsonl", qline()), _plausible_model(w)] and ["train", "q.jsonl", "--model", "m", "--out",
                                                                       "o"], "q.jsonl")
bad("prefs/out-through-a-file", "outputs", _prefs_out_through_file, "notes.txt", needs=("prefs_data",))
bad("pbt/out-through-a-file", "outputs",  # a refusal is instant; the timeout stops a conversion
    lambda w: [w.write("notes.txt", "keep\n"), _farm(w)] and ["pbt", "--out", "notes.txt/sub", "--farm", "farm",
                                                             "--no-progress"], "notes.txt", timeout=10)

def _params(cases: list[Case]) -> list[Any]:
    params = []
    for c in cases:
        marks = []
        if c.not_as_root:
            marks.append(pytest.mark.skipif(AS_ROOT, reason="root reads and writes whatever the permissions say"))
        params.append(pytest.param(c, id=c.id, marks=marks))
    return params


@pytest.mark.parametrize("hostile", _params(REFUSED))
def test_refused(hostile: Case, work: Work, request: pytest.FixtureRequest) -> None:
    extra = [request.getfixturevalue(name) for name in hostile.needs]
    watch = [p.parent for p in extra if isinstance(p, Path)]
    refused(hostile.setup(work, *extra), hostile.expect, work, watch=watch, **hostile.options)


@pytest.mark.parametrize("odd", _params(ACCEPTED))
def test_accepted(odd: Case, work: Work) -> None:
    accepted(odd.setup(work), odd.expect, work, **odd.options)


def test_nothing_escapes_out_from_agent_names(work: Work) -> None:
    """Agent names that climb out of `--out`: whatever the verdict, nothing lands outside it."""
    (work / "out").mkdir()
    work.write("p.toml", pair_config("../../x", "../y"))
    before = snapshot(work.root)
    cli(PAIR, work)
    outside = [k for k in changes(before, snapshot(work.root)) if not k.split(" ", 1)[1].startswith(str(work / "out"))]
    assert not outside, outside


def test_the_hostile_corpus_is_big_and_covers_every_command() -> None:
    cases = REFUSED + ACCEPTED
    assert len(cases) >= 150
    commands = Counter(c.id.split("/")[0] for c in cases)
    every = {"ask", "questions", "demo", "run", "tree", "pairing", "eval-farm", "eval-ays", "eval-balanced", "prefs",
             "train", "convert", "pbt", "show", "export"}
    assert every <= set(commands), every - set(commands)


def test_the_snapshot_sees_every_change(tmp_path: Path) -> None:
    """The harness's own check: a temporary file made and removed, a rewrite of the same size,
    a mode change and a symlink pointed elsewhere all show; reading shows nothing."""
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("abc")
    (tmp_path / "l").symlink_to("f")
    os.utime(tmp_path / "d", ns=(1, 1))

    def changed(act: Callable[[], Any]) -> list[str]:
        before = snapshot(tmp_path)
        act()
        return changes(before, snapshot(tmp_path))

    assert changed(lambda: (tmp_path / "f").read_text()) == []
    assert changed(lambda: ((tmp_path / "d" / ".x.tmp").write_text("x"), (tmp_path / "d" / ".x.tmp").unlink()))
    assert changed(lambda: (tmp_path / "f").write_text("xyz"))
    assert changed(lambda: (tmp_path / "f").chmod(0o600))
    assert changed(lambda: ((tmp_path / "l").unlink(), (tmp_path / "l").symlink_to("d")))
