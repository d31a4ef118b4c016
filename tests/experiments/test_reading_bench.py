"""The reading corpus and its benchmark: items are checked for meaning, figures match hand counts,
and reads go through the engine's own reading and resolution path."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from debate.errors import DataError
from experiments.bench.corpus import CorpusItem, load_corpus
from experiments.bench.reading import figures, run_reader

PARIS = {"id": "fr", "text": "What is the capital of France?", "kind": "open", "gold": ["Paris"],
         "wrong_answers": ["Lyon"]}


def item(id_: str, reply: str, asserted: str, resolved: str | None, correct: bool, context=(), speaker="B",
         **extra) -> dict:
    return {"id": id_, "source": "written", "style": "llama3", "question": PARIS, "context": list(context),
            "speaker": speaker, "reply": reply, "asserted": asserted, "resolved": resolved, "correct": correct, **extra}


A_SAYS_MARSEILLE = [{"speaker": "A", "text": "It is Marseille.", "answer": "Marseille"}]
B_SAID_LYON = [{"speaker": "B", "text": "Lyon.", "answer": "Lyon"}, *A_SAYS_MARSEILLE]


def write(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_corpus_is_large_varied_and_valid():
    items = load_corpus()
    assert len(items) >= 400
    assert {i.source for i in items} == {"smollm2", "written"} and {i.split for i in items} == {"dev", "heldout"}
    assert Counter(i.question.kind for i in items).keys() == {"open", "yes-no", "multiple-choice"}
    assert set(Counter(i.category for i in items)) == {"answer", "Agree", "Disagree", "NONE"}
    assert sum(i.source == "smollm2" for i in items) >= 200 and sum(not i.correct for i in items) >= 100


def test_items_are_checked_for_meaning(tmp_path):
    bad = tmp_path / "bad.jsonl"
    write(bad, [item("x1", "I agree.", "Agree", "Paris", False, A_SAYS_MARSEILLE)])
    with pytest.raises(DataError, match="bad.jsonl:1: .*asserted Agree resolves to 'Marseille' by the context"):
        load_corpus([bad])
    write(bad, [item("x1", "Paris.", "Paris", "Paris", True), item("x1", "Lyon.", "Lyon", "Lyon", False)])
    with pytest.raises(DataError, match="duplicate item id 'x1'"):
        load_corpus([bad])
    write(bad, [item("x1", "Paris.", "Paris", "Paris", True, tone="warm")])
    with pytest.raises(DataError, match="bad.jsonl:1: field 'tone'"):
        load_corpus([bad])


def test_reads_resolve_through_the_engine_and_figures_match_hand_counts(tmp_path):
    corpus = tmp_path / "c.jsonl"
    write(corpus, [
        item("r1", "It is Paris.", "Paris", "Paris", True),                            # read right
        item("r2", "You're right, I agree.", "Agree", "Marseille", False, A_SAYS_MARSEILLE),  # Agree -> A's answer
        item("r3", "I'm sticking with my answer.", "Disagree", "Lyon", False, B_SAID_LYON),   # Disagree -> own
        # Labelled as asserting Lyon, but the reader takes the final line: a misread, graded right (false-correct).
        item("r4", "Lyon is lovely. Final answer: Paris", "Lyon", "Lyon", False),
    ])
    items = load_corpus([corpus])
    outcomes = run_reader("default", items)
    assert [(o.resolved, o.category) for o in outcomes] == [
        ("Paris", "answer"), ("Marseille", "Agree"), ("Lyon", "Disagree"), ("Paris", "answer")]
    assert outcomes[1].read.reader == "cues"
    fig = figures(outcomes)
    assert fig["resolved_accuracy"] == 3 / 4 and fig["correctness_agreement"] == 3 / 4
    assert (fig["false_correct"], fig["false_correct_items"], fig["wrong_items"]) == (1 / 3, 1, 3)
    assert fig["by"]["category"]["answer"]["resolved_accuracy"] == 1 / 2
    assert fig["confusion"] == {"Agree -> Agree": 1, "Disagree -> Disagree": 1, "answer -> answer": 2}


def test_a_first_answer_continues_the_question_at_the_root(tmp_path):
    corpus = tmp_path / "c.jsonl"
    write(corpus, [item("r1", "Agreed.", "Agree", None, False, speaker="A")])  # nobody to agree with: None
    (outcome,) = run_reader("default", load_corpus([corpus]))
    assert outcome.read.special == "Agree" and outcome.resolved is None
    assert isinstance(outcome.item, CorpusItem)
