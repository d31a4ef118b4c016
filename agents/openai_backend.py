"""Any OpenAI-compatible chat endpoint: OpenAI, `vllm serve`, a llama.cpp server, ...

Requests of a batch run concurrently under a limit. Rate limits (429), server errors (5xx),
timeouts, dropped connections and malformed responses are retried with exponential backoff
(honouring Retry-After); a request that still fails comes back as a Reply with `error` set.
`timeout` bounds each attempt as a whole, not only each read: a server that sends one byte a
second times out like a silent one.
A request with `json_schema` asks for structured output (`response_format`, type json_schema).
The API key comes from the environment and never appears in ids, records or messages.

Throughput (see BENCHMARKS.md): the HTTP clients of a model live as long as the event loop
that made them, not one batch (building a client costs ~25 ms of TLS set-up), and requests are
spread over several clients of at most `_POOL_SIZE` connections each, because the connection
pool scans all of its idle connections on every request. Requests go through the client's
generic `post`, which skips the SDK's per-request transform of typed parameters (our body is
plain JSON already), and the reply is read from plain JSON rather than built into SDK models.

The SDK is imported by the methods that call it, not by the module: the registry imports this
module to read its `BACKEND`, and `debate --help` or checking a spec should not pay for it.

Several endpoints (replicas of one model, e.g. several `vllm serve`): `base_url` may list URLs
separated by commas, `?base_url=http://h:8001/v1,http://h:8002/v1`. Every request of one
dialogue (one question id) goes to the same endpoint, so that the dialogue's prompt prefix stays
in that server's KV cache, and dialogues spread over the endpoints by rendezvous hashing. An
endpoint that stops answering (connection refused or reset, a timeout) is marked down for
`_DOWN_S` seconds; its requests move to the live endpoints at once, without counting as a retry
(`failovers` counts the moves). Other failures (429, 5xx, a malformed reply) are retried on the
same endpoint, as with one. Only when every endpoint is down do these failures count as retries
and back off, taking the endpoints in turn, and a request fails as a lone endpoint's does.
`concurrency` bounds the requests in flight at each endpoint (a replica's capacity): one limit
over all of them would let the dialogues of a busy replica hold the permits an idle one needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agents.backend import Backend, Number, Text
from agents.base import ChatModel
from debate.errors import EndpointError
from debate.records import ChatRequest, Reply, Usage

if TYPE_CHECKING:
    import openai

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
#: Connections per client (pool); concurrency is spread over ceil(concurrency / _POOL_SIZE) clients.
_POOL_SIZE = 8
#: Send the API key only, as `chat.completions.create` does (not an admin key from the environment).
_OPTIONS: Any = {"security": {"bearer_auth": True}}
#: Seconds an endpoint that stopped answering is left out of the routing (of several endpoints).
#: After that its dialogues go back to it: a replica that restarted, or one that only timed out
#: under load, is used again; one still dead is marked down again by the first request it fails.
_DOWN_S = 30.0


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, *, unreachable: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        #: The endpoint did not answer at all (connection refused or reset, timeout): another may.
        self.unreachable = unreachable


def _weight(position: int, key: str) -> int:
    """The rendezvous (highest random weight) score of one endpoint for one dialogue.

    A stable hash (not Python's salted `hash`), so that every process, shard and resumed run
    routes a dialogue alike. Hash-based assignment needs no shared state to spread dialogues
    evenly over the endpoints, and taking the highest score among the live endpoints moves only
    a dead endpoint's dialogues when it goes. The endpoint's position in the list is hashed, not
    its URL: the routing of a spec is then the same whatever ports a run's servers got.
    """
    return int.from_bytes(hashlib.blake2b(f"{position}\x1f{key}".encode(), digest_size=8).digest(), "big")


def _cached(response: dict[str, Any], counts: dict[str, Any]) -> int | None:
    """The prompt tokens the server reused from its cache, where it reports them: OpenAI and
    vLLM in `usage.prompt_tokens_details.cached_tokens`, llama.cpp in `timings.cache_n`."""
    details = counts.get("prompt_tokens_details") or {}
    for value in (details.get("cached_tokens"), (response.get("timings") or {}).get("cache_n")):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


class _BaseURL:
    def problem(self, value: object) -> str | None:
        """What is wrong with a base URL, or with one of a comma-separated list of them, never
        echoing it (it may hold a key)."""
        if isinstance(value, str) and "," in value:
            urls = value.split(",")
            for k, url in enumerate(urls):
                where = f"URL {k + 1} of {len(urls)}"
                if not url:
                    return f"{where} is empty (expected URLs separated by single commas, e.g. " \
                           "http://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1)"
                problem = self._one(url)
                if problem:
                    return f"{where}: {problem}"
                if url in urls[:k]:
                    return f"{where} is URL {urls.index(url) + 1} again (list each endpoint once)"
            return None
        return self._one(value)

    @staticmethod
    def _one(value: object) -> str | None:
        example = "e.g. http://127.0.0.1:8000/v1"
        if not isinstance(value, str) or any(c.isspace() for c in value):
            return f"expected an http:// or https:// URL without spaces, {example}"
        try:
            url = urlsplit(value)
            port = url.port
        except ValueError:  # a port out of range or not a number, a broken [IPv6] host
            return f"expected a host and a port from 1 to 65535, {example}"
        if "@" in url.netloc:
            # The URL goes into config.json, the manifest, every turn's model id and the cache key.
            return ("a key in the URL would be saved with every run; put it in the environment variable "
                    "named by api_key_env (default OPENAI_API_KEY)")
        if url.scheme not in ("http", "https"):
            return f"expected an http:// or https:// URL, {example}"
        if not url.hostname:
            return f"expected a URL with a host, {example}"
        if port == 0:
            return f"expected a port from 1 to 65535, {example}"
        if url.query or url.fragment or "?" in value or "#" in value:
            return f"expected a URL without a ?query or #fragment, {example}"
        return None


#: The client's option checks, shared with the gguf backend (which serves through this client).
CONCURRENCY = Number(1, 1024, integer=True)  # every _POOL_SIZE cost an HTTP client
TIMEOUT = Number(0.01, 3600)  # seconds for the whole of one attempt
MAX_RETRIES = Number(0, 100, integer=True)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from model APIs and falls back to backoff)."""
    try:
        return max(0.0, float(retry_after)) if retry_after is not None else None
    except ValueError:
        return None


class OpenAIChatModel(ChatModel):
    cacheable = True
    constrained_output = True  # response_format json_schema
    logprobs = False  # the API can return them, but Reply has no field for them yet
    batch_invariant = False  # unknown server: OpenAI's and vLLM's are not, by default
    reads_metadata = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 concurrency: int = 16, timeout: float = 60.0, max_retries: int = 4,
                 backoff: float = 0.5, max_backoff: float = 20.0,
                 price_in: float | None = None, price_out: float | None = None,
                 model_id: str | None = None):
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise EndpointError("concurrency must be >= 1, max_retries >= 0 and timeout > 0")
        # A blank key would fail every request with 401 (and a stray newline makes a bad header).
        key = (os.environ.get(api_key_env) or "").strip() if api_key_env else ""
        if not key and api_key_env and api_key_env in os.environ:  # most often a variable meant to be filled
            raise EndpointError(f"{api_key_env} is set but empty: give the key, or unset the variable "
                                "(a local endpoint needs none)")
        if not key:
            if base_url is None:
                raise EndpointError(f"no API key: set the environment variable {api_key_env} "
                                    "(or give base_url for a local endpoint)")
            key = "EMPTY"  # local servers accept any key
        self._key = key
        self.model = model
        self.base_url = base_url
        #: The endpoints, in the order given (a comma-separated base_url lists several).
        self.base_urls: list[str | None] = [*base_url.split(",")] if base_url else [None]
        if any(not url for url in self.base_urls) or len(set(self.base_urls)) < len(self.base_urls):
            raise EndpointError("base_url: expected URLs separated by single commas, each endpoint once")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.price_in = price_in
        self.price_out = price_out
        # With several endpoints the id is the whole list as given: the same for every request
        # whichever endpoint answered it, and unchanged when one dies mid-run (the routing moves,
        # the identity of the deployment does not), so the cache and the records stay one model.
        # One URL gives the id of old.
        self.model_id = model_id or (f"openai:{model}" + (f"@{base_url}" if base_url else ""))
        #: Retries made since the model was created (reported by runs).
        self.retries = 0
        #: Requests moved to another endpoint because theirs stopped answering (not retries).
        self.failovers = 0
        #: Endpoints (positions) marked down, with the monotonic time they were marked; each is
        #: left out of the routing for `down_s` seconds.
        self._down: dict[int, float] = {}
        self.down_s = _DOWN_S
        # The event loop of the last batch, and the async generator that owns its clients.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: AsyncIterator[list[list[openai.AsyncOpenAI]]] | None = None

    def check(self) -> None:
        """Can a connection be opened to the endpoint, or to at least one of several? Those that
        cannot be reached are marked down. (HTTP answers are left to the requests.)"""
        if len(self.base_urls) == 1:
            where, problem = self._reach(self.base_urls[0])
            if problem:
                raise EndpointError(f"cannot reach {where} ({problem})", field=self.model_id)
            return
        with ThreadPoolExecutor(len(self.base_urls)) as pool:  # at most 10 s each, side by side
            results = list(pool.map(self._reach, self.base_urls))
        now = time.monotonic()
        for position, (_, problem) in enumerate(results):
            if problem:
                self._down[position] = now
            else:
                self._down.pop(position, None)
        if all(problem for _, problem in results):
            raise EndpointError(f"cannot reach any of its {len(results)} endpoints: "
                                + ", ".join(f"{where} ({problem})" for where, problem in results),
                                field=self.model_id)

    def _reach(self, base_url: str | None) -> tuple[str, str | None]:
        """The endpoint as scheme://host:port (never its user-info or path), and why a
        connection to it cannot be opened, or None."""
        url = urlsplit(base_url or "https://api.openai.com/v1")
        port = url.port or (443 if url.scheme == "https" else 80)
        where = f"{url.scheme}://{url.hostname}:{port}"
        try:
            socket.create_connection((url.hostname or "", port), timeout=min(self.timeout, 10.0)).close()
        except OSError as exc:
            return where, exc.strerror or type(exc).__name__
        return where, None

    def _live(self, avoid: Collection[int] = ()) -> list[int]:
        """The endpoints (positions) not marked down in the last `down_s` seconds, less `avoid`."""
        now = time.monotonic()
        return [p for p in range(len(self.base_urls))
                if p not in avoid and (p not in self._down or now - self._down[p] >= self.down_s)]

    def _route(self, request: ChatRequest, attempt: int, avoid: Collection[int] = ()) -> int:
        """The endpoint (position) of a request: its dialogue's highest-weight live endpoint
        (`avoid`: those that already failed to answer it).

        The dialogue is the request's question (every engine request has one), else its first
        message. When no endpoint is left, counted retries take all of them in turn.
        """
        count = len(self.base_urls)
        if count == 1:
            return 0
        key = request.question.id if request.question is not None else request.messages[0].content
        live = self._live(avoid)
        if live:
            return max(live, key=lambda p: _weight(p, key))
        ranked = sorted(range(count), key=lambda p: _weight(p, key), reverse=True)
        return ranked[attempt % count]

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and self._key != "EMPTY" else text

    def _cost(self, usage: Usage) -> float | None:
        if self.price_in is None or self.price_out is None:
            return None
        return (usage.prompt_tokens * self.price_in + usage.completion_tokens * self.price_out) / 1e6

    async def _once(self, client: openai.AsyncOpenAI, request: ChatRequest) -> Reply:
        import openai

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
        if params.json_schema is not None:
            # OpenAI's shape, which `vllm serve` and llama.cpp's server also honour.
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "reply", "schema": params.json_schema, "strict": True}}
        start = time.perf_counter()
        try:
            # httpx's timeout bounds each read; this bounds the attempt, against a server that trickles.
            response = await asyncio.wait_for(
                client.post("/chat/completions", body=body, cast_to=object, options=_OPTIONS), self.timeout)
        except TimeoutError:
            raise _Retryable(f"timeout: no complete response within {self.timeout:g} s", unreachable=True) from None
        except openai.APIStatusError as exc:
            if exc.status_code in _RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {exc.status_code}", _seconds(exc.response.headers.get("retry-after"))) from exc
            raise
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise _Retryable(type(exc).__name__, unreachable=True) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:  # malformed or truncated JSON
            raise _Retryable(f"malformed response: {type(exc).__name__}") from exc
        latency = time.perf_counter() - start
        try:
            return self._reply(response, latency, params.seed)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:  # JSON of the wrong shape
            raise _Retryable(f"malformed response: {type(exc).__name__}") from exc

    def _reply(self, response: Any, latency: float, seed: int | None) -> Reply:
        """The Reply of a chat completion (JSON); raises on a response of the wrong shape."""
        if isinstance(response, str):  # the SDK returns the text of a body served as another content type
            response = json.loads(response)
        choices = response.get("choices")
        if not choices:
            raise _Retryable("response without choices")
        choice = choices[0]
        text = (choice.get("message") or {}).get("content")
        if text is None:
            raise _Retryable("response without message content")
        counts = response.get("usage") or {}
        usage = Usage(prompt_tokens=counts.get("prompt_tokens") or 0,
                      completion_tokens=counts.get("completion_tokens") or 0, latency_s=latency,
                      cached_prompt_tokens=_cached(response, counts))
        usage.cost_usd = self._cost(usage)
        return Reply(text=text, model=self.model_id, usage=usage, finish_reason=choice.get("finish_reason"),
                     seed=seed)

    async def _with_retries(self, clients: list[list[openai.AsyncOpenAI]], slot: int, limits: list[asyncio.Semaphore],
                            request: ChatRequest) -> Reply:
        import openai

        attempt = 0
        unanswered: set[int] = set()  # endpoints that did not answer this request: one move to each at most
        while True:
            position = self._route(request, attempt, unanswered)
            try:
                async with limits[position]:
                    reply = await self._once(clients[position][slot % len(clients[position])], request)
                self._down.pop(position, None)  # it answered: live again
                reply.retries = attempt
                return reply
            except _Retryable as exc:
                several = len(self.base_urls) > 1
                if several and exc.unreachable:
                    self._down[position] = time.monotonic()
                    unanswered.add(position)
                    if self._live(unanswered):
                        self.failovers += 1  # another endpoint is live: move there at once, no retry counted
                        continue
                if attempt >= self.max_retries:
                    every = f" (all {len(self.base_urls)} endpoints down)" if several and exc.unreachable \
                        and not self._live() else ""
                    return Reply(model=self.model_id, seed=request.params.seed, retries=attempt,
                                 error=f"failed after {attempt + 1} attempts: {exc}{every}")
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
        limits = [asyncio.Semaphore(self.concurrency) for _ in self.base_urls]
        clients = await self._clients()
        return list(await asyncio.gather(*(self._with_retries(clients, i, limits, r) for i, r in enumerate(requests))))

    async def _clients(self) -> list[list[openai.AsyncOpenAI]]:
        """This model's clients for the running event loop, per endpoint, made on the loop's first batch.

        httpx pools are bound to the loop that created them. An async generator owns them:
        when `asyncio.run` ends, it finalises the loop's async generators, which closes them.
        """
        loop = asyncio.get_running_loop()
        if self._holder is None or self._loop is not loop:
            self._loop, self._holder = loop, self._hold_clients()
        return await anext(self._holder)

    async def _hold_clients(self) -> AsyncIterator[list[list[openai.AsyncOpenAI]]]:
        import openai

        # Each endpoint gets enough clients for its concurrency.
        count = -(-self.concurrency // _POOL_SIZE)
        clients = [[openai.AsyncOpenAI(api_key=self._key, base_url=url, timeout=self.timeout, max_retries=0)
                    for _ in range(count)] for url in self.base_urls]
        try:
            while True:
                yield clients
        finally:
            for client in (c for endpoint in clients for c in endpoint):
                await client.close()


BACKEND = Backend(
    "openai", OpenAIChatModel, build=OpenAIChatModel, target="model",
    options={"base_url": _BaseURL(),
             "api_key_env": Text(r"[A-Za-z_][A-Za-z0-9_]*", "the name of an environment variable"),
             "concurrency": CONCURRENCY, "timeout": TIMEOUT, "max_retries": MAX_RETRIES,
             "backoff": Number(0, 60), "max_backoff": Number(0, 600),
             "price_in": Number(0, 10000), "price_out": Number(0, 10000)})  # USD per 1M tokens
