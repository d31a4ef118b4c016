"""The records every part of the framework speaks: questions, chat requests and replies, turns.

They are pydantic models because they cross file boundaries (question files, run outputs,
caches). Field names are the on-disk names; the JSONL question schema is `Question`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

QuestionKind = Literal["open", "yes-no", "multiple-choice"]
Role = Literal["system", "user", "assistant"]
Special = Literal["Agree", "Disagree", "NONE"]


# C0 controls, DEL and C1 controls: in an id they would reach terminals and file names.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The same, less the line breaks and tabs that texts may hold.
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_printable(value: str, what: str, *, text: bool = False) -> str:
    """`value`, or a ValueError when it holds a control character (a text may hold line breaks)."""
    control = (_CONTROL_IN_TEXT if text else _CONTROL).search(value)
    if control:
        raise ValueError(f"{what} may not hold control characters (found {control.group()!r})")
    return value


def _normalize(text: str) -> str:
    from debate.grading import normalize  # here, not at the top: grading imports this module

    return normalize(text)


class _Strict(BaseModel):
    # Unknown keys are an error: a typo in a file must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class Question(_Strict):
    """One question with its gold answers (aliases, canonical first)."""

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    # `kind` comes before `gold` so that the gold answers can be checked against it.
    kind: QuestionKind = "open"
    gold: list[str] = Field(min_length=1)
    options: list[str] = Field(default_factory=list, validate_default=True)
    wrong_answers: list[str] = Field(default_factory=list)
    context: str | None = None
    source: str = "user"
    metadata: dict[str, Any] = Field(default_factory=dict)

    # Field validators (not one model validator) so that an error names the field at fault.
    @field_validator("id", "text")
    @classmethod
    def _check_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank (only whitespace)")
        return value

    @field_validator("id")
    @classmethod
    def _check_id_printable(cls, qid: str) -> str:
        return check_printable(qid, "an id")

    @field_validator("text", "context")
    @classmethod
    def _check_text_printable(cls, value: str | None) -> str | None:
        return value if value is None else check_printable(value, "a text", text=True)

    @field_validator("gold")
    @classmethod
    def _check_gold_says_something(cls, gold: list[str]) -> list[str]:
        for answer in gold:
            if not _normalize(answer):
                raise ValueError(f"gold answer {answer!r} is empty once normalised (punctuation and the "
                                 "articles a, an, the dropped): no answer could match it")
        return gold

    @field_validator("gold")
    @classmethod
    def _check_yes_no_gold(cls, gold: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("kind") == "yes-no" and (any(g.strip().lower() not in ("yes", "no") for g in gold)
                                                  or len({g.strip().lower() for g in gold}) > 1):
            raise ValueError("a yes-no question needs gold ['yes'] or ['no']")
        return gold

    @field_validator("options")
    @classmethod
    def _check_options(cls, options: list[str], info: ValidationInfo) -> list[str]:
        kind = info.data.get("kind")
        if kind == "multiple-choice":
            if len(options) < 2:
                raise ValueError("a multiple-choice question needs at least two options")
            if not any(g in options for g in info.data.get("gold", [])):
                raise ValueError("a multiple-choice question needs a gold answer among its options")
        elif options and kind is not None:
            raise ValueError(f"options are only allowed for multiple-choice questions, not '{kind}'")
        return options

    @field_validator("wrong_answers")
    @classmethod
    def _check_wrong_is_not_gold(cls, wrong: list[str], info: ValidationInfo) -> list[str]:
        gold = {_normalize(g) for g in info.data.get("gold", [])}
        for answer in wrong:
            if _normalize(answer) in gold:
                raise ValueError(f"wrong answer {answer!r} is also a gold answer (once normalised)")
        return wrong

    def prompt_text(self) -> str:
        """The question as put to a model (options numbered for multiple choice)."""
        if self.kind == "multiple-choice":
            lines = [self.text] + [f"Option {i}: {opt}" for i, opt in enumerate(self.options, 1)]
            return "\n".join(lines)
        return self.text


class Message(_Strict):
    role: Role
    content: str
    # The speaker's label when several agents share the `user` role (optional, for rendering).
    name: str | None = None


class Sampling(_Strict):
    """The sampling settings an agent is configured with (the bounds of every config that has them)."""

    temperature: float = Field(default=0.0, ge=0.0, le=5.0, description="Sampling temperature (0: greedy).")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_tokens: int = Field(default=80, ge=1, le=32768, description="The most tokens a reply may have.")


class GenerationParams(Sampling):
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    #: A JSON Schema the reply must follow (None: free text). Backends with `constrained_output`
    #: enforce it while decoding; the others generate free text.
    json_schema: dict[str, Any] | None = None

    def with_seed(self, seed: int | None) -> GenerationParams:
        return self.model_copy(update={"seed": seed})


class Usage(_Strict):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    latency_s: float = Field(default=0.0, ge=0.0)
    cost_usd: float | None = Field(default=None, ge=0.0)
    #: Prompt tokens the server took from its prompt cache instead of processing them, where it
    #: says (llama.cpp's `timings.cache_n`, OpenAI's `prompt_tokens_details.cached_tokens`).
    #: Left out of records when unknown, so that records of servers that do not say are unchanged.
    cached_prompt_tokens: int | None = Field(default=None, ge=0, exclude_if=lambda value: value is None)

    def __add__(self, other: Usage) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens,
                     latency_s=self.latency_s + other.latency_s, cost_usd=_sum(self.cost_usd, other.cost_usd),
                     cached_prompt_tokens=_sum(self.cached_prompt_tokens, other.cached_prompt_tokens))


def _sum(a: int | float | None, b: int | float | None) -> Any:
    """The sum of two optional figures: None only when neither is known."""
    return None if a is None and b is None else (a or 0) + (b or 0)


class ChatRequest(_Strict):
    """One chat completion request of a batch.

    `question` and `persona` are metadata: real models see only `messages` (the persona is
    already in the system message); simulated models use them to decide what to say.
    """

    messages: list[Message] = Field(min_length=1)
    params: GenerationParams = Field(default_factory=GenerationParams)
    question: Question | None = None
    persona: str | None = None


class Reply(_Strict):
    """The answer to one ChatRequest. A failed request has `error` set and empty text."""

    text: str = ""
    model: str = ""
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    seed: int | None = None
    retries: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class AnswerRead(_Strict):
    """What an answer reader found in a reply, and how.

    `answer` is the extracted answer text; `special` is set instead when the reply only agrees,
    only disagrees, or gives no answer. `failures` keeps why earlier readers in the chain failed.
    """

    answer: str | None = None
    special: Special | None = None
    reader: str
    failures: list[str] = Field(default_factory=list)
    #: The speaker's own reply to the self-report probe (reader `probe`), never part of the dialogue.
    probe: str | None = None

    @property
    def found(self) -> bool:
        return self.answer is not None


class Turn(_Strict):
    """One node of a dialogue: who spoke, what they said, and the answers held after it."""

    speaker: str = Field(min_length=1)
    persona: str = "neutral"
    text: str
    # Every agent's current answer after this turn (speaker's read from the text, others carried).
    answers: dict[str, str | None] = Field(default_factory=dict)
    read: AnswerRead | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    params: GenerationParams = Field(default_factory=GenerationParams)
    seed: int | None = None
    error: str | None = None
    # The turn's role in its protocol when it is not an ordinary reply: "scripted" text (a
    # challenge, a planted claim), a "probe" question and its answer, a "judge" verdict.
    tag: str | None = None

    @field_validator("speaker")
    @classmethod
    def _check_speaker_printable(cls, speaker: str) -> str:
        return check_printable(speaker, "a speaker name")
