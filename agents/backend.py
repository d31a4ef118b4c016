"""What a backend declares about itself: one `Backend` record, in the backend's own module.

The record holds everything the registry needs before anything loads (the kind, the option
checks, the target check) and the factory that loads. Declaring one costs no heavy import:
backend modules import torch, openai, vllm or xllamacpp inside the functions that need them,
so that `debate --help` and checking a spec stay fast.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agents.base import ChatModel
from debate.errors import EndpointError


class OptionCheck(Protocol):
    def problem(self, value: object) -> str | None:
        """None for a good value, else what was expected (one line)."""


@dataclass(frozen=True)
class Number:
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
class Text:
    pattern: str
    expected: str

    def problem(self, value: object) -> str | None:
        if isinstance(value, str) and re.fullmatch(self.pattern, value):
            return None
        return f"expected {self.expected}"  # not echoed: it may be a key put in the wrong place


@dataclass(frozen=True)
class Backend:
    """One backend, as the registry sees it.

    `build(target, **options)` loads the model (the backend's heavy imports happen there). The
    checks run before it, without loading anything, so that a bad spec is one line up front.
    """

    #: The KIND of a spec `KIND:TARGET?options`.
    kind: str
    #: The chat model class; its class attributes are the backend's capabilities (see ChatModel).
    model: type[ChatModel]
    #: Loads a model from the spec's target and merged options.
    build: Callable[..., ChatModel]
    #: Checks by option name; None when options pass through (vLLM's engine arguments) or the
    #: backend checks them itself (`check_option`, `check_target`).
    options: Mapping[str, OptionCheck] | None = None
    #: One option alone, for a backend without an `options` table (a config's options table is
    #: checked line by line); raises a SpecError.
    check_option: Callable[[str, Any], None] | None = None
    #: The target with the merged options, checked without loading (a file exists, parameters
    #: are valid); raises the error loading would. What it returns is ignored.
    check_target: Callable[[str, dict[str, Any]], object] | None = None
    #: What follows `KIND:` in a spec, for the error that finds none.
    target: str = "target"


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
