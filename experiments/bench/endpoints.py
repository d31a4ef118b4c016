"""Several endpoints behind one `openai:` spec: PBT trees against 1, 2 and 4 loopback replicas.

Each replica is a delay server with a fixed number of slots (`--slots` requests answered at a
time, each after `--delay` seconds), standing in for a model server of limited capacity. The
client's concurrency per replica is its slots; one process, no Ray. Every
dialogue sticks to one replica (tree affinity), so the spread of dialogues over replicas is
part of what is measured. Figure: dialogues per second relative to one replica; target >=
0.85 N for N replicas.

    python -m experiments.bench.endpoints [--trees 128] [--delay 0.2] [--slots 16] [--replicas 1 2 4]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from debate.storage import atomic_write_jsonl
from experiments.bench.common import DEFAULT_OUT, machine, save, synthetic_questions
from experiments.bench.delay_server import running
from protocols.config import parse_config
from protocols.run import execute

TARGET_EFFICIENCY = 0.85


def _run(questions: Path, urls: list[str], slots: int, out: Path) -> tuple[float, float]:
    """Wall and client CPU seconds of one run."""
    spec = f"openai:delay?base_url={','.join(urls)}&concurrency={slots}"  # per replica
    config = {"protocol": {"kind": "tree"}, "questions": str(questions), "cache": False,
              "agents": {"A": {"model": spec}, "B": {"model": spec}}}
    started, cpu = time.perf_counter(), time.process_time()
    result = execute(parse_config(config, "bench"), out, overwrite=True, progress=False)
    assert result.failed == 0
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", type=int, default=128)
    parser.add_argument("--delay", type=float, default=0.2, help="Seconds per request.")
    parser.add_argument("--slots", type=int, default=16, help="Requests each replica answers at a time.")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if 1 not in args.replicas:
        parser.error("--replicas must include 1: the figures are relative to one replica")
    console = Console()
    walls: dict[int, list[float]] = {n: [] for n in args.replicas}
    cpus: dict[int, list[float]] = {n: [] for n in args.replicas}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as servers:
        folder = Path(tmp)
        questions = atomic_write_jsonl(folder / "questions.jsonl", list(synthetic_questions(args.trees)))
        urls = [servers.enter_context(running(args.delay, args.slots)) for _ in range(max(args.replicas))]
        for _ in range(args.repeats):
            for n in args.replicas:
                wall, cpu = _run(questions, urls[:n], args.slots, folder / f"r{n}")
                walls[n].append(wall)
                cpus[n].append(cpu)
    base = statistics.median(walls[1])
    table = Table(title=f"{args.trees} PBT trees against N replicas ({args.slots} slots, {args.delay}s per request)")
    for column in ("replicas", "wall s", "client CPU s", "dialogues/s", "vs one replica", "target"):
        table.add_column(column, justify="right")
    rows = {}
    for n, values in walls.items():
        wall = statistics.median(values)
        rows[n] = {"walls_s": [round(v, 2) for v in values], "median_s": round(wall, 2),
                   "client_cpu_s": round(statistics.median(cpus[n]), 2),
                   "dialogues_per_s": round(args.trees / wall, 2), "speedup": round(base / wall, 2)}
        table.add_row(str(n), f"{wall:.2f}", f"{rows[n]['client_cpu_s']:.2f}", f"{args.trees / wall:.2f}",
                      f"{base / wall:.2f}x",
                      f">= {TARGET_EFFICIENCY * n:.2f}" if n > 1 else "")
    console.print(table)
    path = save(args.out, "endpoints", {"machine": machine(), "settings": vars(args) | {"out": str(args.out)},
                                         "replicas": rows})
    console.print(f"saved {path}", style="dim")


if __name__ == "__main__":
    main()
