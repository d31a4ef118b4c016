"""`debate pairing`: strong/weak pairing and order dependence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from debate.cli.app import app, console, err_console
from debate.cli.runs import RayOption, ShardOption, WorkersOption, scale_table
from experiments.pairing import pairing_config, run_pairing
from experiments.reports import order_table, persuasion_table, save_plot


@app.command()
def pairing(
    config_file: Annotated[Path | None, typer.Argument(metavar="[CONFIG]", help="A TOML pairing config (agents, "
                                                          "questions, ...); see experiments/configs/.")] = None,
    agents: Annotated[list[str] | None, typer.Option("--agents", help="Agent model specs (two or more); "
                                                        "repeat the option.")] = None,
    backend: Annotated[str, typer.Option(help="Without CONFIG or --agents: 'gguf' (SmolLM2 informed vs "
                                              "uninformed) or 'sim' (simulated strong vs weak).")] = "gguf",
    source: Annotated[str | None, typer.Option("--questions", help="Question source.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions.")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (and the bootstrap's).")] = None,
    shard: ShardOption = None,
    ray: RayOption = None,
    workers: WorkersOption = None,
    out: Annotated[Path, typer.Option(help="Experiment folder (one run directory per order, the report, "
                                           "the plot).")] = Path("runs/pairing"),
    overwrite: Annotated[bool, typer.Option(help="Start afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Team debates of every pair of agents in both speaking orders: solo and team accuracy, order
    dependence with a 95% interval and McNemar's test, pull-up, and who persuaded whom."""

    config = pairing_config(config_file, agents=agents, backend=backend, questions=source, limit=limit, seed=seed,
                            shard=shard, scale=scale_table(ray, workers))
    report = run_pairing(config, out, overwrite=overwrite, console=err_console, progress=progress)
    console.print(order_table(report))
    console.print(persuasion_table(report))
    plot = save_plot(report, out / "pairing.png")
    console.print(f"report: {out / 'report.json'}  plot: {plot}", style="dim", markup=False)
