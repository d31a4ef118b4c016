"""Reading answers out of replies (PBT.md section 3).

Readers turn a reply into an `AnswerRead`. Each read names the reader that produced it and
keeps the reasons earlier readers failed, so nothing is silently dropped. A reader either
finds an answer, decides a special (Agree / Disagree / NONE), or fails with a reason:

- `final-line`: a closing `Final answer: X` line (the format our prompts ask for, and its
  variants: `**Final Answer:** X`, `The final answer is X`, `Answer: X`, `\\boxed{X}`), parsed
  to the answer clause (`Canberra. It was chosen as ...` -> `Canberra`; `I agree with you` ->
  Agree; `None` -> NONE); for yes-no and multiple-choice questions mapped to yes / no or an option;
- `yes-no`: the leading yes / no of a reply to a boolean question ("Yes - bats are mammals. No
  other ..." is yes; "Correct." replying to another agent agrees);
- `option`: the option a reply asserts ("Option 3, not Option 4"), by number or text;
- `candidates`: the known answer a reply asserts (gold aliases, the question's wrong answers,
  answers already held in the dialogue), over mention: negated, conceded, reported and
  retracted mentions do not count, and a mention inside a longer name (`Napoleon III`) is none;
- `open`: an answer outside the known ones, in an answer frame ("the answer is X", "the largest
  ocean is X"); what it reads joins the dialogue's candidates as a held answer;
- `cues`: a reply with no answer that only agrees or only disagrees; otherwise NONE.

`resolve` turns Agree / Disagree / NONE into the answer a read stands for, before any scoring.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from debate.assertions import (Assertion, assertions, content_words, copular_answer, cue, numeric_question, plain,
                               sentences)
from debate.grading import normalize, yes_no
from debate.records import AnswerRead, Question, Special


def resolve(read: AnswerRead, own_previous: str | None, other_current: str | None) -> str | None:
    """The answer a read stands for: Agree takes the other agent's, Disagree keeps one's own."""
    if read.answer is not None:
        return read.answer
    if read.special == "Agree":
        return other_current
    if read.special == "Disagree":
        return own_previous
    return None


class Reader(Protocol):
    name: str

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False) -> AnswerRead: ...


def _groups(question: Question, extra: Sequence[str]) -> list[list[str]]:
    """Alias groups, canonical first: gold, then each wrong answer, option and dialogue answer."""
    return _alias_groups(tuple(question.gold), tuple(question.wrong_answers), tuple(question.options), tuple(extra))[0]


@lru_cache(maxsize=1 << 12)
def _alias_groups(gold: tuple[str, ...], wrong: tuple[str, ...], options: tuple[str, ...],
                  extra: tuple[str, ...]) -> tuple[list[list[str]], dict[str, str]]:
    """The alias groups, and each normalised alias's canonical form (cached: a dialogue asks again and again)."""
    groups: list[list[str]] = [list(gold)]
    index = {normalize(a): gold[0] for a in gold if normalize(a)}
    for cand in (*wrong, *options, *extra):
        if normalize(cand) and normalize(cand) not in index:
            groups.append([cand])
            index[normalize(cand)] = cand
    return groups, index


def _pick(found: Sequence[Assertion], *, leading: bool = False) -> Assertion | None:
    """The assertion a reply commits to: framed ones first; the last (or, `leading`, the first)."""
    standing = [a for a in found if a.standing]
    if not standing:
        return None
    framed = [a for a in standing if a.framed]
    pool = framed or standing
    if not framed and len({a.key for a in pool}) > 1 and not leading:
        return None  # several answers asserted alike: ambiguous
    return pool[0] if leading else pool[-1]


# ------------------------------------------------------------------ the final line

_FINAL = re.compile(r"final\s+answer(?:\s+(?:is|would be|will be|remains|stays|is still))?"
                    r"\s*(?:[:\-–—=]|\bis\b)?\s*([^\n]*)", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"^\s*(?:short\s+)?answer\s*[:\-–—]\s*([^\n]*)", re.IGNORECASE | re.MULTILINE)
_SPECIAL_CLAUSES: list[tuple[Special, re.Pattern[str]]] = [
    ("Agree", re.compile(
        r"^(?:i\s+)?(?:(?:now|fully|completely)\s+)?(?:agree|agreed|concur)(?:\s+with\s+(?:you|your answer|agent \w+|"
        r"the other agent|that|this|them))?|^same as (?:yours|you|your answer|agent \w+|"
        r"the other agent(?:'s)?(?: answer)?)|"
        r"^(?:i(?:'ll| will)?\s+)?(?:accept|go with|adopt|take) (?:yours|your answer|theirs|agent \w+'s answer)|"
        r"^(?:yours|your answer|the other agent's answer|agent \w+'s answer)$", re.IGNORECASE)),
    ("Disagree", re.compile(
        r"^(?:i\s+)?(?:(?:still|respectfully|strongly)\s+)?disagree|^unchanged|^no change|"
        r"^same as (?:before|my (?:previous|"
        r"original|earlier|first|initial) answer)|^(?:my )?(?:original|previous|earlier|initial|first) answer|"
        r"^(?:i\s+)?(?:maintain|keep|stand by|stick with|stay with) my (?:answer|position|view|original answer)|"
        r"^(?:as|same as) (?:above|before|i said)", re.IGNORECASE)),
    ("NONE", re.compile(
        r"^(?:none|n/?a|null|unknown|nothing|no answer|not sure|unsure|uncertain|undetermined|cannot say|can't say|"
        r"i (?:do not|don't) know|i(?:'m| am) (?:not sure|unsure|uncertain)|(?:it )?cannot be determined|"
        r"(?:i )?(?:can't|cannot) (?:determine|tell|answer|decide)|it depends|unclear|"
        r"i(?:'m| am) (?:not ready|unable) to answer[\w\s]*)\W*$", re.IGNORECASE)),
]
_LEAD_CUE = re.compile(
    r"^(?:(?:yes|no|ok|okay|well|so|agreed|right|indeed|sure|actually|honestly|"
    r"i (?:now )?agree(?: with (?:you|agent \w+|the other agent))?|i disagree|you(?:'re| are) right|"
    r"that(?:'s| is) (?:right|correct))\s*[,;:.!—–-]+\s*)+", re.IGNORECASE)
_LEAD_FILLER = re.compile(
    r"^(?:(?:i (?:think|believe|guess|would say|'d say|reckon|maintain)(?: that)?|i'd say|probably|definitely|"
    r"certainly|clearly|surely|obviously|still|it(?:'s| is| was| must be| has to be| would be)|"
    r"that(?:'s| is| would be)|"
    r"this is|the (?:correct |right |final )?answer (?:is|would be)|my answer (?:is|remains|stays)|answer is|"
    r"(?:is|remains|stays|would be|will be|is still)|i(?:'m| am) going with|i(?:'ll| will) (?:go|stick) with|"
    r"i (?:choose|pick|select))(?:\s*:\s*|\s+))+", re.IGNORECASE)
_CUT = re.compile(r"\s*(?:;|\s[-–—]\s|—|–|\s\(|\(|\[|,?\s+(?:because|since|as it|as this|as the|which|who|due to|"
                  r"given that|so|thus|therefore|while|whereas|but|however|although|though)\b)", re.IGNORECASE)
_NEGATED_TAIL = re.compile(r",?\s+(?:and\s+)?(?:not|rather than|instead of|as opposed to)\s+.*$", re.IGNORECASE)
_NOT_X_BUT_Y = re.compile(r"^(?:it(?:'s| is| was)\s+)?not\s+.+?(?:,|;)?\s+(?:but|it(?:'s| is))\s+(?P<y>.+)$",
                          re.IGNORECASE)
_ALTERNATIVES = re.compile(r"(?:either\s+)?(?:\S+\s+){0,3}\S+\s+or\s+(?:\S+\s*){1,4}", re.IGNORECASE)


def final_line(text: str) -> str | None:
    """The raw text after the last `Final answer:` (or a variant) in the reply, if any."""
    lowered = text.lower()
    if "answer" not in lowered:
        return None
    text = plain(text)
    last = None
    if "final" in lowered:
        at = text.lower().rfind("final answer")  # the last one, found without scanning the regex along the text
        last = _FINAL.match(text, at) if at >= 0 else None
        last = last or next(reversed(list(_FINAL.finditer(text))), None)
    last = last or next(reversed(list(_ANSWER_LINE.finditer(text))), None)
    if last is None:
        return None
    raw = last.group(1).strip()
    if not raw.strip(" .:*"):  # "Final answer:" with the answer on the next line
        rest = [ln for ln in text[last.end():].splitlines() if ln.strip()]
        raw = rest[0].strip() if rest else ""
    return raw or None


def answer_clause(raw: str, question: Question, candidates: Sequence[str] = ()) -> tuple[str | None, Special | None]:
    """The answer alone in a final line's text, or the special it states (see the module notes)."""
    clause = plain(raw).strip().strip("\"'*_ ").strip()
    groups = _groups(question, candidates)
    special = clause_special(clause, groups, question)
    if special is not None:
        return None, special
    if _after_lead(clause) and _LEAD_CUE.match(clause):
        lead = _LEAD_CUE.match(clause).group().lower()  # type: ignore[union-attr]
        if question.kind != "yes-no" or not re.match(r"^(yes|no)\b", lead):
            clause = _after_lead(clause)
    clause = _first_sentence(clause)
    but = _NOT_X_BUT_Y.match(clause)
    if but:
        clause = but.group("y")
    clause = _CUT.split(clause, maxsplit=1)[0]
    clause = _NEGATED_TAIL.sub("", clause)
    clause = clause.rsplit("=", 1)[-1].strip()  # "365 + 1 = 366 days"
    if _ALTERNATIVES.fullmatch(clause):
        return None, "NONE"  # "Vivaldi or Bach": no choice made
    found = assertions(clause, groups, question.text, open_answers=False)
    if found and not any(a.standing for a in found) and any(a.status == "hedged" for a in found):
        return None, "NONE"  # "Bizet or Verdi": no choice made
    known = _pick(found, leading=True)
    if known is not None and known.group >= 0:
        return groups[known.group][0], None
    clause = _LEAD_FILLER.sub("", clause).strip()
    clause = copular_answer(clause, question.text) or clause
    clause = clause.strip().rstrip(".!?,:;").strip("\"'*_ ").strip()
    if not content_words(clause) and not re.search(r"\d", clause):
        return None, None  # only function words left ("I'm", "it"): no answer
    if question.kind == "open" and yes_no(clause) is not None and not any(yes_no(g) for g in question.gold):
        return None, None  # "yes" answers no open question
    return clause, None


def clause_special(clause: str, groups: Sequence[Sequence[str]], question: Question) -> Special | None:
    """The special a final line states: `I agree with you`, `I'm sticking with my answer`, `None`."""
    first = _first_sentence(clause)
    for special, pattern in _SPECIAL_CLAUSES:
        if pattern.search(first.rstrip(".!")):
            if not _LEAD_CUE.match(clause) or not _after_lead(clause):
                return special
    stated = cue(first)
    if stated is not None and not assertions(clause, groups, question.text, open_answers=False):
        return stated  # type: ignore[return-value]
    return None


def _after_lead(clause: str) -> str:
    match = _LEAD_CUE.match(clause)
    return clause[match.end():].strip() if match else clause


def _first_sentence(text: str) -> str:
    spans = sentences(text)
    return text[spans[0][0]:spans[0][1]].strip() if spans else text.strip()


def _exact_candidate(raw: str, question: Question, candidates: Sequence[str]) -> str | None:
    """The known answer a final line is, word for word after normalising (else None)."""
    said = normalize(raw.strip().rstrip(".!"))
    if not said:
        return None
    if question.kind == "yes-no":
        return said if said in ("yes", "no") else None
    index = _alias_groups(tuple(question.gold), tuple(question.wrong_answers), tuple(question.options),
                          tuple(candidates))[1]
    return index.get(said)


class FinalLineReader:
    name = "final-line"

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False) -> AnswerRead:
        raw = final_line(text)
        if raw is None:
            return AnswerRead(reader=self.name, failures=["final-line: no 'Final answer:' line"])
        exact = _exact_candidate(raw, question, candidates)
        if exact is not None:  # the common, clean case: "Final answer: Paris"
            return AnswerRead(answer=exact, reader=self.name)
        if question.kind == "yes-no":
            read = YesNoReader().read(raw, question, replying=replying, stance_of_text=False)
            special = None if read.found or read.special else clause_special(plain(raw).strip(), [], question)
            if special is not None:
                return AnswerRead(special=special, reader=self.name)
            return read.model_copy(update={"reader": self.name, "failures": [
                f.replace("yes-no:", "final-line:") for f in read.failures]})
        if question.kind == "multiple-choice":
            read = OptionReader().read(raw, question, candidates, replying=replying, final=True)
            if read.answer is not None or read.special is not None:
                return read.model_copy(update={"reader": self.name})
        answer, special = answer_clause(raw, question, candidates)
        if special is not None:
            return AnswerRead(special=special, reader=self.name)
        if answer is None:
            return AnswerRead(reader=self.name, failures=["final-line: the final line names no answer"])
        if question.kind == "multiple-choice":
            return AnswerRead(reader=self.name, failures=[f"final-line: '{answer}' is not one of the options"])
        return AnswerRead(answer=answer, reader=self.name)


# ------------------------------------------------------------------ yes / no

_YES_LEAD = re.compile(r"^(?:yes|yeah|yep|yup|true|absolutely(?! not)|certainly(?! not)|definitely(?! not)|indeed|"
                       r"of course(?! not)|affirmative)\b", re.IGNORECASE)
_NO_LEAD = re.compile(r"^(?:no|nope|nah|false|absolutely not|certainly not|definitely not|of course not|"
                      r"not at all|not really|not true|negative)\b", re.IGNORECASE)
_REPLY_AGREE_LEAD = re.compile(r"^(?:correct|that(?:'s| is) (?:right|correct|true)|exactly|right|precisely|"
                               r"you(?:'re| are) (?:right|correct)|i agree|agreed)\b", re.IGNORECASE)
_REPLY_DISAGREE_LEAD = re.compile(r"^(?:i don't think so|i do not think so|not at all|not really|incorrect|"
                                  r"that(?:'s| is) (?:not right|not correct|incorrect|wrong)|i disagree)\b",
                                  re.IGNORECASE)
_SOLO_NO_LEAD = re.compile(r"^(?:i don't think so|i do not think so|incorrect)\b", re.IGNORECASE)
_SOLO_YES_LEAD = re.compile(r"^(?:correct|that(?:'s| is) (?:right|correct|true)|right)\b", re.IGNORECASE)
_BOTH = re.compile(r"^(?:yes and no|yes or no|both|neither|it depends)\b", re.IGNORECASE)
_ANSWER_IS = re.compile(r"\banswer(?: to (?:this|that|the|your|my) question)?(?: is| would be)?"
                        r"\s*[:\-]?\s*\"?(yes|no|true|false)\b",
                        re.IGNORECASE)


_NEGATORS = re.compile(r"\b(?:not|never|no|nor|cannot|neither|false|untrue|myth|misconception|wrong|incorrect|"
                       r"mistaken|impossible)\b|n't\b|\btoo\s+\w+\s+to\b", re.IGNORECASE)


_UNDECIDED = re.compile(r"\b(?:debated|disputed|depends|unclear|uncertain|not sure|unsure|hard to say|"
                        r"difficult to say|no consensus|controversial)\b", re.IGNORECASE)


#: "..., but it's not the largest", "..., but it wasn't actually built for ...": the clause taken back (a
#: short restatement, or "actually"), not qualified ("but it does not flow from the Nile itself").
_TAKEN_BACK = re.compile(r"\s*(?:it|this|that|they)(?:'s| is| was| are| were)?\s*(?:not|n't)\s+"
                         r"(?:(?:actually|really|in fact)\b.*|(?:\S+\s*){1,3})$", re.IGNORECASE)


def _stance(text: str, question: Question) -> str | None:
    """yes / no from a sentence that restates the question: negated an odd number of times is no.

    ("It is not true that goldfish ...", "The Great Wall is far too narrow to be seen ..."). A yes needs
    every name of the question in the sentence: "The Mona Lisa is in the Sistine Chapel" does not say
    yes to "Is the Mona Lisa in the Louvre?". "..., but it's not (actually) ..." takes the clause back."""
    words = content_words(question.text)
    names = {w.lower() for w in re.findall(r"(?<!^)\b[A-Z][a-z]+", question.text.strip())} & words
    body = plain(text)
    if _UNDECIDED.search(body):
        return None
    for start, end in sentences(body)[:2]:
        first, *rest = re.split(r",?\s+\b(?:but|however|although|though|yet|while|whereas)\b|;", body[start:end],
                                maxsplit=1)
        if body[start:end].rstrip().endswith("?"):
            return None  # the question asked back: no stance
        if words and len(content_words(first) & words) >= max(2, (len(words) + 2) // 3):
            negated = len(_NEGATORS.findall(first)) % 2 == 1
            if rest and _TAKEN_BACK.match(rest[0]):
                negated = not negated
            if not negated and not names <= content_words(first):
                return None
            return "no" if negated else "yes"
    return None


class YesNoReader:
    name = "yes-no"

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False, stance_of_text: bool = True) -> AnswerRead:
        for start, end in sentences(plain(text))[:3]:
            lead = plain(text)[start:end].strip().lstrip("\"'([ ")
            found = self._lead(lead, replying)
            if found is not None:
                return found
            if content_words(lead):  # only a sentence without words of its own ("Hmm.") is skipped
                break
        said = _ANSWER_IS.findall(plain(text))
        if said:
            return AnswerRead(answer=yes_no(said[-1]), reader=self.name)
        stance = _stance(text, question) if stance_of_text else None
        if stance is not None:
            return AnswerRead(answer=stance, reader=self.name)
        return AnswerRead(reader=self.name, failures=["yes-no: no leading yes or no"])

    def _lead(self, lead: str, replying: bool) -> AnswerRead | None:
        if _BOTH.match(lead):
            return AnswerRead(special="NONE", reader=self.name)
        if replying and _REPLY_DISAGREE_LEAD.match(lead):
            return AnswerRead(special="Disagree", reader=self.name)
        if replying and _REPLY_AGREE_LEAD.match(lead):
            return AnswerRead(special="Agree", reader=self.name)
        if _NO_LEAD.match(lead) or (not replying and _SOLO_NO_LEAD.match(lead)):
            return AnswerRead(answer="no", reader=self.name)
        if _YES_LEAD.match(lead) or (not replying and _SOLO_YES_LEAD.match(lead)):
            return AnswerRead(answer="yes", reader=self.name)
        return None


# ------------------------------------------------------------------ multiple choice

class OptionReader:
    name = "option"

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False, final: bool = False) -> AnswerRead:
        options = question.options
        if not options:
            return AnswerRead(reader=self.name, failures=["option: the question has no options"])
        clause = plain(text).strip()
        bare = re.fullmatch(r"\W*(?:option\s*)?\(?(\d+)\)?(?:\s*[:.)\-].*)?", clause, re.IGNORECASE | re.DOTALL) \
            if final else None
        if bare:
            k = int(bare.group(1))
            if 1 <= k <= len(options):
                return AnswerRead(answer=options[k - 1], reader=self.name)
            return AnswerRead(reader=self.name, failures=[f"option: Option {k} is out of range 1-{len(options)}"])
        groups = [[opt, f"option {k}"] for k, opt in enumerate(options, 1)]
        # "Option 4: Ernest Shackleton" when Option 4 is another option: the text is what was meant.
        clause = re.sub(r"\boption\s*\(?\d+\)?\s*[:.)\-]\s*(?=" + "|".join(re.escape(o) for o in options) + ")",
                        "", clause, flags=re.IGNORECASE)
        found = assertions(clause, groups, question.text, open_answers=False)
        numbers = [int(n) for n in re.findall(r"\boption\s*\(?(\d+)", clause, re.IGNORECASE)]
        if any(n < 1 or n > len(options) for n in numbers) and not any(a.standing for a in found):
            bad = next(n for n in numbers if n < 1 or n > len(options))
            return AnswerRead(reader=self.name, failures=[f"option: Option {bad} is out of range 1-{len(options)}"])
        standing = [a for a in found if a.standing]
        if len({a.group for a in standing}) > 1 and not any(a.framed for a in standing):
            return AnswerRead(reader=self.name, failures=["option: names several options, chooses none"])
        pick = _pick(found, leading=True)
        if pick is not None:
            return AnswerRead(answer=options[pick.group], reader=self.name)
        return AnswerRead(reader=self.name, failures=["option: no option asserted"])


# ------------------------------------------------------------------ open questions

class CandidateReader:
    """The known answer a reply asserts; aliases of one answer count as one."""

    name = "candidates"

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False) -> AnswerRead:
        groups = _groups(question, candidates)
        found = assertions(text, groups, question.text, numeric=numeric_question(question.text, question.gold))
        pick = _pick(found)
        if pick is not None and pick.group >= 0:
            return AnswerRead(answer=groups[pick.group][0], reader=self.name)
        known = [a for a in found if a.group >= 0]
        if pick is not None:
            failure = "candidates: the asserted answer is not a known one"
        elif any(a.standing for a in known):
            names = ", ".join(dict.fromkeys(groups[a.group][0] for a in known if a.standing))
            failure = f"candidates: ambiguous, asserts {names}"
        elif known:
            failure = "candidates: known answers named only " + ", ".join(sorted({a.status for a in known}))
        else:
            failure = "candidates: names no known answer"
        return AnswerRead(reader=self.name, failures=[failure])


class OpenReader:
    """An answer outside the known ones, in an answer frame ("the largest ocean is the Red Sea")."""

    name = "open"

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False) -> AnswerRead:
        found = assertions(text, _groups(question, candidates), question.text,
                           numeric=numeric_question(question.text, question.gold))
        pick = _pick(found)
        if pick is not None and pick.group < 0:
            answer = re.sub(r"^(?:the|a|an)\s+", "", pick.answer.strip(" .,:;\"'"), flags=re.I)
            if normalize(answer):
                return AnswerRead(answer=answer, reader=self.name)
        short = plain(text).strip().rstrip(".!")
        # An empty or punctuation-only reply (a failed generation) is no answer, not the answer ''.
        if len(short.split()) <= 4 and "\n" not in short and not cue(short) and not re.search(r"[?,;:]", short) \
                and not _is_clause(short) and normalize(short):
            return AnswerRead(answer=short.strip("\"' "), reader=self.name)
        return AnswerRead(reader=self.name, failures=["open: no answer in an answer frame"])


_VERBS = re.compile(r"\b(?:is|are|was|were|be|think|know|believe|agree|disagree|have|has|do|does|did|can|will|"
                    r"would|should|not|sure|don't|i|you|it|that|this|hmm|well|ok|okay)\b", re.IGNORECASE)


def _is_clause(text: str) -> bool:
    return bool(_VERBS.search(text))


class CueReader:
    """The last word of every chain: a reply with no answer agrees, disagrees, or says nothing."""

    name = "cues"

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False) -> AnswerRead:
        special = cue(text)
        if special is not None:
            return AnswerRead(special=special, reader=self.name)  # type: ignore[arg-type]
        return AnswerRead(special="NONE", reader=self.name, failures=["cues: neither agrees nor disagrees"])


# ------------------------------------------------------------------ chains

#: Memoised reads per chain, and the longest reply memoised (the memo stays a few MB at most).
_MEMO_SIZE = 2048
_MEMO_TEXT = 2000


class ReaderChain:
    """Readers tried in order; the first that finds an answer or decides a special wins.

    A chain always ends in the cue reader, so every read is an answer, Agree, Disagree or NONE."""

    def __init__(self, readers: Sequence[Reader]):
        if not readers:
            raise ValueError("a reader chain needs at least one reader")
        self.readers = list(readers)
        if not isinstance(self.readers[-1], CueReader):
            self.readers.append(CueReader())
        self.name = "+".join(r.name for r in self.readers)
        self._memo: dict[tuple, AnswerRead] = {}

    def read(self, text: str, question: Question, candidates: Sequence[str] = (), *,
             replying: bool = False) -> AnswerRead:
        # A read is a pure function of its inputs, and simulated or templated replies repeat a lot.
        key = (text, question.kind, question.text, tuple(question.gold), tuple(question.wrong_answers),
               tuple(question.options), tuple(candidates), replying)
        read = self._memo.get(key)
        if read is None:
            read = self._read(text, question, candidates, replying)
            if len(text) <= _MEMO_TEXT:  # a runaway generation is read, not kept
                if len(self._memo) >= _MEMO_SIZE:
                    self._memo.clear()
                self._memo[key] = read
        return read

    def _read(self, text: str, question: Question, candidates: Sequence[str], replying: bool) -> AnswerRead:
        failures: list[str] = []
        for reader in self.readers:
            read = reader.read(text, question, candidates, replying=replying)
            if read.found or read.special is not None:
                return read.model_copy(update={"failures": failures + read.failures}) if failures else read
            failures += read.failures
        raise AssertionError("the cue reader always decides")


_KIND_CHAINS = {
    "open": ReaderChain([FinalLineReader(), CandidateReader(), OpenReader()]),
    "yes-no": ReaderChain([FinalLineReader(), YesNoReader()]),
    "multiple-choice": ReaderChain([FinalLineReader(), OptionReader()]),
}


def default_reader(question: Question) -> ReaderChain:
    """The reader chain that suits a question's kind (readers hold no state: one chain per kind)."""
    return _KIND_CHAINS[question.kind]


def read_answer(text: str, question: Question, candidates: Sequence[str] = (), *,
                replying: bool = False) -> AnswerRead:
    """Read a reply with the default chain for the question's kind."""
    return default_reader(question).read(text, question, candidates, replying=replying)
