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
front rather than a crash or a failed dialogue later.

Each backend declares itself once, as the `BACKEND` record of its own module (agents/backend.py
says what a record holds). The built-in modules are listed below, in the order error messages
name them; importing them is cheap, because each imports its heavy libraries only when a spec
naming it is loaded. `register` adds a backend at run time.
"""

from __future__ import annotations

import atexit
import re
from typing import Any
from urllib.parse import parse_qsl

from agents import gguf_backend, hf_backend, openai_backend, sim, vllm_backend
from agents.backend import Backend, check_model_folder
from agents.base import ChatModel
from debate.errors import SpecError

__all__ = ["DEFAULT_MODEL", "KINDS", "check_model_folder", "check_option", "check_spec", "close_all", "load_model",
           "parse_spec", "parse_value", "register"]

#: Backends by kind: the built-in ones, in the order error messages name them, then those registered.
_BACKENDS: dict[str, Backend] = {module.BACKEND.kind: module.BACKEND
                                 for module in (openai_backend, hf_backend, vllm_backend, gguf_backend, sim)}
#: The built-in backend kinds.
KINDS = tuple(_BACKENDS)
DEFAULT_MODEL = "gguf:smollm2"


def register(backend: Backend) -> None:
    """Make the specs of one more backend kind loadable and checkable (a plug-in, a test double)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", backend.kind) or backend.kind in _BACKENDS:
        raise ValueError(f"cannot register a backend of kind {backend.kind!r} (taken, or not [a-z][a-z0-9_]*)")
    _BACKENDS[backend.kind] = backend

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
    if not sep or kind not in _BACKENDS:
        raise SpecError(f"unknown model spec '{_redact(spec)}' (expected KIND:TARGET with KIND one of "
                        f"{', '.join(_BACKENDS)}; e.g. {DEFAULT_MODEL}, sim:strong, openai:gpt-4o-mini, hf:./model)")
    target, _, query = rest.partition("?")
    if not target:
        raise SpecError(f"model spec '{_redact(spec)}' names no {_BACKENDS[kind].target} after '{kind}:'")
    options = {key: parse_value(val) for key, val in parse_qsl(query, keep_blank_values=True)}
    return kind, target, options


def check_option(kind: str, name: str, value: Any) -> None:
    """One option of a backend, by name, type and range (vLLM's engine arguments pass)."""
    backend = _BACKENDS[kind]
    if backend.options is None:
        if backend.check_option is not None:
            backend.check_option(name, value)
        return
    if name not in backend.options:
        raise SpecError(f"unknown option '{name}' for {kind} models "
                        f"(expected one of {', '.join(sorted(backend.options))})")
    problem = backend.options[name].problem(value)
    if problem:
        raise SpecError(f"option '{name}' for {kind} models: {problem}")


def _check_options(kind: str, options: dict[str, Any]) -> None:
    if _BACKENDS[kind].options is None:  # passed through, or checked whole by the target check
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
    check_target = _BACKENDS[kind].check_target
    if check_target is not None:
        check_target(target, merged)


def load_model(spec: str, options: dict[str, Any] | None = None) -> ChatModel:
    """The chat model a spec names; every caller naming the same spec shares one instance."""
    kind, target, spec_options = parse_spec(spec)
    merged = {**(options or {}), **spec_options}
    _check_options(kind, merged)
    key = (kind, target, tuple(sorted((k, repr(v)) for k, v in merged.items())))
    if key not in _loaded:
        _loaded[key] = _BACKENDS[kind].build(target, **merged)
    return _loaded[key]


def close_all() -> None:
    """Close every loaded model (servers stop, engines release memory)."""
    while _loaded:
        _, model = _loaded.popitem()
        model.close()


atexit.register(close_all)
