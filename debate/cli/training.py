"""`debate prefs`, `debate train`, `debate convert` and `debate pbt`: PBT data, training, and the
whole method end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from debate.cli.app import app, console, default, err_console, record
from debate.storage import check_folder_path
from experiments.evaluations import farm_folder
from experiments.pbt import PBTConfig, pbt_farm, run_pbt
from experiments.reports import checkpoints_table, pbt_tables, prefs_table
from training.build import PrefsConfig, build_preferences
from training.trainer import TrainConfig

_PBT_TRAIN: TrainConfig = default(PBTConfig, "train")


@app.command()
def prefs(
    trees_files: Annotated[list[Path], typer.Argument(metavar="TREES...", help="PBT trees (trees.jsonl files "
                                                      "from `debate tree`); several are pooled.")],
    out: Annotated[Path, typer.Option(help="Folder for the data, its card and the balanced benchmark.")],
    condition: Annotated[str, typer.Option(help="balanced (PBT), resist, accept or all.")] = (
        default(PrefsConfig, "condition")),
    threshold: Annotated[float, typer.Option(help="Keep sibling pairs whose score gap is at least this share "
                                                  "of the larger score.")] = default(PrefsConfig, "threshold"),
    strict: Annotated[bool, typer.Option(help="Require a gap strictly above the threshold (the reference "
                                              "code's rule).")] = default(PrefsConfig, "strict"),
    persuasion_only: Annotated[bool, typer.Option(help="Label only the persuadee's replies to a persuasion turn "
                                                       "(the reference's rule); --no-persuasion-only also labels "
                                                       "replies to the other agent's independent answer.")] = (
        default(PrefsConfig, "persuasion_only")),
    seed: Annotated[int, typer.Option(help="Seed of the split and of the trimming.")] = default(PrefsConfig, "seed"),
    formats: Annotated[list[str] | None, typer.Option("--format", help="jsonl (always), parquet, hf; "
                                                         "repeatable.")] = None,
    judge: Annotated[str | None, typer.Option(help="Model spec of a judge that must confirm each label "
                                                      "(the chosen and rejected replies' agree / disagree "
                                                      "stance); unconfirmed pairs lose their label.")] = None,
) -> None:
    """Preference pairs from PBT trees: scores, resist/accept labels, splits by question, conditions."""

    config = record(PrefsConfig, {"formats": "--format"}, condition=condition, threshold=threshold, strict=strict,
                    persuasion_only=persuasion_only, seed=seed, formats=tuple(formats or ()), judge=judge)
    summary = build_preferences(trees_files, out, config)
    console.print(prefs_table(summary))
    console.print(f"balanced benchmark: dev {summary['benchmark']['dev']}, test {summary['benchmark']['test']} "
                  f"items; data and card in {out}", style="dim", markup=False)


@app.command(name="train")
def train_command(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="A folder made by `debate prefs`.")],
    model: Annotated[Path, typer.Option(help="The base model: a transformers folder.")],
    out: Annotated[Path, typer.Option(help="Folder for checkpoints, the best adapter and the merged model.")],
    sft_steps: Annotated[int, typer.Option(min=0, help="SFT steps on the chosen replies (0: skip SFT).")] = (
        default(TrainConfig, "sft_steps")),
    dpo_steps: Annotated[int, typer.Option(min=1)] = default(TrainConfig, "dpo_steps"),
    batch_size: Annotated[int, typer.Option(min=1)] = default(TrainConfig, "batch_size"),
    grad_accum: Annotated[int, typer.Option(min=1)] = default(TrainConfig, "grad_accum"),
    dpo_lr: Annotated[float, typer.Option(min=0.0)] = default(TrainConfig, "dpo_lr"),
    beta: Annotated[float, typer.Option(min=0.0)] = default(TrainConfig, "beta"),
    save_steps: Annotated[int, typer.Option(min=1, help="Save, and score balanced accuracy on dev, every N "
                                                         "DPO steps.")] = default(TrainConfig, "save_steps"),
    max_length: Annotated[int, typer.Option(min=32)] = default(TrainConfig, "max_length"),
    seed: Annotated[int, typer.Option()] = default(TrainConfig, "seed"),
) -> None:
    """SFT then DPO with LoRA (TRL); the checkpoint with the best balanced accuracy on dev is kept.
    Re-running the same command resumes from the last checkpoint."""

    from training.trainer import train  # imports torch, transformers, trl when it runs

    config = record(TrainConfig, {}, sft_steps=sft_steps, dpo_steps=dpo_steps, batch_size=batch_size,
                    grad_accum=grad_accum, dpo_lr=dpo_lr, beta=beta, save_steps=save_steps, max_length=max_length,
                    seed=seed)
    summary = train(model, data, out, config)
    console.print(checkpoints_table(summary))
    console.print(f"adapter: {out / 'adapter'}  merged model: {out / 'merged'}", style="dim", markup=False)


@app.command()
def convert(
    gguf: Annotated[str, typer.Argument(metavar="GGUF", help="A .gguf file, or 'smollm2' (the bundled "
                                        "SmolLM2-135M-Instruct).")],
    out: Annotated[Path, typer.Option(help="The transformers model folder to write.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
) -> None:
    """Convert a GGUF model into a transformers folder (float32) that `debate train` and hf: specs use."""

    from training.convert import convert_gguf  # imports torch and transformers: only here

    folder = convert_gguf(gguf, out, overwrite=overwrite)
    console.print(f"transformers model folder: {folder} (use it as --model, or as hf:{folder})", markup=False)


@app.command()
def pbt(
    out: Annotated[Path, typer.Option(help="Experiment folder (every stage resumes from it).")] = Path("runs/pbt"),
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N training questions (default: "
                                                 "all 240 of sample-train).")] = None,
    passes: Annotated[int, typer.Option(min=1, help="Tree passes over the questions, each with its own seed "
                                        "(more pairs; about 35 min per pass for 240 questions on 2 cores).")] = (
        default(PBTConfig, "tree_passes")),
    sft_steps: Annotated[int, typer.Option(min=0)] = _PBT_TRAIN.sft_steps,
    dpo_steps: Annotated[int, typer.Option(min=1)] = _PBT_TRAIN.dpo_steps,
    save_steps: Annotated[int, typer.Option(min=1, help="Score balanced accuracy on dev every N DPO steps.")] = (
        _PBT_TRAIN.save_steps),
    eval_limit: Annotated[int | None, typer.Option(min=1, help="'Are you sure?' on the first N sample "
                                                      "open questions (default: all).")] = None,
    farm: Annotated[Path | None, typer.Option(help="The Farm folder (default: $DEBATE_FARM_DIR or "
                                                 "../shared/data/farm; skipped when absent).")] = None,
    farm_limit: Annotated[int, typer.Option(min=1, help="Farm questions per subset.")] = (
        default(PBTConfig, "farm_limit")),
    seed: Annotated[int, typer.Option()] = default(PBTConfig, "seed"),
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """PBT end to end with SmolLM2 on a CPU: trees -> pairs -> accept-only, resist-only and PBT
    training -> balanced persuasion, "Are you sure?" and Farm, against the base model."""

    check_folder_path(out)
    train = _PBT_TRAIN.model_copy(update={"sft_steps": sft_steps, "dpo_steps": dpo_steps, "save_steps": save_steps})
    config = record(PBTConfig, {"tree_passes": "--passes"}, limit=limit, tree_passes=passes, train=train,
                    eval_limit=eval_limit, farm=pbt_farm(farm), farm_limit=farm_limit, seed=seed)
    if config.farm is None:
        err_console.print(f"no Farm data at {farm_folder()}: the Farm evaluation is skipped", style="yellow",
                          markup=False)
    report = run_pbt(config, out, console=err_console, progress=progress)
    for table in pbt_tables(report):
        console.print(table)
    console.print(f"report: {out / 'report.md'}, {out / 'report.json'}", style="dim", markup=False)
