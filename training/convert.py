"""A GGUF file -> a plain transformers folder that trains (STACK.md: real models without a hub).

transformers reads GGUF (with the `gguf` package) by dequantising it to float32, but the loaded
model keeps a `quantization_config` that peft and `save_pretrained` trip over. So: load, drop
that entry, build a fresh model from the config, copy the weights, and save the folder (with the
GGUF's tokenizer and chat template). The folder is written beside its final place and renamed,
so an interrupted conversion leaves nothing half-written.
"""

from __future__ import annotations

from pathlib import Path

from debate.errors import EndpointError, UserError
from debate.storage import atomic_save_pretrained, check_folder_path


def gguf_file(source: str) -> Path:
    """'smollm2' (the bundled SmolLM2-135M-Instruct) or a path to a .gguf file."""
    if source in ("smollm2", "gguf:smollm2"):
        from agents.gguf_backend import smollm2_path
        return smollm2_path()
    path = Path(source.removeprefix("gguf:"))
    if not path.is_file():
        raise EndpointError("no such GGUF file", file=str(path))
    return path


def convert_gguf(source: str, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write a transformers model folder (float32 weights, tokenizer, chat template) to `out`."""
    path, out = gguf_file(source), check_folder_path(out)
    if (out / "config.json").is_file() and not overwrite:
        return out  # converted before: conversion is deterministic, keep it
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError("exists and is not a converted model folder (use --overwrite)", file=str(out))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # dequantisation notices
    logging.disable_progress_bar()
    try:
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (ValueError, OSError, RuntimeError) as exc:
        raise EndpointError(f"transformers cannot read this GGUF file: {str(exc).splitlines()[0]}",
                            file=str(path)) from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    return atomic_save_pretrained(out, model, tokenizer)
