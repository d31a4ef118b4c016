"""The openai backend against real servers on loopback: llama.cpp serving SmolLM2, and a
scripted fault server for retries and failures."""

from __future__ import annotations

import asyncio
import time

import pytest

from agents.agent import Agent
from agents.openai_backend import OpenAIChatModel
from debate.answers import read_answer
from debate.grading import grade
from debate.errors import EndpointError
from debate.records import ChatRequest, GenerationParams, Message, Question
from fault_server import FaultServer


def request(text: str, **params) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], params=GenerationParams(**params))


@pytest.fixture()
def faults():
    server = FaultServer()
    yield server
    server.stop()


@pytest.mark.slow
def test_smollm2_answers_through_a_real_llama_cpp_server(smollm2_server):
    model = OpenAIChatModel("smollm2", base_url=smollm2_server.base_url, concurrency=4)
    france = Question(id="fr", text="What is the capital of France?", gold=["Paris"])
    agent = Agent(name="a", model=model, params=GenerationParams(max_tokens=32))
    reply = model.generate_sync([agent.request(france)])[0]
    assert reply.ok and grade(read_answer(reply.text, france).answer, france), reply.text
    assert reply.usage.prompt_tokens > 20 and 0 < reply.usage.completion_tokens <= 32
    assert reply.usage.latency_s > 0 and reply.model == f"openai:smollm2@{smollm2_server.base_url}"


@pytest.mark.slow
def test_batch_keeps_request_order_and_seeded_sampling_repeats(smollm2_server):
    model = OpenAIChatModel("smollm2", base_url=smollm2_server.base_url, concurrency=4)
    agent = Agent(name="a", model=model, params=GenerationParams(max_tokens=24))
    # Capitals SmolLM2 knows; six requests over four slots finish out of order.
    capitals = {"France": "Paris", "Japan": "Tokyo", "Germany": "Berlin", "Egypt": "Cairo", "Russia": "Moscow",
                "China": "Beijing"}
    questions = [Question(id=c, text=f"What is the capital of {c}?", gold=[city]) for c, city in capitals.items()]
    replies = model.generate_sync([agent.request(q) for q in questions])
    assert len(replies) == len(questions)
    for question, reply in zip(questions, replies):
        assert reply.ok and read_answer(reply.text, question).answer == question.gold[0], (question.id, reply.text)
    sampled = request("Write a short sentence about the sea.", temperature=1.0, seed=11, max_tokens=16)
    # One at a time: two requests decoded side by side in llama.cpp's slots share batches, and
    # batched logits differ in the last bits, so a seed repeats only for a request decoded alone.
    (first,), (second,) = model.generate_sync([sampled]), model.generate_sync([sampled])
    assert first.text == second.text and first.seed == 11


def test_retries_then_succeeds_and_counts_retries(faults):
    model = OpenAIChatModel("m", base_url=faults.base_url, max_retries=3, backoff=0.01)
    reply = model.generate_sync([request("FLAKY:2")])[0]
    assert reply.ok and reply.text == "echo: FLAKY:2" and reply.retries == 2
    assert faults.attempts["FLAKY:2"] == 3 and model.retries == 2


def test_failures_surface_on_their_reply_without_breaking_the_batch(faults):
    model = OpenAIChatModel("m", base_url=faults.base_url, max_retries=2, backoff=0.01, timeout=0.5)
    texts = ["one", "FAIL:503", "two", "FAIL:400", "EMPTY", "BADJSON", "SLOW:2", "three"]
    replies = model.generate_sync([request(t) for t in texts])
    assert [r.text for r in replies if r.ok] == ["echo: one", "echo: two", "echo: three"]
    by_text = dict(zip(texts, replies))
    assert "after 3 attempts: HTTP 503" in by_text["FAIL:503"].error
    assert faults.attempts["FAIL:503"] == 3
    # A client error is not retried.
    assert by_text["FAIL:400"].error.startswith("HTTP 400") and faults.attempts["FAIL:400"] == 1
    assert "without choices" in by_text["EMPTY"].error
    assert "malformed response" in by_text["BADJSON"].error
    assert "timeout" in by_text["SLOW:2"].error.lower()
    assert all(r.text == "" for r in replies if not r.ok)


def test_timeout_bounds_the_whole_attempt_against_a_trickling_server(faults):
    model = OpenAIChatModel("m", base_url=faults.base_url, timeout=1, max_retries=0)
    start = time.perf_counter()
    # A byte every 0.5 s never trips httpx's per-read timeout; the body would take about 2 minutes.
    (reply,) = asyncio.run(asyncio.wait_for(model.generate([request("TRICKLE:0.5")]), 10))
    assert time.perf_counter() - start < 3
    assert not reply.ok and reply.error == "failed after 1 attempts: timeout: no complete response within 1 s"


def test_unreachable_endpoint_fails_each_reply_after_retries():
    from agents.gguf_backend import free_port

    model = OpenAIChatModel("m", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff=0.01)
    replies = model.generate_sync([request("a"), request("b")])
    assert [r.ok for r in replies] == [False, False]
    assert all("APIConnectionError" in r.error and r.retries == 1 for r in replies)


def test_api_key_comes_from_the_environment_and_is_never_shown(monkeypatch, faults):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EndpointError, match="set the environment variable OPENAI_API_KEY"):
        OpenAIChatModel("gpt-x")
    for blank in ("", "  \n"):  # refused even for a local endpoint: a variable meant to be filled
        monkeypatch.setenv("OPENAI_API_KEY", blank)
        for base_url in (None, faults.base_url):
            with pytest.raises(EndpointError, match="OPENAI_API_KEY is set but empty: give the key, or unset"):
                OpenAIChatModel("gpt-x", base_url=base_url)
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    model = OpenAIChatModel("m", base_url=faults.base_url, api_key_env="MY_KEY", max_retries=0)
    replies = model.generate_sync([request("FAIL:401"), request("ok")])
    assert "sk-secret-123" not in repr(model) + model.model_id + str([r.model_dump() for r in replies])
    assert replies[1].ok and not replies[0].ok


def test_cost_is_computed_from_prices(faults):
    model = OpenAIChatModel("m", base_url=faults.base_url, price_in=1.0, price_out=2.0)
    reply = model.generate_sync([request("hello")])[0]
    assert reply.usage.cost_usd == pytest.approx((3 * 1.0 + 2 * 2.0) / 1e6)


def test_json_schema_is_sent_as_openai_response_format(faults):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    model = OpenAIChatModel("m", base_url=faults.base_url, max_retries=0)
    assert model.constrained_output
    replies = model.generate_sync([request("free"), request("constrained", json_schema=schema)])
    assert all(r.ok for r in replies)
    bodies = {b["messages"][-1]["content"]: b for b in faults.bodies}
    assert "response_format" not in bodies["free"]
    assert bodies["constrained"]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}


def test_cached_prompt_tokens_are_read_where_the_server_reports_them():
    from agents.openai_backend import _cached
    from debate.records import Usage

    assert _cached({}, {"prompt_tokens_details": {"cached_tokens": 96}}) == 96  # OpenAI, vLLM
    assert _cached({"timings": {"cache_n": 120, "prompt_n": 8}}, {}) == 120  # llama.cpp
    assert _cached({"timings": {"cache_n": True}}, {}) is None and _cached({}, {}) is None
    known, unknown = Usage(prompt_tokens=10, cached_prompt_tokens=6), Usage(prompt_tokens=4)
    assert (known + unknown).cached_prompt_tokens == 6 and (unknown + unknown).cached_prompt_tokens is None
    assert "cached_prompt_tokens" not in unknown.model_dump_json()  # records of other servers unchanged
    assert '"cached_prompt_tokens":6' in known.model_dump_json()
