"""Answer readers a run can choose, all behind one batched interface.

`reader = "default"` picks the rule chain for each question's kind (final line, then yes/no,
option, or known candidates and open answers; see `debate.answers`); `"final-line"`,
`"yes-no"`, `"option"`, `"candidates"` and `"open"` use one rule (followed, like every chain, by
the Agree / Disagree cues); `"llm:SPEC"` asks a model (any agent spec) to extract the answer
few-shot, one batched call per engine step; `"probe"` asks the speaker's own model for its answer
on a side branch (self-report). Every read records the reader that produced it and
every failure.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.base import ChatModel
from agents.registry import check_spec, load_model
from debate.answers import (CandidateReader, FinalLineReader, OpenReader, OptionReader, ReaderChain, YesNoReader,
                            default_reader)
from debate.answers import Reader as TextReader
from debate.errors import ConfigError
from debate.records import AnswerRead, ChatRequest, GenerationParams, Message, Question, Reply, Special

RULES: dict[str, type[TextReader]] = {"final-line": FinalLineReader, "yes-no": YesNoReader, "option": OptionReader,
                                      "candidates": CandidateReader, "open": OpenReader}
READER_NAMES = ("default", *RULES, "probe", "llm:SPEC")


@dataclass(frozen=True)
class ReadItem:
    text: str
    question: Question
    #: Answers already given in the dialogue (help the candidates reader and the extractor).
    candidates: tuple[str, ...] = ()
    #: Whether the speaker is replying to another speaker's turn ("Correct." then agrees).
    replying: bool = False
    #: The request the reply answered, and the speaker's model (the probe reader asks it again).
    request: ChatRequest | None = None
    model: ChatModel | None = None


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
_SPECIAL: dict[str, Special] = {"agree": "Agree", "disagree": "Disagree", "none": "NONE"}


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


#: The probe's question, by question kind (small models read any mention of "yes or no" as the question).
PROBE_PROMPTS = {
    "open": "Setting the discussion aside: what is your answer to the question now? Reply with the answer "
            "alone, in a few words, or none if you have no answer.",
    "yes-no": "Setting the discussion aside: is your answer to the question now yes or no? Reply yes or no, "
              "or none if you have no answer.",
    "multiple-choice": "Setting the discussion aside: which option is your answer now? Reply with the option "
                       "alone, or none if you have no answer.",
}
#: The probe's reply as JSON, where the backend constrains its output to a schema.
PROBE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 80}},
                                "required": ["answer"], "additionalProperties": False}


class ProbeReader:
    """Self-report: after a turn, the speaker's own model is asked for its answer on a side branch.

    The probe is the turn's own request, followed by the reply and one question; it is never part of
    the dialogue. It goes to the speaker's model (through the run's cache) in one batch per model,
    greedy, with the reply constrained to `{"answer": ...}` where the backend supports it; free text
    is read as a final line otherwise. A probe that fails or says nothing usable falls back to the
    rule chain, and the failure is recorded.
    """

    name = "probe"

    def __init__(self, max_tokens: int = 64):
        self.params = GenerationParams(temperature=0.0, max_tokens=max_tokens, json_schema=PROBE_SCHEMA)

    def request(self, item: ReadItem) -> ChatRequest:
        assert item.request is not None
        messages = [*item.request.messages, Message(role="assistant", content=item.text),
                    Message(role="user", content=PROBE_PROMPTS[item.question.kind])]
        return ChatRequest(messages=messages, params=self.params.with_seed(item.request.params.seed),
                           question=item.question, persona=item.request.persona)

    def parse(self, text: str, item: ReadItem) -> AnswerRead:
        raw = text.strip()
        try:
            value = json.loads(raw)
            raw = str(value.get("answer", "")) if isinstance(value, dict) else str(value)
        except (ValueError, RecursionError):
            # Cut short by max_tokens ('{"answer": "Paris, the'), or free text from a backend without
            # constrained output: the string after "answer", else the text itself.
            cut = re.search(r'"answer"\s*:\s*"([^"]*)', raw)
            raw = cut.group(1) if cut else raw
        read = FinalLineReader().read(f"Final answer: {raw}", item.question, item.candidates, replying=item.replying)
        return read.model_copy(update={"reader": self.name, "probe": text,
                                       "failures": [f.replace("final-line", "probe") for f in read.failures]})

    async def read_many(self, items: Sequence[ReadItem]) -> list[AnswerRead]:
        by_model: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            if item.model is None or item.request is None:
                raise ValueError("the probe reader needs each turn's request and model (the engine gives them)")
            by_model.setdefault(id(item.model), []).append(i)
        replies: list[Reply | None] = [None] * len(items)

        async def ask(indices: list[int]) -> None:
            model = items[indices[0]].model
            assert model is not None
            for i, reply in zip(indices, await model.generate([self.request(items[i]) for i in indices]), strict=True):
                replies[i] = reply

        await asyncio.gather(*(ask(indices) for indices in by_model.values()))
        out = []
        for item, reply in zip(items, replies, strict=True):
            assert reply is not None
            read = self.parse(reply.text, item) if reply.ok else None
            if read is not None and (read.found or read.special in ("Agree", "Disagree")):
                out.append(read)
                continue
            why = f"probe: {reply.error}" if not reply.ok else f"probe: no answer in {reply.text[:60]!r}"
            rules = default_reader(item.question).read(item.text, item.question, item.candidates,
                                                       replying=item.replying)
            out.append(rules.model_copy(update={"failures": [why, *rules.failures],
                                                "probe": reply.text if reply.ok else None}))
        return out


Reader = RuleReader | LLMExtractor | ProbeReader


def check_reader(name: str) -> None:
    """Check a reader name (and an extractor's model spec) without loading anything."""
    if name.startswith("llm:"):
        check_spec(name[len("llm:"):])
    elif name not in ("default", "probe") and name not in RULES:
        raise ConfigError(f"unknown answer reader '{name}' (expected one of {', '.join(READER_NAMES)})",
                          field="reader")


def make_reader(name: str) -> Reader:
    check_reader(name)
    if name == "probe":
        return ProbeReader()
    return LLMExtractor(name[len("llm:"):]) if name.startswith("llm:") else RuleReader(name)
