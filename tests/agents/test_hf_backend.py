"""The in-process transformers backend on the tiny random model."""

from __future__ import annotations

import pytest

from agents.registry import load_model
from debate.errors import EndpointError
from debate.records import ChatRequest, GenerationParams, Message

PROMPTS = ["What is the capital of France?", "Who?", "the river is long and the ocean is blue, do you agree?",
           "yes", "Option two or option three, because of the evidence?"]


def chat(text: str, system: bool = True, **params) -> ChatRequest:
    messages = ([Message(role="system", content="Be brief.")] if system else []) + [Message(role="user", content=text)]
    return ChatRequest(messages=messages, params=GenerationParams(**{"max_tokens": 12, **params}))


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(f"hf:{tiny_model_dir}?device=cpu")


def test_batched_greedy_equals_one_by_one_greedy(tiny):
    batch = tiny.generate_sync([chat(p) for p in PROMPTS])
    single = [tiny.generate_sync([chat(p)])[0] for p in PROMPTS]
    assert [r.text for r in batch] == [r.text for r in single]
    assert len({r.text for r in batch}) == len(PROMPTS)  # distinct prompts, distinct outputs: order kept
    for reply in batch:
        assert reply.ok and reply.usage.completion_tokens <= 12 and reply.usage.prompt_tokens > 5


def test_seeded_sampling_does_not_depend_on_the_batch(tiny):
    alone = tiny.generate_sync([chat(PROMPTS[2], temperature=1.0, seed=5)])[0].text
    mixed = tiny.generate_sync([chat(p, temperature=1.0, seed=5 if i == 2 else i) for i, p in enumerate(PROMPTS)])
    assert mixed[2].text == alone
    other_seed = tiny.generate_sync([chat(PROMPTS[2], temperature=1.0, seed=6)])[0].text
    assert other_seed != alone


def test_max_tokens_per_request_and_stop_strings(tiny):
    short, long = tiny.generate_sync([chat(PROMPTS[0], max_tokens=3), chat(PROMPTS[0], max_tokens=10)])
    assert short.usage.completion_tokens == 3 and long.usage.completion_tokens == 10
    assert long.text.startswith(short.text[:2])
    stop = long.text.split()[1] if len(long.text.split()) > 1 else long.text[-1]
    stopped = tiny.generate_sync([chat(PROMPTS[0], max_tokens=10, stop=[stop])])[0]
    assert stop not in stopped.text and long.text.startswith(stopped.text.strip()[:3])


def test_template_without_system_role_folds_the_system_prompt(tiny_model_dir, tmp_path):
    import shutil

    from agents.hf_backend import HFChatModel, render_chat

    folder = tmp_path / "nosys"
    shutil.copytree(tiny_model_dir, folder)
    model = HFChatModel(str(folder), device="cpu")
    model.tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}[assistant]")
    rendered = render_chat(model.tokenizer, chat("Hello?").messages)
    assert rendered == "[user] Be brief.\n\nHello?\n[assistant]"
    assert model.generate_sync([chat("Hello?")])[0].ok


def test_one_loaded_model_is_shared_and_bad_paths_are_user_errors(tiny_model_dir, tmp_path):
    assert load_model(f"hf:{tiny_model_dir}?device=cpu") is load_model(f"hf:{tiny_model_dir}?device=cpu")
    with pytest.raises(EndpointError, match="no config.json"):
        load_model(f"hf:{tmp_path / 'missing'}")


def test_json_schema_is_not_enforced_and_free_text_comes_back(tiny):
    """No constrained decoding here: a request with a schema gets the free text it would get without."""
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    assert not tiny.constrained_output
    free, constrained = tiny.generate_sync([chat(PROMPTS[0]), chat(PROMPTS[0], json_schema=schema)])
    assert constrained.ok and constrained.text == free.text
