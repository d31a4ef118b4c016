"""`debate eval`: Farm, "Are you sure?" or balanced persuasion, for one or more models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agents.registry import DEFAULT_MODEL
from debate.cli.app import app, console, default, err_console, record
from debate.cli.runs import RayOption, ShardOption, WorkersOption, scale_table
from experiments.evaluations import EvaluationConfig, figures, prepare_evaluation, run_evaluation
from experiments.reports import evaluation_table, save_evaluation_plot


@app.command(name="eval")
def evaluate(
    evaluation: Annotated[str, typer.Argument(metavar="EVALUATION", help="farm, ays or balanced.")],
    models: Annotated[list[str] | None, typer.Option("--models", help="Model spec to evaluate; repeat the "
                                                        "option to compare several.")] = None,
    source: Annotated[str | None, typer.Option("--questions", help="ays: a question source (default "
                                                  "sample:open); farm: the Farm folder; balanced: the split "
                                                  "(a trees JSONL file).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions (farm: per subset).")] = None,
    appeal: Annotated[str | None, typer.Option(help="farm: logical (default), credibility or emotional "
                                                       "appeals.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1)] = default(EvaluationConfig, "max_tokens"),
    seed: Annotated[int, typer.Option()] = default(EvaluationConfig, "seed"),
    shard: ShardOption = None,
    ray: RayOption = None,
    workers: WorkersOption = None,
    out: Annotated[Path | None, typer.Option(help="Folder (default runs/eval-EVALUATION).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Start afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Farm misinformation (MR@4), "Are you sure?" or balanced persuasion, for one or more models."""

    folder = out or Path(f"runs/eval-{evaluation}")
    config = record(EvaluationConfig, {"evaluation": "EVALUATION", "questions": "--questions"},
                    evaluation=evaluation, models=models or [DEFAULT_MODEL], questions=source, limit=limit,
                    appeal=appeal, seed=seed, max_tokens=max_tokens, shard=shard,
                    scale=scale_table(ray, workers))
    report = run_evaluation(prepare_evaluation(config, folder), folder, overwrite=overwrite, console=err_console,
                            progress=progress)
    columns, rows = figures(report)
    console.print(evaluation_table(report, columns, rows))
    plot = save_evaluation_plot(report, columns, rows, folder / f"{evaluation}.png")
    console.print(f"report: {folder / 'report.json'}  plot: {plot}", style="dim", markup=False)
