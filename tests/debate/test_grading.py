"""Grading against gold and agreement between agents (debate.grading), on hand-picked cases."""

from __future__ import annotations

import pytest

from debate.grading import as_number, grade, is_correct, normalize, same_answer
from debate.records import Question

PARIS = Question(id="q1", text="What is the capital of France?", gold=["Paris", "Paris, France"],
                 wrong_answers=["Lyon"])
YESNO = Question(id="q3", text="Is the sun a star?", gold=["yes"], kind="yes-no", wrong_answers=["no"])


def test_normalize_drops_case_punctuation_articles_but_keeps_numbers_whole():
    assert normalize("  The  Eiffel-Tower!! ") == "eiffel tower"
    assert normalize("An apple, a pear") == "apple pear"
    assert normalize("365.25 days") == "365.25 days"
    assert normalize("1,000 km") == "1000 km"
    assert normalize("3, 4 and 5") == "3 4 and 5"  # a comma between numbers is not a separator


@pytest.mark.parametrize("answer,gold,right", [
    ("the paris", ["Paris"], True),
    ("PARIS, FRANCE.", ["Paris", "Paris, France"], True),
    ("Paris Hilton", ["Paris"], False),
    ("", ["Paris"], False),
    (None, ["Paris"], False),
    # numbers are numbers
    ("365.25", ["365"], False),
    ("1,000", ["1000"], True),
    ("eight", ["8"], True),
    ("one hundred", ["100"], True),
    ("18", ["8"], False),
    ("8 legs", ["8"], True),
    ("1066 AD", ["1066"], True),
    ("500 BC", ["500"], False),
    ("7 continents", ["7", "seven"], True),
    ("23 pairs", ["46"], False),
    ("100 degrees Celsius", ["100", "100 degrees"], True),
    ("212 degrees Fahrenheit", ["100", "100 degrees"], False),
    # heads before a comma or a parenthesis
    ("Hanoi, Vietnam", ["Hanoi"], True),
    ("Paris (the capital of France)", ["Paris"], True),
    # never containment
    ("Napoleon III", ["Napoleon", "Napoleon Bonaparte"], False),
    ("Niger", ["Nigeria"], False),
    ("Indiana", ["India"], False),
    ("Percy Bysshe Shelley", ["Mary Shelley"], False),
    ("Henry VII", ["Henry VIII"], False),
    ("Lewis Carroll", ["C. S. Lewis", "C.S. Lewis"], False),
])
def test_exact_grading(answer, gold, right):
    assert is_correct(answer, gold) is right


def test_yes_no_answers_are_normalised_before_grading():
    assert grade("True", YESNO) and grade("Yes.", YESNO) and not grade("no", YESNO)


def test_numbers_read_from_words_and_digits():
    assert as_number("twenty one") == (21.0, ())
    assert as_number("one hundred and five days") == (105.0, ("days",))
    assert as_number("three thousand") == (3000.0, ())
    assert as_number("Paris") is None


@pytest.mark.parametrize("a,b,same", [
    ("Diego Rivera", "rivera", True),
    ("Pacific", "Pacific Ocean", True),
    ("Rome", "Paris", False),
    ("Henry VII", "Henry VIII", False),
    ("8", "18", False),
    ("Napoleon", "Napoleon III", False),
    ("World War I", "World War II", False),
    ("eight", "8", True),
    ("a", "Diego Rivera", False),
    (None, None, False),
])
def test_agreement_between_agents(a, b, same):
    assert same_answer(a, b) is same


def test_two_gold_aliases_agree_when_the_question_is_known():
    q = Question(id="us", text="Which country?", gold=["United States", "USA"])
    assert not same_answer("USA", "United States") and same_answer("USA", "United States", q)
    assert same_answer("Yes.", "true", YESNO)
