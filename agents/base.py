"""The batch chat-model interface every backend implements."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence

from debate.records import ChatRequest, Reply


class ChatModel(abc.ABC):
    """A model that answers a batch of chat requests.

    `generate` returns exactly one Reply per request, in request order. A request that fails
    for good (after the backend's retries) comes back as a Reply with `error` set; it never
    drops out of the batch and never crashes the rest of it.
    """

    #: A stable identity for caches and records (backend kind and model, e.g. "gguf:smollm2").
    model_id: str = ""
    #: Whether the backend enforces `GenerationParams.json_schema` while decoding. Where it does
    #: not, a constrained request gets free text and the caller must parse it.
    constrained_output: bool = False

    @abc.abstractmethod
    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        """Answer every request of the batch."""

    def generate_sync(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        """`generate` for callers without an event loop (scripts, the CLI)."""
        return asyncio.run(self.generate(requests))

    def check(self) -> None:  # noqa: B027 - a default that does nothing
        """Fail fast, with an EndpointError, if the model cannot be reached (before a run starts)."""

    def close(self) -> None:  # noqa: B027 - a default that does nothing
        """Release servers, engines or memory the model holds. Safe to call twice."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r})"
