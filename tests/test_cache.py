"""The SQLite generation cache, with a real sim model and the scripted HTTP server."""

from __future__ import annotations

import pytest

from agents.agent import Agent
from agents.cache import CachedChatModel, GenerationCache, request_key
from agents.openai_backend import OpenAIChatModel
from agents.sim import PRESETS, SimModel
from debate.errors import DataError
from debate.records import ChatRequest, GenerationParams, Message, Question
from fault_server import FaultServer

QUESTIONS = [Question(id=f"q{i}", text=f"Question {i}?", gold=[f"a{i}"], wrong_answers=[f"w{i}"]) for i in range(20)]


def test_cached_replies_equal_fresh_ones_and_persist(tmp_path):
    sim = SimModel("c", PRESETS["weak"])
    agent = Agent(name="a", model=sim)
    requests = [agent.request(q, seed=i) for i, q in enumerate(QUESTIONS)]
    fresh = sim.generate_sync(requests)
    cache = GenerationCache(tmp_path / "cache.sqlite")
    cached_model = CachedChatModel(sim, cache)
    assert cached_model.generate_sync(requests[:5]) == fresh[:5] and (cache.hits, cache.misses) == (0, 5)
    assert cached_model.generate_sync(requests) == fresh and (cache.hits, cache.misses) == (5, 20)
    cache.close()
    reopened = GenerationCache(tmp_path / "cache.sqlite")
    assert len(reopened) == 20
    assert CachedChatModel(sim, reopened).generate_sync(requests[::-1]) == fresh[::-1] and reopened.misses == 0


def test_key_covers_model_messages_params_and_seed():
    base = ChatRequest(messages=[Message(role="user", content="hi")], params=GenerationParams(seed=1))
    keys = {request_key("m", base), request_key("other", base),
            request_key("m", base.model_copy(update={"params": GenerationParams(seed=2)})),
            request_key("m", base.model_copy(update={"params": GenerationParams(seed=1, temperature=0.7)})),
            request_key("m", base.model_copy(update={"messages": [Message(role="user", content="hi!")]}))}
    assert len(keys) == 5
    assert request_key("m", base) == request_key("m", base.model_copy())


def test_failures_are_not_cached_and_are_retried_next_time(tmp_path):
    server = FaultServer()
    try:
        model = OpenAIChatModel("m", base_url=server.base_url, max_retries=0)
        cache = GenerationCache(tmp_path / "c.sqlite")
        cached = CachedChatModel(model, cache)
        requests = [ChatRequest(messages=[Message(role="user", content=t)]) for t in ("ok", "FAIL:500")]
        first = cached.generate_sync(requests)
        assert first[0].ok and not first[1].ok and len(cache) == 1
        again = cached.generate_sync(requests)
        assert again[0] == first[0] and server.attempts["ok"] == 1 and server.attempts["FAIL:500"] == 2
    finally:
        server.stop()


def test_a_file_that_is_not_a_cache_is_a_user_error(tmp_path):
    bad = tmp_path / "cache.sqlite"
    bad.write_text("this is not a database, it is a text file that happens to be long enough to have a header")
    with pytest.raises(DataError, match="not a generation cache"):
        GenerationCache(bad)
