"""`debate merge`: the shards of one run (`--shard K/N`) joined into one run directory.

The merged directory is the run the shards split: its config is the unsharded run's, its trees
are in question order, its failures, cache entries and summary are the shards' together. Turn
seeds come from (run seed, tree id, node id), so it holds what one process would have made:
running the same command without `--shard` on it finds every dialogue done. Shards are refused,
with one line, when they ran other configs, overlap, are missing, or have not finished.

An experiment folder (`debate pairing` or `debate eval` with `--shard`) holds several run
directories; each is merged with its counterparts in the other shards, under the same path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.cache import GenerationCache
from debate.errors import ConfigError, DataError, UserError
from debate.records import Usage
from debate.storage import read_lines
from debate.tree import DialogueTree, iter_trees
from protocols.base import Record
from protocols.config import parse_config, shard_parts
from protocols.run import run_items
from protocols.rundir import (CACHE, CONFIG, FAILED, MANIFEST, RUN_FORMAT, TREES, RunDir, RunFigures, RunManifest,
                              first_difference)


@dataclass
class MergeResult:
    out: Path
    trees: int
    failed: int
    summary: Record | None
    stats: RunFigures | None


@dataclass
class _Shard:
    path: Path
    identity: dict[str, Any]
    manifest: RunManifest


def merge(shards: Sequence[str | Path], out: str | Path) -> list[MergeResult]:
    """Merge shard run directories, or shard experiment folders run by run; one result per run."""
    paths = [Path(p) for p in shards]
    if len(paths) < 2:
        raise UserError("give two or more shard directories", field="SHARDS")
    out = Path(out)
    if all(_is_run(p) for p in paths):
        return [merge_runs(paths, out)]
    runs = [_runs_below(p) for p in paths]
    for path, found in zip(paths, runs):
        if not found:
            raise UserError("holds no run directory (no config.json of this tool)", file=str(path))
        if found != runs[0]:
            odd = sorted(found ^ runs[0])[0]
            raise UserError(f"the shards hold different runs: {odd} is in one and not the other",
                            file=str(path))
    return [merge_runs([p / rel for p in paths], out / rel) for rel in sorted(runs[0])]


def merge_runs(shards: Sequence[Path], out: Path, *, overwrite: bool = False) -> MergeResult:
    read = [_read_shard(path) for path in shards]
    whole = _check_shards(read)
    config = parse_config({k: v for k, v in whole.items() if k not in ("format", "questions_digest")}
                          | {"limit": read[0].manifest.limit}, str(shards[0] / CONFIG))
    protocol = config.protocol.build()
    items, digest = run_items(config, protocol)
    if digest != whole["questions_digest"]:
        raise ConfigError("the questions (or stored trees) changed since the shards ran; they cannot be ordered",
                          file=str(shards[0]), field="questions")
    order = {(item.tree_id if isinstance(item, DialogueTree) else item.id): k for k, item in enumerate(items)}
    trees: list[DialogueTree] = []
    owner: dict[str, Path] = {}
    for shard in read:
        for tree in iter_trees(shard.path / TREES):
            if tree.tree_id in owner:
                raise DataError(f"tree '{tree.tree_id}' is in two shards (also in {owner[tree.tree_id]})",
                                file=str(shard.path / TREES))
            if tree.tree_id not in order:
                raise DataError(f"tree '{tree.tree_id}' is not one of the run's questions",
                                file=str(shard.path / TREES))
            owner[tree.tree_id] = shard.path
            trees.append(tree)
    trees.sort(key=lambda tree: order[tree.tree_id])
    with RunDir(out, config.identity() | {"questions_digest": digest}, overwrite=overwrite) as run:
        # The summary covers the directory's trees: those it held already (a merge run again) and the shards'.
        held = list(run.trees()) if run.done else []
        for tree in trees:
            if tree.tree_id not in run.done:
                run.add(tree)
                held.append(tree)
        for shard in read:
            for number, line in read_lines(shard.path / FAILED) if (shard.path / FAILED).exists() else ():
                if line.strip():
                    failed = DialogueTree.from_json(line, source=str(shard.path / FAILED), line=number)
                    if failed.tree_id not in run.done:
                        run.add(failed)
        run.flush()
        cache = GenerationCache(run.cache_path())
        try:
            for shard in read:
                if (shard.path / CACHE).exists():
                    cache.absorb(shard.path / CACHE)
        finally:
            cache.close()
        summary = protocol.summarize([protocol.stored_outcome(tree) for tree in held])
        first = read[0].manifest
        stats = _summed([s.manifest.stats for s in read if s.manifest.stats is not None])
        run.write_manifest(RunManifest(
            protocol=first.protocol, questions=first.questions, limit=first.limit, seed=first.seed,
            agents=first.agents, status="finished" if run.failed_count == 0 else "finished-with-failures",
            stats=stats, failed=run.failed_count, summary=summary))
        return MergeResult(out, len(run.done), run.failed_count, summary, stats)


def _is_run(path: Path) -> bool:
    try:
        return json.loads((path / CONFIG).read_text(encoding="utf-8")).get("format") == RUN_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _runs_below(folder: Path) -> set[Path]:
    return {found.parent.relative_to(folder) for found in folder.rglob(CONFIG) if _is_run(found.parent)}


def _read_shard(path: Path) -> _Shard:
    if not _is_run(path):
        raise UserError("not a run directory of this tool (no config.json of a run)", file=str(path))
    identity = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    try:
        stored = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        # What write_manifest adds, and the summary (recomputed from the merged trees).
        manifest = RunManifest.model_validate({k: v for k, v in stored.items()
                                               if k not in ("updated", "versions", "summary")})
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"unreadable {MANIFEST} ({type(exc).__name__})", file=str(path)) from None
    if manifest.status not in ("finished", "finished-with-failures"):
        raise UserError(f"this shard has not finished (status {manifest.status}); run its command again to "
                        "finish it", file=str(path))
    return _Shard(path, identity, manifest)


def _check_shards(shards: Sequence[_Shard]) -> dict[str, Any]:
    """The identity the shards share, without `shard`; every shard of it, each once."""
    seen: dict[int, Path] = {}
    count = None
    for shard in shards:
        spec = shard.identity.get("shard")
        if not isinstance(spec, str):
            raise UserError("is a whole run, not a shard (it ran without --shard)", file=str(shard.path))
        k, n = shard_parts(spec)
        if count is not None and n != count:
            raise ConfigError(f"is shard {spec}, the others are of {count}", file=str(shard.path), field="shard")
        if k in seen:
            raise ConfigError(f"shard {spec} is given twice (also {seen[k]})", file=str(shard.path), field="shard")
        count, seen[k] = n, shard.path
        changed = first_difference(_unsharded(shard.identity), _unsharded(shards[0].identity))
        if changed is not None or shard.manifest.limit != shards[0].manifest.limit:
            raise ConfigError(f"ran another config than {shards[0].path} (the setting differs)",
                              file=str(shard.path), field=changed or "limit")
    missing = sorted(set(range(1, (count or 0) + 1)) - set(seen))
    if missing:
        raise UserError(f"shard {missing[0]}/{count} is missing ({len(missing)} of {count} missing)",
                        field="SHARDS")
    return _unsharded(shards[0].identity)


def _unsharded(identity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in identity.items() if k != "shard"}


def _summed(figures: Sequence[RunFigures]) -> RunFigures | None:
    """The shards' figures added up (their last invocations); wall time is summed worker time."""
    if not figures:
        return None
    total = {name: sum(getattr(f, name) for f in figures) for name in
             ("trees", "failed", "skipped", "turns", "steps", "batched_calls", "retries", "read_failures", "wall_s")}
    usage = sum((f.usage for f in figures), Usage())
    return RunFigures(**total, usage=usage)
