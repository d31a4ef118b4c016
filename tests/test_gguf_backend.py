"""The managed llama.cpp server behind `gguf:` specs."""

from __future__ import annotations

import urllib.request

import pytest

from agents.agent import Agent
from agents.gguf_backend import GGUFChatModel, smollm2_path
from debate.answers import read_answer
from debate.records import GenerationParams, Question

pytestmark = pytest.mark.slow


def test_gguf_path_serves_batches_and_stops_on_close():
    model = GGUFChatModel(str(smollm2_path()), n_parallel=2, n_ctx=1024)
    assert model.model_id == f"gguf:{smollm2_path()}" and model.base_url.startswith("http://127.0.0.1:")
    agent = Agent(name="a", model=model, params=GenerationParams(max_tokens=24))
    questions = [Question(id=c, text=f"What is the capital of {c}?", gold=[city])
                 for c, city in {"Japan": "Tokyo", "Germany": "Berlin", "Egypt": "Cairo"}.items()]
    replies = model.generate_sync([agent.request(q) for q in questions])
    assert [read_answer(r.text, q).answer for r, q in zip(replies, questions)] == ["Tokyo", "Berlin", "Cairo"]
    model.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(model.base_url + "/models", timeout=2)
    model.close()  # a second close is harmless
