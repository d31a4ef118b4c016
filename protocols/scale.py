"""One run spread over Ray workers: its shards run as Ray tasks, then merge into the run directory.

```
OUT/shards/K-of-N/   shard K of N: an ordinary resumable run directory (`--shard K/N`)
OUT/...              the merged run (protocols.merge), as one process would have made it
```

Each task declares the CPUs and GPUs of `[scale]`. A task whose worker process dies is run
again by Ray (`retries`); it resumes its shard's directory, so nothing done is generated twice.
The driver shows one progress bar over all shards (it counts their finished trees). The output
folder must be one every worker sees: this machine, or a shared file system on a cluster.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from debate.errors import UserError
from protocols.config import RunConfig, ScaleConfig, parse_config
from protocols.engine import RunStats
from protocols.merge import merge_runs
from protocols.rundir import CONFIG, TREES
from protocols.run import RunResult, execute, run_items

SHARDS = "shards"


def shard_dir(out: Path, k: int, n: int) -> Path:
    return out / SHARDS / f"{k}-of-{n}"


def run_on_ray(config: RunConfig, out: str | Path, *, overwrite: bool = False, console: Console | None = None,
               progress: bool = True) -> RunResult:
    """Run `config` (which has `scale`) as sharded Ray tasks and merge them into `out`."""
    assert config.scale is not None and config.shard is None
    out = Path(out)
    started = time.perf_counter()
    items, _ = run_items(config, config.protocol.build())  # the input is checked before Ray starts
    total = sum(1 for _ in items)
    ray = _start(config.scale)
    count = min(_workers(config.scale, ray), max(total, 1))
    data = config.model_dump(mode="json", exclude={"scale", "out"})
    task = ray.remote(_run_shard).options(num_cpus=config.scale.cpus, num_gpus=config.scale.gpus,
                                          max_retries=config.scale.retries, retry_exceptions=False)
    paths = [shard_dir(out, k, count) for k in range(1, count + 1)]
    pending = {task.remote({**data, "shard": f"{k}/{count}"}, str(path), overwrite): k
               for k, path in enumerate(paths, 1)}
    with _ShardProgress(console, total, paths, enabled=progress) as bar:
        while pending:
            ready, _ = ray.wait(list(pending), timeout=0.5)
            bar.update()
            for ref in ready:
                k = pending.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    if isinstance(exc.cause, UserError):  # a user error is the same line as without Ray
                        raise exc.cause from None
                    raise
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError):
                    raise UserError(f"shard {k}/{count}: its worker died {config.scale.retries + 1} times; "
                                    "run the same command again to resume it", file=str(paths[k - 1])) from None
    merged = merge_runs(paths, out, overwrite=overwrite and (out / CONFIG).exists())
    stats = _stats(merged.stats, started)
    return RunResult(out, stats, merged.summary, merged.failed)


def _run_shard(data: dict[str, Any], path: str, overwrite: bool) -> int:
    """A Ray task: one shard's run (resumed when it was begun)."""
    result = execute(parse_config(data, "ray task"), path, overwrite=overwrite, progress=False)
    return result.stats.trees


def _start(scale: ScaleConfig) -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("runs on Ray need Ray: pip install '.[ray]'", field="scale.ray") from None
    if not ray.is_initialized():
        address = None if scale.ray == "local" else scale.ray
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(f"cannot reach the Ray cluster: {exc}", field="scale.ray") from None
    return ray


def _workers(scale: ScaleConfig, ray: Any) -> int:
    if scale.workers is not None:
        return scale.workers
    return max(1, int(ray.cluster_resources().get("CPU", 1) // scale.cpus))


def _stats(figures: Any, started: float) -> RunStats:
    stats = RunStats(started=started)
    if figures is not None:
        stats.trees, stats.failed, stats.skipped = figures.trees, figures.failed, figures.skipped
        stats.turns, stats.steps, stats.calls = figures.turns, figures.steps, figures.batched_calls
        stats.retries, stats.read_failures, stats.usage = figures.retries, figures.read_failures, figures.usage
    return stats


class _ShardProgress:
    """One bar over every shard: the trees their trees.jsonl files hold (read as they grow)."""

    def __init__(self, console: Console | None, total: int, paths: list[Path], enabled: bool):
        self.paths = paths
        self.offsets = [0] * len(paths)
        self.lines = [0] * len(paths)
        self.bar = Progress(TextColumn("[bold]dialogues"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[shards]}"), TimeElapsedColumn(), console=console,
                            transient=False, disable=not enabled)
        self.task = self.bar.add_task("ray", total=total, shards=f"{len(paths)} shards on Ray")

    def __enter__(self) -> _ShardProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.update()
        self.bar.__exit__(None, None, None)

    def update(self) -> None:
        for i, path in enumerate(self.paths):
            try:
                with open(path / TREES, "rb") as handle:
                    handle.seek(self.offsets[i])
                    chunk = handle.read()
            except OSError:
                continue
            self.offsets[i] += len(chunk)
            self.lines[i] += chunk.count(b"\n")
        self.bar.update(self.task, completed=sum(self.lines))
