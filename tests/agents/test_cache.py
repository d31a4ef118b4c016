"""The SQLite generation cache, with a real sim model and the scripted HTTP server."""

from __future__ import annotations

import pytest

from agents.agent import Agent
from agents.base import CAPABILITIES
from agents.cache import KEY_VERSION, CachedChatModel, GenerationCache, request_key
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


BASE = ChatRequest(messages=[Message(role="user", content="hi")], params=GenerationParams(seed=1))


def test_key_covers_model_messages_params_seed_and_schema():
    params = BASE.params
    variants = [BASE.model_copy(update={"params": params.model_copy(update=change)})
                for change in ({"seed": 2}, {"seed": None}, {"temperature": 0.7}, {"top_p": 0.5}, {"max_tokens": 5},
                               {"stop": ["\n"]}, {"json_schema": {"type": "object"}},
                               {"json_schema": {"type": "object", "required": ["answer"]}})]
    variants += [BASE.model_copy(update={"messages": messages}) for messages in (
        [Message(role="user", content="hi!")], [Message(role="system", content="hi")],
        [Message(role="system", content="Be brief."), Message(role="user", content="hi")])]
    keys = {request_key("m", BASE), request_key("other", BASE), *(request_key("m", r) for r in variants)}
    assert len(keys) == 2 + len(variants)
    assert request_key("m", BASE) == request_key("m", BASE.model_copy(deep=True))


def test_question_metadata_and_persona_leave_the_key_alone():
    """Only what a real model sees is keyed: editing a question's metadata keeps its generations."""
    question = Question(id="q", text="Capital of France?", gold=["Paris"])
    edited = question.model_copy(update={"id": "q2", "gold": ["Paris", "paris"], "wrong_answers": ["Lyon"],
                                         "source": "edited", "metadata": {"note": "new"}})
    keys = {request_key("m", BASE.model_copy(update=extra)) for extra in (
        {}, {"question": question}, {"question": edited}, {"persona": "logical"},
        {"question": edited, "persona": "resistant"})}
    assert len(keys) == 1


def test_the_key_recipe_is_versioned_and_stable():
    # Pinned: a change here silently invalidates every stored cache, so it must come with a new KEY_VERSION.
    assert KEY_VERSION == "v2"
    assert request_key("m", BASE) == "676a58d4911d74bbb81371d4f486225d3159aaec0c5a55279d1417079f08e3bd"


def test_the_wrapper_forwards_every_capability(tmp_path):
    sim = SimModel("c", PRESETS["weak"])
    cached = CachedChatModel(sim, GenerationCache(tmp_path / "c.sqlite"))
    assert {name: getattr(cached, name) for name in CAPABILITIES} == {name: getattr(sim, name) for name in CAPABILITIES}
    assert not cached.cacheable and cached.batch_invariant and cached.reads_metadata  # not the defaults


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
