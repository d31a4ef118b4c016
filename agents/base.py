"""The batch chat-model interface every backend implements."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence

from debate.records import ChatRequest, Reply

#: The names of ChatModel's capability attributes.
CAPABILITIES = ("cacheable", "constrained_output", "logprobs", "batch_invariant", "reads_metadata")


class ChatModel(abc.ABC):
    """A model that answers a batch of chat requests.

    `generate` returns exactly one Reply per request, in request order. A request that fails
    for good (after the backend's retries) comes back as a Reply with `error` set; it never
    drops out of the batch and never crashes the rest of it.
    """

    #: A stable identity for caches and records (backend kind and model, e.g. "gguf:smollm2").
    model_id: str = ""

    # Capabilities (CAPABILITIES names them all; wrappers forward them). The defaults suit a real
    # model that promises nothing; each backend sets every one of them in its class.

    #: Whether the engine puts a generation cache in front of the model. False where a reply
    #: costs less to compute than to look up (the simulator).
    cacheable: bool = True
    #: Whether the backend enforces `GenerationParams.json_schema` while decoding. Where it does
    #: not, a constrained request gets free text and the caller must parse it.
    constrained_output: bool = False
    #: Whether replies carry token log-probabilities.
    logprobs: bool = False
    #: Whether a reply, at a fixed seed, is bit for bit the same whatever else shares its batch:
    #: then a run repeats exactly at any window or batch size.
    batch_invariant: bool = False
    #: Whether replies depend on the request's `question` and `persona` metadata rather than on
    #: its messages alone (the simulator reads the gold answers). The cache key leaves metadata
    #: out, so such a model must not be cacheable, and it cannot answer a question without gold.
    reads_metadata: bool = False

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
