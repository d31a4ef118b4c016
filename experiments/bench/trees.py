"""How fast PBT trees grow when every turn is a remote call: the batched engine against the
one-request-at-a-time, depth-first strategy of the reference implementation, and against the
ideal for the concurrency.

Both agents are `openai:` models pointing at a loopback server that answers every request
after a fixed delay (`delay_server`), with a made-up answer each time, so agents never agree
and every tree is full (21 turns in the paper's 1-2-6-12 shape). The ideal is the delay times
the waves each level needs: sum over levels of ceil(turns at that level / concurrency).

    python -m experiments.bench.trees [--trees 100] [--concurrency 64] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import pstats
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agents.agent import Agent
from agents.registry import load_model
from debate.answers import read_answer
from debate.records import Question, Turn
from debate.render import view
from debate.tree import ROOT, DialogueTree
from experiments.bench.common import DEFAULT_OUT, machine, save, synthetic_questions
from experiments.bench.delay_server import running
from protocols.base import held_answers
from protocols.engine import Engine
from protocols.recursive import RecursiveTree

TARGET_SPEEDUP = 30.0
TARGET_OF_IDEAL = 1.25


def make_agents(base_url: str, concurrency: int) -> dict[str, Agent]:
    # One spec, so A and B share one model instance and the engine sends one batch per step.
    model = load_model(f"openai:delay?base_url={base_url}&concurrency={concurrency}")
    return {"A": Agent("A", model), "B": Agent("B", model)}


def ideal_seconds(protocol: RecursiveTree, trees: int, concurrency: int, delay: float) -> float:
    waves, width = 0, trees
    for level in protocol.levels:
        width *= len(level.personas)
        waves += math.ceil(width / concurrency)
    return waves * delay


def run_engine(protocol: RecursiveTree, agents: dict[str, Agent], trees: int) -> dict[str, Any]:
    sizes: list[int] = []
    engine = Engine(protocol, agents, window=trees)  # every tree open at once; no cache
    wall, cpu = time.perf_counter(), time.process_time()
    engine.run(synthetic_questions(trees), lambda tree: sizes.append(len(tree)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if engine.stats.failed or sizes != [protocol.config.full_size()] * trees:
        raise RuntimeError(f"expected {trees} full trees, got sizes {sorted(set(sizes))} and "
                           f"{engine.stats.failed} failures")
    return {"wall_s": wall, "cpu_s": cpu, "turns": engine.stats.turns}


async def sequential_tree(protocol: RecursiveTree, agents: dict[str, Agent], question: Question) -> DialogueTree:
    """The reference strategy: depth-first, one request at a time, each turn read as it comes."""
    tree = protocol.new_tree(question)

    async def expand(node: str) -> None:
        for spec in protocol.due(tree, [node]):
            agent = agents[spec.speaker]
            history = view(tree, spec.parent, spec.speaker, round=spec.round).messages
            reply = (await agent.model.generate([agent.request(question, history, persona=spec.persona)]))[0]
            if not reply.ok:
                raise RuntimeError(f"request failed: {reply.error}")
            answers = held_answers(tree, spec.parent)
            answers[spec.speaker] = read_answer(reply.text, question).answer
            child = tree.add_turn(spec.parent, Turn(speaker=spec.speaker, persona=spec.persona or "neutral",
                                                    text=reply.text, answers=answers), round=spec.round)
            await expand(child)

    await expand(ROOT)
    return tree


def run_sequential(protocol: RecursiveTree, agents: dict[str, Agent], trees: int) -> dict[str, Any]:
    async def build_all() -> int:
        return sum([len(await sequential_tree(protocol, agents, q)) for q in synthetic_questions(trees)])

    wall = time.perf_counter()
    turns = asyncio.run(build_all())
    wall = time.perf_counter() - wall
    if turns != trees * protocol.config.full_size():
        raise RuntimeError(f"expected {trees * protocol.config.full_size()} turns, got {turns}")
    return {"trees": trees, "turns": turns, "wall_s": wall, "per_turn_s": wall / turns}


def main() -> None:
    parser = argparse.ArgumentParser(description="PBT trees against a loopback server with a fixed delay.")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.05, help="the server's delay per request, seconds")
    parser.add_argument("--repeat", type=int, default=3, help="engine runs (the median is reported)")
    parser.add_argument("--sequential-trees", type=int, default=10,
                        help="trees built one request at a time (the time is scaled linearly to --trees)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--profile", type=Path, help="also profile one engine run (cProfile) into this file")
    args = parser.parse_args()

    console = Console()
    protocol = RecursiveTree()
    ideal = ideal_seconds(protocol, args.trees, args.concurrency, args.delay)
    with running(args.delay) as base_url:
        agents = make_agents(base_url, args.concurrency)
        runs = []
        for i in range(args.repeat):
            runs.append(run_engine(protocol, agents, args.trees))
            console.print(f"engine run {i + 1}: {runs[-1]['wall_s']:.2f} s wall, {runs[-1]['cpu_s']:.2f} s CPU")
        sequential = run_sequential(protocol, agents, args.sequential_trees)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(run_engine, protocol, agents, args.trees)
            profiler.dump_stats(args.profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)

    engine_s = statistics.median(r["wall_s"] for r in runs)
    sequential_s = sequential["per_turn_s"] * args.trees * protocol.config.full_size()
    speedup, of_ideal = sequential_s / engine_s, engine_s / ideal
    results = {
        "machine": machine(),
        "settings": {"trees": args.trees, "turns": args.trees * protocol.config.full_size(),
                     "concurrency": args.concurrency,
                     "delay_s": args.delay, "repeat": args.repeat, "sequential_trees": args.sequential_trees},
        "engine": {"median_wall_s": engine_s, "runs": runs},
        "sequential": {**sequential, "scaled_wall_s": sequential_s},
        "ideal_s": ideal,
        "speedup_vs_sequential": speedup,
        "ratio_to_ideal": of_ideal,
        "targets": {"speedup_at_least": TARGET_SPEEDUP, "speedup_met": speedup >= TARGET_SPEEDUP,
                    "ratio_to_ideal_at_most": TARGET_OF_IDEAL, "ratio_to_ideal_met": of_ideal <= TARGET_OF_IDEAL},
    }
    path = save(args.out, "trees", results)

    table = Table(title=f"{args.trees} PBT trees ({args.trees * protocol.config.full_size():,} turns), "
                        f"{args.delay * 1000:.0f} ms per request, concurrency {args.concurrency}")
    for column in ("strategy", "wall time", "vs engine", "target"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    table.add_row("engine, batched (median of runs)", f"{engine_s:.2f} s", "1.00x", "")
    table.add_row(f"sequential depth-first ({args.sequential_trees} trees, scaled)", f"{sequential_s:.1f} s",
                  f"{speedup:.1f}x slower",
                  f">= {TARGET_SPEEDUP:.0f}x: {'met' if speedup >= TARGET_SPEEDUP else 'MISSED'}")
    table.add_row("ideal for the concurrency", f"{ideal:.2f} s", f"engine is {of_ideal:.2f}x",
                  f"<= {TARGET_OF_IDEAL}x: {'met' if of_ideal <= TARGET_OF_IDEAL else 'MISSED'}")
    console.print(table)
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
