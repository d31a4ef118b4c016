"""`debate convert`: the bundled SmolLM2 GGUF becomes a transformers folder that answers like
the GGUF does, loads through an hf: spec, and can be refused cleanly."""

from __future__ import annotations

import json

import pytest

from helpers import debate


@pytest.mark.slow
def test_smollm2_gguf_converts_to_a_working_transformers_folder(tmp_path):
    out = tmp_path / "smollm2-hf"
    made = debate("convert", "smollm2", "--out", str(out), timeout=600)
    assert made.returncode == 0, made.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (out / "model.safetensors").is_file() and (out / "chat_template.jinja").is_file()
    assert not list(tmp_path.glob(".*.tmp"))

    from agents.agent import Agent
    from agents.registry import close_all, load_model
    from debate.records import GenerationParams, Question

    model = load_model(f"hf:{out}")
    try:
        question = Question(id="fr", text="What is the capital of France?", gold=["Paris"])
        agent = Agent("a", model, params=GenerationParams(temperature=0.0, max_tokens=16))
        (reply,) = model.generate_sync([agent.request(question)])
    finally:
        close_all()
    assert reply.ok and "Paris" in reply.text

    written = (out / "model.safetensors").stat().st_mtime_ns
    again = debate("convert", "smollm2", "--out", str(out))  # already converted: kept as it is
    assert again.returncode == 0 and (out / "model.safetensors").stat().st_mtime_ns == written


def test_convert_refuses_bad_input(tmp_path):
    missing = debate("convert", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "nope.gguf: no such GGUF file" in missing.stderr
    not_gguf = tmp_path / "fake.gguf"
    not_gguf.write_text("not a gguf file")
    bad = debate("convert", str(not_gguf), "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "fake.gguf: transformers cannot read this GGUF file" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "o").exists()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    refused = debate("convert", "smollm2", "--out", str(occupied))
    assert refused.returncode == 2 and "exists and is not a converted model folder" in refused.stderr
    assert (occupied / "notes.txt").read_text() == "mine"
