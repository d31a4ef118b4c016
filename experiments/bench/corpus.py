"""The labelled reading corpus (tests/reading/*.jsonl; rules in tests/reading/LABELLING.md).

Each item is one reply in its dialogue with the answer a careful reader takes from it. The
loader checks every item for meaning (the question is a valid record, the resolution follows
the rules) so that a mislabelled item is caught where it is written, not in a figure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from debate.errors import DataError
from debate.records import Question
from debate.storage import read_lines

CORPUS_DIR = Path(__file__).resolve().parents[2] / "tests" / "reading"
SPECIALS = ("Agree", "Disagree", "NONE")


class ContextTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1)
    text: str
    #: The answer this turn's speaker held after it (resolved); None when it held none.
    answer: str | None = None


class CorpusItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    source: Literal["smollm2", "written"]
    style: Literal["smollm2", "llama3", "mistral", "qwen"]
    #: "dev": the readers' rules were tuned on it; "heldout": written after the rules were fixed.
    split: Literal["dev", "heldout"] = "dev"
    tags: list[str] = Field(default_factory=list)
    question: Question
    context: list[ContextTurn] = Field(default_factory=list)
    speaker: str = Field(min_length=1)
    reply: str
    asserted: str = Field(min_length=1)
    resolved: str | None
    correct: bool
    also: list[str] = Field(default_factory=list)

    @property
    def category(self) -> str:
        """answer / Agree / Disagree / NONE: what kind of read the reply calls for."""
        return self.asserted if self.asserted in SPECIALS else "answer"

    def own_previous(self) -> str | None:
        return next((t.answer for t in reversed(self.context) if t.speaker == self.speaker), None)

    def other_current(self) -> str | None:
        return next((t.answer for t in reversed(self.context) if t.speaker != self.speaker), None)

    @model_validator(mode="after")
    def _check(self) -> CorpusItem:
        if self.speaker == "user":
            raise ValueError("the reply's speaker cannot be 'user'")
        if any(t.speaker == "user" and t.answer is not None for t in self.context):
            raise ValueError("a 'user' context turn holds no answer")
        expected = {"Agree": self.other_current(), "Disagree": self.own_previous(), "NONE": None}
        if self.asserted in expected and self.resolved != expected[self.asserted]:
            raise ValueError(f"asserted {self.asserted} resolves to {expected[self.asserted]!r} "
                             f"by the context, not {self.resolved!r}")
        if self.asserted not in SPECIALS and self.resolved != self.asserted:
            raise ValueError("an asserted answer is its own resolution: 'resolved' must equal 'asserted'")
        if self.resolved is None and self.correct:
            raise ValueError("no resolved answer cannot be correct")
        if self.question.kind == "yes-no" and self.resolved not in (None, "yes", "no"):
            raise ValueError("a yes-no question resolves to 'yes', 'no' or null")
        if self.question.kind == "multiple-choice" and self.resolved not in (None, *self.question.options):
            raise ValueError("a multiple-choice question resolves to one of its options (exact text) or null")
        return self


def load_corpus(paths: list[Path] | None = None) -> list[CorpusItem]:
    """Every item of the corpus files (default: all of tests/reading/*.jsonl); ids are unique."""
    paths = paths if paths is not None else sorted(CORPUS_DIR.glob("*.jsonl"))
    items: list[CorpusItem] = []
    seen: set[str] = set()
    for path in paths:
        for item in _items(path):
            if item.id in seen:
                raise DataError(f"duplicate item id '{item.id}'", file=str(path))
            seen.add(item.id)
            items.append(item)
    return items


def _items(path: Path) -> Iterator[CorpusItem]:
    for number, text in read_lines(path):
        if not text.strip():
            continue
        try:
            yield CorpusItem.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise DataError(f"not JSON: {exc.msg}", file=str(path), line=number) from None
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or None
            raise DataError(error["msg"], file=str(path), line=number, field=field) from None
