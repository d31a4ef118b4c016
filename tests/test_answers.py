from __future__ import annotations

import pytest

from debate.answers import (CandidateReader, FinalLineReader, OptionReader, ReaderChain, YesNoReader, final_line,
                            fuzzy_equal, grade, is_correct, normalize, read_answer, resolve, same_answer)
from debate.records import AnswerRead, Question

PARIS = Question(id="q1", text="What is the capital of France?", gold=["Paris", "Paris, France"],
                 wrong_answers=["Lyon"])
RIVERA = Question(id="q2", text="Who painted the Detroit Industry murals?", gold=["Diego Rivera"])
YESNO = Question(id="q3", text="Is the sun a star?", gold=["yes"], kind="yes-no", wrong_answers=["no"])
MC = Question(id="q4", text="Which planet is largest?", gold=["Jupiter"], kind="multiple-choice",
              options=["Mars", "Jupiter", "Venus"], wrong_answers=["Mars"])


def test_normalize_drops_case_punctuation_articles():
    assert normalize("  The  Eiffel-Tower!! ") == "eiffel tower"
    assert normalize("An apple, a pear") == "apple pear"


def test_exact_grading_uses_aliases_after_normalising():
    assert is_correct("the paris", PARIS.gold)
    assert is_correct("PARIS, FRANCE.", PARIS.gold)
    assert not is_correct("Lyon", PARIS.gold)
    assert not is_correct("Paris Hilton", PARIS.gold)
    assert not is_correct(None, PARIS.gold)
    assert not is_correct("", PARIS.gold)


def test_fuzzy_equality_contains_and_ratio_over_half():
    assert fuzzy_equal("rivera", "Diego Rivera")  # ratio 0.67
    assert not fuzzy_equal("a", "Diego Rivera")  # contained but ratio too low
    assert not fuzzy_equal("Rome", "Paris")
    assert grade("Rivera", RIVERA, fuzzy=True) and not grade("Rivera", RIVERA)
    assert same_answer("Diego Rivera", "rivera") and not same_answer("Diego Rivera", "rivera", fuzzy=False)
    assert not same_answer(None, None)


def test_final_line_takes_the_last_and_cleans_it():
    text = "First I thought Final answer: Lyon\nBut no.\n**Final answer: Paris.**"
    assert final_line(text) == "Paris"
    assert final_line("no answer line") is None
    read = FinalLineReader().read("Final answer - Rome")
    assert read.answer == "Rome" and read.reader == "final-line"


def test_yes_no_reader():
    assert YesNoReader().read("Final answer: Yes, it is.").answer == "yes"
    assert YesNoReader().read("No. The sun is a star? no").answer == "no"
    assert YesNoReader().read("Final answer: false").answer == "no"
    failed = YesNoReader().read("Yes and no.")
    assert failed.answer is None and failed.failures
    assert grade("True", YESNO)


def test_option_reader_maps_to_option_text():
    assert OptionReader().read("I pick Option 2.", MC).answer == "Jupiter"
    assert OptionReader().read("Final answer: (3)", MC).answer == "Venus"
    assert OptionReader().read("Final answer: Mars", MC).answer == "Mars"
    out_of_range = OptionReader().read("Option 9", MC)
    assert out_of_range.answer is None and "out of range" in out_of_range.failures[0]


def test_candidate_reader_finds_known_answers_and_specials():
    reader = CandidateReader()
    assert reader.read("It is definitely Paris.", PARIS).answer == "Paris"
    # Aliases of one answer count once; the canonical form is returned.
    assert reader.read("Paris, France is my answer.", PARIS).answer == "Paris"
    # Two answers named: the last sentence decides.
    assert reader.read("Some say Lyon. But it is Paris.", PARIS).answer == "Paris"
    ambiguous = reader.read("Lyon or Paris, hard to say.", PARIS)
    assert ambiguous.answer is None and "ambiguous" in ambiguous.failures[0]
    # Answers already given in the dialogue are candidates too.
    assert reader.read("I think it is Marseille.", PARIS, candidates=["Marseille"]).answer == "Marseille"
    assert reader.read("You are right, I agree.", PARIS).special == "Agree"
    assert reader.read("I disagree with you.", PARIS).special == "Disagree"
    assert reader.read("Hmm.", PARIS).special == "NONE"


def test_chain_records_reader_and_keeps_failures():
    read = read_answer("The capital is Paris.", PARIS)
    assert read.answer == "Paris" and read.reader == "candidates"
    assert read.failures == ["final-line: no 'Final answer:' line"]
    nothing = read_answer("I cannot say.", PARIS)
    assert nothing.answer is None and nothing.special == "NONE" and len(nothing.failures) == 2
    assert ReaderChain([FinalLineReader()]).read("x").special == "NONE"
    with pytest.raises(ValueError):
        ReaderChain([])


def test_resolve_special_answers():
    assert resolve(AnswerRead(special="Agree", reader="x"), "Lyon", "Paris") == "Paris"
    assert resolve(AnswerRead(special="Disagree", reader="x"), "Lyon", "Paris") == "Lyon"
    assert resolve(AnswerRead(special="NONE", reader="x"), "Lyon", "Paris") is None
    assert resolve(AnswerRead(answer="Rome", reader="x"), "Lyon", "Paris") == "Rome"
