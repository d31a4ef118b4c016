"""PBT end to end with a real model on a CPU (`debate pbt`).

1. **Base model**: the bundled SmolLM2-135M-Instruct GGUF converted to a transformers folder.
2. **Trees**: PBT trees (1-2-6-12, temperature 0.7) from SmolLM2 served by llama.cpp on the
   training questions (`sample-train`, disjoint from the evaluation questions). The same model is
   its own partner, so the two strengths come from information: on half the questions A reads
   the question's context passage, on the other half B does. An informed speaker pushing the
   right answer gives accept pairs; an uninformed one pushing a wrong answer at an informed
   listener gives resist pairs.
3. **Data**: the pooled trees -> pairs -> accept-only, resist-only and balanced (PBT) training
   sets, all with the same split by question, so the three share one dev and one test set.
4. **Training**: SFT then DPO with LoRA for each condition, checkpoints chosen by balanced
   accuracy on dev.
5. **Evaluation**, base vs accept-only vs resist-only vs PBT, all through transformers with
   the same float32 weights: balanced persuasion on the test split, "Are you sure?" on the
   sample open questions, and Farm misinformation when the Farm data is present.

Every stage is resumable: run the same command again and finished stages are skipped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.text import Text

from agents.registry import close_all
from debate.errors import DataError, UserError
from debate.data import load_questions
from debate.storage import atomic_write_json, atomic_write_jsonl, atomic_write_text, check_folder_path
from experiments.evaluations import (COUNTED, EvaluationConfig, EvaluationReport, farm_folder, farm_questions,
                                     figures, run_evaluation)
from protocols.config import parse_config
from protocols.run import execute
from training.datasets import Condition
from training.trainer import TrainConfig

CONDITIONS: tuple[Condition, ...] = ("accept", "resist", "balanced")
NAMES = {"base": "base", "accept": "accept-only", "resist": "resist-only", "balanced": "PBT (balanced)"}


class PBTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The base model: 'smollm2' (the bundled GGUF), a GGUF file, or a transformers folder.
    base_model: str = "smollm2"
    #: The tree agents' model specs (the same model by default: strengths differ by information).
    tree_a: str = "gguf:smollm2"
    tree_b: str = "gguf:smollm2"
    questions: str = "sample-train"
    limit: int | None = Field(default=None, ge=1)
    tree_temperature: float = Field(default=0.7, ge=0)
    tree_max_tokens: int = Field(default=64, ge=8)
    #: Tree passes over the questions, each with its own seed (more pairs from the same questions;
    #: a question's pairs from every pass fall in the same split).
    tree_passes: int = Field(default=1, ge=1)
    seed: int = 0
    #: SFT and DPO settings: the paper's recipe scaled down to minutes on a CPU.
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(sft_steps=30, dpo_steps=20, save_steps=10,
                                                                   max_length=768, eval_max_tokens=48))
    eval_questions: str = "sample:open"
    eval_limit: int | None = Field(default=None, ge=1)
    farm: str | None = None
    farm_limit: int = Field(default=25, ge=1)


def pbt_farm(given: str | Path | None) -> str | None:
    """The Farm folder PBT evaluates on: the one given, which must exist, else the default
    (`farm_folder()`) when it exists; None skips the Farm evaluation."""
    folder = farm_folder(given)
    if given is not None and not folder.is_dir():
        raise UserError("no such folder", file=str(given), field="--farm")
    return str(folder) if folder.is_dir() else None


def _stage(console: Console | None, text: str) -> None:
    if console is not None:
        console.print(Text.assemble(("pbt", "bold"), " ", text))


def _trees(config: PBTConfig, out: Path, console: Console | None, progress: bool) -> list[Path]:
    """Trees for every question, A informed on the even ones and B on the odd ones (one run each
    per pass)."""
    questions = load_questions(config.questions, config.limit)
    files = []
    for informed, share in (("A", questions[0::2]), ("B", questions[1::2])):
        agents = {name: {"model": spec, "temperature": config.tree_temperature, "max_tokens": config.tree_max_tokens,
                         "informed": name == informed} for name, spec in (("A", config.tree_a), ("B", config.tree_b))}
        source = atomic_write_jsonl(out / f"questions-{informed}-informed.jsonl", share)
        for extra in range(config.tree_passes):
            run = parse_config({"protocol": {"kind": "tree"}, "questions": str(source), "seed": config.seed + extra,
                                "agents": agents}, "debate pbt")
            folder = out / (f"trees-{informed}-informed" + (f"-pass{extra + 1}" if extra else ""))
            result = execute(run, folder, console=console, progress=progress)
            if result.failed:
                raise DataError(f"{result.failed} trees failed; re-run to retry them",
                                file=str(result.out / "failed.jsonl"))
            files.append(result.out / "trees.jsonl")
    return files


def run_pbt(config: PBTConfig, out: str | Path, *, console: Console | None = None,
            progress: bool = True) -> dict[str, Any]:
    from training.build import PrefsConfig, build_preferences
    from training.convert import convert_gguf
    from training.trainer import train

    out = check_folder_path(out)  # before minutes of conversion
    # Wall time per stage, summed over invocations (a resumed stage adds what it still had to do).
    timings_file = out / "timings.json"
    timings: dict[str, float] = json.loads(timings_file.read_text()) if timings_file.is_file() else {}

    def timed(name: str, started: float) -> None:
        timings[name] = round(timings.get(name, 0.0) + time.monotonic() - started, 1)
        atomic_write_json(timings_file, timings)

    started = time.monotonic()
    if (Path(config.base_model) / "config.json").is_file():
        base = Path(config.base_model)
    else:
        _stage(console, f"converting {config.base_model} (GGUF) to a transformers folder")
        base = convert_gguf(config.base_model, out / "base-hf")
    timed("convert", started)

    started = time.monotonic()
    _stage(console, f"trees from {config.tree_a} and {config.tree_b}, A informed on half the questions, B on the rest")
    tree_files = _trees(config, out, console, progress)
    close_all()
    timed("trees", started)

    started = time.monotonic()
    cards = {}
    for condition in CONDITIONS:
        cards[condition] = build_preferences(tree_files, out / f"data-{condition}",
                                             PrefsConfig(condition=condition, seed=config.seed))
    timed("prefs", started)
    _stage(console, f"pairs by split: {json.dumps(cards['balanced']['pairs_by_split'])}")

    models = {"base": base}
    train_config = config.train.model_copy(update={"seed": config.seed})
    training = {}
    for condition in CONDITIONS:
        started = time.monotonic()
        _stage(console, f"training {NAMES[condition]} ({cards[condition]['train']['records']} records)")
        folder = out / f"model-{condition}"
        done = folder / "training.json"
        if done.is_file():
            training[condition] = json.loads(done.read_text())
            if training[condition]["config"] != train_config.model_dump():
                raise UserError("was trained with other settings: give another --out, or the same settings",
                                file=str(folder))
        else:
            training[condition] = train(base, out / f"data-{condition}", folder, train_config)
        models[condition] = folder / "merged"
        timed(f"train-{condition}", started)

    specs = {name: f"hf:{path}" for name, path in models.items()}
    evaluations = {"balanced": str(out / "data-balanced" / "balanced-test.trees.jsonl"),
                   "ays": config.eval_questions}
    if config.farm is not None:
        evaluations["farm"] = str(farm_questions(config.farm, out / "eval-farm", config.farm_limit))
    reports = {}
    for evaluation, questions in evaluations.items():
        started = time.monotonic()
        _stage(console, f"evaluating {evaluation}")
        limit = config.eval_limit if evaluation == "ays" else None
        settings = EvaluationConfig(evaluation=evaluation, models=list(specs.values()), questions=questions,
                                    limit=limit, seed=config.seed, max_tokens=config.train.eval_max_tokens)
        reports[evaluation] = run_evaluation(settings, out / f"eval-{evaluation}", console=console,
                                             progress=progress)
        close_all()
        timed(f"eval-{evaluation}", started)

    report = {"config": config.model_dump(), "models": {name: str(path) for name, path in models.items()},
              "cards": cards, "training": {c: {k: training[c].get(k) for k in ("best_step", "checkpoint_scores",
                                                                              "sft_loss", "dpo_loss")}
                                           for c in CONDITIONS},
              "evaluations": {e: _rows(r, specs) for e, r in reports.items()}, "timings_s": timings}
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", report_markdown(report))
    return report


def _rows(report: EvaluationReport, specs: dict[str, str]) -> dict[str, Any]:
    """Each model's figures, and the count they rest on (`COUNTED`)."""
    columns, rows = figures(report)
    return {"columns": columns, "rows": {name: rows[spec] for name, spec in specs.items()},
            "n": {name: report.count(spec) for name, spec in specs.items()}, "n_of": COUNTED[report.evaluation]}


def report_markdown(report: dict[str, Any]) -> str:
    """One table per evaluation (percentages), then the pair counts and the timings."""
    lines = ["# PBT end to end: SmolLM2-135M-Instruct on a CPU", ""]
    for evaluation, table in report["evaluations"].items():
        lines += [f"## {evaluation} (%)", "", "| model | " + " | ".join(table["columns"]) + f" | n ({table['n_of']}) |",
                  "|---|" + "---|" * (len(table["columns"]) + 1)]
        for name, values in table["rows"].items():
            cells = ["-" if v is None else f"{100 * v:.1f}" for v in values]
            lines.append(f"| {NAMES[name]} | " + " | ".join(cells) + f" | {table['n'][name]} |")
        lines.append("")
    card = report["cards"]["balanced"]
    lines += ["## Pairs (all splits)", "", "| split | resist | accept | unlabelled |", "|---|---|---|---|"]
    for split, counts in card["pairs_by_split"].items():
        lines.append(f"| {split} | {counts.get('resist', 0)} | {counts.get('accept', 0)} | "
                     f"{counts.get('unlabelled', 0)} |")
    lines += ["", "Training records: " + ", ".join(f"{NAMES[c]} {report['cards'][c]['train']['records']}"
                                                  for c in CONDITIONS) + ".", "",
              "Wall time (s, summed over resumed invocations): "
              + ", ".join(f"{k} {v}" for k, v in report["timings_s"].items())
              + f"; total {sum(report['timings_s'].values()):.0f}.", ""]
    return "\n".join(lines)
