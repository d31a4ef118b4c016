"""Rendering a dialogue path from one speaker's point of view, down to the exact prompt strings
of three chat-template families (ChatML, Llama 3, Mistral), built offline."""

from __future__ import annotations

import pytest

from agents.agent import Agent
from agents.sim import SimModel, SimParams
from debate.records import Message, Question, Turn
from debate.render import messages_for, render_history, sees, view
from debate.tree import ROOT, DialogueTree, Visibility

QUESTION = Question(id="q1", text="Which city is the capital of France?", gold=["Paris"])
TEXTS = {
    "r.0": "It is Paris.\nFinal answer: Paris",
    "r.0.0": "It is Lyon.\nFinal answer: Lyon",
    "r.0.1": "I agree with you.\nFinal answer: Paris",
    "r.0.0.0": "Every atlas lists Paris.\nFinal answer: Paris",
    "r.0.0.1": "It matters so much to me.\nFinal answer: Paris",
    "r.0.0.2": "As a geographer: Paris.\nFinal answer: Paris",
}
#: The PBT opening: levels 0 and 1 answer independently (rounds 0 and 1 < 2).
OPENING = 2


def pbt_tree() -> DialogueTree:
    """The top three levels of a PBT tree: A neutral; B resistant / acceptant; A's three persuasions."""
    tree = DialogueTree(QUESTION)
    personas = {1: ["resistant", "acceptant"], 2: ["logical", "emotional", "credibility"]}
    for node, text in TEXTS.items():
        level = node.count(".") - 1
        parent = node.rsplit(".", 1)[0]
        persona = personas.get(level, ["neutral"])[int(node.rsplit(".", 1)[1])]
        assert tree.add_turn(parent, Turn(speaker="AB"[level % 2], persona=persona, text=text)) == node
    return tree


def render_for_next(tree: DialogueTree, parent: str, viewer: str, *, next_round: int | None = None,
                    opening_round: int = 0) -> list[Message]:
    """What `viewer` sees next under `parent`, with the tree's opening round set to `opening_round`."""
    tree.visibility = Visibility(opening_round=opening_round)
    return view(tree, parent, viewer, round=next_round).messages


def history_of(tree: DialogueTree, node: str, viewer: str, *, opening_round: int = 0,
               label_others: bool = True) -> list[Message]:
    tree.visibility = Visibility(opening_round=opening_round, label_others=label_others)
    return render_history(tree, node, viewer)


def test_own_turns_are_assistant_and_others_are_labelled_user():
    tree = pbt_tree()
    assert history_of(tree, "r.0.0.2", "A") == [
        Message(role="assistant", content=TEXTS["r.0"]),
        Message(role="user", content="Agent B: " + TEXTS["r.0.0"], name="B"),
        Message(role="assistant", content=TEXTS["r.0.0.2"])]
    assert [(m.role, m.content) for m in history_of(tree, "r.0.0.2", "B")] == [
        ("user", "Agent A: " + TEXTS["r.0"]), ("assistant", TEXTS["r.0.0"]), ("user", "Agent A: " + TEXTS["r.0.0.2"])]
    assert [m.content for m in history_of(tree, "r.0.0", "A", label_others=False)] == [TEXTS["r.0"], TEXTS["r.0.0"]]


def test_independent_opening_round_hides_the_others_opening_turns():
    tree = pbt_tree()
    # B's opening answer (level 1) is given without seeing A's; without an opening round B sees it.
    assert render_for_next(tree, "r.0", "B", opening_round=OPENING) == []
    assert [m.content for m in render_for_next(tree, "r.0", "B")] == ["Agent A: " + TEXTS["r.0"]]
    # A's first answer has no history at all; from level 2 on both opening answers are visible.
    assert render_for_next(tree, ROOT, "A", opening_round=OPENING) == []
    assert [m.role for m in render_for_next(tree, "r.0.1", "A", opening_round=OPENING)] == ["assistant", "user"]
    # The record of B's opening turn shows only B's own answer; A's view of it hides it too.
    assert history_of(tree, "r.0.1", "B", opening_round=OPENING) == [
        Message(role="assistant", content=TEXTS["r.0.1"])]
    assert history_of(tree, "r.0.1", "A", opening_round=OPENING) == [
        Message(role="assistant", content=TEXTS["r.0"])]
    # Rounds need not equal levels: both opening answers in round 0, the debate proper from round 1.
    linear = DialogueTree(QUESTION)
    a0 = linear.add_turn(ROOT, Turn(speaker="A", text="a0"), round=0)
    b0 = linear.add_turn(a0, Turn(speaker="B", text="b0"), round=0)
    assert render_for_next(linear, a0, "B", next_round=0, opening_round=1) == []
    assert [m.content for m in render_for_next(linear, b0, "A", next_round=1, opening_round=1)] == ["a0", "Agent B: b0"]


def test_history_of_a_node_is_its_prompt_followed_by_its_reply():
    tree = pbt_tree()
    for node in tree.nodes():
        speaker = tree.turn(node).speaker
        for opening in (0, OPENING):
            prompt = render_for_next(tree, tree.parent(node), speaker, next_round=tree.round(node),
                                     opening_round=opening)
            assert history_of(tree, node, speaker, opening_round=opening) == \
                prompt + [Message(role="assistant", content=TEXTS[node])]


def test_the_other_turn_seen_is_the_last_visible_one_by_someone_else():
    tree = pbt_tree()
    tree.visibility = Visibility(opening_round=OPENING)
    # In the opening round B sees nobody: an "Agree" there agrees with no one.
    assert view(tree, "r.0", "B", round=1).other is None and not sees(tree, "r.0", "B", round=1)
    assert view(tree, "r.0.0", "A").other == tree.turn("r.0.0") and sees(tree, "r.0", "B", round=OPENING)
    assert view(tree, "r.0.0.1", "B").other == tree.turn("r.0.0.1")
    # Own turns and failed turns are skipped.
    failed = tree.add_turn("r.0.0.1", Turn(speaker="B", text="", error="TimeoutError"))
    assert view(tree, failed, "B").other == tree.turn("r.0.0.1")
    assert view(tree, failed, "A").other == tree.turn("r.0.0")


def test_runs_of_turns_merge_so_roles_alternate():
    turns = [Turn(speaker="A", text="a1"), Turn(speaker="B", text="b1"), Turn(speaker="C", text="c1"),
             Turn(speaker="A", text="a2"), Turn(speaker="C", text="c2")]
    messages = messages_for(turns, "A")
    assert messages == [Message(role="assistant", content="a1"),
                        Message(role="user", content="Agent B: b1\n\nAgent C: c1"),
                        Message(role="assistant", content="a2"),
                        Message(role="user", content="Agent C: c2", name="C")]
    assert [m.content for m in messages_for(turns, "B", label_others=False)] == ["a1", "b1", "c1\n\na2\n\nc2"]


def test_failed_turns_are_never_rendered():
    tree = DialogueTree(QUESTION)
    a1 = tree.add_turn(ROOT, Turn(speaker="A", text="a1"))
    failed = tree.add_turn(a1, Turn(speaker="B", text="", error="TimeoutError: no reply"))
    a2 = tree.add_turn(failed, Turn(speaker="A", text="a2"))
    b2 = tree.add_turn(a2, Turn(speaker="B", text="b2"))
    assert history_of(tree, b2, "A") == [Message(role="assistant", content="a1\n\na2"),
                                             Message(role="user", content="Agent B: b2", name="B")]
    assert history_of(tree, b2, "B") == [Message(role="user", content="Agent A: a1\n\nAgent A: a2", name="A"),
                                             Message(role="assistant", content="b2")]
    assert history_of(tree, failed, "A") == [Message(role="assistant", content="a1")]


def agent(name: str) -> Agent:
    return Agent(name=name, model=SimModel("t", SimParams()), task_prompt="Answer briefly.")


def test_agent_request_merges_a_leading_user_turn_into_the_question():
    tree = pbt_tree()
    # B's level-3 prompt: A spoke first, so A's opening turn joins the question message.
    history = render_for_next(tree, "r.0.0.0", "B", opening_round=OPENING)
    messages = agent("B").request(QUESTION, history, seed=3).messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1].content == f"{QUESTION.text}\n\nAgent A: {TEXTS['r.0']}"
    assert messages[2:] == history[1:]
    # A's level-2 prompt starts with its own turn: nothing to merge.
    history = render_for_next(tree, "r.0.0", "A", opening_round=OPENING)
    messages = agent("A").request(QUESTION, history).messages
    assert [m.content for m in messages] == ["Answer briefly.", QUESTION.text, TEXTS["r.0"],
                                             "Agent B: " + TEXTS["r.0.0"]]
    assert [m.role for m in agent("A").request(QUESTION).messages] == ["system", "user"]


# ---------------------------------------------------------------- golden chat-template prompts

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' "
    "+ message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
MISTRAL = (
    "{{- bos_token }}{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{- raise_exception('System role not supported') }}{%- endif %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}"
    "{%- if message['role'] == 'user' %}{{- '[INST] ' + message['content'] + ' [/INST]' }}"
    "{%- else %}{{- message['content'] + eos_token }}{%- endif %}{%- endfor %}"
)
FAMILIES = {
    "chatml": (CHATML, ["<|im_start|>", "<|im_end|>"], "<|im_start|>", "<|im_end|>"),
    "llama3": (LLAMA3, ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
               "<|begin_of_text|>", "<|eot_id|>"),
    "mistral": (MISTRAL, ["<s>", "</s>", "[INST]", "[/INST]"], "<s>", "</s>"),
}

Q, A0, B1, A2 = QUESTION.text, TEXTS["r.0"], TEXTS["r.0.0"], TEXTS["r.0.0.0"]
GOLDEN = {
    # A's prompt for the level-2 node r.0.0.0 (it answered, B resisted, A now persuades).
    ("chatml", "A"): (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n"
        "<|im_start|>user\nWhich city is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\nIt is Paris.\nFinal answer: Paris<|im_end|>\n"
        "<|im_start|>user\nAgent B: It is Lyon.\nFinal answer: Lyon<|im_end|>\n"
        "<|im_start|>assistant\n"),
    ("llama3", "A"): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhich city is the capital of France?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nIt is Paris.\nFinal answer: Paris<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAgent B: It is Lyon.\nFinal answer: Lyon<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    # No system role: the system prompt opens the first user turn; user/assistant strictly alternate.
    ("mistral", "A"): (
        "<s>[INST] Answer briefly.\n\nWhich city is the capital of France? [/INST]"
        "It is Paris.\nFinal answer: Paris</s>"
        "[INST] Agent B: It is Lyon.\nFinal answer: Lyon [/INST]"),
    # B's prompt for a level-3 child of r.0.0.0: A spoke first, so A's opening joins the question.
    ("chatml", "B"): (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n"
        "<|im_start|>user\nWhich city is the capital of France?\n\n"
        "Agent A: It is Paris.\nFinal answer: Paris<|im_end|>\n"
        "<|im_start|>assistant\nIt is Lyon.\nFinal answer: Lyon<|im_end|>\n"
        "<|im_start|>user\nAgent A: Every atlas lists Paris.\nFinal answer: Paris<|im_end|>\n"
        "<|im_start|>assistant\n"),
    ("llama3", "B"): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n"
        "Which city is the capital of France?\n\nAgent A: It is Paris.\nFinal answer: Paris<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nIt is Lyon.\nFinal answer: Lyon<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAgent A: Every atlas lists Paris.\nFinal answer: Paris<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("mistral", "B"): (
        "<s>[INST] Answer briefly.\n\nWhich city is the capital of France?\n\n"
        "Agent A: It is Paris.\nFinal answer: Paris [/INST]"
        "It is Lyon.\nFinal answer: Lyon</s>"
        "[INST] Agent A: Every atlas lists Paris.\nFinal answer: Paris [/INST]"),
}


def family_tokenizer(family: str):
    """A PreTrainedTokenizerFast with the family's special tokens and template, trained offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    template, specials, bos, eos = FAMILIES[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([Q, A0, B1, A2, "Answer briefly."] * 5, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos)
    tokenizer.chat_template = template
    return tokenizer


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def tokenizer(request):
    return request.param, family_tokenizer(request.param)


@pytest.mark.parametrize("viewer", ["A", "B"])
def test_golden_prompts_per_template_family(tokenizer, viewer):
    from agents.hf_backend import render_chat

    family, tok = tokenizer
    tree = pbt_tree()
    if viewer == "A":  # the prompt that produced the level-2 node r.0.0.0
        history = render_for_next(tree, tree.parent("r.0.0.0"), "A", next_round=tree.round("r.0.0.0"),
                                  opening_round=OPENING)
    else:  # the prompt of B's next (level-3) turn below it
        history = render_for_next(tree, "r.0.0.0", "B", opening_round=OPENING)
    prompt = render_chat(tok, agent(viewer).request(QUESTION, history, seed=1).messages)
    assert prompt == GOLDEN[family, viewer]
    # The template's markers are single special tokens, as in the real families.
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert all(tok.convert_tokens_to_ids(s) in ids for s in FAMILIES[family][1] if s in prompt)


def test_strict_template_needs_the_merged_question_message():
    """Without the merge a leading user turn would follow the question: two user turns in a row."""
    from jinja2 import TemplateError

    from agents.hf_backend import fold_system

    tok = family_tokenizer("mistral")
    history = render_for_next(pbt_tree(), "r.0.0.0", "B", opening_round=OPENING)
    unmerged = [Message(role="system", content="Answer briefly."), Message(role="user", content=Q), *history]
    with pytest.raises(TemplateError, match="must alternate"):
        tok.apply_chat_template(fold_system(unmerged), tokenize=False)
