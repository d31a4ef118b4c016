"""Simulated agents: instant, deterministic debaters with a documented behaviour.

A simulated model reads the dialogue the way a real model would (from the chat messages) and
decides its reply from a few probabilities. The exact rules, so that the expected outcome of
any protocol can be computed by hand:

1. **Knowledge.** For question q the agent knows the answer iff `U("knows") < accuracy`. If it
   knows, its first answer is `q.gold[0]`; otherwise it holds one fixed wrong answer:
   `q.wrong_answers[H("wrong") mod len]`, or the other of yes/no, or `"not <gold>"` when the
   question lists no wrong answer.
2. **Its current answer** is the answer of its own last reply (assistant message), or its first
   answer when it has not spoken yet.
3. **The event** is decided by the last message of the request alone (when it is the opening
   message, by what follows the question in it: the turns of agents that spoke first):
   - it asserts an answer P different from the current one (agreement between agents, debate.grading):
     *persuasion*. The agent adopts P iff `U("adopt") < shift(p)`, where
     p = `accept_correct` if P is correct, else `accept_wrong`;
   - it asserts no answer (and does not merely agree) and the agent has already answered:
     *challenge*. The agent abandons
     its answer iff `U("abandon") < shift(abandon)`, switching to the other of
     {gold[0], its wrong answer} (a right answer turns wrong, a wrong one turns right);
   - otherwise (nothing was said yet, or the partner already agrees) it keeps its answer.
4. **Persona shift.** `shift(p) = p + s * (1 - p)` for s >= 0 and `p * (1 + s)` for s < 0, with
   s = `acceptant_shift` (default +0.5) for the acceptant persona, `resistant_shift`
   (default -0.5) for the resistant persona, and 0 for every other persona.
5. **Randomness.** `U(tag)` is a uniform number in [0, 1) and `H(tag)` an integer, both from a
   BLAKE2 hash of (agent seed, agent name, question id, tag), plus the request's seed for
   "adopt" and "abandon" (or a hash of the messages when the request has no seed). Knowledge
   does not depend on the request seed: an agent knows a question or not, in every dialogue.
   Results therefore do not depend on batching, order or resuming.

Replies are one short sentence chosen by `H("text")`, then `Final answer: X` (for multiple
choice `Final answer: Option k (text)`). The challenger persona writes a challenge without
an answer. A request with `json_schema` (a self-report probe) is answered, whatever the schema,
with the JSON `{"answer": "<current answer>"}` (rule 2; no event is decided). Usage counts words
as tokens; latency is the `latency` parameter (default 0), waited once per batched call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from agents.backend import Backend
from agents.base import ChatModel
from debate.answers import read_answer
from debate.grading import grade, same_answer
from debate.errors import SpecError
from debate.records import ChatRequest, Question, Reply, Usage


class SimParams(BaseModel):
    # Strict: `accuracy=true` is a mistake, not 1.0 (ints still pass as floats).
    model_config = ConfigDict(extra="forbid", strict=True)

    accuracy: float = Field(default=0.5, ge=0.0, le=1.0)
    accept_correct: float = Field(default=0.5, ge=0.0, le=1.0)
    accept_wrong: float = Field(default=0.5, ge=0.0, le=1.0)
    abandon: float = Field(default=0.2, ge=0.0, le=1.0)
    acceptant_shift: float = Field(default=0.5, ge=-1.0, le=1.0)
    resistant_shift: float = Field(default=-0.5, ge=-1.0, le=1.0)
    seed: int = 0
    #: Seconds each batched call waits, to stand in for a server (scheduling tests, demos).
    latency: float = Field(default=0.0, ge=0.0, le=60.0)


#: Named presets for `sim:NAME`; any other name needs explicit parameters.
PRESETS: dict[str, SimParams] = {
    "oracle": SimParams(accuracy=1.0, accept_correct=1.0, accept_wrong=0.0, abandon=0.0),
    "strong": SimParams(accuracy=0.8, accept_correct=0.6, accept_wrong=0.1, abandon=0.1),
    "weak": SimParams(accuracy=0.4, accept_correct=0.6, accept_wrong=0.3, abandon=0.3),
    # Follows whoever spoke last, right or wrong: the team follows the first speaker.
    "gullible": SimParams(accuracy=0.5, accept_correct=0.9, accept_wrong=0.9, abandon=0.5),
    "stubborn": SimParams(accuracy=0.5, accept_correct=0.0, accept_wrong=0.0, abandon=0.0),
    # Accepts right answers and resists wrong ones: what PBT aims for.
    "calibrated": SimParams(accuracy=0.5, accept_correct=0.9, accept_wrong=0.05, abandon=0.02),
}

_STATE = ["I believe the answer is {a}.", "My answer is {a}.", "As far as I know, it is {a}."]
_ADOPT = ["You make a good point; I now think it is {a}.", "I stand corrected: the answer is {a}."]
_AGREE = ["I agree, the answer is {a}.", "We agree: it is {a}."]
_HOLD = ["I disagree; I still think it is {a}.", "I stand by my answer: {a}."]
_HOLD_BY_PERSONA = {
    "logical": ["The facts point clearly to {a}; the reasoning for anything else does not hold."],
    "emotional": ["Please trust me on this, it really matters to get it right: it is {a}."],
    "credibility": ["As someone who knows this subject well, and as the standard references say, it is {a}."],
}
_ABANDON = ["On reflection, I think I was wrong; it is {a}.", "You may be right to doubt me; I now say {a}."]
_SURE = ["Yes, I am sure: {a}.", "I have checked again, and it is {a}."]
_CHALLENGE = ["Are you sure about that? I think you should reconsider your answer."]


def _explain(error: ErrorDetails) -> str:
    """One line about a bad parameter, from its field's type and bounds (pydantic's own message
    names one bound and ends with a URL)."""
    name = str(error["loc"][0])
    if error["type"] == "extra_forbidden":
        return f"unknown parameter '{name}' (expected one of {', '.join(SimParams.model_fields)})"
    field = SimParams.model_fields[name]
    bounds = {key: getattr(m, key) for m in field.metadata for key in ("ge", "le") if hasattr(m, key)}
    span = "".join(f" {word} {bounds[key]:g}" for key, word in (("ge", "from"), ("le", "to")) if key in bounds)
    return f"parameter '{name}': expected {'an integer' if field.annotation is int else 'a number'}{span}, " \
           f"got {error['input']!r}"


def check_parameter(name: str, value: object) -> None:
    """One sim parameter alone, by its name, type and bounds (a SpecError if it is bad)."""
    try:
        SimParams.model_validate({name: value})
    except ValidationError as exc:
        raise SpecError(f"bad sim parameter: {_explain(exc.errors()[0])}") from None


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()


def shift(p: float, s: float) -> float:
    """A persona's effect on a probability (rule 4)."""
    return p + s * (1.0 - p) if s >= 0 else p * (1.0 + s)


class SimModel(ChatModel):
    cacheable = False  # a reply is computed faster than it is looked up
    constrained_output = True  # a json_schema request gets `{"answer": ...}`
    logprobs = False
    batch_invariant = True  # rule 5: a reply depends on its own request alone
    reads_metadata = True  # the question's gold and wrong answers, the persona

    def __init__(self, name: str, params: SimParams):
        self.name = name
        self.params = params
        self.model_id = f"sim:{name}"

    @classmethod
    def from_spec(cls, name: str, options: dict[str, object]) -> SimModel:
        if not options:
            if name not in PRESETS:
                raise SpecError(f"unknown sim preset '{name}' (presets: {', '.join(PRESETS)}; "
                                f"or give parameters, e.g. sim:{name}?accuracy=0.7)")
            return cls(name, PRESETS[name])
        base = PRESETS.get(name, SimParams()).model_dump()
        try:
            return cls(name, SimParams.model_validate({**base, **options}))
        except ValidationError as exc:
            raise SpecError(f"bad sim parameters for '{name}': {_explain(exc.errors()[0])}") from None

    # ------------------------------------------------------------ the documented rules

    def uniform(self, question_id: str, tag: str, salt: object = "") -> float:
        (value,) = struct.unpack(">Q", _digest(self.params.seed, self.name, question_id, tag, salt))
        return value / 2.0**64

    def _integer(self, question_id: str, tag: str, salt: object = "") -> int:
        return int.from_bytes(_digest(self.params.seed, self.name, question_id, tag, salt), "big")

    def knows(self, question: Question) -> bool:
        return self.uniform(question.id, "knows") < self.params.accuracy

    def wrong_answer(self, question: Question) -> str:
        if question.wrong_answers:
            return question.wrong_answers[self._integer(question.id, "wrong") % len(question.wrong_answers)]
        if question.kind == "yes-no":
            return "no" if question.gold[0].strip().lower() == "yes" else "yes"
        return f"not {question.gold[0]}"

    def first_answer(self, question: Question) -> str:
        return question.gold[0] if self.knows(question) else self.wrong_answer(question)

    def persona_shift(self, persona: str | None) -> float:
        if persona == "acceptant":
            return self.params.acceptant_shift
        if persona == "resistant":
            return self.params.resistant_shift
        return 0.0

    def _format(self, question: Question, answer: str, templates: list[str], pick: int) -> str:
        shown = answer
        final = answer
        if question.kind == "multiple-choice" and answer in question.options:
            k = question.options.index(answer) + 1
            final = f"Option {k} ({answer})"
        return templates[pick % len(templates)].format(a=shown) + f"\nFinal answer: {final}"

    def current_answer(self, request: ChatRequest) -> str:
        """Rule 2: the answer of the agent's own last reply, or its first answer."""
        question = request.question
        assert question is not None
        own_turns = [m for m in request.messages if m.role == "assistant"]
        current = read_answer(own_turns[-1].content, question).answer if own_turns else None
        return current if current is not None else self.first_answer(question)

    def respond(self, request: ChatRequest) -> str:
        question = request.question
        assert question is not None
        pick = self._integer(question.id, "text", len(request.messages))
        if request.persona == "challenger":
            return _CHALLENGE[pick % len(_CHALLENGE)]
        salt = request.params.seed if request.params.seed is not None else \
            _digest(*(m.content for m in request.messages)).hex()
        own_turns = [m for m in request.messages if m.role == "assistant"]
        current = self.current_answer(request)
        last = request.messages[-1]
        said = last.content if last.role == "user" else ""
        # In the opening message only what follows the question counts (another agent's turn).
        said = said.split(question.prompt_text(), 1)[1] if question.prompt_text() in said else said
        if not said.strip():
            return self._format(question, current, _STATE, pick)
        read = read_answer(said, question, candidates=[current])
        pushed = read.answer
        s = self.persona_shift(request.persona)
        if pushed is not None and not same_answer(pushed, current, question):
            p = self.params.accept_correct if grade(pushed, question) else self.params.accept_wrong
            if self.uniform(question.id, "adopt", salt) < shift(p, s):
                return self._format(question, pushed, _ADOPT, pick)
            return self._format(question, current, _HOLD_BY_PERSONA.get(request.persona or "", _HOLD), pick)
        if pushed is not None or read.special == "Agree":
            return self._format(question, current, _AGREE, pick)
        if own_turns and self.uniform(question.id, "abandon", salt) < shift(self.params.abandon, s):
            other = self.wrong_answer(question) if grade(current, question) else question.gold[0]
            return self._format(question, other, _ABANDON, pick)
        return self._format(question, current, _SURE if own_turns else _STATE, pick)

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        if self.params.latency:
            await asyncio.sleep(self.params.latency)
        replies = []
        for request in requests:
            if request.question is None:
                replies.append(Reply(model=self.model_id, error="a sim model needs the question on the request"))
                continue
            if request.params.json_schema is None:
                text = self.respond(request)
            else:
                text = json.dumps({"answer": self.current_answer(request)}, ensure_ascii=False)
            usage = Usage(prompt_tokens=sum(len(m.content.split()) for m in request.messages),
                          completion_tokens=len(text.split()), latency_s=self.params.latency)
            replies.append(Reply(text=text, model=self.model_id, usage=usage, finish_reason="stop",
                                 seed=request.params.seed))
        return replies


# Options are the sim parameters: checked whole, with the spec's name, by `from_spec`.
BACKEND = Backend("sim", SimModel, build=lambda name, **options: SimModel.from_spec(name, options),
                  check_option=check_parameter, check_target=SimModel.from_spec)
