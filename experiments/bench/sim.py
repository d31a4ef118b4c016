"""The framework's own cost per turn: PBT trees with simulated agents (which cost almost
nothing), end to end through the engine into a run directory, no cache.

Two figures: throughput (turns per second of wall time, on the one core the engine uses), and
peak memory (RSS high-water mark) for a small and a large number of questions, each measured
in a fresh process so that one size's high-water mark cannot hide another's. Questions are
made lazily, so any growth comes from the run itself.

    python -m experiments.bench.sim [--questions 5000] [--memory 1000 50000]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agents.agent import Agent
from agents.registry import load_model
from experiments.bench.common import DEFAULT_OUT, machine, save, synthetic_questions
from protocols.engine import Engine
from protocols.recursive import RecursiveTree
from protocols.rundir import RunDir

TARGET_TURNS_PER_S = 10_000
TARGET_GROWTH_MB = 100
AGENTS = {"A": "sim:strong", "B": "sim:weak"}


def run_sim(questions: int, window: int = 256) -> dict[str, Any]:
    """One run of `questions` PBT trees into a temporary run directory (deleted afterwards)."""
    agents = {name: Agent(name, load_model(spec)) for name, spec in AGENTS.items()}
    engine = Engine(RecursiveTree(), agents, window=window)  # no cache, as configured runs with cache off
    with tempfile.TemporaryDirectory() as out:
        with RunDir(out, {"bench": "sim", "agents": AGENTS}) as run:
            wall, cpu = time.perf_counter(), time.process_time()
            engine.run(synthetic_questions(questions), run.add, skip=run.done.__contains__,
                       on_step=lambda stats: run.flush())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu  # RunDir closed: trees flushed
        stored = (Path(out) / "trees.jsonl").stat().st_size
    stats = engine.stats
    return {"questions": questions, "trees": stats.trees, "turns": stats.turns, "steps": stats.steps,
            "wall_s": wall, "cpu_s": cpu, "turns_per_s": stats.turns / wall, "turns_per_cpu_s": stats.turns / cpu,
            "stored_mb": stored / 2**20}


def peak_rss(questions: int) -> dict[str, Any]:
    """Run `questions` in a fresh interpreter and return its figures with its peak RSS."""
    out = subprocess.run([sys.executable, "-m", "experiments.bench.sim", "--child", str(questions)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated agents end to end: turns/s and peak memory.")
    parser.add_argument("--questions", type=int, default=5000, help="questions per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs (the median is reported)")
    parser.add_argument("--memory", type=int, nargs="*", default=[1000, 50_000],
                        help="question counts whose peak RSS is compared (first and last)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--profile", type=Path, help="also profile one throughput run (cProfile) into this file")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one memory measurement, as JSON
    args = parser.parse_args()
    if args.child is not None:
        figures = run_sim(args.child)
        print(json.dumps({**figures, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return

    console = Console()
    runs = []
    for i in range(args.repeat):
        runs.append(run_sim(args.questions))
        console.print(f"run {i + 1}: {runs[-1]['turns']:,} turns in {runs[-1]['wall_s']:.2f} s "
                      f"({runs[-1]['turns_per_s']:,.0f} turns/s, {runs[-1]['turns_per_cpu_s']:,.0f} per CPU second)")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_sim, args.questions)
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    memory = []
    for n in args.memory:
        memory.append(peak_rss(n))
        console.print(f"{n:,} questions: peak RSS {memory[-1]['max_rss_mb']:.1f} MB "
                      f"({memory[-1]['turns']:,} turns, {memory[-1]['wall_s']:.1f} s)")

    rate = statistics.median(r["turns_per_s"] for r in runs)
    growth = memory[-1]["max_rss_mb"] - memory[0]["max_rss_mb"] if len(memory) > 1 else None
    results = {
        "machine": machine(),
        "settings": {"agents": AGENTS, "protocol": "tree (PBT 1-2-6-12)", "window": 256, "cache": False,
                     "questions": args.questions, "repeat": args.repeat},
        "throughput": {"median_turns_per_s": rate, "runs": runs},
        "memory": memory,
        "rss_growth_mb": growth,
        "targets": {"turns_per_s_at_least": TARGET_TURNS_PER_S, "turns_per_s_met": rate >= TARGET_TURNS_PER_S,
                    "rss_growth_mb_below": TARGET_GROWTH_MB,
                    "rss_growth_met": growth is not None and growth < TARGET_GROWTH_MB},
    }
    path = save(args.out, "sim", results)

    table = Table(title="Simulated agents, PBT trees, engine + run directory, no cache")
    for column in ("figure", "measured", "target"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    table.add_row(f"throughput (median of {args.repeat} x {args.questions:,} questions)", f"{rate:,.0f} turns/s",
                  f">= {TARGET_TURNS_PER_S:,}: {'met' if rate >= TARGET_TURNS_PER_S else 'MISSED'}")
    for m in memory:
        table.add_row(f"peak RSS, {m['questions']:,} questions ({m['turns']:,} turns)", f"{m['max_rss_mb']:.1f} MB", "")
    if growth is not None:
        table.add_row("RSS growth, first to last size", f"{growth:+.1f} MB",
                      f"< {TARGET_GROWTH_MB} MB: {'met' if growth < TARGET_GROWTH_MB else 'MISSED'}")
    console.print(table)
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
