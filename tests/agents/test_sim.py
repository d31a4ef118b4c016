"""The simulated agents follow their documented rules (agents/sim.py), checked statistically
with tolerances computed from the binomial standard error (4.5 sigma: a seeded test that is
wrong fails, a correct one does not flake, since every draw is deterministic)."""

from __future__ import annotations

import math

import pytest

from agents.agent import Agent
from agents.registry import load_model
from agents.sim import PRESETS, SimModel, SimParams, shift
from debate.answers import read_answer
from debate.grading import grade
from debate.errors import SpecError
from debate.records import Message, Question

N = 3000
QUESTIONS = [Question(id=f"q{i}", text=f"Question {i}?", gold=[f"right{i}"], wrong_answers=[f"wrong{i}"])
             for i in range(N)]


def tolerance(p: float, n: int) -> float:
    return 4.5 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-9


def sim_agent(persona: str = "neutral", **params) -> Agent:
    return Agent(name="a", model=SimModel("t", SimParams(**params)), persona=persona)


def first_answers(agent: Agent) -> list[str | None]:
    replies = agent.model.generate_sync([agent.request(q, seed=1) for q in QUESTIONS])
    return [read_answer(r.text, q).answer for r, q in zip(replies, QUESTIONS)]


def after_push(agent: Agent, pushed: str) -> list[tuple[str | None, str | None]]:
    """Each question: the agent answers, then its partner asserts the right or the wrong answer."""
    firsts = first_answers(agent)
    requests = []
    for q, first in zip(QUESTIONS, firsts):
        answer = q.gold[0] if pushed == "right" else q.wrong_answers[0]
        history = [Message(role="assistant", content=f"Final answer: {first}"),
                   Message(role="user", content=f"I am confident it is {answer}.\nFinal answer: {answer}")]
        requests.append(agent.request(q, history, seed=2))
    replies = agent.model.generate_sync(requests)
    return [(f, read_answer(r.text, q).answer) for f, r, q in zip(firsts, replies, QUESTIONS)]


@pytest.mark.parametrize("accuracy", [0.0, 0.3, 0.8, 1.0])
def test_knowledge_rate_matches_accuracy(accuracy):
    answers = first_answers(sim_agent(accuracy=accuracy))
    rate = sum(grade(a, q) for a, q in zip(answers, QUESTIONS)) / N
    assert abs(rate - accuracy) <= tolerance(accuracy, N)
    # A wrong first answer is the question's fixed wrong answer.
    assert all(a == q.wrong_answers[0] for a, q in zip(answers, QUESTIONS) if not grade(a, q))


@pytest.mark.parametrize("persona", ["neutral", "acceptant", "resistant"])
@pytest.mark.parametrize("pushed", ["right", "wrong"])
def test_adoption_rate_matches_persuadability_and_persona(persona, pushed):
    params = dict(accuracy=0.5, accept_correct=0.6, accept_wrong=0.3)
    outcomes = after_push(sim_agent(persona, **params), pushed)
    target = {q.id: (q.gold[0] if pushed == "right" else q.wrong_answers[0]) for q in QUESTIONS}
    # Only questions where the agent held the other answer are persuasion events.
    events = [(first, after, q) for (first, after), q in zip(outcomes, QUESTIONS) if first != target[q.id]]
    adopted = sum(after == target[q.id] for first, after, q in events) / len(events)
    p = params["accept_correct"] if pushed == "right" else params["accept_wrong"]
    s = {"neutral": 0.0, "acceptant": 0.5, "resistant": -0.5}[persona]
    expected = shift(p, s)
    assert abs(adopted - expected) <= tolerance(expected, len(events)), (adopted, expected)
    # Non-events: the partner pushed the answer already held, so it is kept.
    kept = [after == first for (first, after), q in zip(outcomes, QUESTIONS) if first == target[q.id]]
    assert kept and all(kept)


def test_shift_formula():
    assert shift(0.6, 0.5) == pytest.approx(0.8) and shift(0.6, -0.5) == pytest.approx(0.3)
    assert shift(0.6, 0.0) == 0.6 and shift(0.0, 1.0) == 1.0 and shift(1.0, -1.0) == 0.0


def test_challenge_abandon_rate_and_direction():
    agent = sim_agent(accuracy=0.5, abandon=0.25)
    firsts = first_answers(agent)
    requests = [agent.request(q, [Message(role="assistant", content=f"Final answer: {f}"),
                                  Message(role="user", content="I don't think so. Are you sure?")], seed=3)
                for q, f in zip(QUESTIONS, firsts)]
    afters = [read_answer(r.text, q).answer for r, q in zip(agent.model.generate_sync(requests), QUESTIONS)]
    flipped = [(f, a, q) for f, a, q in zip(firsts, afters, QUESTIONS) if a != f]
    assert abs(len(flipped) / N - 0.25) <= tolerance(0.25, N)
    # Abandoning swaps right and wrong, both ways.
    assert all(grade(f, q) != grade(a, q) for f, a, q in flipped)
    assert any(grade(a, q) for _, a, q in flipped) and any(not grade(a, q) for _, a, q in flipped)


def test_accuracy_one_and_persuadability_zero_never_flips():
    agent = sim_agent(accuracy=1.0, accept_correct=0.0, accept_wrong=0.0, abandon=0.0)
    for first, after in after_push(agent, "wrong"):
        assert first == after


def test_deterministic_and_independent_of_batching():
    model = SimModel("d", PRESETS["weak"])
    agent = Agent(name="a", model=model)
    requests = [agent.request(q, [Message(role="assistant", content="Final answer: x"),
                                  Message(role="user", content=f"Final answer: {q.gold[0]}")], seed=9)
                for q in QUESTIONS[:200]]
    together = [r.text for r in model.generate_sync(requests)]
    alone = [model.generate_sync([r])[0].text for r in reversed(requests)][::-1]
    assert together == alone
    assert [r.text for r in model.generate_sync(requests)] == together


def test_multiple_choice_and_yes_no_replies_are_readable():
    mc = Question(id="m", text="Largest planet?", gold=["Jupiter"], kind="multiple-choice",
                  options=["Mars", "Jupiter"], wrong_answers=["Mars"])
    yn = Question(id="y", text="Is ice cold?", gold=["yes"], kind="yes-no")
    agent = Agent(name="a", model=SimModel("o", PRESETS["oracle"]))
    replies = agent.model.generate_sync([agent.request(mc), agent.request(yn)])
    assert "Final answer: Option 2 (Jupiter)" in replies[0].text
    assert read_answer(replies[0].text, mc).answer == "Jupiter"
    assert read_answer(replies[1].text, yn).answer == "yes"


def test_specs_presets_parameters_and_errors():
    assert load_model("sim:strong").params == PRESETS["strong"]
    custom = load_model("sim:mine?accuracy=0.25&abandon=0")
    assert custom.params.accuracy == 0.25 and custom.params.abandon == 0.0
    assert load_model("sim:strong") is load_model("sim:strong")  # one instance per spec
    with pytest.raises(SpecError, match="unknown sim preset 'nobody'"):
        load_model("sim:nobody")
    with pytest.raises(SpecError, match="bad sim parameters"):
        load_model("sim:x?accuracy=2")
    with pytest.raises(SpecError, match="bad sim parameters"):
        load_model("sim:x?acuracy=0.5")
    reply = SimModel("x", SimParams()).generate_sync([agent_request_without_question()])[0]
    assert not reply.ok and "needs the question" in reply.error


def agent_request_without_question():
    from debate.records import ChatRequest
    return ChatRequest(messages=[Message(role="user", content="hi")])


def test_an_agent_speaking_second_is_persuaded_by_the_first_turn():
    """Another agent's turn merged into the opening message is a persuasion event; the
    question's own text (here with options) is not."""
    from debate.records import ChatRequest

    model = SimModel("second", SimParams(accuracy=0.0, accept_correct=1.0, accept_wrong=0.0))
    mc = Question(id="m", text="Largest planet?", gold=["Jupiter"], kind="multiple-choice",
                  options=["Mars", "Jupiter"], wrong_answers=["Mars"])
    alone = ChatRequest(messages=[Message(role="user", content=mc.prompt_text())], question=mc)
    pushed = ChatRequest(messages=[Message(role="user", content=mc.prompt_text() +
                                           "\n\nAgent A: It is Jupiter.\nFinal answer: Option 2")], question=mc)
    first, second = model.generate_sync([alone, pushed])
    assert read_answer(first.text, mc).answer == "Mars"
    assert read_answer(second.text, mc).answer == "Jupiter"


ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def test_a_constrained_request_gets_the_current_answer_as_json():
    import json

    model = SimModel("probe", SimParams(accuracy=0.0, accept_correct=1.0))
    agent = Agent(name="a", model=model)
    probe = agent.params.model_copy(update={"json_schema": ANSWER_SCHEMA})
    mc = Question(id="m", text="Largest planet?", gold=["Jupiter"], kind="multiple-choice",
                  options=["Mars", "Jupiter"], wrong_answers=["Mars"])
    q = QUESTIONS[0]
    history = [Message(role="assistant", content=f"Final answer: {q.gold[0]}"),
               Message(role="user", content=f"Final answer: {q.wrong_answers[0]}. What is your answer now?")]
    requests = [agent.request(q), agent.request(mc), agent.request(q, history)]
    constrained = [r.model_copy(update={"params": probe}) for r in requests]
    assert model.constrained_output
    # Before speaking: the first answer (wrong, at accuracy 0); after a turn: that turn's answer
    # (right here), not what the partner pushed; multiple choice: the option's text.
    assert [json.loads(r.text) for r in model.generate_sync(constrained)] == [
        {"answer": q.wrong_answers[0]}, {"answer": "Mars"}, {"answer": q.gold[0]}]
    # Free requests are answered as before: sentences ending in "Final answer:".
    assert all("Final answer:" in r.text for r in model.generate_sync(requests))


def test_a_cached_sim_keeps_constrained_and_free_replies_apart(tmp_path):
    from agents.cache import CachedChatModel, GenerationCache

    free = Agent(name="a", model=SimModel("c", PRESETS["weak"])).request(QUESTIONS[1], seed=4)
    constrained = free.model_copy(update={"params": free.params.model_copy(update={"json_schema": ANSWER_SCHEMA})})
    cached = CachedChatModel(SimModel("c", PRESETS["weak"]), GenerationCache(tmp_path / "c.sqlite"))
    assert cached.constrained_output
    first = cached.generate_sync([free, constrained])
    again = cached.generate_sync([constrained, free])
    assert first[0].text != first[1].text and again == first[::-1]
    assert (cached.cache.hits, cached.cache.misses) == (2, 2)
