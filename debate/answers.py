"""Reading answers out of replies, and grading them (PBT.md section 3).

Readers turn a reply into an `AnswerRead`. Each read names the reader that produced it and
keeps the reasons earlier readers failed, so nothing is silently dropped:

- `final-line`: a closing `Final answer: X` line (the format our prompts ask for);
- `yes-no`: yes / no (also true / false) for boolean questions;
- `option`: `Option k` (or the option's text) for multiple-choice questions;
- `candidates`: which known answer the reply asserts (gold aliases, the question's wrong
  answers, options, answers already given in the dialogue); also recognises replies that only
  agree or only disagree. Small models ignore format instructions, so chains end with it.

`resolve` turns the special reads Agree / Disagree / NONE into an answer before any scoring.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from functools import lru_cache

from debate.records import AnswerRead, Question

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}‘’“”–—]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1 << 16)
def normalize(text: str) -> str:
    """Lower case, punctuation to spaces, articles dropped, spaces collapsed (TriviaQA style).

    Cached: the same answers are compared again and again along a dialogue."""
    text = _PUNCT.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def fuzzy_equal(a: str, b: str) -> bool:
    """Equal after normalising, or one contains the other with similarity ratio > 0.5.

    The looser equality used at training time ("rivera" vs "diego rivera").
    """
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    return (na in nb or nb in na) and SequenceMatcher(None, na, nb).ratio() > 0.5


def is_correct(answer: str | None, gold: Sequence[str], *, fuzzy: bool = False) -> bool:
    """Whether `answer` matches one of the gold aliases (exact after normalising, or fuzzy)."""
    if answer is None:
        return False
    if fuzzy:
        return any(fuzzy_equal(answer, g) for g in gold)
    norm = normalize(answer)
    return bool(norm) and norm in {normalize(g) for g in gold}


def same_answer(a: str | None, b: str | None, *, fuzzy: bool = True) -> bool:
    """Whether two agents' answers agree (None agrees with nothing)."""
    if a is None or b is None:
        return False
    return fuzzy_equal(a, b) if fuzzy else normalize(a) == normalize(b) != ""


def resolve(read: AnswerRead, own_previous: str | None, other_current: str | None) -> str | None:
    """The answer a read stands for: Agree takes the other agent's, Disagree keeps one's own."""
    if read.answer is not None:
        return read.answer
    if read.special == "Agree":
        return other_current
    if read.special == "Disagree":
        return own_previous
    return None


# ---------------------------------------------------------------- the readers

_FINAL = re.compile(r"final\s+answer\s*(?:is)?\s*[:\-–]\s*(.+)", re.IGNORECASE)
_OPTION = re.compile(r"\boption\s*\(?\s*(\d+)\s*\)?", re.IGNORECASE)
_AGREE = re.compile(
    r"\b(i agree|i now agree|you are right|you're right|you are correct|you're correct|"
    r"good point|i stand corrected|fair enough|i concede)\b", re.IGNORECASE)
_DISAGREE = re.compile(
    r"\b(i disagree|i don't agree|i do not agree|you are wrong|you're wrong|you are mistaken|"
    r"you're mistaken|that is not correct|that's not correct|that is incorrect|that's incorrect|"
    r"i stand by)\b", re.IGNORECASE)
_YES = {"yes", "true", "correct"}
_NO = {"no", "false", "incorrect"}


def _clean(answer: str) -> str:
    answer = answer.strip().strip("*_`\"'").strip()
    return answer.rstrip(".!").strip().strip("*_`\"'").strip()


def final_line(text: str) -> str | None:
    """The answer of the last `Final answer: X` in the text, if any."""
    matches = _FINAL.findall(text)
    if not matches:
        return None
    answer = _clean(matches[-1].splitlines()[0])
    return answer or None


def mentions(text: str, candidates: Iterable[str]) -> list[str]:
    """The candidates that occur in the text as whole words (after normalising both)."""
    padded = f" {normalize(text)} "
    return [c for c in candidates if normalize(c) and f" {normalize(c)} " in padded]


def _yes_no(answer: str) -> str | None:
    words = normalize(answer).split()
    if not words:
        return None
    if words[0] in _YES:
        return "yes"
    if words[0] in _NO:
        return "no"
    return None


class FinalLineReader:
    name = "final-line"

    def read(self, text: str, question: Question | None = None,
             candidates: Sequence[str] = ()) -> AnswerRead:
        answer = final_line(text)
        if answer is None:
            return AnswerRead(reader=self.name, failures=["final-line: no 'Final answer:' line"])
        return AnswerRead(answer=answer, reader=self.name)


class YesNoReader:
    name = "yes-no"

    def read(self, text: str, question: Question | None = None,
             candidates: Sequence[str] = ()) -> AnswerRead:
        final = final_line(text)
        answer = _yes_no(final) if final is not None else None
        if answer is None:
            found = {w for w in normalize(text).split() if w in ("yes", "no")}
            if len(found) == 1:
                answer = found.pop()
        if answer is None:
            return AnswerRead(reader=self.name, failures=["yes-no: no single yes or no"])
        return AnswerRead(answer=answer, reader=self.name)


class OptionReader:
    name = "option"

    def read(self, text: str, question: Question | None = None,
             candidates: Sequence[str] = ()) -> AnswerRead:
        options = question.options if question is not None else []
        if not options:
            return AnswerRead(reader=self.name, failures=["option: the question has no options"])
        final = final_line(text)
        where = final if final is not None else text
        numbers = _OPTION.findall(where)
        if not numbers and final is not None and final.strip("() ").isdigit():
            numbers = [final.strip("() ")]
        if numbers:
            k = int(numbers[-1])
            if 1 <= k <= len(options):
                return AnswerRead(answer=options[k - 1], reader=self.name)
            return AnswerRead(reader=self.name, failures=[f"option: Option {k} is out of range 1-{len(options)}"])
        named = mentions(where, options)
        if len(named) == 1:
            return AnswerRead(answer=named[0], reader=self.name)
        return AnswerRead(reader=self.name, failures=["option: no single 'Option k'"])


class CandidateReader:
    """Finds which known answer a reply asserts; aliases of one answer count as one."""

    name = "candidates"

    def read(self, text: str, question: Question | None = None,
             candidates: Sequence[str] = ()) -> AnswerRead:
        groups = _candidate_groups(question, candidates)
        found = [g for g in groups if mentions(text, g)]
        if len(found) > 1:
            # Several answers named ("not Lyon but Paris"): trust the last sentence if it names one.
            last = _last_sentence(text)
            in_last = [g for g in found if mentions(last, g)]
            if len(in_last) == 1:
                found = in_last
        if len(found) == 1:
            return AnswerRead(answer=found[0][0], reader=self.name)
        if len(found) > 1:
            names = ", ".join(g[0] for g in found)
            failure = f"candidates: ambiguous, names {names}"
        else:
            failure = "candidates: names no known answer"
        if _AGREE.search(text) and not _DISAGREE.search(text):
            return AnswerRead(special="Agree", reader=self.name, failures=[failure])
        if _DISAGREE.search(text):
            return AnswerRead(special="Disagree", reader=self.name, failures=[failure])
        return AnswerRead(special="NONE", reader=self.name, failures=[failure])


def _last_sentence(text: str) -> str:
    parts = [p for p in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if p.strip()]
    return parts[-1] if parts else ""


def _candidate_groups(question: Question | None, extra: Sequence[str]) -> list[list[str]]:
    """Alias groups, canonical first: gold, then each wrong answer, option and dialogue answer."""
    groups: list[list[str]] = []
    if question is not None:
        groups.append(list(question.gold))
        singles = [*question.wrong_answers, *question.options, *extra]
    else:
        singles = list(extra)
    for cand in singles:
        if not normalize(cand):
            continue
        if any(any(normalize(cand) == normalize(a) for a in g) for g in groups):
            continue
        groups.append([cand])
    return groups


class ReaderChain:
    """Readers tried in order; the first that finds an answer (or Agree / Disagree) wins."""

    def __init__(self, readers: Sequence[FinalLineReader | YesNoReader | OptionReader | CandidateReader]):
        if not readers:
            raise ValueError("a reader chain needs at least one reader")
        self.readers = list(readers)
        self.name = "+".join(r.name for r in self.readers)

    def read(self, text: str, question: Question | None = None,
             candidates: Sequence[str] = ()) -> AnswerRead:
        failures: list[str] = []
        last: AnswerRead | None = None
        for reader in self.readers:
            last = reader.read(text, question, candidates)
            if last.found or last.special in ("Agree", "Disagree"):
                return last.model_copy(update={"failures": failures + last.failures}) if failures else last
            failures += last.failures
        assert last is not None
        return last.model_copy(update={"failures": failures, "special": last.special or "NONE"})


_DEFAULT_CHAINS = {kind: ReaderChain([first(), CandidateReader()]) for kind, first in
                   (("open", FinalLineReader), ("yes-no", YesNoReader), ("multiple-choice", OptionReader))}


def default_reader(question: Question) -> ReaderChain:
    """The reader chain that suits a question's kind (readers hold no state: one chain per kind)."""
    return _DEFAULT_CHAINS[question.kind]


def read_answer(text: str, question: Question, candidates: Sequence[str] = ()) -> AnswerRead:
    """Read a reply with the default chain for the question's kind."""
    return default_reader(question).read(text, question, candidates)


def grade(answer: str | None, question: Question, *, fuzzy: bool = False) -> bool:
    """Whether an answer to the question is correct (yes/no answers are normalised first)."""
    if answer is not None and question.kind == "yes-no":
        answer = _yes_no(answer) or answer
    return is_correct(answer, question.gold, fuzzy=fuzzy)
