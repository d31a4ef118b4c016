"""The throughput benchmark (experiments/bench/throughput.py) and the GPU check (scripts/gpu_check.py),
at their smallest sizes on the tiny random model: the figures are there and positive, and the
reference strategy is given exactly the prompts the engine sent for the same nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.hf_backend import HFChatModel, render_chat
from experiments.bench import throughput

ROOT = Path(__file__).resolve().parents[2]
RATES = ("turns_per_s", "generated_tokens_per_s", "prompt_tokens_per_s")


def test_hf_and_reference_paths_do_the_same_work(tiny_model_dir, tmp_path, monkeypatch, capsys):
    sent = []  # every request the engine's hf model was given
    original = HFChatModel._generate_all

    def recording(self, requests):
        sent.extend(r for r in requests if r.question is not None)  # not the warm-up request
        return original(self, requests)

    monkeypatch.setattr(HFChatModel, "_generate_all", recording)
    outcome = throughput.main(["--model", str(tiny_model_dir), "--paths", "hf,reference", "--limit", "1",
                               "--max-tokens", "4", "--reference-nodes", "3", "--out", str(tmp_path)])
    printed = capsys.readouterr().out

    results = json.loads((tmp_path / "throughput.json").read_text())
    assert set(results) >= {"machine", "settings", "paths", "ratios", "target"}
    assert results["settings"]["paths"] == ["hf", "reference"] and results["settings"]["max_tokens"] == 4
    hf, ref = results["paths"]["hf"], results["paths"]["reference"]
    for figures in (hf, ref):
        assert all(figures[key] > 0 for key in (*RATES, "wall_s", "generated_tokens", "prompt_tokens", "turns"))
    assert hf["trees"] == 1 and hf["failed"] == 0 and hf["turns"] == len(sent)
    measured = ref["measured"]
    assert ref["turns"] == hf["turns"] == 21 and measured["turns"] == 3 and ref["extrapolated"] is True
    assert all(measured[key] > 0 for key in (*RATES, "wall_s", "generated_tokens"))
    assert set(ref["estimates"]) == {"hf"} and ref["cost_model"]["per_position_s"] > 0
    assert all(results["ratios"]["hf_vs_reference"][key] > 0 for key in RATES)
    assert results["target"]["met"] is None  # no default path in this run
    assert "reference (1 seq., no KV) on hf's nodes" in printed and "EXTRAPOLATED" in printed

    # The reference re-renders every node's request from the finished tree: the same messages
    # and sampling settings as the engine sent, node for node (the seed names the node).
    engine = {r.params.seed: r for r in sent}
    assert len(engine) == len(sent) == len(outcome.reference_requests)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for request in outcome.reference_requests:
        made = engine[request.params.seed]
        assert request.messages == made.messages and request.params == made.params
        assert render_chat(tokenizer, request.messages) == render_chat(tokenizer, made.messages)
    # ... and the nodes it generated saw as many prompt tokens as the engine counted for them.
    assert ref["prompt_tokens_equal_engine"] == measured["turns"] == len(ref["nodes"])


def test_bad_paths_are_one_line_errors(tiny_model_dir, tmp_path, capsys):
    for paths, expected in (("reference", "add default or hf"), ("default,hf", "the default path serves a GGUF"),
                            ("hf,fast", "unknown path 'fast'")):
        with pytest.raises(SystemExit) as exit_:
            throughput.main(["--model", str(tiny_model_dir), "--paths", paths, "--out", str(tmp_path)])
        assert exit_.value.code == 2 and expected in capsys.readouterr().out
    assert not (tmp_path / "throughput.json").exists()


def test_gpu_check_runs_on_the_cpu_with_a_tiny_model(tmp_path):
    out = tmp_path / "gpu-check.json"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), "--cpu", "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert all(line.startswith("gpu-check: ") for line in lines), done.stdout
    assert any("hf batched backend" in line and "tokens/s" in line for line in lines)
    assert any("reference (one sequence, no KV cache)" in line for line in lines)
    assert any("DPO + LoRA" in line and "step times" in line for line in lines)
    figures = json.loads(out.read_text())
    assert figures["tiny"] and figures["hf"]["turns"] > 0 and figures["reference"]["measured"]["turns"] > 0
    assert all(figures[part][key] > 0 for part in ("hf", "reference") for key in RATES)
    assert len(figures["dpo"]["step_s"]) == 2 and all(s > 0 for s in figures["dpo"]["step_s"])


def test_gpu_check_without_a_gpu_says_so_in_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stdout.strip().splitlines() == [done.stdout.strip()] and "no CUDA GPU" in done.stdout
    assert "--cpu --tiny" in done.stdout and "Traceback" not in done.stderr
