"""The three persuasion evaluations (PBT.md 8.1-8.3) for several models at once.

- `farm`: the Farm misinformation protocol; MR@1..4 per subset and their mean (lower is better).
- `ays`: "Are you sure?"; accuracy before and after the challenge, and the difference.
- `balanced`: each model continues the stored dialogues of a balanced split once; accuracy on
  the resist half (+ -> -), the accept half (- -> +), and overall.

Each model's evaluation is an ordinary resumable run directory under `OUT/<model>/`; the
comparison is saved as `OUT/report.json` and plotted as `OUT/<evaluation>.png`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from debate.data import FARM_SUBSETS, load_farm
from debate.errors import DataError, UserError
from debate.storage import atomic_write_json, atomic_write_jsonl, path_part, read_lines
from debate.tree import DialogueTree
from protocols.base import Record
from protocols.challenge import ChallengeSummary
from protocols.config import RunConfig, parse_config
from protocols.misinformation import MisinformationSummary
from protocols.replay import ReplaySummary
from protocols.run import execute

EVALUATIONS = ("farm", "ays", "balanced")
LABELS = ("resist", "accept")
#: The summary field each evaluation's figures rest on (dialogues, questions, or for Farm the
#: questions a model first answered right).
COUNTED = {"balanced": "continuations", "ays": "questions", "farm": "initially_correct"}


class EvaluationReport(BaseModel):
    """OUT/report.json: each model's summary, by spec."""

    model_config = ConfigDict(extra="forbid")

    evaluation: str
    questions: str
    limit: int | None
    appeal: str | None
    models: dict[str, SerializeAsAny[Record]]

    def count(self, spec: str) -> int:
        return getattr(self.models[spec], COUNTED[self.evaluation])


def model_dir(out: Path, spec: str) -> Path:
    """A model's run folder: its spec as a safe name (specs that differ only in options get two)."""
    return out / path_part(spec)


FARM_QUESTIONS = "farm-questions.jsonl"


def farm_questions(folder: str | Path, out: Path, per_subset: int | None) -> Path:
    """The Farm questions used (the first `per_subset` of each subset), saved beside the results."""
    chosen = [q for subset in FARM_SUBSETS for q in load_farm(folder, [subset])[:per_subset]]
    return atomic_write_jsonl(out / FARM_QUESTIONS, chosen)


def check_balanced_split(path: str | Path) -> int:
    """Count the dialogues of a balanced split, refusing a file whose records are not labelled."""
    count = 0
    for number, line in read_lines(Path(path)):
        if not line.strip():
            continue
        tree = DialogueTree.from_json(line, source=str(path), line=number)
        if tree.metadata.get("label") not in LABELS:
            raise DataError(f"not a balanced-split record (label {tree.metadata.get('label')!r}, expected "
                            f"one of {', '.join(LABELS)})", file=str(path), line=number, field="metadata.label")
        count += 1
    if not count:
        raise DataError("no dialogues in the balanced split", file=str(path))
    return count


def protocol_for(evaluation: str, appeal: str) -> dict[str, Any]:
    if evaluation == "farm":
        return {"kind": "misinformation", "appeal": appeal}
    if evaluation == "ays":
        return {"kind": "challenge"}
    return {"kind": "replay"}


class EvaluationConfig(BaseModel):
    """One evaluation of one or more models (`debate eval`, and the evaluations of `debate pbt`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation: str = Field(description="farm, ays or balanced.")
    models: list[str] = Field(description="The model specs to evaluate.")
    questions: str | None = Field(default=None, description="ays: a question source (default sample:open); "
                                  "farm: Farm questions; balanced: the split (a trees JSONL file).")
    limit: int | None = Field(default=None, ge=1, description="Use the first N questions.")
    appeal: str | None = Field(default=None, description="farm: logical (default), credibility or emotional.")
    seed: int = 0
    max_tokens: int = Field(default=64, ge=1, description="The most tokens a reply may have.")
    shard: str | None = Field(default=None, description="K/N: only the K-th of N shards of the questions.")
    scale: dict[str, Any] | None = Field(default=None, description="A `[scale]` table: each model's run on Ray.")

    def source(self) -> str:
        """The question source the runs read ("Are you sure?" defaults to the sample questions)."""
        if self.questions is not None:
            return self.questions
        if self.evaluation == "ays":
            return "sample:open"
        if self.evaluation == "balanced":
            raise UserError("give the balanced split: --questions SPLIT.jsonl", field="--questions")
        raise UserError("give the Farm questions: --questions FILE.jsonl", field="--questions")

    def runs(self) -> dict[str, RunConfig]:
        """One checked run config per model spec; nothing is loaded or written."""
        if self.evaluation not in EVALUATIONS:
            raise UserError(f"unknown evaluation '{self.evaluation}' (expected one of {', '.join(EVALUATIONS)})",
                            field="EVALUATION")
        if self.appeal is not None and self.evaluation != "farm":
            raise UserError(f"appeals are for the farm evaluation; {self.evaluation} has none", field="--appeal")
        if not self.models:
            raise UserError("name at least one model (--models SPEC)", field="--models")
        twice = next((spec for k, spec in enumerate(self.models) if spec in self.models[:k]), None)
        if twice is not None:
            raise UserError(f"model '{twice}' is named twice", field="--models")
        protocol = protocol_for(self.evaluation, self.appeal or "logical")
        return {spec: parse_config({"protocol": protocol, "questions": self.source(), "limit": self.limit,
                                    "seed": self.seed, "shard": self.shard, "scale": self.scale,
                                    "agents": {"model": {"model": spec, "max_tokens": self.max_tokens}}},
                                   f"debate eval {self.evaluation}") for spec in self.models}


def farm_folder(given: str | Path | None = None) -> Path:
    """The Farm data folder: the one given, else $DEBATE_FARM_DIR, else ../shared/data/farm."""
    return Path(given) if given is not None else Path(os.environ.get("DEBATE_FARM_DIR", "../shared/data/farm"))


def prepare_evaluation(config: EvaluationConfig, out: Path) -> EvaluationConfig:
    """The evaluation `debate eval` runs, its inputs checked. For farm, `config.questions` names
    the Farm folder (None: `farm_folder()`) and `limit` applies per subset: the chosen questions
    are written into `out` first, once every setting has been checked."""
    if config.evaluation == "farm":
        farm, per_subset = farm_folder(config.questions), config.limit
        config = config.model_copy(update={"questions": str(out / FARM_QUESTIONS), "limit": None})
        config.runs()
        farm_questions(farm, out, per_subset)
        return config
    config.runs()
    if config.evaluation == "balanced" and config.questions is not None:
        check_balanced_split(config.questions)
    return config


def run_evaluation(config: EvaluationConfig, out: str | Path, **execute_options: Any) -> EvaluationReport:
    """Evaluate every model spec; returns (and saves) each model's summary."""
    out = Path(out)
    summaries: dict[str, Record] = {}
    for spec, run in config.runs().items():
        summary = execute(run, model_dir(out, spec), **execute_options).summary
        assert summary is not None  # a finished run has one
        summaries[spec] = summary
    report = EvaluationReport(evaluation=config.evaluation, questions=config.source(), limit=config.limit,
                              appeal=(config.appeal or "logical") if config.evaluation == "farm" else None,
                              models=summaries)
    atomic_write_json(out / "report.json", report.model_dump(mode="json"))
    return report


def figures(report: EvaluationReport) -> tuple[list[str], dict[str, list[float | None]]]:
    """The columns an evaluation compares, and each model's values (fractions)."""
    rows: dict[str, list[float | None]] = {}
    if report.evaluation == "farm":
        farm = {spec: _as(MisinformationSummary, summary) for spec, summary in report.models.items()}
        subsets = sorted({s for rates in farm.values() for s in rates.per_subset})
        columns = [f"MR@4 {s}" for s in subsets] + ["MR@4 mean"]
        for spec, rates in farm.items():
            top = str(max(int(k) for k in rates.mr))
            rows[spec] = [rates.per_subset[s].mr[top] for s in subsets] + [rates.mr_subset_mean]
    elif report.evaluation == "ays":
        columns = ["before", "after", "difference"]
        for spec, summary in report.models.items():
            ays = _as(ChallengeSummary, summary)
            rows[spec] = [ays.accuracy_before, ays.accuracy_after, ays.difference]
    else:
        columns = ["+ -> - (resist)", "- -> + (accept)", "overall"]
        for spec, summary in report.models.items():
            balanced = _as(ReplaySummary, summary)
            by_label = balanced.accuracy_by_label
            rows[spec] = [by_label.get("resist"), by_label.get("accept"), balanced.accuracy]
    return columns, rows


S = TypeVar("S", bound=Record)


def _as(kind: type[S], summary: Record) -> S:
    assert isinstance(summary, kind), f"expected a {kind.__name__}, got a {type(summary).__name__}"
    return summary
