"""Question sources: the bundled sample set, JSONL question files, the Farm files, and
TriviaQA / StrategyQA through `datasets` (when the user has them).

Every file problem is a `DataError` naming the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from debate.errors import DataError
from debate.grading import normalize
from debate.records import Question
from debate.storage import parse_json, read_lines

SAMPLE_SET = "sample"
#: Open questions for generating training trees, disjoint from the sample set the evaluations use.
TRAIN_SET = "sample-train"


def _field_of(error: ErrorDetails) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    return ".".join(loc) if loc else "(record)"


def _explain(error: ErrorDetails) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "missing (required)"
    if kind == "extra_forbidden":
        return "unknown field (not in the question schema)"
    return str(error.get("msg", "invalid")).replace("Value error, ", "")


#: A question is a few KB: a longer line is a runaway (a whole corpus on one line, a binary file).
MAX_RECORD_BYTES = 1 << 20


def parse_questions(path: str | Path, rows: Iterable[tuple[int, str]] | None = None) -> list[Question]:
    """Read a JSONL question file (schema: `debate.records.Question`), checking every line."""
    path = Path(path)
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    if rows is None:
        rows = read_lines(path, max_bytes=MAX_RECORD_BYTES, record="question record")
    for number, line in rows:
        if not line.strip():
            continue
        obj = parse_json(line, str(path), number)
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=str(path), line=number)
        try:
            question = Question.model_validate(obj)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise DataError(_explain(err), file=str(path), line=number, field=_field_of(err)) from None
        if question.id in first_line:
            raise DataError(f"duplicate id '{question.id}' (first on line {first_line[question.id]})",
                            file=str(path), line=number, field="id")
        first_line[question.id] = number
        questions.append(question)
    if not questions:
        raise DataError("no questions (empty file)", file=str(path))
    return questions


def sample_questions(kind: str | None = None, *, file: str = "questions.jsonl") -> list[Question]:
    """A bundled set, written for this project: the sample set (open, yes-no and multiple-choice)
    or, with file="train_questions.jsonl", the open questions kept for training trees."""
    resource = resources.files("debate") / "samples" / file
    text = resource.read_text(encoding="utf-8")
    questions = parse_questions(f"debate/samples/{file}", enumerate(text.split("\n"), 1))
    return [q for q in questions if kind is None or q.kind == kind]


FARM_SUBSETS = {"boolq": "Boolq.jsonl", "nq1": "NQ1.jsonl", "nq2": "NQ2.jsonl", "truthfulqa": "TruthfulQA.jsonl"}
Appeal = Literal["logical", "credibility", "emotional"]
APPEAL_KINDS: tuple[str, ...] = get_args(Appeal)


def _said(text: Any) -> str:
    """An option's text normalised: '' for an empty option (or one that is not text)."""
    return normalize(text) if isinstance(text, str) else ""


def _farm_question(subset: str, index: int, obj: dict[str, Any]) -> Question:
    adv = obj["adv"]
    metadata = {
        "subset": subset,
        "target": adv["target"],
        "control": adv["control"],
        "appeals": {kind: list(adv[kind]) for kind in APPEAL_KINDS},
    }
    qid = f"farm-{subset}-{index:04d}"
    if subset == "boolq":
        answer = "yes" if obj["answer"] else "no"
        metadata["passage"] = obj.get("source", "")
        return Question(id=qid, text=obj["question"], gold=[answer], kind="yes-no",
                        wrong_answers=["no" if answer == "yes" else "yes"], source="farm", metadata=metadata)
    # NQ1, NQ2, TruthfulQA: options scored 1 = correct, 0 = wrong, 2 = the planted distractor.
    mcq = adv["mcq"]
    options = [m["text"] for m in mcq]
    # A few options are empty, and one is scored both right and wrong ("Unknown"): neither can be a
    # gold or a wrong answer (a question rejects both), but they stay options.
    gold = [m["text"] for m in mcq if m["score"] == 1 and _said(m["text"])]
    taken = {"", *map(_said, gold)}
    wrong = [m["text"] for score in (2, 0) for m in mcq if m["score"] == score and _said(m["text"]) not in taken]
    metadata["option_scores"] = [m["score"] for m in mcq]
    return Question(id=qid, text=obj["question"], gold=gold, kind="multiple-choice", options=options,
                    wrong_answers=wrong, source="farm", metadata=metadata)


def load_farm(folder: str | Path, subsets: Iterable[str] = tuple(FARM_SUBSETS)) -> list[Question]:
    """The Farm misinformation questions (PBT.md 8.1) from a folder holding its 4 JSONL files."""
    folder = Path(folder)
    questions: list[Question] = []
    for subset in subsets:
        if subset not in FARM_SUBSETS:
            raise DataError(f"unknown Farm subset '{subset}' (expected one of {', '.join(FARM_SUBSETS)})")
        path = folder / FARM_SUBSETS[subset]
        for number, line in read_lines(path, max_bytes=MAX_RECORD_BYTES, record="Farm record"):
            if not line.strip():
                continue
            obj = parse_json(line, str(path), number, finite=False)  # Farm's TruthfulQA has "source": NaN
            try:
                questions.append(_farm_question(subset, len(questions), obj))
            except (KeyError, TypeError) as exc:
                raise DataError(f"not a Farm record (missing {exc})", file=str(path), line=number) from None
            except ValidationError as exc:
                err = exc.errors()[0]
                raise DataError(_explain(err), file=str(path), line=number, field=_field_of(err)) from None
    return questions


def load_hf_dataset(name: str, split: str = "validation", limit: int | None = None) -> list[Question]:
    """TriviaQA (rc.nocontext) or StrategyQA through `datasets`; needs the user's own access."""
    try:
        import datasets  # heavy, optional
    except ImportError:
        raise DataError("loading TriviaQA / StrategyQA needs the 'datasets' package (pip install '.[train]')") from None
    try:
        if name == "triviaqa":
            rows = datasets.load_dataset("mandarjoshi/trivia_qa", "rc.nocontext", split=split)
        elif name == "strategyqa":
            rows = datasets.load_dataset("ChilleD/StrategyQA", split=split)
        else:
            raise DataError(f"unknown dataset '{name}' (expected triviaqa or strategyqa)")
    except DataError:
        raise
    except Exception as exc:  # datasets raises many types for offline / missing / gated
        raise DataError(f"cannot load dataset '{name}': {str(exc).splitlines()[0]}") from None
    questions: list[Question] = []
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            break
        if name == "triviaqa":
            answer = row["answer"]
            # An alias of only articles and punctuation ("The The", a band) could match no answer.
            aliases = [a for a in dict.fromkeys([answer["value"], *answer.get("aliases", [])]) if normalize(a)]
            if aliases:
                questions.append(Question(id=str(row["question_id"]), text=row["question"], gold=aliases,
                                          source="triviaqa"))
        else:
            gold = "yes" if row["answer"] else "no"
            facts = row.get("facts") or []
            questions.append(Question(id=str(row.get("qid", i)), text=row["question"], gold=[gold],
                                      kind="yes-no", wrong_answers=["no" if gold == "yes" else "yes"],
                                      context=" ".join(facts) or None, source="strategyqa"))
    return questions


def load_questions(source: str, limit: int | None = None) -> list[Question]:
    """Questions from a source name: 'sample', 'sample:open', 'sample-train', 'farm:FOLDER',
    'hf:triviaqa', or a JSONL path."""
    if source == TRAIN_SET:
        questions = sample_questions(file="train_questions.jsonl")
    elif source == SAMPLE_SET or source.startswith(SAMPLE_SET + ":"):
        kind = source.split(":", 1)[1] if ":" in source else None
        if kind not in (None, "open", "yes-no", "multiple-choice"):
            raise DataError(f"unknown sample kind '{kind}' (expected open, yes-no or multiple-choice)")
        questions = sample_questions(kind)
    elif source.startswith("farm:"):
        questions = load_farm(source[len("farm:"):])
    elif source.startswith("hf:"):
        questions = load_hf_dataset(source[len("hf:"):], limit=limit)
    else:
        questions = parse_questions(source)
    return questions[:limit] if limit is not None else questions
