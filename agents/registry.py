"""Model spec strings -> chat models, with one shared instance per spec.

A spec is `KIND:TARGET`, optionally followed by `?key=value&key=value` options:

| spec | backend |
|---|---|
| `openai:MODEL` | an OpenAI-compatible endpoint (`?base_url=http://127.0.0.1:8000/v1`) |
| `hf:PATH` | in-process transformers (`?device=cpu&dtype=float32`) |
| `vllm:PATH` | in-process vLLM (engine arguments as options: `?tensor_parallel_size=2`) |
| `gguf:PATH`, `gguf:smollm2` | a managed llama.cpp server (`?n_parallel=4`) |
| `sim:NAME` | a simulated agent (a preset name, or any name with parameters) |

Options may also come from a config file (`options=`); spec options win. Every option is checked
by name, type and range before anything loads (`check_spec`), so a bad value is one line up
front rather than a crash or a failed dialogue later. Heavy backends are imported only when a
spec names them.
"""

from __future__ import annotations

import atexit
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agents.base import ChatModel
from debate.errors import EndpointError, SpecError

KINDS = ("openai", "hf", "vllm", "gguf", "sim")
DEFAULT_MODEL = "gguf:smollm2"

# Each check's `problem(value)` is None for a good value, else what was expected (one line).


@dataclass(frozen=True)
class _Number:
    low: float
    high: float
    integer: bool = False

    def problem(self, value: object) -> str | None:
        kinds = (int,) if self.integer else (int, float)
        # True is an int in Python, but `concurrency=true` is a mistake, not 1.
        if isinstance(value, kinds) and not isinstance(value, bool) and self.low <= value <= self.high:
            return None
        return (f"expected {'an integer' if self.integer else 'a number'} from {self.low:g} to {self.high:g}, "
                f"got {value!r}")


@dataclass(frozen=True)
class _Text:
    pattern: str
    expected: str

    def problem(self, value: object) -> str | None:
        if isinstance(value, str) and re.fullmatch(self.pattern, value):
            return None
        return f"expected {self.expected}"  # not echoed: it may be a key put in the wrong place


class _BaseURL:
    def problem(self, value: object) -> str | None:
        """What is wrong with a base URL, never echoing it (it may hold a key)."""
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


_CONCURRENCY = _Number(1, 1024, integer=True)  # every 8 cost an HTTP client (agents/openai_backend.py)
_TIMEOUT = _Number(0.01, 3600)  # seconds for the whole of one attempt
_RETRIES = _Number(0, 100, integer=True)

_OPTIONS: dict[str, dict[str, _Number | _Text | _BaseURL] | None] = {
    "openai": {"base_url": _BaseURL(),
               "api_key_env": _Text(r"[A-Za-z_][A-Za-z0-9_]*", "the name of an environment variable"),
               "concurrency": _CONCURRENCY, "timeout": _TIMEOUT, "max_retries": _RETRIES,
               "backoff": _Number(0, 60), "max_backoff": _Number(0, 600),
               "price_in": _Number(0, 10000), "price_out": _Number(0, 10000)},  # USD per 1M tokens
    "hf": {"device": _Text(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, mps, cuda or cuda:N"),
           "dtype": _Text(r"auto|float32|float16|bfloat16", "auto, float32, float16 or bfloat16"),
           "max_batch_size": _Number(1, 1024, integer=True)},
    "vllm": None,  # engine arguments pass through
    "gguf": {"n_parallel": _Number(1, 64, integer=True), "n_ctx": _Number(128, 131072, integer=True),
             "threads": _Number(1, 512, integer=True), "concurrency": _CONCURRENCY, "timeout": _TIMEOUT,
             "max_retries": _RETRIES},
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


def _redact(spec: str) -> str:
    """A spec fit to echo: the user-info of any URL in it (a key) masked."""
    return re.sub(r"//[^/?#@]*@", "//***@", spec)


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """Split a spec into (kind, target, options), checking the kind and option names."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in KINDS:
        raise SpecError(f"unknown model spec '{_redact(spec)}' (expected KIND:TARGET with KIND one of "
                        f"{', '.join(KINDS)}; e.g. {DEFAULT_MODEL}, sim:strong, openai:gpt-4o-mini, hf:./model)")
    target, _, query = rest.partition("?")
    if not target:
        raise SpecError(f"model spec '{_redact(spec)}' names no {'model' if kind == 'openai' else 'target'} "
                        f"after '{kind}:'")
    options = {key: parse_value(val) for key, val in parse_qsl(query, keep_blank_values=True)}
    return kind, target, options


def check_option(kind: str, name: str, value: Any) -> None:
    """One option of a backend, by name, type and range (vLLM's engine arguments pass)."""
    if kind == "sim":
        from agents.sim import check_parameter
        check_parameter(name, value)
        return
    checks = _OPTIONS[kind]
    if checks is None:
        return
    if name not in checks:
        raise SpecError(f"unknown option '{name}' for {kind} models (expected one of {', '.join(sorted(checks))})")
    problem = checks[name].problem(value)
    if problem:
        raise SpecError(f"option '{name}' for {kind} models: {problem}")


def _check_options(kind: str, options: dict[str, Any]) -> None:
    if _OPTIONS[kind] is None:  # sim: checked whole, with the spec's name, by SimModel.from_spec
        return
    for name, value in options.items():
        check_option(kind, name, value)


def check_spec(spec: str, options: dict[str, Any] | None = None) -> None:
    """Check a spec without loading anything: its kind, options (names, types, ranges), sim
    parameters, and that a local model file or folder exists. Raises the same one-line errors
    loading would."""
    kind, target, spec_options = parse_spec(spec)
    merged = {**(options or {}), **spec_options}
    _check_options(kind, merged)
    if kind == "sim":
        from agents.sim import SimModel
        SimModel.from_spec(target, merged)
    elif kind == "gguf" and target != "smollm2" and not Path(target).expanduser().is_file():
        raise EndpointError("no such model file", file=target)
    elif kind in ("hf", "vllm"):
        check_model_folder(target)


_WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
_TOKENIZER = ("tokenizer.json", "tokenizer.model", "vocab.json")


def check_model_folder(folder: str | Path) -> None:
    """A transformers model folder holds a config naming its model type, weights and a tokenizer;
    checked before anything heavy is imported, so that a wrong folder is one line."""
    path = Path(folder).expanduser()
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EndpointError("not a transformers model folder (no config.json)", file=str(folder)) from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EndpointError(f"not a transformers model folder (config.json unreadable: {type(exc).__name__})",
                            file=str(folder)) from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise EndpointError("not a transformers model folder (config.json names no model_type)", file=str(folder))
    if not any(next(path.glob(pattern), None) for pattern in _WEIGHTS):
        raise EndpointError("not a transformers model folder (no weights: *.safetensors or pytorch_model*.bin)",
                            file=str(folder))
    if not any((path / name).is_file() for name in _TOKENIZER):
        raise EndpointError(f"not a transformers model folder (no tokenizer: {', '.join(_TOKENIZER)})",
                            file=str(folder))


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
