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

import fcntl
import json
import os
import platform
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from debate import crash
from debate.errors import ConfigError, DataError, UserError
from debate.storage import atomic_write_json, atomic_write_jsonl, read_lines
from debate.tree import DialogueTree, iter_trees

TREES, FAILED, CONFIG, MANIFEST, CACHE, LOCK = (
    "trees.jsonl", "failed.jsonl", "config.json", "manifest.json", "cache.sqlite", ".lock")
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


class RunDir:
    """Open with `with RunDir(path, identity) as run:`; the lock is held until the block ends."""

    def __init__(self, path: str | Path, identity: dict[str, Any], *, overwrite: bool = False):
        self.path = Path(path)
        self.identity = identity
        self.overwrite = overwrite
        self.done: set[str] = set()
        self._failed: list[dict[str, Any]] = []
        self._pending: list[str] = []
        self._lock_handle = None
        self._trees_handle = None

    # ------------------------------------------------------------------ opening

    def __enter__(self) -> RunDir:
        if self.path.exists() and not self.path.is_dir():
            raise UserError("exists and is not a directory", file=str(self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            for stale in self.path.glob(".*.tmp"):  # left by a write that a crash interrupted
                stale.unlink()
            self._check_identity()
            self.done = self._recover_trees()
            self._trees_handle = open(self.path / TREES, "a", encoding="utf-8")
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
        handle = open(self.path / LOCK, "a+")
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
        config_path = self.path / CONFIG
        if self.overwrite:
            for name in (TREES, FAILED, MANIFEST, CONFIG):
                (self.path / name).unlink(missing_ok=True)
            for name in (CACHE, CACHE + "-wal", CACHE + "-shm"):
                (self.path / name).unlink(missing_ok=True)
        elif config_path.exists():
            try:
                stored = json.loads(config_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise DataError(f"unreadable run config ({exc})", file=str(config_path)) from None
            changed = _first_difference(stored, self.identity)
            if changed is not None:
                raise ConfigError("this run directory holds a different run (the setting differs); "
                                  "use another --out, or --overwrite to start again", file=str(self.path),
                                  field=changed)
        elif (self.path / TREES).exists():
            raise UserError(f"holds {TREES} but no {CONFIG}; not a run directory of this tool", file=str(self.path))
        atomic_write_json(config_path, self.identity)

    def _recover_trees(self) -> set[str]:
        path = self.path / TREES
        if not path.exists():
            return set()
        with open(path, "rb+") as handle:
            data_end = handle.seek(0, os.SEEK_END)
            if data_end:
                handle.seek(max(0, data_end - 1))
                if handle.read(1) != b"\n":
                    # A crash cut the last line short: drop it (its tree will be generated again).
                    handle.seek(0)
                    content = handle.read()
                    handle.truncate(content.rfind(b"\n") + 1)
        done = set()
        for number, line in read_lines(path):
            if not line.strip():
                continue
            try:
                tree_id = json.loads(line)["tree_id"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DataError("not a dialogue tree record; remove the line or use --overwrite",
                                file=str(path), line=number) from None
            done.add(tree_id)
        return done

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

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        crash.point("manifest")
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        atomic_write_json(self.path / MANIFEST, {**manifest, "updated": stamp, "versions": package_versions()})

    def trees(self) -> Iterator[DialogueTree]:
        path = self.path / TREES
        return iter_trees(path) if path.exists() else iter(())

    def cache_path(self) -> Path:
        return self.path / CACHE


def _first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found is not None:
                return found
        return None
    return None if a == b else prefix.rstrip(".") or "config"
