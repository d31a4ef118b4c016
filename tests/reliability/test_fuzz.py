"""Fuzzing the readers of user files and of replies (hypothesis).

A parser either returns records that are valid (they survive a round trip and can be written as
UTF-8) or raises a one-line DataError, never another exception. An answer reader never raises and
returns a well-formed read. Examples are derandomised, so every run (and CI) tries the same ones.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from debate.answers import read_answer
from debate.data import parse_questions
from debate.errors import DataError
from debate.grading import grade, is_correct, normalize, same_answer
from debate.records import AnswerRead, Question
from debate.show import outcome_table, rich_tree
from debate.tree import DialogueTree
from helpers import pbt_tree

FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Text with what breaks naive code: controls, escapes, markup, combining marks, right-to-left, emoji,
# a lone surrogate (an escape in a JSON file, invalid bytes in a UTF-8 one).
ODD = st.sampled_from(["", " ", "\x00", "\x1b[2J", "\r\n", "\t", "[/x]", "\\u0000", "é", "\u0301", "\u202e",
                       "🙂", "\ufeff", "\ud800", "Paris", "yes", "no", "Option 2", "the", "!!!", "1,000", "８"])
TEXT = st.one_of(st.text(max_size=40), st.lists(ODD, max_size=6).map("".join))
# No NaN or infinity: Python's json reads and writes them, but they are not JSON (noted, not refused).
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# JSON that parses but is hard to use downstream: nested past what pydantic writes back.
DEEP = st.integers(60, 300).map(_nested)
KINDS = st.sampled_from(["open", "yes-no", "multiple-choice"])
VALUES = st.one_of(JSON, KINDS, st.lists(TEXT, max_size=4), st.lists(ODD, min_size=1, max_size=3), DEEP)
GOOD = {"id": "q1", "text": "Which city is the capital of France?", "gold": ["Paris"], "wrong_answers": ["Lyon"]}
FIELDS = ["id", "text", "kind", "gold", "options", "wrong_answers", "context", "source", "metadata", "answer"]


def _checked_questions(path: Path) -> None:
    """Read `path`: a one-line DataError, or questions that hold together and can be written back."""
    try:
        questions = parse_questions(path)
    except DataError as exc:
        assert exc.file == str(path) and "\n" not in str(exc)
        return
    for question in questions:
        assert Question.model_validate_json(question.model_dump_json()) == question
        json.dumps(question.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")
        assert question.id.strip() and question.text.strip() and not re.search("[\x00-\x1f\x7f-\x9f]", question.id)
        assert all(normalize(g) for g in question.gold)
        assert not {normalize(w) for w in question.wrong_answers} & {normalize(g) for g in question.gold}


@st.composite
def near_valid_records(draw) -> dict:
    record = copy.deepcopy(GOOD)
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        if draw(st.booleans()):
            record.pop(field, None)
        else:
            record[field] = draw(VALUES)
    return record


LINE = st.one_of(JSON.map(lambda v: json.dumps(v).encode()),           # any JSON value
                 near_valid_records().map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
                 st.binary(max_size=60),                                  # any bytes
                 st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),  # past the parser's recursion limit
                 st.integers(4000, 5000).map(lambda n: b'{"id": ' + b"7" * n + b"}"))  # past int()'s limit


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(lines=st.lists(LINE, min_size=1, max_size=4))
def test_question_files_are_read_or_refused_in_one_line(folder, lines):
    path = folder / "questions.jsonl"
    path.write_bytes(b"\n".join(lines))
    _checked_questions(path)


# ---------------------------------------------------------------- trees

TREE = pbt_tree().to_dict()


def _like(value) -> st.SearchStrategy:
    """Values of the same JSON type as `value`: the changes most likely to leave a valid tree."""
    for kind, strategy in ((bool, st.booleans()), (int, st.integers()), (float, st.floats(-1e9, 1e9)), (str, TEXT),
                           (list, st.lists(TEXT, max_size=3)), (dict, st.dictionaries(TEXT, VALUES, max_size=3))):
        if isinstance(value, kind):
            return strategy
    return VALUES


@st.composite
def mutated_trees(draw) -> dict:
    """A real tree's document with a few changes: a value replaced (by one of its type, or any), a
    key dropped, a node id or an edge rewired, a list shuffled."""
    doc = copy.deepcopy(TREE)
    for _ in range(draw(st.integers(1, 3))):
        parent, key = None, None
        graph = doc.get("graph") if isinstance(doc.get("graph"), dict) else {}
        nodes = graph.get("nodes") if isinstance(graph.get("nodes"), list) else []
        turns = [n["turn"] for n in nodes if isinstance(n, dict) and isinstance(n.get("turn"), dict)]
        value = draw(st.sampled_from([doc, doc.get("question"), graph, nodes, graph.get("edges"), *turns]))
        for _ in range(draw(st.integers(1, 5))):  # walk down to a random place
            keys = list(value) if isinstance(value, dict) else list(range(len(value))) if isinstance(value, list) \
                else []
            if not keys:
                break
            parent, key = value, draw(st.sampled_from(keys))
            value = parent[key]
        if parent is None:
            continue
        action = draw(st.sampled_from(["same type", "same type", "replace", "drop", "node id", "shuffle"]))
        if action == "same type":
            parent[key] = draw(_like(value))
        elif action == "replace":
            parent[key] = draw(VALUES)
        elif action == "drop":
            del parent[key]
        elif action == "node id":
            parent[key] = draw(st.sampled_from(["r", "r.0", "r.0.0", "r.1", "r.0.0.0", "r..0", "r.00", "x", ""]))
        elif isinstance(value, list):
            parent[key] = draw(st.permutations(value))
    return doc


@FUZZ
@given(doc=mutated_trees())
def test_tree_documents_are_read_or_refused_in_one_line(folder, doc):
    try:
        tree = DialogueTree.from_json(json.dumps(doc), source="t.json", line=1)
    except DataError as exc:
        assert exc.file == "t.json" and exc.line == 1 and "\n" not in str(exc)
        return
    again = DialogueTree.from_json(tree.to_json())
    assert again.to_dict() == tree.to_dict() and again.nodes() == tree.nodes()
    assert all(tree.path(node)[-1] == node for node in tree.nodes())
    tree.to_json().encode("utf-8")
    console = Console(file=io.StringIO(), width=100)
    console.print(rich_tree(tree, width=100), outcome_table(tree))
    graph = nx.read_graphml(tree.to_graphml(folder / "tree.graphml"))
    assert graph.number_of_nodes() == len(tree) + 1


# ---------------------------------------------------------------- answers

WORD = st.sampled_from(["Paris", "Lyon", "the Nile", "8", "eight", "1,000", "Napoleon III", "yes", "no", "None",
                        "Henry VIII", "365.25", "Option 1", "I agree", "not", "é", "🙂"])
ANSWER = st.one_of(WORD, st.lists(WORD, min_size=1, max_size=3).map(" ".join), st.text(min_size=1, max_size=15))
QUESTION_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@st.composite
def questions(draw) -> Question:
    kind = draw(st.sampled_from(["open", "yes-no", "multiple-choice"]))
    # Any text a question may hold (not a lone surrogate, nor a control character but line breaks and tabs).
    text = draw(st.one_of(st.just("Which city is the capital of France?"),
                          TEXT.filter(lambda t: t.strip() and "\ud800" not in t and not QUESTION_CONTROL.search(t))))
    if kind == "yes-no":
        gold = [draw(st.sampled_from(["yes", "no"]))]
        return Question(id="q", text=text, kind=kind, gold=gold, wrong_answers=["no" if gold == ["yes"] else "yes"])
    answers = draw(st.lists(ANSWER.filter(normalize), min_size=2, max_size=5, unique_by=normalize))
    gold, wrong = answers[:1], answers[1:]
    options = draw(st.permutations(answers)) if kind == "multiple-choice" else []
    return Question(id="q", text=text, kind=kind, gold=gold, wrong_answers=wrong, options=options)


REPLY = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(WORD, ODD, st.sampled_from(["Final answer:", "\n", ".", "The answer is", "I think",
                                                   "**Final Answer:**", "\\boxed{", "}", "Option", "not"])),
             max_size=10).map(" ".join))


def _well_formed(read: AnswerRead, question: Question) -> None:
    assert isinstance(read, AnswerRead) and read.reader
    assert (read.answer is None) != (read.special is None), read
    assert all(isinstance(f, str) for f in read.failures)
    if read.answer is not None:
        assert normalize(read.answer), read  # an answer that says something, as gold must
        if question.kind == "yes-no":
            assert read.answer in ("yes", "no"), read
        elif question.kind == "multiple-choice":
            assert read.answer in question.options, read


@FUZZ
@given(question=questions(), reply=REPLY, replying=st.booleans(), data=st.data())
def test_answer_readers_always_return_a_well_formed_read(question, reply, replying, data):
    known = question.options or question.gold + question.wrong_answers
    candidates = data.draw(st.lists(st.sampled_from(known), max_size=2)) if question.kind != "open" \
        else data.draw(st.lists(ANSWER, max_size=2))
    read = read_answer(reply, question, candidates, replying=replying)
    _well_formed(read, question)
    assert read_answer(reply, question, candidates, replying=replying) == read  # a pure function


@FUZZ
@given(question=questions(), a=st.one_of(st.none(), ANSWER, st.text(max_size=30)),
       b=st.one_of(st.none(), ANSWER, st.text(max_size=30)))
def test_grading_never_raises_and_agrees_with_itself(question, a, b):
    assert isinstance(grade(a, question), bool) and isinstance(is_correct(a, question.gold), bool)
    assert same_answer(a, b, question) == same_answer(b, a, question)
    assert isinstance(same_answer(a, b), bool)
    if a is not None:
        assert same_answer(a, a, question) or not normalize(a)
    assert grade(question.gold[0], question)
