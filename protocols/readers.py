"""Answer readers a run can choose, all behind one batched interface.

`reader = "default"` picks the rule chain for each question's kind (final line, then yes/no,
option, or known candidates and open answers; see `debate.answers`); `"final-line"`,
`"yes-no"`, `"option"`, `"candidates"` and `"open"` use one rule (followed, like every chain, by
the Agree / Disagree cues); `"llm:SPEC"` asks a model (any agent spec) to extract the answer
few-shot, one batched call per engine step. Every read records the reader that produced it and
every failure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.registry import check_spec, load_model
from debate.answers import (CandidateReader, FinalLineReader, OpenReader, OptionReader, ReaderChain, YesNoReader,
                            default_reader)
from debate.errors import ConfigError
from debate.records import AnswerRead, ChatRequest, GenerationParams, Message, Question

RULES = {"final-line": FinalLineReader, "yes-no": YesNoReader, "option": OptionReader, "candidates": CandidateReader,
         "open": OpenReader}
READER_NAMES = ("default", *RULES, "llm:SPEC")


@dataclass(frozen=True)
class ReadItem:
    text: str
    question: Question
    #: Answers already given in the dialogue (help the candidates reader and the extractor).
    candidates: tuple[str, ...] = ()
    #: Whether the speaker is replying to another speaker's turn ("Correct." then agrees).
    replying: bool = False


class RuleReader:
    def __init__(self, rule: str):
        self._chain = None if rule == "default" else ReaderChain([RULES[rule]()])
        self.name = rule

    async def read_many(self, items: Sequence[ReadItem]) -> list[AnswerRead]:
        out = []
        for item in items:
            chain = self._chain or default_reader(item.question)
            out.append(chain.read(item.text, item.question, item.candidates, replying=item.replying))
        return out


EXTRACT_PROMPT = (
    "You extract the answer an agent gave in a discussion. Reply with the answer alone, in as few "
    "words as possible. If the reply only agrees with the other agent without naming an answer, "
    "reply Agree. If it only disagrees without naming an answer, reply Disagree. If it gives no "
    "answer at all, reply NONE."
)
_SHOTS = [
    ("Who wrote Hamlet?", "I am fairly sure it was William Shakespeare, around 1600.", "William Shakespeare"),
    ("What is the capital of Australia?", "You are right, I agree with you.", "Agree"),
    ("How many legs does a spider have?", "No, that is not correct, I stand by what I said.", "Disagree"),
    ("Which planet is largest?", "That is an interesting question to think about.", "NONE"),
]
_SPECIAL = {"agree": "Agree", "disagree": "Disagree", "none": "NONE"}


class LLMExtractor:
    """A model reads each reply and names its answer, or Agree / Disagree / NONE (PBT.md 3)."""

    def __init__(self, spec: str, max_tokens: int = 16):
        self.model = load_model(spec)
        self.name = f"llm:{spec.split('?')[0]}"
        self.params = GenerationParams(temperature=0.0, max_tokens=max_tokens)

    def request(self, item: ReadItem) -> ChatRequest:
        messages = [Message(role="system", content=EXTRACT_PROMPT)]
        for question, reply, answer in _SHOTS:
            messages += [Message(role="user", content=f"Question: {question}\nReply: {reply}"),
                         Message(role="assistant", content=answer)]
        messages.append(Message(role="user", content=f"Question: {item.question.prompt_text()}\nReply: {item.text}"))
        return ChatRequest(messages=messages, params=self.params, question=item.question)

    def parse(self, text: str) -> AnswerRead:
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        line = re.sub(r"^(answer|final answer)\s*:\s*", "", line, flags=re.IGNORECASE).strip(" .\"'")
        special = _SPECIAL.get(line.lower())
        if special is not None:
            return AnswerRead(special=special, reader=self.name)
        if not line:
            return AnswerRead(special="NONE", reader=self.name, failures=[f"{self.name}: empty extraction"])
        return AnswerRead(answer=line, reader=self.name)

    async def read_many(self, items: Sequence[ReadItem]) -> list[AnswerRead]:
        if not items:
            return []
        replies = await self.model.generate([self.request(item) for item in items])
        return [self.parse(r.text) if r.ok else
                AnswerRead(special="NONE", reader=self.name, failures=[f"{self.name}: {r.error}"])
                for r in replies]


Reader = RuleReader | LLMExtractor


def check_reader(name: str) -> None:
    """Check a reader name (and an extractor's model spec) without loading anything."""
    if name.startswith("llm:"):
        check_spec(name[len("llm:"):])
    elif name != "default" and name not in RULES:
        raise ConfigError(f"unknown answer reader '{name}' (expected one of {', '.join(READER_NAMES)})",
                          field="reader")


def make_reader(name: str) -> Reader:
    check_reader(name)
    return LLMExtractor(name[len("llm:"):]) if name.startswith("llm:") else RuleReader(name)
