"""Backends as components: each declares itself once (agents/backend.py), capabilities are class
attributes, the registry finds the built-in ones without importing a heavy library, and a backend
registered at run time is loaded and checked like a built-in one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

import pytest

from agents import registry
from agents.backend import Backend, Text
from agents.base import CAPABILITIES, ChatModel
from agents.registry import KINDS, check_option, check_spec, load_model, parse_spec, register
from debate.errors import EndpointError, SpecError
from debate.records import ChatRequest, Message, Reply

HEAVY = ("openai", "httpx", "torch", "transformers", "vllm", "xllamacpp", "trl")

#: What each backend can do, and the one line of why is next to each value in its class.
EXPECTED = {
    "openai": {"cacheable": True, "constrained_output": True, "logprobs": False, "batch_invariant": False,
               "reads_metadata": False},
    "hf": {"cacheable": True, "constrained_output": False, "logprobs": False, "batch_invariant": False,
           "reads_metadata": False},
    "vllm": {"cacheable": True, "constrained_output": False, "logprobs": False, "batch_invariant": False,
             "reads_metadata": False},
    "gguf": {"cacheable": True, "constrained_output": True, "logprobs": False, "batch_invariant": False,
             "reads_metadata": False},
    "sim": {"cacheable": False, "constrained_output": True, "logprobs": False, "batch_invariant": True,
            "reads_metadata": True},
}


def test_the_built_in_kinds_come_from_their_modules_in_order():
    assert KINDS == ("openai", "hf", "vllm", "gguf", "sim")
    assert [registry._BACKENDS[kind].kind for kind in KINDS] == list(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_backend_declares_every_capability(kind):
    model = registry._BACKENDS[kind].model
    own = model.__mro__[:model.__mro__.index(ChatModel)]  # the backend's classes, not the defaults
    for name in CAPABILITIES:
        assert any(name in vars(cls) for cls in own), f"{model.__name__} does not declare {name}"
    assert {name: getattr(model, name) for name in CAPABILITIES} == EXPECTED[kind]
    # The cache key leaves request metadata out: a model that reads it must never be cached.
    assert not (model.cacheable and model.reads_metadata)


def test_checking_specs_and_help_import_no_heavy_library(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "tokenizer.json").write_text("{}")
    specs = ["openai:m?base_url=http://127.0.0.1:9/v1&concurrency=4", "gguf:smollm2?n_parallel=2", f"hf:{folder}",
             f"vllm:{folder}?tensor_parallel_size=2", "sim:strong", "sim:x?accuracy=0.3"]
    code = f"""
import sys
from agents.registry import check_spec, parse_spec
for spec in {specs!r}:
    parse_spec(spec)
    check_spec(spec)
from debate.cli import main
sys.argv = ["debate", "--help"]
try:
    main()
except SystemExit:
    pass
print("heavy:", sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "heavy: []", run.stdout + run.stderr


class Echo(ChatModel):
    """A backend defined in one place: this class and its record below."""

    cacheable = True
    constrained_output = False
    logprobs = False
    batch_invariant = True
    reads_metadata = False

    def __init__(self, target: str, prefix: str = ">"):
        self.prefix = prefix
        self.model_id = f"echo:{target}"

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        return [Reply(text=f"{self.prefix} {r.messages[-1].content}", model=self.model_id) for r in requests]


def _check_echo_target(target: str, options: dict[str, object]) -> None:
    if target == "missing":
        raise EndpointError("no such echo", file=target)


ECHO = Backend("echo", Echo, build=Echo, check_target=_check_echo_target,
               options={"prefix": Text(r"[>#-]+", "one or more of > # -")})


@pytest.fixture
def echo_registered(monkeypatch):
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    monkeypatch.setattr(registry, "_loaded", {})
    register(ECHO)


def test_a_backend_registered_at_run_time_loads_and_is_checked(echo_registered):
    model = load_model("echo:hello?prefix=%23")
    assert isinstance(model, Echo) and model is load_model("echo:hello", {"prefix": "#"})  # one shared instance
    request = ChatRequest(messages=[Message(role="user", content="hi")])
    assert model.generate_sync([request])[0].text == "# hi"
    check_spec("echo:hello?prefix=>>")
    with pytest.raises(SpecError, match=r"^unknown option 'colour' for echo models \(expected one of prefix\)$"):
        check_spec("echo:hello?colour=red")
    with pytest.raises(SpecError, match="^option 'prefix' for echo models: expected one or more of > # -$"):
        check_option("echo", "prefix", "x")
    with pytest.raises(EndpointError, match="no such echo"):
        check_spec("echo:missing")
    with pytest.raises(SpecError, match="names no target after 'echo:'"):
        parse_spec("echo:")


def test_an_unknown_kind_names_the_registered_ones(echo_registered):
    with pytest.raises(SpecError, match="with KIND one of openai, hf, vllm, gguf, sim, echo;"):
        parse_spec("ech:o")


@pytest.mark.parametrize("kind", ["sim", "Echo", "ec:ho", ""])
def test_a_taken_or_unparsable_kind_cannot_be_registered(echo_registered, kind):
    with pytest.raises(ValueError, match="cannot register"):
        register(Backend(kind, Echo, build=Echo))
