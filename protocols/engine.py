"""The engine: every open dialogue of a run advances together, one batched call per model.

At each step the engine takes the turns the protocol says are due in every open tree, renders
each from its speaker's point of view, groups the requests by model, issues one batched call
per model (all models at once), reads every new reply's answer in one batched pass, and adds
the turns. A run therefore takes as many steps as its deepest dialogue, not as many as its
nodes. At most `window` trees are open at a time and finished trees leave at once, so memory
stays flat however many questions a run has.

Every generated turn gets a seed derived from (run seed, tree id, node id), so a turn's text
does not depend on what else was in its batch, or on whether the run was resumed.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agents.agent import Agent
from agents.base import ChatModel
from agents.cache import CachedChatModel, GenerationCache
from debate.answers import resolve
from debate.errors import ConfigError, DataError
from debate.records import AnswerRead, ChatRequest, Reply, Turn, Usage
from debate.render import View, view
from debate.tree import ROOT, DialogueTree
from protocols.base import Protocol, TurnSpec, held_answers
from protocols.rundir import RunFigures
from protocols.readers import LLMExtractor, Reader, ReadItem, RuleReader


def node_seed(run_seed: int, tree_id: str, node: str) -> int:
    """The sampling seed of one node: a 31-bit hash of (run seed, tree id, node id)."""
    digest = hashlib.blake2b(f"{run_seed}\x1f{tree_id}\x1f{node}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run with Python's cyclic garbage collector mostly out of the way.

    A run allocates many small records that live until their tree finishes; with the default
    thresholds the collector rescans them over and over (a quarter of a simulated run's time).
    Objects from before the run are frozen out of its scans; thresholds are restored after.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass
class RunStats:
    trees: int = 0
    failed: int = 0
    skipped: int = 0
    turns: int = 0
    steps: int = 0
    calls: int = 0
    retries: int = 0
    read_failures: int = 0
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def figures(self) -> RunFigures:
        return RunFigures(trees=self.trees, failed=self.failed, skipped=self.skipped, turns=self.turns,
                          steps=self.steps, batched_calls=self.calls, retries=self.retries,
                          read_failures=self.read_failures, usage=self.usage, wall_s=round(self.elapsed_s, 3))


@dataclass
class _Open:
    tree: DialogueTree
    due: list[TurnSpec]
    failed: str | None = None


@dataclass
class _Job:
    open: _Open
    spec: TurnSpec
    node: str
    request: ChatRequest | None = None
    reply: Reply | None = None
    read: AnswerRead | None = None
    #: What the speaker saw (the prompt's history, and the turn an "Agree" would agree with).
    view: View | None = None


def check_agents(protocol: Protocol, agents: Mapping[str, Agent]) -> None:
    missing = [name for name in protocol.agents if name not in agents]
    if missing:
        raise ConfigError(f"protocol '{protocol.name}' needs an agent named '{missing[0]}' "
                          f"(it has: {', '.join(agents) or 'none'})", field="agents")


class Engine:
    def __init__(self, protocol: Protocol, agents: Mapping[str, Agent], *, seed: int = 0,
                 reader: Reader | None = None, window: int = 256, cache: GenerationCache | None = None):
        check_agents(protocol, agents)
        if window < 1:
            raise ConfigError("must be at least 1", field="window")
        self.protocol = protocol
        self.agents = dict(agents)
        self.seed = seed
        self.reader = reader or RuleReader("default")
        self.window = window
        self.cache = cache
        # One (possibly cached) wrapper per distinct model: agents sharing a model share its batches.
        self._models: dict[int, ChatModel] = {}
        for agent in self.agents.values():
            if id(agent.model) not in self._models:
                wrap = agent.model.cacheable
                self._models[id(agent.model)] = CachedChatModel(agent.model, cache) if wrap and cache is not None \
                    else agent.model
        if cache is not None and isinstance(self.reader, LLMExtractor) and self.reader.model.cacheable:
            self.reader.model = CachedChatModel(self.reader.model, cache)
        self.stats = RunStats()

    # ------------------------------------------------------------------ running

    def run(self, items: Iterable[Any], on_tree: Callable[[DialogueTree], None], *,
            skip: Callable[[str], bool] = lambda tree_id: False,
            on_step: Callable[[RunStats], None] | None = None) -> RunStats:
        """Run the protocol on every item (questions, or stored trees for Replay).

        `on_tree` receives each finished tree (its `metadata` holds the outcome, or `failed`
        with the reason); trees whose id `skip` accepts are not run (a resumed run's done ones).
        """
        return asyncio.run(self.run_async(items, on_tree, skip=skip, on_step=on_step))

    async def run_async(self, items: Iterable[Any], on_tree: Callable[[DialogueTree], None], *,
                        skip: Callable[[str], bool] = lambda tree_id: False,
                        on_step: Callable[[RunStats], None] | None = None) -> RunStats:
        with _fewer_collections():
            return await self._run(items, on_tree, skip, on_step)

    async def _run(self, items: Iterable[Any], on_tree: Callable[[DialogueTree], None],
                   skip: Callable[[str], bool], on_step: Callable[[RunStats], None] | None) -> RunStats:
        source = iter(items)
        seen: set[str] = set()
        open_trees: list[_Open] = []
        exhausted = False
        while True:
            while not exhausted and len(open_trees) < self.window:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                tree = self.protocol.new_tree(item)
                if tree.tree_id in seen:
                    raise DataError(f"duplicate id '{tree.tree_id}': every question (tree) needs its own id",
                                    field="id")
                seen.add(tree.tree_id)
                if skip(tree.tree_id):
                    self.stats.skipped += 1
                    continue
                opened = _Open(tree, self.protocol.due(tree, [ROOT]))
                if opened.due:
                    open_trees.append(opened)
                else:
                    self._finish(opened, on_tree)
            if not open_trees:
                break
            await self._step(open_trees)
            still_open = []
            for opened in open_trees:
                if opened.due and opened.failed is None:
                    still_open.append(opened)
                else:
                    self._finish(opened, on_tree)
            open_trees = still_open
            if on_step is not None:
                on_step(self.stats)
        return self.stats

    def _finish(self, opened: _Open, on_tree: Callable[[DialogueTree], None]) -> None:
        tree = opened.tree
        if opened.failed is not None:
            tree.metadata["failed"] = opened.failed
            self.stats.failed += 1
        else:
            tree.metadata["outcome"] = self.protocol.outcome(tree).model_dump(mode="json")
            self.stats.trees += 1
        on_tree(tree)

    # ------------------------------------------------------------------ one step

    async def _step(self, open_trees: Sequence[_Open]) -> None:
        jobs: list[_Job] = []
        for opened in open_trees:
            nodes = opened.tree.next_child_ids(spec.parent for spec in opened.due)
            jobs += [_Job(opened, spec, node) for spec, node in zip(opened.due, nodes, strict=True)]
        generated = [job for job in jobs if not job.spec.scripted]
        await self._generate(generated)
        await self._read([job for job in generated if job.reply is not None and job.reply.ok])
        new_nodes: dict[int, list[str]] = {}
        for job in jobs:
            node = job.open.tree.add_turn(job.spec.parent, self._turn(job), round=job.spec.round)
            assert node == job.node, "child ids must follow the order turns were planned in"
            new_nodes.setdefault(id(job.open), []).append(node)
        for opened in open_trees:
            if opened.failed is None:
                opened.due = self.protocol.due(opened.tree, new_nodes.get(id(opened), []))
        self.stats.steps += 1
        self.stats.turns += len(jobs)

    async def _generate(self, jobs: Sequence[_Job]) -> None:
        by_model: dict[int, list[_Job]] = {}
        for job in jobs:
            agent = self.agents[job.spec.agent or job.spec.speaker]
            tree = job.open.tree
            job.view = view(tree, job.spec.parent, job.spec.speaker, round=job.spec.round,
                            prefix_order=agent.instructions == "turn")
            job.request = agent.request(tree.question, job.view.messages,
                                        seed=node_seed(self.seed, tree.tree_id, job.node), persona=job.spec.persona,
                                        history_personas=job.view.personas)
            by_model.setdefault(id(agent.model), []).append(job)

        async def call(model_key: int, batch: list[_Job]) -> None:
            replies = await self._models[model_key].generate([job.request for job in batch if job.request is not None])
            for job, reply in zip(batch, replies, strict=True):
                job.reply = reply

        await asyncio.gather(*(call(key, batch) for key, batch in by_model.items()))
        self.stats.calls += len(by_model)
        for job in jobs:
            assert job.reply is not None
            self.stats.retries += job.reply.retries
            self.stats.usage = self.stats.usage + job.reply.usage
            if not job.reply.ok and job.open.failed is None:
                job.open.failed = (f"node {job.node} ({job.spec.speaker}, {job.reply.model or 'model'}): "
                                   f"{job.reply.error}")

    async def _read(self, jobs: Sequence[_Job]) -> None:
        items = []
        known: dict[tuple[int, str], tuple[str, ...]] = {}  # siblings share their parent's candidates
        for job in jobs:
            tree = job.open.tree
            key = (id(tree), job.spec.parent)
            if key not in known:
                # Every answer held so far on the path (open reads included) is a candidate from now on.
                known[key] = tuple(dict.fromkeys(a for node in tree.path(job.spec.parent)
                                                 for a in tree.turn(node).answers.values() if a is not None))
            candidates = known[key]
            model = self._models[id(self.agents[job.spec.agent or job.spec.speaker].model)]
            assert job.reply is not None and job.view is not None  # only generated, answered jobs are read
            items.append(ReadItem(job.reply.text, tree.question, candidates, replying=job.view.other is not None,
                                  request=job.request, model=model))
        for job, read in zip(jobs, await self.reader.read_many(items), strict=True):
            job.read = read
            self.stats.read_failures += read.answer is None

    def _turn(self, job: _Job) -> Turn:
        spec, tree = job.spec, job.open.tree
        answers = held_answers(tree, spec.parent)
        if spec.scripted:
            if spec.answer is not None:
                answers[spec.speaker] = spec.answer
            return Turn(speaker=spec.speaker, persona=spec.persona or "neutral", text=spec.text or "",
                        answers=answers, tag=spec.tag or "scripted")
        reply, request, seen = job.reply, job.request, job.view
        assert reply is not None and request is not None and seen is not None
        if job.read is not None:
            other = seen.other.answers.get(seen.other.speaker) if seen.other is not None else None
            answers[spec.speaker] = resolve(job.read, answers.get(spec.speaker), other)
        return Turn(speaker=spec.speaker, persona=request.persona or "neutral", text=reply.text, answers=answers,
                    read=job.read, usage=reply.usage,
                    model=reply.model or self.agents[spec.agent or spec.speaker].model.model_id,
                    params=request.params, seed=request.params.seed, error=reply.error, tag=spec.tag)
