"""What a reply asserts, as opposed to what it mentions: the text analysis under the readers.

A reply names answers in many ways: it asserts one ("it is Canberra"), denies one ("not
Sydney"), concedes one before a contrast ("Sydney is big, but ..."), reports the other agent's
("you said Sydney"), or takes one back ("Sydney, sorry, Canberra"). `assertions` finds every
mention of a known answer, and every answer in an answer frame ("the answer is X", "the capital
of Australia is X") whether known or not, and marks how it is used. The readers
(`debate.answers`) pick from what is left standing.

Everything here is plain rules over the text, chosen on the labelled corpus in tests/reading/
(measured by `python -m experiments.bench.reading`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from functools import lru_cache

from debate.grading import normalize

# ------------------------------------------------------------------ plain text and clauses

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_MARKUP_CHARS = re.compile(r"[*_`#•-]")
_CURLY_QUOTES = re.compile("[’‘“”]")
_MARKUP = re.compile(r"\*\*|__|`+|^\s*#+\s*|^\s*[-*•]\s+", re.MULTILINE)
#: Words that end in a full stop without ending a sentence.
_ABBREVIATIONS = {"mt", "st", "dr", "mr", "mrs", "ms", "jr", "sr", "vs", "no", "approx", "ca", "gen", "col",
                  "ft", "lt", "prof", "rev", "sgt", "capt", "vol", "fig", "etc", "e.g", "i.e", "u.s", "u.k",
                  "d.c", "a.d", "b.c"}


def plain(text: str) -> str:
    """The text without markdown emphasis, headers, bullets or `\\boxed{}`; curly quotes made straight."""
    if "\\boxed" in text:
        text = _BOXED.sub(lambda m: m.group(1), text)
    if _MARKUP_CHARS.search(text):
        text = _MARKUP.sub("", text)
    if _CURLY_QUOTES.search(text):
        text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return text


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of a text (lines, and full stops that end a sentence)."""
    spans, start = [], 0
    for match in re.finditer(r"[.!?]+(?=\s|$)|\n+", text):
        end = match.end()
        if match.group().startswith("."):
            word = re.search(r"([\w.]+)\.*$", text[start:match.start()] + ".")
            before = (word.group(1) if word else "").lower().rstrip(".")
            if before in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)*[a-z]", before):  # "Mt.", "J.K."
                continue
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


# ------------------------------------------------------------------ cue phrases

_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\bnor|\bneither|\brather than|\binstead of|\bunlike|\bother than|\bno longer|"
    r"\bexcept|\bapart from|\bfar from|\brul(?:e|ed|ing) out|\beliminat(?:e|ed|ing)|\bexclud(?:e|ed|ing)|"
    r"\b(?:do|does|did)(?: not|n't) (?:think|believe)(?: that)?(?: it(?:'s| is| was))?|"
    r"\bno,? it(?:'s| is| was) not)"
    r"\s+(?:(?:the|a|an|just|quite|really|actually|exactly|necessarily|simply|option)\s+)*$", re.IGNORECASE)
_NEGATION_AFTER = re.compile(
    r"^[\s\"']*(?:(?:is|was|are|were|would be|seems)\s+)?(?:(?:definitely|clearly|actually|certainly)\s+)?"
    r"(?:not\b|n't\b|isn't\b|wasn't\b|aren't\b|incorrect\b|wrong\b|mistaken\b|false\b|untrue\b|"
    r"(?:a|an)\s+(?:common\s+|popular\s+|frequent\s+)?(?:misconception|myth|mistake|error|confusion)\b|"
    r"(?:is\s+)?(?:often|commonly|frequently|sometimes)\s+(?:mistaken|confused|thought|believed|assumed))",
    re.IGNORECASE)
_REPORTED_BEFORE = re.compile(
    r"(?:\byou(?:'ve| have)? (?:said|say|claim(?:ed)?|think|thought|believe[d]?|suggest(?:ed)?|mention(?:ed)?|"
    r"argue[d]?|propose[d]?|answered|picked|chose|went with|state[d]?)|"
    r"\byour (?:answer|claim|suggestion)(?: of| is| was)?|"
    r"\bagent \w+(?:'s answer)?(?: says| said| claims| claimed| thinks| believes| suggests| suggested| answered"
    r"| proposed| argues)?|"
    r"\bthe other agent(?:'s answer)?(?: says| said| claims| thinks| believes| suggests| answered)?|"
    r"\b(?:some|many|most) (?:people )?(?:say|think|believe|assume)|\bwhile (?:it is|it's) true that|"
    r"\b(?:often|commonly|widely|popularly) (?:thought|believed|assumed|said)(?: to be)?|\bmistaken for|"
    r"\b(?:thinking|thinking of|confusing (?:it|this) with|confused with|mixing (?:it|this) up with))"
    r"[\s:,\"']*(?:(?:that|it(?:'s| is| was)|the|a|an)\s+)*$", re.IGNORECASE)
#: An aside naming another form: "Mount Everest, also known as K2".
_ALIAS_BEFORE = re.compile(r"\b(?:also|otherwise|sometimes|often) (?:known|called|referred to) as\s+(?:the\s+)?$|"
                           r"\bnot to be confused with\s+(?:the\s+)?$", re.IGNORECASE)
#: A clause that concedes: what it names is weighed against what follows the contrast.
_CONCESSIVE = re.compile(r"\b(?:though|although|even though|even if|while|whereas|despite|admittedly)\b",
                         re.IGNORECASE)
_CONTRAST = re.compile(r"(?:,|;)?\s*\b(?:but|however|yet|still|nevertheless|that said)\b", re.IGNORECASE)
_RETRACTION = re.compile(
    r"\b(?:no,? wait|wait,? no|sorry|i mean|i meant|actually|correction|scratch that|on second thought|"
    r"on reflection|i was wrong|my mistake|let me correct|correcting myself)\b|(?:—|–|--|\.|,|;)\s*no\b[,.!;—–-]",
    re.IGNORECASE)
_FRAME_BEFORE = re.compile(
    r"(?:\b(?:the |my )?(?:correct |right |final |true |real |actual )?answer(?: here)?(?: is| would be| must be"
    r"| should be| remains| stays| is still)?|\bit(?:'s| is| was| must be| has to be| should be| would be)"
    r"(?: definitely| indeed| actually| clearly| certainly| still| really)?|"
    r"\bi (?:think|believe|guess|reckon|suspect|maintain|insist)(?: that)?"
    r"(?: it(?:'s| is| was))?|\bi(?:'d| would) (?:say|go with|guess)|\bi(?:'m| am) (?:going|sticking|staying) with|"
    r"\bi(?:'ll| will) (?:go|stick|stay) with|\bstick(?:ing)? with|\bi (?:choose|pick|select)|\bmust be|"
    r"\b(?:is|was) (?:indeed|definitely|actually|certainly|clearly|in fact)|\bwe agree (?:on|that it is)|"
    r"\bconfident (?:that )?(?:it(?:'s| is) )?|\bmy (?:answer|choice|pick|view)(?: is| remains| stays)?|"
    r"\b(?:was|were|is|are)\s+(?:\w+\s+)?(?:\w+ed|written|drawn|sung|built|made|known|led|held|won|given|done|found|"
    r"born|thrown|shown|taken|chosen|seen) by)"
    r"[\s:,\"']*(?:(?:that|the|a|an)\s+)?$", re.IGNORECASE)

_AGREE = re.compile(
    r"\b(?:i (?:now |fully |completely |do )?agree|agreed|i concur|"
    r"you(?:'re| are) (?:absolutely |completely )?(?:right|correct)|"
    r"i stand corrected|i concede|you(?:'ve| have) convinced me|convinced me|i accept (?:your|that|it)|"
    r"i(?:'ll| will) (?:go|change my answer) (?:with|to) (?:yours|your)|same as (?:yours|you|your answer|agent \w+)|"
    r"i change my answer|i(?:'ll| will) change my answer|i was wrong|my mistake|i(?:'ll| will) adopt|"
    r"i(?:'m| am) persuaded|that(?:'s| is) (?:right|correct)|exactly right)\b", re.IGNORECASE)
_WEAK_AGREE = re.compile(r"\b(?:good point|fair point|fair enough|makes sense|valid point|point taken|"
                         r"i see your point|that's true|that is true)\b", re.IGNORECASE)
_DISAGREE = re.compile(
    r"\b(?:i (?:respectfully |strongly |still |must )?disagree|(?:i )?(?:don't|do not|can't|cannot) agree|"
    r"you(?:'re| are) (?:wrong|mistaken|incorrect)|that(?:'s| is) (?:not (?:right|correct|true)|incorrect|wrong)|"
    r"i (?:still )?stand by|i (?:still )?(?:think|believe) (?:i(?:'m| am) right|my answer)|"
    r"stick(?:ing)? (?:with|to) my|"
    r"i(?:'ll| will) stick|i (?:still )?maintain|keep(?:ing)? my (?:answer|view|position|original)|"
    r"hold(?:ing)? (?:my|to my) (?:view|position|ground|answer)|still hold|not convinced|unconvinced|"
    r"my answer (?:remains|stays|is unchanged|hasn't changed|has not changed|doesn't change|does not change)|"
    r"(?:won't|will not|not going to) change|i(?:'m| am) not changing|remain (?:confident|convinced)|"
    r"unchanged|same as before|stay(?:ing)? with my|i still think|stick(?:ing)? with (?:it|that)|"
    r"(?:confident|sure) (?:in|of|about) my (?:original |previous |first |earlier )?answer|"
    r"my (?:original|previous|first|earlier|initial) answer (?:stands|holds|is correct|is right))\b", re.IGNORECASE)

_NEGATED_CUE = re.compile(r"(?:\bnot|n't|\bnever)\s+(?:\w+\s+)?$", re.IGNORECASE)


def cue(text: str) -> str | None:
    """Agree or Disagree when the text (with no answer of its own) only agrees or disagrees.

    The last strong cue decides ("Fair enough, but I still hold my view" disagrees); the weak
    ones ("fair point") count only when nothing follows them in contrast.
    """
    text = plain(text)
    found = []
    for kind, pattern in (("Agree", _AGREE), ("Disagree", _DISAGREE)):
        for match in pattern.finditer(text):
            if kind == "Agree" and _NEGATED_CUE.search(text[max(0, match.start() - 12):match.start()]):
                continue  # "I don't agree", "not convinced me"
            found.append((match.start(), kind))
    if found:
        return max(found)[1]
    weak = list(_WEAK_AGREE.finditer(text))
    if weak and not _CONTRAST.search(text[weak[-1].end():]):
        return "Agree"
    return None


# ------------------------------------------------------------------ mentions and frames

@dataclass(frozen=True)
class Assertion:
    """One answer as the text uses it: a known candidate (`group` >= 0) or an open answer (-1)."""

    answer: str
    group: int
    start: int
    end: int
    framed: bool
    #: "asserted", or why it is not: "negated", "reported", "conceded", "aside", "retracted", "hedged".
    status: str

    @property
    def standing(self) -> bool:
        return self.status == "asserted"

    @property
    def key(self) -> str:
        """What makes two assertions the same answer: the candidate group, or the open answer's text."""
        return str(self.group) if self.group >= 0 else normalize(self.answer)


_STOPWORDS = set(
    "a an the of in on at to for by with from and or is are was were be been being what which who whom whose "
    "where when why how many much does do did has have had name named called known as this that these those it "
    "its their his her there than then into onto over under about most more least also only one ones first "
    "can could would should will may might must s".split())


def content_words(text: str) -> set[str]:
    return {w for w in normalize(text).split() if w not in _STOPWORDS}


@lru_cache(maxsize=1 << 11)
def _alias_pattern(alias: str) -> re.Pattern[str] | None:
    words = normalize(alias).split()
    if not words:
        return None
    body = r"[\W_]+(?:(?:the|a|an)[\W_]+)?".join(re.escape(w).replace(r"\.", r"[.,]?") for w in words)
    if words[-1].isalpha():
        body += "(?:e?s)?"  # "Dolphins" names "Dolphin"
    # Not inside a longer word, number or unit ("365.25", "ohm·cm²", "2^2").
    return re.compile(rf"(?<![\w·/^])(?<!\d[.,]){body}(?![\w·/^²³]|[.,]\d)", re.IGNORECASE)


_NAME_WORD = re.compile(r"[A-Z][a-z'-]+|[A-Z]{2,}")
_SCALE_AFTER = re.compile(r"^\s*(?:%|bc\b|bce\b|b\.c\.|percent\b|per cent\b|hundred\b|thousand\b|million\b|"
                          r"billion\b|trillion\b|times\b)", re.IGNORECASE)
_NUMERAL_AFTER = re.compile(r"^[ \t]+(?:[IVXLC]{1,5}\b|\d)")
_FUNCTION_WORDS = set("i the a an it is my your yes no final answer option in on at of and but so that this "
                      "agent sorry actually well think believe however although though while because as "
                      "not rather instead correct right definitely probably certainly clearly surely obviously "
                      "perhaps maybe indeed absolutely since when if then also only just even agreed okay ok hmm "
                      "true exactly again still thus hence therefore both either neither sure fine great good "
                      "thanks we you he she they our their his her its there here what which who how why "
                      "was were are be has have had do does did can could would should will may might must "
                      "dear friend friends look listen remember consider trust "
                      # titles: "President Abraham Lincoln" names Abraham Lincoln
                      "president king queen saint st sir dr general emperor empress pope prince princess lord "
                      "lady mr mrs ms captain admiral".split())
#: Words after a name that make it no other answer ("Nile River", "Pacific Ocean", "Sahara Desert").
_GENERIC_AFTER = set("river ocean sea desert lake lakes mountain mountains mount island islands peninsula canal "
                     "falls volcano planet galaxy gulf bay strait".split())


def _extends_name(text: str, start: int, end: int, numeric: bool) -> bool:
    """Whether the mention is part of a longer name (`Pierre Curie`, `Napoleon III`, `Percy Bysshe Shelley`)."""
    if _NUMERAL_AFTER.match(text[end:]):
        return True
    if numeric and _SCALE_AFTER.match(text[end:]):
        return True  # "500 BC" is not 500, "3 million" is not 3
    after = re.match(r"^[ \t]+([A-Z][\w'-]*)", text[end:])
    if not numeric and after and _NAME_WORD.fullmatch(after.group(1)) \
            and after.group(1).lower() not in _FUNCTION_WORDS | _GENERIC_AFTER:
        return True
    if not numeric and re.search(r"\d[ \t]*$", text[:start]):
        return True  # "100 ohms" is a quantity, not the unit
    before = re.search(r"([A-Za-z][\w'-]*)[ \t]+$", text[:start])
    return bool(before and before.group(1).lower() not in _FUNCTION_WORDS and _NAME_WORD.fullmatch(before.group(1)))


def _short_forms(aliases: Sequence[str]) -> list[str]:
    """The aliases, and each without a trailing generic word (`Atlantic Ocean` -> `Atlantic`).

    Never without a leading one: `Mount Kenya` is not `Kenya`."""
    forms = list(aliases)
    for alias in aliases:
        words = alias.split()
        if len(words) >= 2 and words[-1].lower() in _GENERIC_AFTER:
            forms.append(" ".join(words[:-1]))
    return list(dict.fromkeys(forms))


def _spelling_variant(text: str, start: int, aliases: Sequence[str]) -> int | None:
    """Where a name begins whose first word is another spelling of an alias's (`Dmitry` for
    `Dmitri Mendeleev`), so that the mention is that alias and not part of another name."""
    before = re.search(r"([A-Z][\w'-]*)[ \t]+$", text[:start])
    if before is None:
        return None
    mentioned = normalize(text[start:start + 80]).split()
    for alias in aliases:
        words = normalize(alias).split()
        if len(words) >= 2 and mentioned[:len(words) - 1] == words[1:] and \
                SequenceMatcher(None, words[0], before.group(1).lower()).ratio() >= 0.8:
            return before.start()
    return None


def _mentions(text: str, groups: Sequence[Sequence[str]]) -> list[tuple[int, int, int]]:
    """(group, start, end) of every whole-word mention that is not part of a longer name.

    Aliases of a group are matched longest first, and a span is given to one group only."""
    spans: list[tuple[int, int, int]] = []
    present = normalize(text)
    for g, aliases in enumerate(groups):
        for alias in sorted(_short_forms(aliases), key=lambda a: -len(normalize(a))):
            words = normalize(alias).split()
            if not words or words[0] not in present:
                continue  # cannot match: no pattern to build or run (a dialogue's answers are many)
            pattern = _alias_pattern(alias)
            if pattern is None:
                continue
            for match in pattern.finditer(text):
                s, e = match.span()
                if any(s < e2 and s2 < e for _, s2, e2 in spans):
                    continue
                spans.append((g, s, e))
    spans.sort(key=lambda span: (span[1], -(span[2] - span[1])))
    kept: list[tuple[int, int, int]] = []
    for g, s, e in spans:
        if kept and s < kept[-1][2]:
            continue
        numeric = text[s].isdigit()
        if not _extends_name(text, s, e, numeric):
            kept.append((g, s, e))
        elif (variant := _spelling_variant(text, s, groups[g])) is not None:
            kept.append((g, variant, e))
    return kept


def _clause_start(text: str, pos: int, floor: int) -> int:
    """Where the clause holding `pos` begins (after a sentence or clause break or a contrast word)."""
    start = floor
    for match in re.finditer(r"[;:\n]|,\s*(?=\b(?:but|however|yet|though|although|while|whereas|not)\b)|"
                             r"\b(?:but|however|yet)\b", text[floor:pos]):
        start = floor + match.end()
    return start


_COPULA = re.compile(r"\s(?:is|was|are|were|remains|would be|must be|has to be)\s", re.IGNORECASE)


def copular_answer(sentence: str, question_text: str) -> str | None:
    """`The capital of Australia is Canberra` -> `Canberra`: the side of `S is X` that answers."""
    span = _copular_frame(sentence, 0, content_words(question_text))
    return sentence[span[0]:span[1]] if span else None


def _copular_frame(sentence: str, offset: int, question_words: set[str]) -> tuple[int, int] | None:
    """The span of the answer side of `S is X` when the other side restates the question.

    The first copula outside a relative clause counts: in "The largest island that is not a
    continent is Madagascar" the answer follows the second one; in "... is 5, which is 2^2" the first."""
    if not question_words:
        return None

    def restates(words: set[str]) -> bool:
        return len(words & question_words) >= max(1, (len(question_words) + 1) // 2)

    for match in _COPULA.finditer(sentence):
        left, right = sentence[:match.start()], sentence[match.end():]
        if re.search(r"\b(?:which|who|that|where|whose)\s*$", left, re.IGNORECASE):
            continue
        cut = _OPEN_END.search(right)
        right_clause = right[:cut.start()] if cut and cut.start() > 0 else right
        # What the right side says is judged up to its clause's end ("the largest and deepest ocean").
        lw, rw = content_words(left), content_words(re.split(r"[,;:(]", right, maxsplit=1)[0])
        pronoun = normalize(left) in {"it", "that", "this", "answer", "my answer", "correct answer", "right answer"}
        if pronoun or (restates(lw) and not restates(rw)):
            return offset + match.end(), offset + match.end() + len(right_clause)
        if restates(rw) and not restates(lw) and 3 * len(rw & question_words) >= 2 * len(rw):
            return offset, offset + match.start()  # "X is the capital of Australia": the rest is the question
        return None
    return None


_OPEN_FRAMES = [
    re.compile(r"\b(?:the |my )?(?:correct |right |final |true )?answer(?: to (?:this|that|the|your|my) question"
               r"(?: about [\w' -]{1,40}?)?)?"
               r"(?: is| would be| must be| should be| remains| is still|\s*:)\s*:?\s*", re.IGNORECASE),
    re.compile(r"(?:^|(?<=[.!?,;:]\s)|(?<=\n)|(?<=\bbut\s)|(?<=\band\s))\s*"
               r"(?:i (?:think|believe|guess|reckon|suspect|maintain)"
               r"(?: that)?(?: it(?:'s| is| was))?|i(?:'d| would) (?:say|go with)|i(?:'m| am) (?:going|sticking) with|"
               r"i(?:'ll| will) (?:go|stick) with|it(?:'s| is| was| must be)"
               r"(?: definitely| indeed| actually| clearly)?)\s+",
               re.IGNORECASE),
]
_OPEN_END = re.compile(r"\s*(?:[.;:!?\n(\[]|,|\s-\s|\s—|—|\s–\s|\b(?:and|but|which|who|because|since|as|with|so|"
                       r"while|whereas|rather|not|although|though|that|where|when|if|or)\b)", re.IGNORECASE)
_NOT_ANSWERS = re.compile(
    r"^(?:not|no|true|false|correct|incorrect|right|wrong|important|possible|impossible|likely|unlikely|unclear|"
    r"difficult|hard|interesting|clear|obvious|sure|unsure|certain|uncertain|known|called|located|found|also|"
    r"because|that|this|these|those|there|here|my|your|our|their|his|her|its|it|they|you|we|i|he|she|one of|"
    r"worth|true that|a good|a great|an interesting|an important|the case|definitely|indeed|actually|"
    r"commonly|often|generally|widely|believed|thought|said|considered|agreed|the same|same|what|which|who|"
    r"how|why|when|where|whether|a question|an answer|the answer|answer|none|nothing|unknown|up to|about|"
    r"approximately|around|a common|often|commonly|so|very|quite|too|just|only|still|even|already|a|an|"
    r"subject|the subject|question|the question|topic|example|an example|a classic)\b", re.IGNORECASE)


_NUMERIC_QUESTION = re.compile(
    r"^\s*(?:how (?:many|much|long|old|far|tall|high|deep|big|fast|wide|heavy)|in (?:what|which) year|"
    r"(?:what|which) year|when|at what (?:temperature|age|speed)|what (?:is|was) the (?:number|sum|product|value|"
    r"population|temperature|speed|boiling|freezing|melting|atomic number|age|year|height|length|distance))\b",
    re.IGNORECASE)
_YEAR_QUESTION = re.compile(r"^\s*(?:when|in (?:what|which) year|(?:what|which) year)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.,^/])\d+(?:[.,]\d+)*(?![\w.,]*\d)(?:\s*(?:AD|BC|BCE|CE)\b)?|"
                     r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                     r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|hundred)\b", re.IGNORECASE)


def _numbers(text: str, question_text: str, question_words: set[str]) -> list[tuple[int, int, bool]]:
    """The numbers a reply gives to a numeric question (years only for 'when' questions), each framed
    when a word of the question follows it ("six sides" for "How many sides ...")."""
    years = bool(_YEAR_QUESTION.search(question_text))
    out = []
    for m in _NUMBER.finditer(text):
        if years and not re.fullmatch(r"\d{3,4}(?:\s*(?:AD|BC|BCE|CE))?", m.group(), re.IGNORECASE):
            continue
        out.append((m.start(), m.end(), _counts(text, m.end(), question_words)))
    return out


def _counts(text: str, end: int, question_words: set[str]) -> bool:
    """Whether a number ending at `end` counts what the question asks about ("six sides")."""
    after = re.match(r"\s*((?:[\w'-]+\s+){0,1}[\w'-]+)", text[end:])
    return bool(after and {_stem(w) for w in content_words(after.group(1))} & {_stem(w) for w in question_words})


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _open_span(text: str, start: int, limit: int, question_words: set[str], numeric: bool) -> tuple[int, int] | None:
    """The short answer phrase that starts at `start` (cut at the clause end or `limit`; at most six words)."""
    rest = text[start:limit]
    lead = re.match(r"[\s\"':]*", rest)
    s = start + (lead.end() if lead else 0)
    cut = _OPEN_END.search(text, s, limit)
    e = cut.start() if cut and cut.start() > s else limit
    phrase = text[s:e].strip(" \"'*")
    if not phrase or _NOT_ANSWERS.match(phrase) or len(phrase.split()) > 6:
        return None
    if re.match(r"[a-z]+(?:ed|ing|en)\b", phrase):  # "published in 1905", "celebrated every year": not an answer
        return None
    if not numeric and re.fullmatch(r"[\d.,\s]+", phrase):
        return None  # a bare number answers no question but a numeric one
    words = {_stem(w) for w in content_words(phrase)}
    if words and words <= {_stem(w) for w in question_words}:
        return None  # it restates the question ("the largest of the world's deserts")
    if not normalize(phrase) or normalize(phrase) in _STOPWORDS:
        return None
    return s, s + len(text[s:e].rstrip(" \"'*"))


#: Replies are read up to this length: a reading must stay fast on any text (a runaway generation).
_MAX_CHARS = 6000


def numeric_question(question_text: str, gold: Sequence[str] = ()) -> bool:
    """Whether the question asks for a number (by its words, or because its answer is one)."""
    return bool(_NUMERIC_QUESTION.search(question_text)) or any(
        re.fullmatch(r"\d+(?:[.,]\d+)?", g.strip()) for g in gold[:1])


def assertions(text: str, groups: Sequence[Sequence[str]], question_text: str = "",
               open_answers: bool = True, numeric: bool = False) -> list[Assertion]:
    """Every mention of a candidate group, and every open answer in a frame, with how it is used."""
    text = plain(text)[:_MAX_CHARS]
    question_words = content_words(question_text)
    found: list[Assertion] = []
    frames: list[tuple[int, int]] = []
    for s, e in sentences(text):
        sentence = text[s:e].rstrip(".!? \n")
        for clause_start in [s, *(s + m.end() for m in _CONTRAST.finditer(sentence))]:
            frame = _copular_frame(text[clause_start:s + len(sentence)].strip(" ,;:"),
                                   clause_start + len(text[clause_start:]) - len(text[clause_start:].lstrip(" ,;:")),
                                   question_words)
            if frame:
                frames.append(frame)
    starts = [s for s, _ in sentences(text)]
    for g, s, e in _mentions(text, groups):
        counts = numeric and _NUMBER.fullmatch(text[s:e]) is not None and _counts(text, e, question_words)
        found.append(_classify(text, starts, s, e, g, frames, framed=counts))
    if open_answers and numeric:
        for s, e, framed in _numbers(text, question_text, question_words):
            if not any(a.start < e and s < a.end for a in found):
                found.append(_classify(text, starts, s, e, -1, frames, framed=framed))
    if open_answers:
        open_starts = {(m.end(), len(text)) for pattern in _OPEN_FRAMES for m in pattern.finditer(text)}
        open_starts |= set(frames)
        for start, limit in sorted(open_starts):
            span = _open_span(text, start, limit, question_words, numeric)
            if span is None or any(a.start < span[1] and span[0] < a.end for a in found):
                continue
            found.append(_classify(text, starts, span[0], span[1], -1, frames, framed=True))
    found.sort(key=lambda a: a.start)
    return _hedge(text, _retract(text, found))


def _classify(text: str, sentence_starts: list[int], s: int, e: int, group: int, frames: list[tuple[int, int]],
              framed: bool = False) -> Assertion:
    sentence_start = sentence_starts[max(0, bisect_right(sentence_starts, s) - 1)] if sentence_starts else 0
    clause_start = _clause_start(text, s, sentence_start)
    before = text[clause_start:s]
    after_match = re.search(r"[.;!?\n]|,\s*(?:but|however|yet)\b", text[e:])
    after = text[e:e + (after_match.start() if after_match else len(text) - e)]
    framed = framed or bool(_FRAME_BEFORE.search(before)) or any(fs <= s and e <= fe for fs, fe in frames)
    if _NEGATION_BEFORE.search(before) or _NEGATION_AFTER.match(after):
        status = "negated"
    elif _REPORTED_BEFORE.search(before):
        status = "reported"
    elif _CONCESSIVE.search(text[_clause_boundary(text, s, sentence_start):s]):
        status = "conceded"  # "..., though the Pacific is close", "Although Sydney is big, ..."
    elif text.rfind("(", sentence_start, s) > text.rfind(")", sentence_start, s) or _ALIAS_BEFORE.search(before):
        status = "aside"  # "100 degrees Celsius (212 degrees Fahrenheit)"
    else:
        status = "asserted"
    return Assertion(text[s:e].strip(), group, s, e, framed, status)


def _clause_boundary(text: str, pos: int, floor: int) -> int:
    """The start of the comma-delimited clause holding `pos`."""
    return max(floor, *(text.rfind(mark, floor, pos) + 1 for mark in ",;:"))


def _retract(text: str, found: list[Assertion]) -> list[Assertion]:
    """Mark what a later correction or a later contrast takes back (`Sydney, sorry, Canberra`)."""
    out = list(found)
    after: Assertion | None = None  # the next standing assertion (of any answer), scanning backwards
    after_other: Assertion | None = None  # the next standing one of another answer than `after`
    for i in range(len(found) - 1, -1, -1):
        a = found[i]
        later = after if after is not None and after.key != a.key else after_other
        if a.standing and later is not None:
            between = text[a.end:later.start]
            if _RETRACTION.search(between):
                out[i] = replace(a, status="retracted")
            elif _CONTRAST.search(between) and not _contains_sentence_break(between) and (later.framed or not a.framed):
                out[i] = replace(a, status="conceded")  # but not an answer given to the question, by a side remark
        if a.standing:
            if after is not None and after.key != a.key:
                after_other = after
            after = a
    return out


def _contains_sentence_break(text: str) -> bool:
    return bool(re.search(r"[.!?]\s|\n", text))


_OR = re.compile(r"^[\s,]*(?:or|or perhaps|or maybe|or possibly|and/or)\s+(?:(?:the|a|an|option)\s+)?$", re.IGNORECASE)


def _hedge(text: str, found: list[Assertion]) -> list[Assertion]:
    """Two answers offered as alternatives (`Bizet or Verdi`, `Option 2 or Option 4`) assert neither."""
    hedged: set[int] = set()
    for i in range(len(found) - 1):
        a, b = found[i], found[i + 1]
        if a.standing and b.standing and a.key != b.key and _OR.match(text[a.end:b.start]):
            hedged |= {i, i + 1}
    return [replace(a, status="hedged") if i in hedged else a for i, a in enumerate(found)]
