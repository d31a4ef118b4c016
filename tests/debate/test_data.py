from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FARM
from debate.grading import grade, is_correct, normalize, same_answer
from debate.data import load_farm, load_questions, parse_questions, sample_questions
from debate.errors import DataError

GOOD = {"id": "q1", "text": "Capital of France?", "gold": ["Paris"]}


def test_sample_set_is_complete_and_self_consistent():
    questions = sample_questions()
    kinds = {k: [q for q in questions if q.kind == k] for k in ("open", "yes-no", "multiple-choice")}
    assert len(kinds["open"]) >= 100 and kinds["yes-no"] and kinds["multiple-choice"]
    assert len({q.id for q in questions}) == len(questions)
    for q in questions:
        assert q.wrong_answers and not is_correct(q.wrong_answers[0], q.gold), q.id
        assert grade(q.gold[0], q), q.id
        # The informed agent's passage really states the answer.
        assert any(f" {normalize(g)} " in f" {normalize(q.context or '')} " for g in q.gold), q.id
    assert load_questions("sample:yes-no") == kinds["yes-no"]


def test_training_questions_are_consistent_and_disjoint_from_the_evaluation_set():
    train = load_questions("sample-train")
    assert len(train) == 240 and len({q.id for q in train}) == 240
    assert {q.kind for q in train} == {"open"} and {q.source for q in train} == {"sample-train"}
    for q in train:
        assert q.wrong_answers and not is_correct(q.wrong_answers[0], q.gold), q.id
        assert not any(same_answer(q.wrong_answers[0], g) for g in q.gold), q.id
        assert any(f" {normalize(g)} " in f" {normalize(q.context or '')} " for g in q.gold), q.id
    # PBT trees come from these; the evaluations ask the sample set: no question in both.
    assert not {normalize(q.text) for q in train} & {normalize(q.text) for q in sample_questions()}


def _write(tmp_path, lines):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def _line(obj) -> bytes:
    return (json.dumps(obj) + "\n").encode()


def test_reads_a_valid_file_skipping_blank_lines(tmp_path):
    path = _write(tmp_path, [_line(GOOD), b"\n", _line({**GOOD, "id": "q2", "kind": "yes-no", "gold": ["no"]})])
    questions = parse_questions(path)
    assert [q.id for q in questions] == ["q1", "q2"] and questions[1].kind == "yes-no"


BAD_FILES = [
    ("bad JSON", [_line(GOOD), b'{"id": "q2", "text": \n'], ":2: invalid JSON"),
    ("missing field", [_line({"id": "q1", "text": "x"})], ":1: field 'gold': missing"),
    ("wrong type", [_line({**GOOD, "gold": "Paris"})], ":1: field 'gold': Input should be a valid list"),
    ("duplicate id", [_line(GOOD), _line(GOOD)], ":2: field 'id': duplicate id 'q1' (first on line 1)"),
    ("empty file", [], "no questions (empty file)"),
    ("unknown field", [_line({**GOOD, "answer": "Paris"})], ":1: field 'answer': unknown field"),
    ("not an object", [b"[1, 2]\n"], ":1: expected a JSON object"),
    ("not UTF-8", [b'{"id": "q\xff"}\n'], ":1: not UTF-8"),
    ("bad kind", [_line({**GOOD, "kind": "essay"})], ":1: field 'kind'"),
    ("options without mc", [_line({**GOOD, "options": ["a", "b"]})], "options are only allowed"),
]


@pytest.mark.parametrize("case,lines,expected", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_question_files_give_one_clear_line_and_exit_2(tmp_path, case, lines, expected):
    path = _write(tmp_path, lines)
    with pytest.raises(DataError) as info:
        parse_questions(path)
    assert expected in info.value.one_line()
    run = subprocess.run([sys.executable, "-m", "debate.cli", "questions", str(path)], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    lines_out = run.stderr.strip().splitlines()
    assert len(lines_out) == 1 and lines_out[0].startswith(f"error: {path}") and expected in lines_out[0]
    assert "Traceback" not in run.stderr


def test_missing_file_is_a_user_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "debate.cli", "questions", str(tmp_path / "nope.jsonl")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "no such file" in run.stderr


@pytest.mark.skipif(not FARM.is_dir(), reason="the Farm data folder is absent (shared/data/farm)")
def test_farm_loader_reads_all_four_subsets():
    questions = load_farm(FARM)
    by_subset = {}
    for q in questions:
        by_subset.setdefault(q.metadata["subset"], []).append(q)
    assert {k: len(v) for k, v in by_subset.items()} == {"boolq": 491, "nq1": 488, "nq2": 489, "truthfulqa": 484}
    boolq = by_subset["boolq"][0]
    assert boolq.kind == "yes-no" and boolq.gold == ["yes"] and boolq.wrong_answers == ["no"]
    nq = by_subset["nq2"][0]
    assert nq.kind == "multiple-choice" and nq.gold == ["Yale"] and nq.wrong_answers[0] == "Duke"
    assert nq.metadata["target"] == "Duke" and len(nq.metadata["appeals"]["logical"]) == 3
    assert all(len(set(q.options)) >= 2 for q in questions if q.kind == "multiple-choice")


def test_hub_datasets_fail_cleanly_without_access(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="cannot load dataset 'triviaqa'"):
        load_questions("hf:triviaqa", limit=3)
    with pytest.raises(DataError, match="unknown dataset 'squad'"):
        load_questions("hf:squad")


ODD_QUESTIONS = [
    ("gold of punctuation", {**GOOD, "gold": ["!!!"]}, "field 'gold': gold answer '!!!' is empty once normalised"),
    ("gold of a space", {**GOOD, "gold": ["Paris", " "]}, "field 'gold': gold answer ' ' is empty once normalised"),
    ("gold of an article", {**GOOD, "gold": ["The"]}, "field 'gold': gold answer 'The' is empty once normalised"),
    ("blank text", {**GOOD, "text": " \t "}, "field 'text': must not be blank"),
    ("blank id", {**GOOD, "id": "  "}, "field 'id': must not be blank"),
    ("control in id", {**GOOD, "id": "q\x1b[2J"},
     "field 'id': an id may not hold control characters (found '\\x1b')"),
    ("gold also wrong", {**GOOD, "wrong_answers": ["Lyon", "paris."]},
     "field 'wrong_answers': wrong answer 'paris.' is also a gold answer (once normalised)"),
]


@pytest.mark.parametrize("case,record,expected", ODD_QUESTIONS, ids=[c[0] for c in ODD_QUESTIONS])
def test_odd_question_records_are_refused(tmp_path, case, record, expected):
    path = _write(tmp_path, [_line(GOOD | {"id": "q0"}), _line(record)])
    with pytest.raises(DataError) as info:
        parse_questions(path)
    assert info.value.one_line().startswith(f"{path}:2: {expected}")
    assert "\x1b" not in info.value.one_line()


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("text,expected", [
    (DEEP, "JSON nested more than 64 levels deep"),  # past the parser's recursion limit
    ('{"id": "q1", "text": "t", "gold": ["x"], "metadata": {"m": ' + "[" * 300 + "]" * 300 + "}}",
     "JSON nested more than 64 levels deep"),  # parses, but pydantic cannot write it back
    ('{"id": ' + "7" * 5000 + "}", "a JSON number has more than 4,300 digits"),
    ('{"id": "q\\ud800", "text": "t", "gold": ["x"]}',
     "a JSON string holds a lone surrogate (not a Unicode character)"),
], ids=["past the recursion limit", "deep metadata", "huge integer", "lone surrogate"])
def test_valid_but_unusable_json_is_a_data_error(tmp_path, text, expected):
    path = _write(tmp_path, [_line(GOOD), text.encode() + b"\n"])
    with pytest.raises(DataError) as info:
        parse_questions(path)
    assert info.value.one_line() == f"{path}:2: {expected}"
    farm = tmp_path / "farm"
    farm.mkdir()
    (farm / "NQ1.jsonl").write_text(text + "\n")
    with pytest.raises(DataError) as info:
        load_farm(farm, ["nq1"])
    assert info.value.one_line() == f"{farm / 'NQ1.jsonl'}:1: {expected}"


# The CLI in a process capped at 1 GiB of address space, printing at exit its peak RSS in KiB:
# VmHWM, which counts from the exec (ru_maxrss would count the forked copy of pytest too).
_PEAK = ("import atexit, re, resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
         "atexit.register(lambda: print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1])); "
         "sys.argv[0] = 'debate'; from debate.cli import main; main()")


def _questions_peak_kib(path) -> tuple[subprocess.CompletedProcess, int]:
    run = subprocess.run([sys.executable, "-c", _PEAK, "questions", str(path)], capture_output=True, text=True,
                         timeout=120)
    return run, int(run.stdout.split()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
def test_a_file_without_newlines_is_refused_before_it_is_read(tmp_path):
    small = _write(tmp_path, [_line(GOOD)])
    run, baseline = _questions_peak_kib(small)
    assert run.returncode == 0, run.stderr
    one_line_file = tmp_path / "one-line.jsonl"
    with open(one_line_file, "wb") as handle:
        handle.write(b'{"id": "q1", "text": "')
        for _ in range(50):
            handle.write(b"x" * 1_000_000)
        handle.write(b'", "gold": ["x"]}')
    for path in (one_line_file, "/dev/zero"):
        run, peak = _questions_peak_kib(path)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
        assert run.stderr.strip() == f"error: {path}:1: line longer than 1,048,576 bytes; a question record may " \
                                     "have at most 1,048,576 bytes"
        assert peak - baseline < 20_000, (peak, baseline)  # KiB: the 1 MiB read, not the 50 MB (or endless) line
