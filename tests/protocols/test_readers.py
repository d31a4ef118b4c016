"""Selectable answer readers: the rule chains and the LLM extractor (batched, one call per step)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence

import pytest

from agents.agent import Agent
from agents.base import ChatModel
from agents.registry import load_model
from debate.errors import ConfigError
from debate.records import ChatRequest, GenerationParams, Question, Reply
from protocols.engine import Engine
from protocols.ordered import OrderedDebate
from protocols.readers import PROBE_PROMPTS, LLMExtractor, ReadItem, make_reader
from helpers import synthetic

PARIS = Question(id="fr", text="What is the capital of France?", gold=["Paris"], wrong_answers=["Lyon"])


def read(name: str, text: str, question: Question = PARIS):
    return asyncio.run(make_reader(name).read_many([ReadItem(text, question)]))[0]


def test_rule_readers_by_name():
    assert read("default", "It is Paris.\nFinal answer: Paris").reader == "final-line"
    only_final = read("final-line", "Lyon, surely not Paris... no: it is Lyon")
    assert only_final.reader == "cues" and only_final.special == "NONE"
    assert only_final.failures[0] == "final-line: no 'Final answer:' line"
    assert read("candidates", "Lyon, surely not Paris... no: it is Lyon").answer == "Lyon"
    assert read("candidates", "Final answer: Marseille").special == "NONE"
    assert read("open", "Final answer: Marseille").answer == "Marseille"
    yes = Question(id="y", text="Is water wet?", gold=["yes"], kind="yes-no")
    assert read("yes-no", "Yes, it is.", yes).answer == "yes"
    with pytest.raises(ConfigError, match="unknown answer reader 'psychic'"):
        make_reader("psychic")


class Scripted(ChatModel):
    """An extractor model that answers from a script and records its batches."""

    model_id = "scripted"

    def __init__(self, script: Callable[[str], str | None]):
        self.script = script
        self.batches: list[int] = []
        self.requests: list[ChatRequest] = []

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        self.batches.append(len(requests))
        self.requests += requests
        replies = []
        for request in requests:
            reply_text = request.messages[-1].content.split("Reply: ", 1)[1]
            answer = self.script(reply_text)
            replies.append(Reply(text=answer, model=self.model_id) if answer is not None
                               else Reply(model=self.model_id, error="scripted failure"))
        return replies


def test_llm_extractor_parses_answers_and_the_three_special_tokens():
    extractor = LLMExtractor("sim:strong")
    script = {"Paris": "Paris", "agree": "Agree.", "wrong": "Disagree", "hmm": "NONE", "odd": "Answer: Lyon",
              "blank": "  \n"}
    extractor.model = Scripted(lambda text: next((a for key, a in script.items() if key in text), None))
    texts = ["It is Paris.", "I agree.", "You are wrong.", "hmm", "odd one", "blank", "crash"]
    reads = asyncio.run(extractor.read_many([ReadItem(t, PARIS) for t in texts]))
    assert [(r.answer, r.special) for r in reads] == [
        ("Paris", None), (None, "Agree"), (None, "Disagree"), (None, "NONE"), ("Lyon", None), (None, "NONE"),
        (None, "NONE")]
    assert all(r.reader == "llm:sim:strong" for r in reads)
    assert reads[5].failures == ["llm:sim:strong: empty extraction"]
    assert reads[6].failures == ["llm:sim:strong: scripted failure"]
    assert extractor.model.batches == [7]
    first = extractor.model.requests[0]
    assert first.messages[0].role == "system" and len(first.messages) == 1 + 2 * 4 + 1  # four shots
    assert first.params.temperature == 0.0


def test_the_engine_reads_every_step_in_one_extractor_call():
    extractor = LLMExtractor("sim:strong")
    extractor.model = Scripted(lambda text: text.rsplit("Final answer: ", 1)[1])
    agents = {name: Agent(name, load_model(spec), params=GenerationParams(temperature=0.7))
              for name, spec in (("A", "sim:strong"), ("B", "sim:weak"))}
    trees = []
    engine = Engine(OrderedDebate(rounds=2), agents, reader=extractor)
    engine.run(synthetic(20), trees.append)
    assert extractor.model.batches[0] == 20 and len(extractor.model.batches) == engine.stats.steps
    assert all(t.turn(n).read.reader == "llm:sim:strong" for t in trees for n in t.nodes())
    assert all(t.turn("r.0").answers["A"] in (t.question.gold[0], t.question.wrong_answers[0]) for t in trees)


@pytest.mark.slow
def test_smollm2_as_extractor_returns_well_formed_reads():
    # SmolLM2-135M is too small to extract reliably (it tends to answer "Agree" to everything);
    # this checks the real path end to end, not its accuracy.
    reads = asyncio.run(LLMExtractor("gguf:smollm2").read_many(
        [ReadItem("I think it is Paris.", PARIS), ReadItem("I agree with you.", PARIS)]))
    assert len(reads) == 2 and all(r.reader == "llm:gguf:smollm2" for r in reads)
    assert all((r.answer is None) != (r.special is None) for r in reads)


def test_probe_asks_the_speakers_own_model_on_a_side_branch_in_one_batch():
    """The probe sees the turn's request and reply, answers in JSON, and never enters the dialogue."""
    answers = {"Paris": '{"answer": "Paris"}', "Lyon": '{"answer": "I agree with you"}'}

    class Speaker(Scripted):
        model_id = "speaker"

        async def generate(self, requests):
            self.batches.append(len(requests))
            self.requests += requests
            out = []
            for request in requests:
                if request.params.json_schema is None:  # the turn itself
                    out.append(Reply(text="Hmm, hard to say." if request.messages[-1].role == "user" and
                                     "Agent" in request.messages[-1].content else "I think it is Paris.",
                                     model=self.model_id))
                else:  # the probe: answers from what its own turn said
                    own = request.messages[-2].content
                    out.append(Reply(text=answers["Paris" if "Paris" in own else "Lyon"], model=self.model_id))
            return out

    model = Speaker(lambda text: None)
    agents = {name: Agent(name, model) for name in ("A", "B")}
    trees = []
    engine = Engine(OrderedDebate(rounds=1, independent_opening=False), agents, reader=make_reader("probe"))
    engine.run([PARIS], trees.append)
    (tree,) = trees
    first, second = (tree.turn(n) for n in tree.nodes())
    assert (first.read.reader, first.answers["A"], first.read.probe) == ("probe", "Paris", '{"answer": "Paris"}')
    # B's turn named nothing; its probe said it agrees, which resolves to A's answer.
    assert second.read.special == "Agree" and second.answers["B"] == "Paris"
    probes = [r for r in model.requests if r.params.json_schema is not None]
    assert len(probes) == 2 and all(r.params.temperature == 0.0 for r in probes)
    assert probes[0].messages[-2].role == "assistant" and probes[0].messages[-1].content == PROBE_PROMPTS["open"]
    assert all(PROBE_PROMPTS["open"] not in t.text for t in (first, second))  # never part of the dialogue
    assert model.batches == [1, 1, 1, 1]  # each step: the turns in one batch, then their probes in one


def test_a_failed_probe_falls_back_to_the_rules_and_says_why():
    class Broken(Scripted):
        async def generate(self, requests):
            return [Reply(text="It is Paris.", model="m") if r.params.json_schema is None
                    else Reply(model="m", error="HTTP 500") for r in requests]

    agents = {"A": Agent("A", Broken(lambda t: None)), "B": Agent("B", Broken(lambda t: None))}
    trees = []
    Engine(OrderedDebate(rounds=1), agents, reader=make_reader("probe")).run([PARIS], trees.append)
    read = trees[0].turn("r.0").read
    assert read.answer == "Paris" and read.reader == "candidates" and read.failures[0] == "probe: HTTP 500"


@pytest.mark.slow
def test_smollm2_probe_answers_in_json_through_the_engine(tmp_path):
    """The real path: llama.cpp constrains SmolLM2's probe to JSON, the read comes from it, cached."""
    from agents.cache import GenerationCache

    agents = {"A": Agent("A", load_model("gguf:smollm2"), informed=True), "B": Agent("B", load_model("gguf:smollm2"))}
    questions = [PARIS, Question(id="jp", text="What is the capital city of Japan?", gold=["Tokyo"],
                                 context="Tokyo is the capital of Japan.")]
    trees = []
    engine = Engine(OrderedDebate(rounds=1), agents, reader=make_reader("probe"),
                    cache=GenerationCache(tmp_path / "cache.sqlite"))
    engine.run(questions, trees.append)
    reads = [t.turn(n).read for t in trees for n in t.nodes()]
    assert reads and all(r.probe is not None for r in reads)
    assert all(json.loads(r.probe).keys() == {"answer"} for r in reads)
    assert sum(r.reader == "probe" for r in reads) >= len(reads) - 1
    assert trees[0].turn("r.0").answers["A"] == "Paris"


def test_an_answer_outside_the_lists_is_held_and_agreement_on_it_ends_the_debate():
    """The cascade of the old reader: a wrong answer outside the question's lists read as NONE, so
    two agents agreeing on it never agreed. Now it is read, held, and a known candidate later."""
    texts = {"A": ["The capital of France is Marseille.", "I still say it is Marseille."],
             "B": ["Hmm, I am not sure.", "Marseille, as you say, is the capital."]}
    agents = {name: Agent(name, Lines(name, texts[name])) for name in ("A", "B")}
    trees = []
    Engine(OrderedDebate(rounds=3), agents).run([PARIS], trees.append)
    (tree,) = trees
    assert [tree.turn(n).speaker for n in tree.nodes()] == ["A", "B", "A", "B"]
    first = tree.turn("r.0")
    assert (first.answers["A"], first.read.reader) == ("Marseille", "open")
    assert tree.turn("r.0.0").read.special == "NONE"
    last = tree.turn(tree.nodes()[-1])
    assert last.speaker == "B" and last.read.reader == "candidates"
    assert last.answers == {"A": "Marseille", "B": "Marseille"}
    assert tree.metadata["outcome"]["stopped"] == "agreement"


class Lines(ChatModel):
    """Says its next scripted line, whatever it is asked."""

    def __init__(self, name: str, lines: list[str]):
        self.model_id = f"lines:{name}"
        self.lines = iter(lines)

    async def generate(self, requests):
        return [Reply(text=next(self.lines), model=self.model_id) for _ in requests]
