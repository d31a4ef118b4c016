"""The managed llama.cpp server behind `gguf:` specs."""

from __future__ import annotations

import json
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

ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 40}},
                 "required": ["answer"], "additionalProperties": False}


def _answer_json(text: str) -> str | None:
    """The "answer" of a reply that is the JSON object the schema asks for, else None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value["answer"] if isinstance(value, dict) and isinstance(value.get("answer"), str) else None


def test_json_schema_constrains_smollm2_and_free_requests_stay_free():
    model = GGUFChatModel("smollm2", n_parallel=4, n_ctx=1024)
    try:
        assert model.constrained_output
        questions = [Question(id=c, text=f"What is the capital of {c}?", gold=[city])
                     for c, city in {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid"}.items()]
        free = Agent(name="a", model=model, params=GenerationParams(max_tokens=40))
        constrained = Agent(name="a", model=model, params=GenerationParams(max_tokens=40, json_schema=ANSWER_SCHEMA))
        replies = model.generate_sync([constrained.request(q) for q in questions] +
                                      [free.request(q) for q in questions])
        assert all(r.ok for r in replies), [r.error for r in replies]
        answers = [_answer_json(r.text) for r in replies[:4]]
        assert all(a is not None and len(a) <= 40 for a in answers), [r.text for r in replies[:4]]
        # SmolLM2 left free writes prose: without the schema enforced the check above would fail.
        assert [_answer_json(r.text) for r in replies[4:]] == [None] * 4, [r.text for r in replies[4:]]
    finally:
        model.close()
