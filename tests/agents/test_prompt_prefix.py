"""Prefix-friendly PBT trees: with `instructions = "turn"`, every turn's rendered context (its
prompt and its reply) is a token prefix of the prompts of the same speaker's turns below it,
and sibling branches share everything but their last message, under the ChatML, Llama-3 and
Mistral chat templates. With the paper's layout (`"system"`) the persona's system prompt breaks
both wherever personas differ."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest

from agents.agent import Agent
from agents.base import ChatModel
from agents.hf_backend import render_chat
from agents.registry import load_model
from debate.data import load_questions
from debate.records import ChatRequest, Message, Reply
from debate.render import view
from debate.tree import ROOT, DialogueTree
from helpers import IGNORANT, KNOWER
from protocols.engine import Engine
from protocols.recursive import RecursiveTree

LLAMA3 = ("{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + "
          "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
          "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
# Mistral-7B-Instruct-v0.2's template: no system role (render_chat folds the system prompt into
# the first user message), roles must alternate.
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
           "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")


class Recording(ChatModel):
    """A simulated model that keeps every prompt it was sent."""

    reads_metadata = True
    cacheable = False

    def __init__(self, inner: ChatModel, prompts: list):
        self.inner, self.model_id, self.prompts = inner, inner.model_id, prompts

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        self.prompts += [tuple(requests_messages(r.messages)) for r in requests]
        return await self.inner.generate(requests)


def requests_messages(messages: Sequence[Message]) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in messages]


def _trees(instructions: str) -> tuple[list[DialogueTree], dict[str, Agent], list]:
    """Four full 1-2-6-12 trees: A always right, B always wrong, neither ever gives way."""
    prompts: list = []
    agents = {name: Agent(name, Recording(load_model(spec), prompts), instructions=instructions)
              for name, spec in (("A", KNOWER), ("B", IGNORANT))}
    trees: list[DialogueTree] = []
    Engine(RecursiveTree(), agents, seed=1).run(load_questions("sample-train")[:4], trees.append)
    assert [len(t.graph) for t in trees] == [22] * 4  # the root and 21 turns
    return trees, agents, prompts


def _prompt(tree: DialogueTree, node: str, agents: dict[str, Agent]) -> list[Message]:
    """The prompt a node was generated from, rebuilt as the engine builds it."""
    turn = tree.turn(node)
    agent = agents[turn.speaker]
    seen = view(tree, tree.parent(node), turn.speaker, round=tree.round(node),
                prefix_order=agent.instructions == "turn")
    return agent.request(tree.question, seen.messages, persona=turn.persona,
                                        history_personas=seen.personas).messages


def _grandchildren(tree: DialogueTree, node: str) -> list[str]:
    return [g for c in tree.children(node) for g in tree.children(c)]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("template", ["chatml", "llama-3", "mistral"])
def test_turn_placed_instructions_make_every_context_a_token_prefix(tokenizer, template):
    if template != "chatml":  # the tiny model's own template is ChatML
        tokenizer = copy.copy(tokenizer)
        tokenizer.chat_template = {"llama-3": LLAMA3, "mistral": MISTRAL}[template]
    results = {}
    for instructions in ("turn", "system"):
        trees, agents, prompts = _trees(instructions)
        held = pairs = 0
        for tree in trees:
            for node in (n for n in tree.graph if n != ROOT):
                prompt = _prompt(tree, node, agents)
                assert tuple(requests_messages(prompt)) in prompts  # the engine sent exactly this
                context = render_chat(tokenizer, prompt) + tree.turn(node).text
                for later in _grandchildren(tree, node):
                    rendered = render_chat(tokenizer, _prompt(tree, later, agents))
                    ids, later_ids = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (context, rendered))
                    pairs += 1
                    held += rendered.startswith(context) and later_ids[:len(ids)] == ids
        results[instructions] = (held, pairs)
    held, pairs = results["turn"]
    assert pairs == 4 * (6 + 2 * 6) and held == pairs  # per tree: A's first turn has 6 grandchildren, B's two 6 each
    held, pairs = results["system"]
    assert held < pairs / 2  # the persona's system prompt differs between most of them


def test_turn_placed_instructions_let_siblings_share_all_but_their_last_message():
    trees, agents, _ = _trees("turn")
    siblings = 0
    for tree in trees:
        for parent in tree.graph:
            kids = list(tree.children(parent))
            if len(kids) < 2:
                continue
            prompts = [_prompt(tree, k, agents) for k in kids]
            assert all(p[:-1] == prompts[0][:-1] for p in prompts)
            assert len({p[-1].content for p in prompts}) == len(kids)  # each its own instruction
            system = {p[0].content for p in prompts}
            assert len(system) == 1
            siblings += 1
    assert siblings >= 4 * 4  # the 2-, 6- and 12-wide levels of four trees
