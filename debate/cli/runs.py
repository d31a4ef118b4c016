"""`debate run` (any protocol from a TOML config) and `debate tree` (PBT trees from options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agents.registry import DEFAULT_MODEL
from debate.cli.app import app, console, err_console
from debate.errors import UserError
from experiments.reports import run_footer, run_table
from protocols.config import RunConfig, load_config, parse_config
from protocols.merge import merge
from protocols.run import execute

#: The options every run command has for spreading its work (`pairing` and `eval` too).
ShardOption = Annotated[str | None, typer.Option(
    metavar="K/N", help="Run only the K-th of N shards of the questions (an ordinary resumable run directory); "
                        "`debate merge` joins them.")]
RayOption = Annotated[str | None, typer.Option(
    metavar="ADDRESS", help="Run the shards as Ray tasks on this cluster ('local': start one here), then merge them.")]
WorkersOption = Annotated[int | None, typer.Option(
    min=1, help="With --ray: the number of shards (default: one per CPU of the cluster).")]


def scale_table(ray: str | None, workers: int | None) -> dict[str, object] | None:
    """The `[scale]` table that --ray and --workers stand for (None: neither was given)."""
    if ray is None and workers is None:
        return None
    return {"ray": ray or "local", **({"workers": workers} if workers is not None else {})}


def _execute(config: RunConfig, out: Path | None, overwrite: bool, progress: bool) -> None:
    target = out or Path(config.out or f"runs/{config.protocol.kind}")
    result = execute(config, target, overwrite=overwrite, console=err_console, progress=progress)
    console.print(run_table(config.protocol.kind, result))
    console.print(run_footer(result), style="dim", markup=False)
    if result.failed:
        raise UserError(f"{result.failed} dialogues failed (reasons in {target / 'failed.jsonl'}); "
                        "re-run the same command to retry them")


@app.command()
def run(
    config_file: Annotated[Path, typer.Argument(metavar="CONFIG",
                                                help="A TOML run config (see experiments/configs/).")],
    out: Annotated[Path | None, typer.Option(help="Run directory (default: the config's `out`).")] = None,
    source: Annotated[str | None, typer.Option("--questions", help="Override `questions`.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Override `limit`.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override `seed`.")] = None,
    window: Annotated[int | None, typer.Option(min=1, help="Override `window` (dialogues in flight).")] = None,
    shard: ShardOption = None,
    ray: RayOption = None,
    workers: WorkersOption = None,
    overwrite: Annotated[bool, typer.Option(help="Start the run directory afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Run any protocol from a TOML config; re-running the same command resumes it."""

    config = load_config(config_file)
    overrides = {k: v for k, v in {"questions": source, "limit": limit, "seed": seed, "window": window,
                                   "shard": shard, "scale": scale_table(ray, workers)}.items() if v is not None}
    if overrides:
        config = parse_config({**config.model_dump(mode="json"), **overrides}, str(config_file))
    _execute(config, out, overwrite, progress)


@app.command()
def tree(
    a: Annotated[str, typer.Option("--a", help="Model spec of agent A (speaks first).")] = DEFAULT_MODEL,
    b: Annotated[str, typer.Option("--b", help="Model spec of agent B.")] = DEFAULT_MODEL,
    source: Annotated[str, typer.Option("--questions", help="Question source.")] = "sample:open",
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions.")] = 10,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1)] = 80,
    seed: Annotated[int, typer.Option()] = 0,
    informed: Annotated[list[str] | None, typer.Option(help="Agent (A or B) that sees the questions' "
                                                               "context passages; repeatable.")] = None,
    reader: Annotated[str, typer.Option(help="Answer reader: default, final-line, yes-no, option, "
                                              "candidates or llm:SPEC.")] = "default",
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/tree"),
    shard: ShardOption = None,
    ray: RayOption = None,
    workers: WorkersOption = None,
    overwrite: Annotated[bool, typer.Option(help="Start the run directory afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Build PBT dialogue trees (the paper's 1-2-6-12 shape) for the questions."""

    unknown = sorted(set(informed or []) - {"A", "B"})
    if unknown:
        raise UserError(f"unknown agent '{unknown[0]}' (expected A or B)", field="--informed")
    agents = {name: {"model": spec, "temperature": temperature, "max_tokens": max_tokens,
                     "informed": name in (informed or [])} for name, spec in (("A", a), ("B", b))}
    config = parse_config({"protocol": {"kind": "tree"}, "questions": source, "limit": limit, "seed": seed,
                           "reader": reader, "agents": agents, "shard": shard,
                           "scale": scale_table(ray, workers)}, "debate tree")
    _execute(config, out, overwrite, progress)


@app.command(name="merge")
def merge_command(
    shards: Annotated[list[Path], typer.Argument(metavar="SHARDS...", help="The run directories (or experiment "
                                                 "folders) that `--shard K/N` made, every K once.")],
    out: Annotated[Path, typer.Option(help="The merged run directory (or experiment folder).")],
) -> None:
    """Join the shards of a run into the run directory one process would have made."""

    for result in merge(shards, out):
        console.print(f"{result.out}: {result.trees} dialogues, {result.failed} failed", markup=False)
    console.print("the same command without --shard, with --out on the merged folder, reports on the whole run "
                  "and generates nothing again", style="dim", markup=False)
