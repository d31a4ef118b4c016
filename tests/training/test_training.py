"""SFT + DPO with TRL and LoRA on the tiny model, from data made by `debate prefs`: the loss
falls, checkpoints are scored by balanced accuracy, the adapter reloads and generates, and a
second run resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import debate


@pytest.fixture(scope="module")
def prefs_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prefs")
    trees = debate("tree", "--a", "sim:strong", "--b", "sim:gullible", "--questions", "sample", "--limit", "170",
                   "--out", str(folder / "trees"), "--no-progress")
    assert trees.returncode == 0, trees.stderr
    made = debate("prefs", str(folder / "trees" / "trees.jsonl"), "--out", str(folder / "data"))
    assert made.returncode == 0, made.stderr
    return folder / "data"


@pytest.mark.slow
def test_sft_then_dpo_on_the_tiny_model(tiny_model_dir, prefs_data, tmp_path):
    from training.trainer import TrainConfig, train

    config = TrainConfig(sft_steps=8, dpo_steps=12, save_steps=6, batch_size=4, eval_max_tokens=4, max_length=512)
    summary = train(tiny_model_dir, prefs_data, tmp_path / "out", config)
    sft, dpo = summary["sft_loss"], summary["dpo_loss"]
    assert len(sft) == 8 and len(dpo) == 12
    assert sum(dpo[-3:]) / 3 < dpo[0] - 0.05  # DPO starts at log 2 and falls
    assert sum(sft[-3:]) / 3 < sum(sft[:3]) / 3
    assert set(summary["checkpoint_scores"]) == {"6", "12"} and summary["best_step"] in (6, 12)
    assert all(set(v) == {"resist", "accept", "balanced"} for v in summary["checkpoint_scores"].values())
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()

    from peft import AutoPeftModelForCausalLM

    from agents.agent import Agent
    from agents.hf_backend import HFChatModel
    from debate.records import GenerationParams, Question

    adapter = AutoPeftModelForCausalLM.from_pretrained(str(tmp_path / "out" / "adapter"))
    assert any("lora" in name for name, _ in adapter.named_parameters())
    merged = HFChatModel(str(tmp_path / "out" / "merged"))
    question = Question(id="q", text="What is the capital of France?", gold=["Paris"])
    reply = merged.generate_sync([Agent("a", merged, params=GenerationParams(max_tokens=5)).request(question)])[0]
    assert reply.ok and reply.usage.completion_tokens > 0

    # The same run again resumes: both stages are at their last step, nothing is retrained, and
    # the checkpoints scored before are kept.
    scores_before = (tmp_path / "out" / "scores.json").read_text()
    again = train(tiny_model_dir, prefs_data, tmp_path / "out", config)
    assert again["checkpoint_scores"] == summary["checkpoint_scores"]
    assert (tmp_path / "out" / "scores.json").read_text() == scores_before


def test_train_refuses_bad_input(tmp_path, prefs_data, tiny_model_dir):
    missing = debate("train", str(prefs_data), "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "nowhere: not a transformers model folder (no config.json)" in missing.stderr
    not_data = debate("train", str(tmp_path), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"))
    assert not_data.returncode == 2 and "not a preference-data folder (no train.jsonl)" in not_data.stderr
    assert not (tmp_path / "o").exists()
    card = json.loads((prefs_data / "card.json").read_text())
    assert card["train"]["by_label"]["accept"] == card["train"]["by_label"]["resist"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["train-scored:1", "train-saved:1"])
def test_training_killed_mid_run_resumes_to_the_same_end(tiny_model_dir, prefs_data, tmp_path, crash_at):
    """SIGKILL after the first DPO checkpoint is scored, or after the models are saved but before
    the summary: the same command again finishes the run with every checkpoint scored once."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "debate.cli", "train", str(prefs_data), "--model", str(tiny_model_dir),
               "--out", str(out), "--sft-steps", "4", "--dpo-steps", "8", "--save-steps", "4", "--max-length", "512"]
    killed = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "DEBATE_CRASH_AT": crash_at})
    assert killed.returncode == -9, killed.stderr
    assert not (out / "training.json").exists()
    scored_before = json.loads((out / "scores.json").read_text())
    assert set(scored_before) == ({"4"} if crash_at == "train-scored:1" else {"4", "8"})

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((out / "training.json").read_text())
    assert set(summary["checkpoint_scores"]) == {"4", "8"}
    assert {k: summary["checkpoint_scores"][k] for k in scored_before} == scored_before  # not rescored
    assert len(summary["dpo_loss"]) == 8 and len(summary["sft_loss"]) == 4  # the logs span both runs
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "merged" / "config.json").is_file()
    assert not list(out.rglob("*.tmp"))
