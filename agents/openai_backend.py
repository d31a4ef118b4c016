"""Any OpenAI-compatible chat endpoint: OpenAI, `vllm serve`, a llama.cpp server, ...

Requests of a batch run concurrently under a limit. Rate limits (429), server errors (5xx),
timeouts, dropped connections and malformed responses are retried with exponential backoff
(honouring Retry-After); a request that still fails comes back as a Reply with `error` set.
The API key comes from the environment and never appears in ids, records or messages.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence

import openai

from agents.base import ChatModel
from debate.errors import EndpointError
from debate.records import ChatRequest, Reply, Usage

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from model APIs and falls back to backoff)."""
    try:
        return max(0.0, float(retry_after)) if retry_after is not None else None
    except ValueError:
        return None


class OpenAIChatModel(ChatModel):
    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 concurrency: int = 16, timeout: float = 60.0, max_retries: int = 4,
                 backoff: float = 0.5, max_backoff: float = 20.0,
                 price_in: float | None = None, price_out: float | None = None,
                 model_id: str | None = None):
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise EndpointError("concurrency must be >= 1, max_retries >= 0 and timeout > 0")
        key = os.environ.get(api_key_env) if api_key_env else None
        if key is None:
            if base_url is None:
                raise EndpointError(f"no API key: set the environment variable {api_key_env} "
                                    "(or give base_url for a local endpoint)")
            key = "EMPTY"  # local servers accept any key
        self._key = key
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.price_in = price_in
        self.price_out = price_out
        self.model_id = model_id or (f"openai:{model}" + (f"@{base_url}" if base_url else ""))
        #: Retries made since the model was created (reported by runs).
        self.retries = 0

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and self._key != "EMPTY" else text

    def _cost(self, usage: Usage) -> float | None:
        if self.price_in is None or self.price_out is None:
            return None
        return (usage.prompt_tokens * self.price_in + usage.completion_tokens * self.price_out) / 1e6

    async def _once(self, client: openai.AsyncOpenAI, request: ChatRequest) -> Reply:
        params = request.params
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "n": 1,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = params.stop
        start = time.perf_counter()
        try:
            response = await client.chat.completions.create(**body)
        except openai.APIStatusError as exc:
            if exc.status_code in _RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {exc.status_code}", _seconds(exc.response.headers.get("retry-after")))
            raise
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise _Retryable(type(exc).__name__) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:  # malformed or truncated JSON
            raise _Retryable(f"malformed response: {type(exc).__name__}") from exc
        latency = time.perf_counter() - start
        if not getattr(response, "choices", None):
            raise _Retryable("response without choices")
        choice = response.choices[0]
        text = choice.message.content if choice.message is not None else None
        if text is None:
            raise _Retryable("response without message content")
        usage = Usage(latency_s=latency)
        if response.usage is not None:
            usage = Usage(prompt_tokens=response.usage.prompt_tokens or 0,
                          completion_tokens=response.usage.completion_tokens or 0, latency_s=latency)
        usage = usage.model_copy(update={"cost_usd": self._cost(usage)})
        return Reply(text=text, model=self.model_id, usage=usage, finish_reason=choice.finish_reason,
                     seed=params.seed)

    async def _with_retries(self, client: openai.AsyncOpenAI, limit: asyncio.Semaphore,
                            request: ChatRequest) -> Reply:
        attempt = 0
        while True:
            try:
                async with limit:
                    reply = await self._once(client, request)
                return reply.model_copy(update={"retries": attempt})
            except _Retryable as exc:
                if attempt >= self.max_retries:
                    return Reply(model=self.model_id, seed=request.params.seed, retries=attempt,
                                 error=f"failed after {attempt + 1} attempts: {exc}")
                # Retry-After is honoured up to max_backoff; otherwise exponential backoff with jitter.
                delay = min(exc.retry_after, self.max_backoff) if exc.retry_after is not None else \
                    min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
                attempt += 1
                self.retries += 1
                await asyncio.sleep(delay)
            except openai.APIStatusError as exc:  # 4xx: retrying will not help
                return Reply(model=self.model_id, seed=request.params.seed, retries=attempt,
                             error=self._scrub(f"HTTP {exc.status_code}: {exc.message}"))
            except Exception as exc:  # anything else fails this request, not the batch
                return Reply(model=self.model_id, seed=request.params.seed, retries=attempt,
                             error=self._scrub(f"{type(exc).__name__}: {exc}"))

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        limit = asyncio.Semaphore(self.concurrency)
        # A client per batch: httpx pools are bound to the event loop that created them.
        async with openai.AsyncOpenAI(api_key=self._key, base_url=self.base_url, timeout=self.timeout,
                                      max_retries=0) as client:
            return list(await asyncio.gather(*(self._with_retries(client, limit, r) for r in requests)))
