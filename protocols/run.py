"""Running a config end to end: questions -> engine -> run directory -> summary.

`execute` is what `debate run` and `debate tree` call. Re-running it on the same directory
resumes: finished trees are skipped, and unfinished ones are re-expanded from the cache.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agents.cache import GenerationCache
from debate import crash
from debate.errors import DataError, EndpointError
from debate.data import load_questions
from debate.storage import read_lines
from debate.tree import DialogueTree, iter_trees
from protocols.base import Protocol, Record
from protocols.config import RunConfig, shard_parts
from protocols.engine import Engine, RunStats, check_agents
from protocols.readers import make_reader
from protocols.rundir import CacheFigures, RunDir, RunManifest


@dataclass
class RunResult:
    out: Path
    stats: RunStats
    summary: Record | None
    failed: int


def run_items(config: RunConfig, protocol: Protocol) -> tuple[Iterable[Any], str]:
    """The run's input, checked by the protocol, and a digest of every record of its source.

    Questions, or for replay the stored trees (streamed, after one full pass that checks every
    line, so that a bad file is refused before anything is written). The digest covers the whole
    source, not only the first `limit`, so that a larger limit still resumes the same run."""
    digest = hashlib.sha256()
    if protocol.reads_trees:
        def trees() -> Iterator[DialogueTree]:
            found = iter_trees(config.questions)
            used = itertools.islice(found, config.limit) if config.limit else found
            if config.shard is None:
                return used
            k, n = shard_parts(config.shard)
            return itertools.islice(used, k - 1, None, n)
        for number, row in read_lines(Path(config.questions), record="dialogue tree"):
            if row.strip():
                tree = DialogueTree.from_json(row, source=config.questions, line=number)
                _check(protocol, tree, config.questions, number)
                digest.update(row.encode() + b"\n")
        return trees(), digest.hexdigest()
    source_limit = config.limit if config.questions.startswith("hf:") else None  # a hub dataset: what is used
    questions = load_questions(config.questions, source_limit)
    for question in questions:
        digest.update(question.model_dump_json().encode() + b"\n")
    used = questions[:config.limit] if config.limit else questions
    if config.shard is not None:
        k, n = shard_parts(config.shard)
        used = used[k - 1::n]
    for question in used:
        _check(protocol, question, config.questions)
    return used, digest.hexdigest()


def _check(protocol: Protocol, item: Any, source: str, line: int | None = None) -> None:
    try:
        protocol.check(item)
    except DataError as exc:
        raise DataError(exc.detail, file=source, line=line, field=exc.field) from None


def execute(config: RunConfig, out: str | Path, *, overwrite: bool = False, console: Console | None = None,
            progress: bool = True) -> RunResult:
    if config.scale is not None and config.shard is None:
        from protocols.scale import run_on_ray  # imports Ray only when a run asks for it

        return run_on_ray(config, out, overwrite=overwrite, console=console, progress=progress)
    protocol = config.protocol.build()
    reader = make_reader(config.reader)
    items, questions_digest = run_items(config, protocol)
    total = len(items) if isinstance(items, Sized) else None
    agents = config.build_agents()
    check_agents(protocol, agents)  # before the run directory is touched
    for name, agent in agents.items():  # an unreachable endpoint fails here, not in every dialogue
        try:
            agent.model.check()
        except EndpointError as exc:
            raise EndpointError(exc.detail, field=f"agents.{name}.model") from None
    identity = {**config.identity(), "questions_digest": questions_digest}
    with RunDir(out, identity, overwrite=overwrite) as run:
        cache = GenerationCache(run.cache_path()) if config.cache else None
        engine = Engine(protocol, agents, seed=config.seed, reader=reader, window=config.window, cache=cache)
        manifest = RunManifest(protocol=protocol.name, questions=config.questions, limit=config.limit,
                               shard=config.shard, seed=config.seed,
                               agents={n: a.model.model_id for n, a in agents.items()}, status="running")
        run.write_manifest(manifest)
        summary = None
        try:
            with _Progress(console, total, len(run.done), enabled=progress) as update:
                def on_step(stats: RunStats) -> None:
                    run.flush()
                    crash.point("step")
                    update(stats)
                engine.run(items, run.add, skip=run.done.__contains__, on_step=on_step)
            run.flush()
            summary = protocol.summarize([protocol.stored_outcome(tree) for tree in run.trees()])
            manifest.status = "finished" if run.failed_count == 0 else "finished-with-failures"
        finally:
            if manifest.status == "running":
                manifest.status = "interrupted"
            manifest.stats, manifest.failed, manifest.summary = engine.stats.figures(), run.failed_count, summary
            manifest.cache = CacheFigures(hits=cache.hits, misses=cache.misses) if cache is not None else None
            run.write_manifest(manifest)
            if cache is not None:
                cache.close()
        return RunResult(Path(out), engine.stats, summary, run.failed_count)


class _Progress:
    """A rich progress bar: dialogues done, turns, tokens and throughput."""

    def __init__(self, console: Console | None, total: int | None, already: int, enabled: bool):
        self.already = already
        self.bar = Progress(TextColumn("[bold]dialogues"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[turns]} turns · {task.fields[tokens]} tokens · "
                                       "{task.fields[rate]} turns/s"), TimeElapsedColumn(),
                            console=console, transient=False, disable=not enabled)
        self.task = self.bar.add_task("run", total=total, completed=already, turns=0, tokens=0, rate="-")

    def __enter__(self):
        self.bar.__enter__()
        return self.update

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def update(self, stats: RunStats) -> None:
        rate = f"{stats.turns / stats.elapsed_s:,.0f}" if stats.elapsed_s > 0 else "-"
        self.bar.update(self.task, completed=self.already + stats.trees + stats.failed, turns=f"{stats.turns:,}",
                        tokens=f"{stats.usage.completion_tokens:,}", rate=rate)
