"""The rule readers on the failure classes of answer reading, one hand-built reply at a time.

The labelled corpus (tests/reading/, `python -m experiments.bench.reading`) measures them at
scale; these cases pin each class down so that a regression names itself.
"""

from __future__ import annotations

import random

import pytest

from debate.answers import (CandidateReader, FinalLineReader, OpenReader, OptionReader, ReaderChain, YesNoReader,
                            answer_clause, final_line, read_answer, resolve)
from debate.records import AnswerRead, Question

CANBERRA = Question(id="au", text="What is the capital city of Australia?", gold=["Canberra"], wrong_answers=["Sydney"])
OCEAN = Question(id="oc", text="Which is the largest ocean on Earth?", gold=["Pacific Ocean", "Pacific"],
                 wrong_answers=["Atlantic Ocean"])
NAPOLEON = Question(id="np", text="Who was the first emperor of France?", gold=["Napoleon", "Napoleon Bonaparte"])
SHELLEY = Question(id="fr", text="Who wrote Frankenstein?", gold=["Mary Shelley", "Shelley"])
YEAR = Question(id="yr", text="How many days are there in a common year?", gold=["365"])
BOIL = Question(id="bp", text="At sea level, what is the boiling point of water in degrees Celsius?",
                gold=["100", "100 degrees"], wrong_answers=["212"])
BATS = Question(id="bat", text="Is a bat a mammal?", gold=["yes"], kind="yes-no", wrong_answers=["no"])
MC = Question(id="mc", text="Which planet is largest?", gold=["Jupiter"], kind="multiple-choice",
              options=["Mars", "Jupiter", "Venus", "Saturn"])


def answer(text: str, question: Question = CANBERRA, candidates: tuple[str, ...] = (), replying: bool = False):
    read = read_answer(text, question, candidates, replying=replying)
    return read.answer if read.answer is not None else read.special


@pytest.mark.parametrize("text,expected", [
    ("Final answer: Canberra. It was chosen as a compromise between Sydney and Melbourne.", "Canberra"),
    ("**Final Answer:** The capital of Australia is Canberra.", "Canberra"),
    ("The final answer is Canberra", "Canberra"),
    ("Final answer: It is Canberra, not Sydney", "Canberra"),
    ("Final answer: Canberra (the capital of Australia)", "Canberra"),
    ("Final answer:\nCanberra", "Canberra"),
    ("Final answer: I agree with you.", "Agree"),
    ("Final answer: Same as yours", "Agree"),
    ("Final answer: I'm sticking with my answer.", "Disagree"),
    ("Final answer: None", "NONE"),
    ("Final answer: I don't know", "NONE"),
    ("Final answer: Sydney or Canberra", "NONE"),
])
def test_final_lines_are_parsed_to_the_answer_clause(text, expected):
    assert answer(text, replying=True) == expected


def test_final_line_keeps_numbers_units_and_initials_apart():
    hastings = Question(id="h", text="When was the Battle of Hastings?", gold=["1066"])
    assert answer("Final answer: 1066 AD", hastings) == "1066"
    assert answer("Final answer: 1066 BC", hastings) == "1066 BC"
    assert answer("A leap year adds a day. Final answer: 365 + 1 = 366 days", YEAR) == "366 days"
    assert answer("Final answer: J.K. Rowling", Question(id="hp", text="Who wrote Harry Potter?",
                                                           gold=["J. K. Rowling"])) == "J. K. Rowling"
    assert final_line("no answer line") is None


@pytest.mark.parametrize("text,expected", [
    ("It is not Sydney; it is Canberra.", "Canberra"),
    ("I agree that Sydney is big, but the capital is Canberra.", "Canberra"),
    ("Sydney -- no, sorry, Canberra.", "Canberra"),
    ("Rather than Sydney, the answer is Canberra.", "Canberra"),
    ("Sydney is a common misconception; it is actually Canberra.", "Canberra"),
    ("You said Sydney, but I think it is Canberra.", "Canberra"),
    ("I'm not certain, but I believe it's Sydney.", "Sydney"),
    ("It is either Sydney or Canberra; I can't be sure.", "NONE"),
])
def test_assertion_over_mention(text, expected):
    assert answer(text, replying=True) == expected


def test_contrast_in_the_oceans():
    assert answer("The largest is the Atlantic, though the Pacific is close.", OCEAN) == "Atlantic Ocean"


def test_a_short_alias_inside_a_longer_name_is_not_a_mention():
    assert answer("It was Napoleon III.", NAPOLEON) == "Napoleon III"
    assert answer("Final answer: Percy Bysshe Shelley", SHELLEY) == "Percy Bysshe Shelley"
    assert answer("It was Napoleon Bonaparte.", NAPOLEON) == "Napoleon"
    mendeleev = Question(id="pt", text="Who published the first periodic table?",
                         gold=["Dmitri Mendeleev", "Mendeleev"])
    assert answer("Dmitry Mendeleev published it in 1869.", mendeleev) == "Dmitri Mendeleev"  # a spelling variant
    assert answer("President Abraham Lincoln.", Question(id="al", text="Who gave the Gettysburg Address?",
                                                         gold=["Abraham Lincoln", "Lincoln"])) == "Abraham Lincoln"
    assert answer("365.25 days, counting the leap day.", YEAR) != "365"


def test_a_right_answer_beside_a_listed_wrong_one():
    assert answer("It boils at 100 degrees Celsius (212 degrees Fahrenheit).", BOIL) == "100"


def test_answers_outside_the_lists_are_read_and_join_the_candidates():
    assert answer("The capital of Australia is Melbourne.") == "Melbourne"
    island = Question(id="is", text="What is the largest island in the world that is not a continent?",
                      gold=["Greenland"], wrong_answers=["Australia"])
    assert answer("The largest island in the world that is not a continent is Madagascar.", island) == "Madagascar"
    assert answer("The smallest prime number is 5, which is 2^2.", Question(
        id="pr", text="What is the smallest prime number?", gold=["2", "two"], wrong_answers=["1"])) == "5"
    assert answer("The largest ocean on Earth is the Red Sea.", OCEAN) == "Red Sea"
    # Once held, a later reply that repeats it is read as that candidate.
    read = read_answer("Melbourne, as you said, is right.", CANBERRA, ("Melbourne",), replying=True)
    assert (read.answer, read.reader) == ("Melbourne", "candidates")


@pytest.mark.parametrize("text,expected", [
    ("Fair enough, but I still hold my view.", "Disagree"),
    ("Agreed.", "Agree"),
    ("That's a fair point.", "Agree"),
    ("I respectfully disagree.", "Disagree"),
    ("I'm sticking with my original answer.", "Disagree"),
    ("You've convinced me.", "Agree"),
    ("That is an interesting question.", "NONE"),
])
def test_cue_phrases(text, expected):
    assert answer(text, replying=True) == expected


@pytest.mark.parametrize("text,replying,expected", [
    ("Yes — bats are mammals. No other mammal can truly fly.", False, "yes"),
    ("No, bats are not birds; they are mammals.", False, "no"),
    ("Final answer: Yes", False, "yes"),
    ("Correct.", True, "Agree"),
    ("Correct.", False, "yes"),
    ("I don't think so.", False, "no"),
    ("I don't think so.", True, "Disagree"),
    ("Not at all.", False, "no"),
    ("It is not true that a bat is a mammal.", False, "no"),
    ("A bat is a mammal that can fly.", False, "yes"),
    ("Yes and no.", False, "NONE"),
])
def test_yes_no_follows_the_leading_assertion(text, replying, expected):
    assert answer(text, BATS, replying=replying) == expected


@pytest.mark.parametrize("text,expected", [
    ("Option 2, not Option 4.", "Jupiter"),
    ("I'd rule out Option 1 and Option 4; it's Option 2.", "Jupiter"),
    ("Final answer: (3)", "Venus"),
    ("Final answer: 2", "Jupiter"),
    ("Final answer: Saturn", "Saturn"),
    ("The answer is Option 2: Jupiter.", "Jupiter"),
    ("Final answer: Option 2 or Option 4", "NONE"),
])
def test_options_follow_the_leading_assertion(text, expected):
    assert answer(text, MC) == expected


def test_option_out_of_range_is_a_recorded_failure():
    read = OptionReader().read("Option 9", MC)
    assert read.answer is None and "out of range" in read.failures[0]


def test_chain_records_reader_and_keeps_failures():
    read = read_answer("The capital is Canberra.", CANBERRA)
    assert read.answer == "Canberra" and read.reader == "candidates"
    assert read.failures == ["final-line: no 'Final answer:' line"]
    nothing = read_answer("I cannot say.", CANBERRA)
    assert nothing.answer is None and nothing.special == "NONE" and nothing.reader == "cues"
    assert [f.split(":")[0] for f in nothing.failures] == ["final-line", "candidates", "open", "cues"]
    chain = ReaderChain([FinalLineReader()])
    assert chain.name == "final-line+cues" and chain.read("x", CANBERRA).special == "NONE"
    with pytest.raises(ValueError):
        ReaderChain([])


def test_each_reader_alone():
    assert CandidateReader().read("It is definitely Canberra.", CANBERRA).answer == "Canberra"
    assert CandidateReader().read("It is Melbourne.", CANBERRA).answer is None
    assert OpenReader().read("It is Melbourne.", CANBERRA).answer == "Melbourne"
    assert YesNoReader().read("Yes.", BATS).answer == "yes"
    assert answer_clause("Canberra, the capital", CANBERRA) == ("Canberra", None)


def test_resolve_special_answers():
    assert resolve(AnswerRead(special="Agree", reader="x"), "Lyon", "Paris") == "Paris"
    assert resolve(AnswerRead(special="Disagree", reader="x"), "Lyon", "Paris") == "Lyon"
    assert resolve(AnswerRead(special="NONE", reader="x"), "Lyon", "Paris") is None
    assert resolve(AnswerRead(answer="Rome", reader="x"), "Lyon", "Paris") == "Rome"


def _fuzz_texts() -> list[str]:
    rng = random.Random(0)
    alphabet = "Final answer: Option 1 yes no not but Canberra Sydney ()[]*_`\\boxed{}.,;:!?-—\n\t é漢字Ж🙂\x00\x7f"
    texts = ["", " ", "\n\n", "....", "?!?!", "*" * 500, "(" * 300, "Final answer:", "Final answer: " * 200,
             "漢字のみの返答です。", "Ответ: Канберра", "مرحبا", "\x00\x01\x02\ufffd", "Canberra " * 5000,
             "not " * 3000 + "Canberra", "a" * 100_000]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400))) for _ in range(300)]
    return texts


@pytest.mark.parametrize("question", [CANBERRA, BATS, MC], ids=lambda q: q.kind)
def test_readers_never_raise_on_any_text(question):
    for text in _fuzz_texts():
        for replying in (False, True):
            read = read_answer(text, question, ("Melbourne",), replying=replying)
            assert (read.answer is not None) != (read.special is not None)
