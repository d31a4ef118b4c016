from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Nothing may reach a model hub: a wrong path fails fast instead of trying the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Work  # noqa: E402 - the shared helpers sit beside this file

# The Farm files live in the shared data folder beside the checkout (never copied into it).
FARM = Path(os.environ.get("DEBATE_FARM_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "farm"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def smollm2_server():
    """A real llama.cpp server on loopback serving SmolLM2 (xllamacpp), stopped at the end."""
    from agents.gguf_backend import LlamaCppServer, smollm2_path

    server = LlamaCppServer(smollm2_path(), alias="smollm2", n_parallel=4, n_ctx=2048)
    yield server
    server.stop()


@pytest.fixture()
def work(tmp_path) -> Work:
    """A folder for one hostile-input case (see helpers.refused)."""
    return Work(tmp_path)
