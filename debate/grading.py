"""Grading answers against gold, and deciding when two agents hold the same answer (PBT.md 3).

- `normalize`: TriviaQA-style (lower case, punctuation to spaces, articles dropped, spaces
  collapsed), except that numbers stay numbers: `365.25` keeps its point and `1,000` loses its
  separator, so neither is read as two numbers.
- `is_correct` / `grade`: an exact match with a gold alias after normalising. Numbers are
  compared as numbers (`eight` = `8`, `1,000` = `1000`, `365.25` is not `365`); only where a gold
  alias is a bare number are unit and era words after the answer's number ignored (`8 legs`,
  `1066 AD`; never `BC`); an answer whose head before a comma or a parenthesis is a gold alias
  counts (`Hanoi, Vietnam`, `Paris (the capital of France)`). Never containment: `Napoleon III`
  is not `Napoleon`, `Niger` is not `Nigeria`.
- `same_answer`: the lenient agreement between agents. Equal after normalising, both right, or
  one a contiguous run of the other's words with a character similarity over 0.5 ("rivera" and
  "diego rivera"); never fuzzy on numbers or ordinals (`Henry VII` is not `Henry VIII`, `8` is
  not `18`, `Napoleon` is not `Napoleon III`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from difflib import SequenceMatcher
from functools import lru_cache

from debate.records import Question

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}‘’“”–—…]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPACES = re.compile(r"\s+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_ORDINALS = {"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "twentieth",
             "hundredth", "thousandth", "last"}
_ROMAN = re.compile(r"^(?=[ivxlc]+$)c{0,3}(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_ORDINAL_SUFFIX = re.compile(r"^\d+(st|nd|rd|th)$")
#: Words after a number that do not change it when gold is a bare number (units, eras, counts).
_NOT_STRIPPABLE = {"bc", "bce", "percent", "million", "billion", "thousand", "hundred", "times"}


@lru_cache(maxsize=1 << 16)
def normalize(text: str) -> str:
    """Lower case, punctuation to spaces, articles dropped, spaces collapsed; numbers kept whole.

    Cached: the same answers are compared again and again along a dialogue."""
    text = _THOUSANDS.sub("", text.lower())
    text = _PUNCT.sub(" ", _DECIMAL.sub("\x00", text)).replace("\x00", ".")
    text = _ARTICLES.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _number_words(words: list[str]) -> tuple[float | None, int]:
    """The number spelt at the start of `words` (digits or English number words), and its length."""
    if not words:
        return None, 0
    if re.fullmatch(r"-?\d+(\.\d+)?", words[0]):
        return float(words[0]), 1
    total, current, used = 0, 0, 0
    for i, word in enumerate(words):
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES and (current or total):
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
        elif word == "and" and used and i + 1 < len(words) and (words[i + 1] in _UNITS or words[i + 1] in _TENS):
            continue
        else:
            break
        used = i + 1
    return (float(total + current), used) if used else (None, 0)


@lru_cache(maxsize=1 << 13)
def as_number(text: str) -> tuple[float, tuple[str, ...]] | None:
    """(value, the words after it) when a normalised answer starts with a number, else None."""
    words = normalize(text).split()
    value, used = _number_words(words)
    return None if value is None else (value, tuple(words[used:]))


def _canonical(text: str) -> str:
    """The normalised text with a leading spelt-out number written in digits (`eight legs` -> `8 legs`)."""
    number = as_number(text)
    if number is None:
        return normalize(text)
    value, rest = number
    digits = str(int(value)) if value == int(value) else str(value)
    return " ".join((digits, *rest))


def _heads(answer: str) -> list[str]:
    """The answer, and its head before a comma or an opening parenthesis (`Hanoi, Vietnam`)."""
    heads = [answer]
    head = re.split(r"\s*[,(]", answer, maxsplit=1)[0]
    if head and head != answer:
        heads.append(head)
    return heads


def _matches(answer: str, alias: str) -> bool:
    if _canonical(answer) == _canonical(alias) != "":
        return True
    got, want = as_number(answer), as_number(alias)
    if got is None or want is None or got[0] != want[0] or want[1]:
        return False
    # Gold is a bare number: unit and era words after the answer's number do not change it.
    return not (set(got[1]) & _NOT_STRIPPABLE) and len(got[1]) <= 3


def is_correct(answer: str | None, gold: Sequence[str]) -> bool:
    """Whether `answer` is one of the gold aliases (exact after normalising; numbers as numbers)."""
    return answer is not None and _is_correct(answer, tuple(gold))


@lru_cache(maxsize=1 << 13)
def _is_correct(answer: str, gold: tuple[str, ...]) -> bool:
    # Cached: a dialogue grades the same few answers against the same gold again and again.
    if not normalize(answer):
        return False
    return any(_matches(head, alias) for head in _heads(answer) for alias in gold if normalize(alias))


def yes_no(answer: str) -> str | None:
    """`yes` or `no` for an answer that is one (also true / false), else None."""
    words = normalize(answer).split()
    if words[:1] in (["yes"], ["true"]):
        return "yes"
    if words[:1] in (["no"], ["false"]):
        return "no"
    return None


def grade(answer: str | None, question: Question) -> bool:
    """Whether an answer to the question is correct (yes/no answers are normalised first)."""
    if answer is not None and question.kind == "yes-no":
        answer = yes_no(answer) or answer
    return is_correct(answer, question.gold)


def _exact_tokens(words: Sequence[str]) -> set[str]:
    """The words that must match exactly for two answers to agree: numbers and ordinals."""
    return {w for w in words if w.replace(".", "", 1).isdigit() or w in _UNITS or w in _TENS or w in _ORDINALS
            or _ROMAN.match(w) or _ORDINAL_SUFFIX.match(w)}


def _contains(longer: list[str], shorter: list[str]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))


def same_answer(a: str | None, b: str | None, question: Question | None = None) -> bool:
    """Whether two agents hold the same answer (None agrees with nothing; see the module notes)."""
    if a is None or b is None:
        return False
    if question is None:
        return _same(a, b, None, False)
    return _same(a, b, tuple(question.gold), question.kind == "yes-no")


@lru_cache(maxsize=1 << 13)
def _same(a: str, b: str, gold: tuple[str, ...] | None, yes_no_question: bool) -> bool:
    if yes_no_question:
        a, b = yes_no(a) or a, yes_no(b) or b
    ca, cb = _canonical(a), _canonical(b)
    if not ca or not cb:
        return False
    if ca == cb:
        return True
    if gold is not None and _is_correct(a, gold) and _is_correct(b, gold):
        return True
    wa, wb = ca.split(), cb.split()
    if _exact_tokens(wa) != _exact_tokens(wb):
        return False
    longer, shorter = (wa, wb) if len(wa) >= len(wb) else (wb, wa)
    return _contains(longer, shorter) and SequenceMatcher(None, ca, cb).ratio() > 0.5
