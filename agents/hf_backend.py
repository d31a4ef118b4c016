"""In-process transformers models with real batched generation.

Prompts are rendered with the model's chat template and left-padded into one batch. The
decoding loop is our own (a KV-cached forward per step) so that each request samples from its
own seeded generator: which other requests share its batch does not change the random draws.
It can still change the logits in their last bits (padding changes the shapes the sums run
over: 3e-6 on the tiny test model), so a near tie may go either way: not `batch_invariant`.

There is no constrained decoding (`constrained_output` is False): a request with `json_schema`
gets free text like any other, and the caller (the self-report probe) parses that text.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Sequence
from pathlib import Path

from agents.backend import Backend, Number, Text, check_model_folder
from agents.base import ChatModel
from debate.errors import EndpointError
from debate.records import ChatRequest, Message, Reply, Usage


def fold_system(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Messages for templates without a system role: the system text opens the first user turn."""
    system = [m.content for m in messages if m.role == "system"]
    rest = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0] = {"role": "user", "content": "\n\n".join(system) + "\n\n" + rest[0]["content"]}
    elif system:
        rest.insert(0, {"role": "user", "content": "\n\n".join(system)})
    return rest


def render_chat(tokenizer, messages: Sequence[Message]) -> str:
    """The prompt text for a chat, falling back to folding the system prompt when the template
    refuses a system role (Mistral-style templates)."""
    plain = [{"role": m.role, "content": m.content} for m in messages]
    try:
        return tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # jinja2 TemplateError raised by the template itself
        if "system" not in str(exc).lower() and "alternate" not in str(exc).lower():
            raise
        return tokenizer.apply_chat_template(fold_system(messages), tokenize=False, add_generation_prompt=True)


def _available(torch, device: str) -> bool:
    """Can torch place a model on `device` (cpu, mps, cuda, cuda:N)? Checked before loading,
    because torch reports a missing device with an assertion deep in `.to()`."""
    kind, _, index = device.partition(":")
    if kind == "cuda":
        return torch.cuda.is_available() and int(index or 0) < torch.cuda.device_count()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return device == "cpu"


class HFChatModel(ChatModel):
    cacheable = True
    constrained_output = False  # json_schema is not enforced: see the module docstring
    logprobs = False
    batch_invariant = False  # see the module docstring
    reads_metadata = False

    def __init__(self, path: str, *, device: str = "auto", dtype: str = "auto", max_batch_size: int = 16):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise EndpointError("the hf backend needs torch and transformers: pip install '.[hf]'") from None

        folder = Path(path).expanduser()
        check_model_folder(folder)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if not _available(torch, device):
            raise EndpointError(f"device '{device}' is not available to torch on this machine")
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        try:
            torch_dtype = getattr(torch, dtype)
        except AttributeError:
            raise EndpointError(f"unknown dtype '{dtype}' (e.g. float32, bfloat16, float16)") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype).to(device).eval()  # type: ignore[arg-type]  # transformers types .to() for a dtype
        except (OSError, ValueError) as exc:
            raise EndpointError(f"cannot load the model: {str(exc).splitlines()[0]}", file=str(folder)) from None
        self._setup(model, tokenizer, device, max_batch_size, f"hf:{folder}")

    @classmethod
    def from_loaded(cls, model, tokenizer, model_id: str, *, max_batch_size: int = 16) -> HFChatModel:
        """Wrap a model already in memory (a checkpoint being trained, for example)."""
        self = cls.__new__(cls)
        self._setup(model, tokenizer, str(next(model.parameters()).device), max_batch_size, model_id)
        return self

    def _setup(self, model, tokenizer, device: str, max_batch_size: int, model_id: str) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_ids = eos_ids
        # transformers 5 renamed the forward argument `past_key_values` to `cache` (a peft wrapper
        # takes **kwargs: look at the model it wraps).
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        self._cache_arg = "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"
        self.device = device
        self.max_batch_size = max_batch_size
        self.model_id = model_id

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        return await asyncio.to_thread(self._generate_all, list(requests))

    def _generate_all(self, requests: list[ChatRequest]) -> list[Reply]:
        replies: list[Reply] = []
        for start in range(0, len(requests), self.max_batch_size):
            chunk = requests[start:start + self.max_batch_size]
            try:
                replies += self._generate_batch(chunk)
            except Exception as exc:  # a failing batch fails its requests, not the caller
                replies += [Reply(model=self.model_id, seed=r.params.seed, error=f"{type(exc).__name__}: {exc}")
                            for r in chunk]
        return replies

    def _generate_batch(self, requests: list[ChatRequest]) -> list[Reply]:
        import torch

        start = time.perf_counter()
        prompts = [render_chat(self.tokenizer, r.messages) for r in requests]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        attention = enc["attention_mask"]
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        step_ids = enc["input_ids"]
        generators = []
        for r in requests:
            g = torch.Generator(device=self.device)
            g.manual_seed(r.params.seed if r.params.seed is not None else random.getrandbits(63))
            generators.append(g)
        limits = [r.params.max_tokens for r in requests]
        outputs: list[list[int]] = [[] for _ in requests]
        finish = ["length"] * len(requests)
        done = [False] * len(requests)
        past = None
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for _ in range(max(limits)):
                out = self.model(input_ids=step_ids, attention_mask=attention, position_ids=positions,
                                 use_cache=True, **{self._cache_arg: past})
                past = getattr(out, "cache", None) or out.past_key_values
                logits = out.logits[:, -1, :].float()
                chosen = []
                for i, r in enumerate(requests):
                    if done[i]:
                        chosen.append(pad)
                        continue
                    token = self._pick(logits[i], r.params.temperature, r.params.top_p, generators[i])
                    outputs[i].append(token)
                    if token in self.eos_ids:
                        done[i], finish[i] = True, "stop"
                    elif len(outputs[i]) >= limits[i] or self._hits_stop(outputs[i], r.params.stop):
                        done[i] = True
                        finish[i] = "stop" if r.params.stop and self._hits_stop(outputs[i], r.params.stop) else "length"
                    chosen.append(token)
                if all(done):
                    break
                step_ids = torch.tensor(chosen, device=self.device).unsqueeze(-1)
                attention = torch.cat([attention, torch.ones_like(step_ids)], dim=-1)
                positions = positions[:, -1:] + 1
        latency = time.perf_counter() - start
        replies = []
        for i, r in enumerate(requests):
            tokens = [t for t in outputs[i] if t not in self.eos_ids]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            for stop in r.params.stop:
                if stop in text:
                    text = text[:text.index(stop)]
            usage = Usage(prompt_tokens=int(enc["attention_mask"][i].sum()), completion_tokens=len(outputs[i]),
                          latency_s=latency)
            replies.append(Reply(text=text.strip(), model=self.model_id, usage=usage, finish_reason=finish[i],
                                 seed=r.params.seed))
        return replies

    @staticmethod
    def _pick(logits, temperature: float, top_p: float, generator) -> int:
        import torch

        if temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = sorted_probs.cumsum(-1) - sorted_probs < top_p  # always keeps the top token
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs, 1, generator=generator))

    def _hits_stop(self, tokens: list[int], stops: list[str]) -> bool:
        if not stops:
            return False
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return any(s in text for s in stops)

    def close(self) -> None:
        self.model = None


BACKEND = Backend(
    "hf", HFChatModel, build=HFChatModel, check_target=lambda path, options: check_model_folder(path),
    options={"device": Text(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, mps, cuda or cuda:N"),
             "dtype": Text(r"auto|float32|float16|bfloat16", "auto, float32, float16 or bfloat16"),
             "max_batch_size": Number(1, 1024, integer=True)})
