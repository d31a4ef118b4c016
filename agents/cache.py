"""A persistent generation cache: the same request to the same model is generated once.

Keyed on exactly what changes a real model's output: the model identity, the messages and the
generation parameters (seed and JSON Schema included), under a version tag that a change of
the key's recipe bumps. The request's `question` and `persona` are metadata that only models
with `reads_metadata` look at, and those are not cacheable: leaving them out means that editing
a question's metadata keeps its generations. Stored in one SQLite file (a run directory holds
one), so that a re-run resumes from what was already generated. Failed replies are not stored:
a re-run retries them. API keys are never part of a key or a stored reply.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from agents.base import CAPABILITIES, ChatModel
from debate import crash
from debate.errors import DataError
from debate.records import ChatRequest, Reply


#: Bumped whenever the payload below changes, so that old keys can never match new ones.
KEY_VERSION = "v2"


def request_key(model_id: str, request: ChatRequest) -> str:
    messages = [m.model_dump(mode="json") for m in request.messages]
    payload = json.dumps([KEY_VERSION, model_id, messages, request.params.model_dump(mode="json")], sort_keys=True,
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class GenerationCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            # WAL: a crash mid-write loses at most the last transaction, never the file.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a generation cache ({exc})", file=str(self.path)) from None
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, Reply]:
        found: dict[str, Reply] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for key, text in self._db.execute(f"SELECT key, reply FROM replies WHERE key IN ({marks})", chunk):
                # A reply from the cache cost no attempt now: its retries were counted when it was made.
                found[key] = Reply.model_validate_json(text).model_copy(update={"retries": 0})
        return found

    def put_many(self, items: Sequence[tuple[str, Reply]]) -> None:
        with self._db:  # one transaction
            self._db.executemany("INSERT OR REPLACE INTO replies VALUES (?, ?)",
                                 [(key, reply.model_dump_json()) for key, reply in items if reply.ok])
            crash.point("cache-put")  # a kill here, before the commit, loses the whole batch

    def absorb(self, other: str | Path) -> None:
        """Add every entry of another cache file (a shard's) that this one lacks."""
        with self._db:
            self._db.execute("ATTACH DATABASE ? AS other", (str(other),))
        try:
            with self._db:
                self._db.execute("INSERT OR IGNORE INTO replies SELECT key, reply FROM other.replies")
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a generation cache ({exc})", file=str(other)) from None
        finally:
            self._db.execute("DETACH DATABASE other")

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CachedChatModel(ChatModel):
    """A chat model whose batches are answered from the cache where possible."""

    def __init__(self, model: ChatModel, cache: GenerationCache):
        self.model = model
        self.cache = cache
        self.model_id = model.model_id
        for name in CAPABILITIES:  # the engine and the readers ask the wrapper what the model can do
            setattr(self, name, getattr(model, name))

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        keys = [request_key(self.model_id, r) for r in requests]
        cached = self.cache.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in cached]
        self.cache.hits += len(requests) - len(missing)
        self.cache.misses += len(missing)
        fresh = await self.model.generate([requests[i] for i in missing]) if missing else []
        self.cache.put_many([(keys[i], reply) for i, reply in zip(missing, fresh, strict=True)])
        by_index = dict(zip(missing, fresh))
        return [by_index[i] if i in by_index else cached[keys[i]] for i in range(len(requests))]

    def close(self) -> None:
        self.model.close()
