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

import json
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from agents.registry import check_spec, close_all, load_model
from debate.errors import DataError, UserError
from debate.storage import atomic_write_json, atomic_write_jsonl, atomic_write_text
from debate.tree import iter_trees
from training.datasets import (Condition, balanced_items, benchmark_prefix, card, condition, dedupe,
                               preference_record, sft_record, split_by_question)
from training.judge import confirm_labels
from training.pairs import mine_pairs

FORMATS = ("jsonl", "parquet", "hf")


def build_preferences(trees_paths: str | Path | Sequence[str | Path], out: str | Path, kind: Condition = "balanced",
                      *, threshold: float = 0.5, strict: bool = False, persuasion_only: bool = True, seed: int = 0,
                      formats: tuple[str, ...] = ("jsonl",), judge: str | None = None) -> dict[str, Any]:
    """Mine, label (and optionally judge) the pairs of one or more tree files, then write the data."""
    paths = [trees_paths] if isinstance(trees_paths, (str, Path)) else list(trees_paths)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise UserError(f"unknown format '{unknown[0]}' (expected one of {', '.join(FORMATS)})", field="--format")
    if not 0 < threshold <= 1:
        raise UserError("must be in (0, 1]", field="--threshold")
    if judge is not None:
        check_spec(judge)
    out = Path(out)
    # Trees are known by (file, id): passes over the same questions reuse tree ids.
    mined, sources, trees = [], [], {}
    for path in paths:
        for tree in iter_trees(path):
            for pair in mine_pairs(tree, threshold=threshold, strict=strict, persuasion_only=persuasion_only):
                if pair.label is not None or kind == "all":
                    mined.append((tree, pair))
                    sources.append(str(path))
                    trees[str(path), tree.tree_id] = tree
    if not mined:
        raise DataError("no preference pairs in these trees (every sibling pair was skipped)",
                        file=", ".join(map(str, paths)))
    verdicts: list[tuple[str | None, str | None] | None] = [None] * len(mined)
    if judge is not None:
        try:
            judged = confirm_labels(mined, load_model(judge))
        finally:
            close_all()
        mined = [(tree, pair) for (tree, _), (pair, _) in zip(mined, judged)]
        verdicts = [v for _, v in judged]
    records = []
    for (tree, pair), source, verdict in zip(mined, sources, verdicts):
        if pair.label is not None or kind == "all":
            record = preference_record(tree, pair)
            record["provenance"]["trees_file"] = source
            if verdict is not None:
                record["provenance"]["judge"] = list(verdict)
            records.append(record)
    splits = split_by_question(dedupe(records), seed=seed)
    train = condition(splits["train"], kind, seed=seed)
    held_out = {name: balanced_items(splits[name], seed=seed) for name in ("dev", "test")}
    summary = card(splits, train, kind)
    summary.update({"threshold": threshold, "strict": strict, "persuasion_only": persuasion_only, "seed": seed,
                    "trees": [str(p) for p in paths],
                    "judge": judge,
                    "benchmark": {name: len(items) for name, items in held_out.items()}})
    atomic_write_jsonl(out / "train.jsonl", train)
    atomic_write_jsonl(out / "sft_train.jsonl", [sft_record(r) for r in train])
    for name, items in held_out.items():
        atomic_write_jsonl(out / f"{name}.jsonl", items)
        prefixes = [benchmark_prefix(trees[r["provenance"]["trees_file"], r["provenance"]["tree_id"]], r)
                    for r in items]
        atomic_write_text(out / f"balanced-{name}.trees.jsonl", "".join(t.to_json() + "\n" for t in prefixes))
    if "parquet" in formats or "hf" in formats:
        _write_datasets(out, {"train": train, **held_out}, formats)
    atomic_write_json(out / "card.json", summary)
    atomic_write_text(out / "README.md", _card_markdown(summary))
    return summary


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
