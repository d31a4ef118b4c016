"""Model spec strings -> chat models, with one shared instance per spec.

A spec is `KIND:TARGET`, optionally followed by `?key=value&key=value` options:

| spec | backend |
|---|---|
| `openai:MODEL` | an OpenAI-compatible endpoint (`?base_url=http://127.0.0.1:8000/v1`) |
| `hf:PATH` | in-process transformers (`?device=cpu&dtype=float32`) |
| `vllm:PATH` | in-process vLLM (engine arguments as options: `?tensor_parallel_size=2`) |
| `gguf:PATH`, `gguf:smollm2` | a managed llama.cpp server (`?n_parallel=4`) |
| `sim:NAME` | a simulated agent (a preset name, or any name with parameters) |

Options may also come from a config file (`options=`); spec options win. Heavy backends are
imported only when a spec names them.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from agents.base import ChatModel
from debate.errors import EndpointError, SpecError

KINDS = ("openai", "hf", "vllm", "gguf", "sim")
DEFAULT_MODEL = "gguf:smollm2"

_OPTIONS: dict[str, set[str] | None] = {
    "openai": {"base_url", "api_key_env", "concurrency", "timeout", "max_retries", "backoff", "max_backoff",
               "price_in", "price_out"},
    "hf": {"device", "dtype", "max_batch_size"},
    "vllm": None,  # engine arguments pass through
    "gguf": {"n_parallel", "n_ctx", "threads", "concurrency", "timeout", "max_retries"},
    "sim": None,  # checked by the sim parameters themselves
}

_loaded: dict[tuple[str, str, tuple[tuple[str, str], ...]], ChatModel] = {}


def parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """Split a spec into (kind, target, options), checking the kind and option names."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in KINDS:
        raise SpecError(f"unknown model spec '{spec}' (expected KIND:TARGET with KIND one of {', '.join(KINDS)}; "
                        f"e.g. {DEFAULT_MODEL}, sim:strong, openai:gpt-4o-mini, hf:./model)")
    target, _, query = rest.partition("?")
    if not target:
        raise SpecError(f"model spec '{spec}' names no {'model' if kind == 'openai' else 'target'} after '{kind}:'")
    options = {key: parse_value(val) for key, val in parse_qsl(query, keep_blank_values=True)}
    return kind, target, options


def _check_options(kind: str, options: dict[str, Any]) -> None:
    allowed = _OPTIONS[kind]
    unknown = sorted(set(options) - allowed) if allowed is not None else []
    if unknown:
        raise SpecError(f"unknown option '{unknown[0]}' for {kind} models (expected one of {', '.join(sorted(allowed))})")


def check_spec(spec: str, options: dict[str, Any] | None = None) -> None:
    """Check a spec without loading anything: its kind, option names, sim parameters, and that a
    local model file or folder exists. Raises the same one-line errors loading would."""
    kind, target, spec_options = parse_spec(spec)
    merged = {**(options or {}), **spec_options}
    _check_options(kind, merged)
    if kind == "sim":
        from agents.sim import SimModel
        SimModel.from_spec(target, merged)
    elif kind == "gguf" and target != "smollm2" and not Path(target).expanduser().is_file():
        raise EndpointError("no such model file", file=target)
    elif kind in ("hf", "vllm") and not (Path(target).expanduser() / "config.json").is_file():
        raise EndpointError("not a transformers model folder (no config.json)", file=target)


def _build(kind: str, target: str, options: dict[str, Any]) -> ChatModel:
    if kind == "sim":
        from agents.sim import SimModel
        return SimModel.from_spec(target, options)
    if kind == "openai":
        from agents.openai_backend import OpenAIChatModel
        return OpenAIChatModel(target, **options)
    if kind == "gguf":
        from agents.gguf_backend import GGUFChatModel
        return GGUFChatModel(target, **options)
    if kind == "hf":
        try:
            from agents.hf_backend import HFChatModel
        except ImportError:
            raise EndpointError("the hf backend needs torch and transformers: pip install '.[hf]'") from None
        return HFChatModel(target, **options)
    from agents.vllm_backend import VLLMChatModel
    return VLLMChatModel(target, **options)


def load_model(spec: str, options: dict[str, Any] | None = None) -> ChatModel:
    """The chat model a spec names; every caller naming the same spec shares one instance."""
    kind, target, spec_options = parse_spec(spec)
    merged = {**(options or {}), **spec_options}
    _check_options(kind, merged)
    key = (kind, target, tuple(sorted((k, repr(v)) for k, v in merged.items())))
    if key not in _loaded:
        _loaded[key] = _build(kind, target, merged)
    return _loaded[key]


def close_all() -> None:
    """Close every loaded model (servers stop, engines release memory)."""
    while _loaded:
        _, model = _loaded.popitem()
        model.close()


atexit.register(close_all)
