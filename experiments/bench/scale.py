"""Scale-out on Ray: one PBT tree run spread over 1, 2 and 4 Ray workers on this machine.

The agents are simulated with a fixed latency per batched call and a window of dialogues in
flight per process: each worker stands in for a model server that serves `window` dialogues at
a time, so what is measured is what sharding and Ray add and cost, not model speed. Each
figure is dialogues per second of wall time, relative to the same run in one process without
Ray; Ray's start-up (`ray.init`) is recorded apart. Target: N workers >= 0.85 N times one.

    python -m experiments.bench.scale [--questions 480] [--latency 0.3] [--window 16] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from debate.storage import atomic_write_jsonl
from experiments.bench.common import DEFAULT_OUT, machine, save, synthetic_questions
from protocols.config import parse_config
from protocols.run import execute

TARGET_EFFICIENCY = 0.85


def _config(questions: Path, latency: float, window: int, workers: int | None) -> dict[str, Any]:
    agents = {name: {"model": f"{spec}?latency={latency}", "temperature": 0.7}
              for name, spec in (("A", "sim:strong"), ("B", "sim:weak"))}
    return {"protocol": {"kind": "tree"}, "questions": str(questions), "seed": 0, "window": window,
            "cache": False, "agents": agents, **({"scale": {"workers": workers}} if workers else {})}


def _timed(config: dict[str, Any], out: Path) -> float:
    started = time.perf_counter()
    result = execute(parse_config(config, "bench"), out, overwrite=True, progress=False)
    assert result.failed == 0
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=480)
    parser.add_argument("--latency", type=float, default=0.3, help="Seconds per batched call.")
    parser.add_argument("--window", type=int, default=16, help="Dialogues in flight per process.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    import ray

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        questions = atomic_write_jsonl(folder / "questions.jsonl", list(synthetic_questions(args.questions)))
        started = time.perf_counter()
        ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False, configure_logging=False)
        startup = time.perf_counter() - started
        try:
            # The first Ray run starts and warms the worker processes; it is recorded apart.
            first = _timed(_config(questions, args.latency, args.window, max(args.workers)), folder / "warm")
            walls: dict[str, list[float]] = {"one process": [], **{f"{n} on Ray": [] for n in args.workers}}
            for _ in range(args.repeats):  # alternating, so that load on the machine hits every arm alike
                walls["one process"].append(_timed(_config(questions, args.latency, args.window, None),
                                                   folder / "single"))
                for n in args.workers:
                    walls[f"{n} on Ray"].append(_timed(_config(questions, args.latency, args.window, n),
                                                       folder / f"ray{n}"))
        finally:
            ray.shutdown()
    base = statistics.median(walls["one process"])
    table = Table(title=f"{args.questions} PBT trees, sim agents at {args.latency}s per call, window {args.window}")
    for column in ("arm", "wall s (median)", "dialogues/s", "vs one process", "target"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    rows = {}
    for arm, values in walls.items():
        wall = statistics.median(values)
        n = int(arm.split()[0]) if arm != "one process" else 1
        speedup = base / wall
        rows[arm] = {"walls_s": [round(v, 2) for v in values], "median_s": round(wall, 2),
                     "dialogues_per_s": round(args.questions / wall, 1), "speedup": round(speedup, 2)}
        target = f">= {TARGET_EFFICIENCY * n:.2f}" if arm != "one process" else ""
        table.add_row(arm, f"{wall:.2f}", f"{args.questions / wall:.1f}", f"{speedup:.2f}x", target)
    console.print(table)
    console.print(f"ray.init: {startup:.1f}s; first Ray run (cold workers, {max(args.workers)} shards): {first:.2f}s")
    path = save(args.out, "scale", {"machine": machine(), "settings": vars(args) | {"out": str(args.out)},
                                     "ray_init_s": round(startup, 2), "first_run_s": round(first, 2), "arms": rows})
    console.print(f"saved {path}", style="dim")


if __name__ == "__main__":
    main()
