"""`debate prefs`: dialogue trees in, PBT preference data out (files, card, benchmark prefixes).

```
OUT/train.jsonl                 the condition's preference records (TRL conversational format)
OUT/sft_train.jsonl             the same prompts with the chosen reply (SFT warm-up)
OUT/dev.jsonl, OUT/test.jsonl   balanced preference records of the held-out questions
OUT/balanced-{dev,test}.trees.jsonl   the same items as dialogue prefixes (`debate eval balanced`)
OUT/card.json, OUT/README.md    counts by label, split and source model
OUT/parquet/*.parquet, OUT/hf/  with --format parquet / hf (datasets.save_to_disk)
```
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.registry import check_spec, close_all, load_model
from debate.errors import DataError, UserError
from debate.storage import atomic_write_json, atomic_write_jsonl, atomic_write_text, check_folder_path
from debate.tree import iter_trees
from training.datasets import (CONDITIONS, Condition, PreferenceExample, Verdicts, balanced_items, benchmark_prefix,
                               card, condition, dedupe, preference_example, split_by_question)
from training.judge import confirm_labels
from training.pairs import mine_pairs

FORMATS = ("jsonl", "parquet", "hf")
#: What `debate prefs` writes; card.json, written last, marks a complete folder.
CARD = "card.json"
PREFS_FORMAT = "debate-prefs"
_OUTPUTS = ("train.jsonl", "sft_train.jsonl", "dev.jsonl", "test.jsonl", "balanced-dev.trees.jsonl",
            "balanced-test.trees.jsonl", "README.md", CARD, "parquet", "hf", ".lock")


class PrefsConfig(BaseModel):
    """How preference data is made from trees (`debate prefs`, and the data stage of `debate pbt`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    condition: Condition = Field(default="balanced", description="balanced (PBT), resist, accept or all.")
    threshold: float = Field(default=0.5, description="Keep sibling pairs whose score gap is at least this "
                             "share of the larger score.")
    strict: bool = Field(default=False, description="Require a gap strictly above the threshold (the reference "
                         "code's rule).")
    persuasion_only: bool = Field(default=True, description="Label only the persuadee's replies to a persuasion "
                                  "turn (the reference's rule); otherwise also replies to the other agent's "
                                  "independent answer.")
    seed: int = Field(default=0, description="Seed of the split and of the trimming.")
    formats: tuple[str, ...] = Field(default=("jsonl",), description="jsonl (always), parquet, hf.")
    judge: str | None = Field(default=None, description="Model spec of a judge that must confirm each label "
                              "(the chosen and rejected replies' agree / disagree stance); unconfirmed pairs "
                              "lose their label.")

    @field_validator("condition", mode="before")
    @classmethod
    def _known_condition(cls, value: object) -> object:
        if value not in CONDITIONS:
            raise ValueError(f"unknown condition '{value}' (expected one of {', '.join(CONDITIONS)})")
        return value

    @field_validator("threshold")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError("must be in (0, 1]")
        return value

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown format '{unknown[0]}' (expected one of {', '.join(FORMATS)})")
        return tuple(dict.fromkeys(["jsonl", *value]))


def build_preferences(trees_paths: str | Path | Sequence[str | Path], out: str | Path,
                      config: PrefsConfig | None = None) -> dict[str, Any]:
    """Mine, label (and optionally judge) the pairs of one or more tree files, then write the data."""
    config = config or PrefsConfig()
    paths = [trees_paths] if isinstance(trees_paths, (str, Path)) else list(trees_paths)
    if config.judge is not None:
        check_spec(config.judge)
    out = Path(out)
    _check_folder(out)  # before the trees are read
    # Trees are known by (file, id): passes over the same questions reuse tree ids.
    mined, sources, trees = [], [], {}
    for path in paths:
        for tree in iter_trees(path):
            for pair in mine_pairs(tree, threshold=config.threshold, strict=config.strict,
                                    persuasion_only=config.persuasion_only):
                if pair.label is not None or config.condition == "all":
                    mined.append((tree, pair))
                    sources.append(str(path))
                    trees[str(path), tree.tree_id] = tree
    if not mined:
        raise DataError("no preference pairs in these trees (every sibling pair was skipped)",
                        file=", ".join(map(str, paths)))
    verdicts: list[Verdicts | None] = [None] * len(mined)
    if config.judge is not None:
        try:
            judged = confirm_labels(mined, load_model(config.judge))
        finally:
            close_all()
        mined = [(tree, pair) for (tree, _), (pair, _) in zip(mined, judged, strict=True)]
        verdicts = [v for _, v in judged]
    examples: list[PreferenceExample] = [
        preference_example(tree, pair, trees_file=source, judge=verdict)
        for (tree, pair), source, verdict in zip(mined, sources, verdicts, strict=True)
        if pair.label is not None or config.condition == "all"]
    splits = split_by_question(dedupe(examples), seed=config.seed)
    train = condition(splits["train"], config.condition, seed=config.seed)
    held_out = {name: balanced_items(splits[name], seed=config.seed) for name in ("dev", "test")}
    summary = card(splits, train, config.condition)
    summary.update({"threshold": config.threshold, "strict": config.strict,
                    "persuasion_only": config.persuasion_only, "seed": config.seed,
                    "trees": [str(p) for p in paths],
                    "judge": config.judge,
                    "benchmark": {name: len(items) for name, items in held_out.items()}})
    prefixes = {name: [benchmark_prefix(trees[str(e.source.trees_file), e.source.tree_id], e) for e in items]
                for name, items in held_out.items()}
    with _output_folder(out):
        atomic_write_jsonl(out / "train.jsonl", [e.to_json() for e in train])
        atomic_write_jsonl(out / "sft_train.jsonl", [e.to_sft() for e in train])
        for name, items in held_out.items():
            atomic_write_jsonl(out / f"{name}.jsonl", [e.to_json() for e in items])
            atomic_write_text(out / f"balanced-{name}.trees.jsonl", "".join(t.to_json() + "\n" for t in prefixes[name]))
        if "parquet" in config.formats or "hf" in config.formats:
            rows = {name: [e.to_json() for e in split] for name, split in {"train": train, **held_out}.items()}
            _write_datasets(out, rows, config.formats)
        atomic_write_text(out / "README.md", _card_markdown(summary))
        atomic_write_json(out / CARD, {"format": PREFS_FORMAT, **summary})  # last: the folder is complete
    return summary


def is_complete(folder: Path) -> bool:
    """Did `debate prefs` finish writing this folder?"""
    try:
        card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(card, dict) and card.get("format") == PREFS_FORMAT


@contextlib.contextmanager
def _output_folder(out: Path) -> Iterator[None]:
    """Hold the folder for writing: take its lock, and mark it incomplete (no card) until the
    caller has written everything."""
    _check_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = os.open(out / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise UserError(f"cannot write here: {exc.strerror}", file=str(out)) from None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError("another `debate prefs` is writing to this folder", file=str(out)) from None
        for stale in out.iterdir():  # left by a run that was killed mid-write
            if _our_temp(stale.name):
                stale.unlink()
        (out / CARD).unlink(missing_ok=True)
        yield
    finally:
        os.close(lock)


def _check_folder(out: Path) -> None:
    """Refuse a folder that holds anything `debate prefs` did not write, or links in its place."""
    check_folder_path(out)
    if out.is_dir():
        foreign = [p.name for p in out.iterdir() if p.name not in _OUTPUTS and not _our_temp(p.name)]
        if foreign:
            raise UserError(f"holds {foreign[0]}, which `debate prefs` did not write; choose a new or empty folder",
                            file=str(out))
        linked = [p.name for p in out.iterdir() if p.is_symlink()]
        if linked:
            raise UserError(f"{linked[0]} is a symbolic link; refusing to write through it", file=str(out))


def _our_temp(name: str) -> bool:
    return name.endswith(".tmp") and any(name.startswith(f".{output}.") for output in _OUTPUTS)


def _write_datasets(out: Path, splits: dict[str, list[dict[str, Any]]], formats: tuple[str, ...]) -> None:
    try:
        import datasets  # heavy: only when asked for
    except ImportError:
        raise UserError("parquet and hf output need the 'datasets' package: pip install '.[train]'") from None
    datasets.disable_progress_bars()
    flat = {name: datasets.Dataset.from_list([{**r, "provenance": json.dumps(r["provenance"])} for r in rows])
            for name, rows in splits.items() if rows}
    if "parquet" in formats:
        (out / "parquet").mkdir(parents=True, exist_ok=True)
        for name, dataset in flat.items():
            dataset.to_parquet(str(out / "parquet" / f"{name}.parquet"))
    if "hf" in formats:
        datasets.DatasetDict(flat).save_to_disk(str(out / "hf"))


def _card_markdown(summary: dict[str, Any]) -> str:
    sources = ", ".join(f"`{t}`" for t in summary["trees"])
    judged = f", labels confirmed by the judge `{summary['judge']}`" if summary["judge"] else ""
    lines = [f"# PBT preference data ({summary['condition']})", "",
             f"From {sources}, threshold {summary['threshold']}{' (strict)' if summary['strict'] else ''}, "
             f"seed {summary['seed']}{judged}.", "",
             "| split | questions | resist | accept | unlabelled |", "|---|---|---|---|---|"]
    for name, counts in summary["pairs_by_split"].items():
        lines.append(f"| {name} | {summary['questions_by_split'][name]} | {counts.get('resist', 0)} | "
                     f"{counts.get('accept', 0)} | {counts.get('unlabelled', 0)} |")
    lines += ["", f"Training records ({summary['condition']}): {summary['train']['records']} "
              f"{summary['train']['by_label']}.",
              f"Balanced benchmark: dev {summary['benchmark']['dev']}, test {summary['benchmark']['test']} items.",
              f"Source models: {summary['source_models']}.", ""]
    return "\n".join(lines)
