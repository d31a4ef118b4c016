"""A run directory: the resolved config, finished trees, failed trees, the cache and a manifest.

```
RUN/config.json     the resolved config (a re-run must match it to resume)
RUN/trees.jsonl     one finished tree per line, appended as trees finish
RUN/failed.jsonl    dialogues that failed for good, with the reason (retried by a re-run)
RUN/cache.sqlite    every successful generation (a re-run re-expands unfinished trees from it)
RUN/manifest.json   status, counts, usage, timings, seed, package versions
RUN/.lock           held while a run writes here: one writer per directory
```

Resuming: finished trees are skipped; a line cut short by a crash is dropped (its tree is
simply generated again, from the cache). Lines are written whole and flushed after every
engine step, so a kill loses at most the trees of that step, never a record already written.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
from collections.abc import Iterator
from datetime import datetime, UTC
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, SerializeAsAny

from debate import crash
from debate.errors import ConfigError, DataError, UserError
from debate.storage import atomic_write_json, atomic_write_jsonl, check_folder_path, parse_json, read_lines
from debate.records import Usage
from debate.tree import DialogueTree, iter_trees

TREES, FAILED, CONFIG, MANIFEST, CACHE, LOCK = (
    "trees.jsonl", "failed.jsonl", "config.json", "manifest.json", "cache.sqlite", ".lock")
#: The files a run writes itself (the cache is SQLite's, the lock only held).
_WRITTEN = (TREES, FAILED, CONFIG, MANIFEST)
#: The mark of a run directory in its config.json.
RUN_FORMAT = "debate-run"
_PACKAGES = ("persuasion-debate", "pydantic", "networkx", "openai", "torch", "transformers", "trl", "peft",
             "vllm", "xllamacpp")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


class RunFigures(BaseModel):
    """What a run did: dialogues, turns, engine steps and calls, usage and wall time."""

    model_config = ConfigDict(extra="forbid")

    trees: int
    failed: int
    skipped: int
    turns: int
    steps: int
    batched_calls: int
    retries: int
    read_failures: int
    usage: Usage
    wall_s: float


class CacheFigures(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hits: int
    misses: int


class RunManifest(BaseModel):
    """RUN/manifest.json: what ran, how far it got, and its summary once finished."""

    model_config = ConfigDict(extra="forbid")

    protocol: str
    questions: str
    limit: int | None
    #: `K/N` for one shard of a run; None for a whole run (a merged one too).
    shard: str | None = None
    seed: int
    #: Agent name -> model id.
    agents: dict[str, str]
    status: Literal["running", "interrupted", "finished", "finished-with-failures"]
    stats: RunFigures | None = None
    failed: int | None = None
    cache: CacheFigures | None = None
    #: The protocol's Summary, once the run has finished.
    summary: SerializeAsAny[BaseModel] | None = None


class RunDir:
    """Open with `with RunDir(path, identity) as run:`; the lock is held until the block ends.

    A directory is ours when its config.json says so. Nothing is written, locked or deleted in a
    directory that is not ours or that holds another run, and links in the place of our own
    files are refused, never followed.
    """

    def __init__(self, path: str | Path, identity: dict[str, Any], *, overwrite: bool = False):
        self.path = Path(path)
        self.identity = identity
        self.overwrite = overwrite
        self.done: set[str] = set()
        self._failed: list[dict[str, Any]] = []
        self._pending: list[str] = []
        self._lock_handle: IO[str] | None = None
        self._trees_handle: IO[str] | None = None

    # ------------------------------------------------------------------ opening

    def __enter__(self) -> RunDir:
        check_folder_path(self.path)
        self._check_identity()  # before anything is written, the lock included
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the run directory: {exc.strerror}", file=str(self.path)) from None
        self._lock()
        try:
            self._check_identity()  # again, under the lock: another writer may have been first
            for stale in self.path.iterdir():  # our temp files, left by a write a crash interrupted
                if stale.name.endswith(".tmp") and any(stale.name.startswith(f".{n}.") for n in _WRITTEN):
                    stale.unlink()
            if self.overwrite:
                for name in (*_WRITTEN, CACHE, CACHE + "-wal", CACHE + "-shm"):
                    (self.path / name).unlink(missing_ok=True)
            atomic_write_json(self.path / CONFIG, {"format": RUN_FORMAT, **self.identity})
            self._trees_handle = os.fdopen(_open_own(self.path / TREES, os.O_WRONLY | os.O_APPEND), "a",
                                           encoding="utf-8")
            self.done = self._recover_trees()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.flush()
            if self._trees_handle is not None:
                self._trees_handle.close()
            # Failed dialogues of this run replace the last run's: a re-run retried those.
            atomic_write_jsonl(self.path / FAILED, self._failed)
        finally:
            self._unlock()

    def _lock(self) -> None:
        handle = os.fdopen(_open_own(self.path / LOCK, os.O_RDWR), "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UserError("another run is writing to this directory; wait for it or choose another --out",
                            file=str(self.path)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def _unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _check_identity(self) -> None:
        """Refuse a directory that is not ours, or (unless overwriting) holds a different run."""
        if not self.path.is_dir():
            return
        for name in (*_WRITTEN, CACHE, LOCK):
            if (self.path / name).is_symlink():
                raise UserError(f"{name} is a symbolic link; a run directory's own files must be plain files",
                                file=str(self.path))
        config_path = self.path / CONFIG
        ours = [name for name in (TREES, FAILED, MANIFEST, CACHE) if (self.path / name).exists()]
        if not config_path.exists():
            if ours:
                raise UserError(f"holds {ours[0]} but no {CONFIG}; not a run directory of this tool "
                                "(nothing was changed)", file=str(self.path))
            others = sorted(p.name for p in self.path.iterdir() if p.name != LOCK)
            if self.overwrite and others:
                raise UserError(f"holds {others[0]} and is not a run directory of this tool; --overwrite starts "
                                "only a run directory afresh (nothing was changed)", file=str(self.path))
            return
        try:
            stored = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise DataError(f"unreadable run config ({type(exc).__name__}); not a run directory of this tool",
                            file=str(config_path)) from None
        if not isinstance(stored, dict) or stored.get("format") != RUN_FORMAT:
            made_by_us = isinstance(stored, dict) and {"protocol", "agents"} <= stored.keys()  # before the mark
            if made_by_us and self.overwrite:
                return
            raise UserError("was made by an earlier version of this tool; use --overwrite to start it again, or "
                            "another --out" if made_by_us else f"{CONFIG} is not a run config of this tool; not a "
                            "run directory of this tool (nothing was changed)", file=str(self.path))
        if self.overwrite:
            return
        changed = first_difference(stored, {"format": RUN_FORMAT, **self.identity})
        if changed == "questions_digest":
            raise ConfigError("the questions (or stored trees) are not the ones this run was made with: their "
                              "content changed; use another --out, or --overwrite to start again",
                              file=str(self.path), field="questions")
        if changed is not None:
            raise ConfigError("this run directory holds a different run (the setting differs); "
                              "use another --out, or --overwrite to start again", file=str(self.path),
                              field=changed)

    def _recover_trees(self) -> set[str]:
        path = self.path / TREES
        _drop_torn_line(path)
        first: dict[str, int] = {}
        for number, line in read_lines(path):
            if not line.strip():
                continue
            record = parse_json(line, str(path), number)
            tree_id = record.get("tree_id") if isinstance(record, dict) else None
            if not isinstance(tree_id, str):
                raise DataError("not a dialogue tree record; remove the line or use --overwrite",
                                file=str(path), line=number)
            if tree_id in first:
                raise DataError(f"tree '{tree_id}' is here twice (first on line {first[tree_id]}); "
                                "remove one, or use --overwrite", file=str(path), line=number)
            first[tree_id] = number
        return set(first)

    # ------------------------------------------------------------------ writing

    def add(self, tree: DialogueTree) -> None:
        if "failed" in tree.metadata:
            self._failed.append(tree.to_dict())
        else:
            self._pending.append(tree.to_json() + "\n")
            self.done.add(tree.tree_id)

    def flush(self) -> None:
        """Append the trees finished since the last flush, whole lines, and sync them to disk."""
        if not self._pending or self._trees_handle is None:
            return
        text = "".join(self._pending)
        half = len(text) // 2
        self._trees_handle.write(text[:half])
        crash.point("trees-write", before=self._trees_handle.flush)  # a kill here tears the last line
        self._trees_handle.write(text[half:])
        self._trees_handle.flush()
        crash.point("trees-sync")
        os.fsync(self._trees_handle.fileno())
        self._pending.clear()

    @property
    def failed_count(self) -> int:
        return len(self._failed)

    def write_manifest(self, manifest: RunManifest) -> None:
        crash.point("manifest")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        atomic_write_json(self.path / MANIFEST, {**manifest.model_dump(mode="json"), "updated": stamp,
                                                 "versions": package_versions()})

    def trees(self) -> Iterator[DialogueTree]:
        path = self.path / TREES
        return iter_trees(path) if path.exists() else iter(())

    def cache_path(self) -> Path:
        return self.path / CACHE


def _drop_torn_line(path: Path, chunk: int = 1 << 16) -> None:
    """Cut a last line that a crash left without its newline (its tree is generated again)."""
    with open(path, "rb+") as handle:
        end = handle.seek(0, os.SEEK_END)
        if not end:
            return
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            return
        # Search back for the last newline a chunk at a time: the file can be far larger than memory.
        start = end
        while start > 0:
            start = max(0, start - chunk)
            handle.seek(start)
            found = handle.read(min(chunk, end - start)).rfind(b"\n")
            if found >= 0:
                handle.truncate(start + found + 1)
                return
        handle.truncate(0)


def _open_own(path: Path, flags: int) -> int:
    """Open (creating) one of our own files, never through a link: a link put there is refused."""
    try:
        return os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        reason = "is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise UserError(f"cannot open {path.name}: {reason}", file=str(path.parent)) from None


def first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found is not None:
                return found
        return None
    return None if a == b else prefix.rstrip(".") or "config"
