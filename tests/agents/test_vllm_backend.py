"""VLLMChatModel end to end on a tiny random model, checked against HFChatModel.

vLLM lives in its own venv (.venv-vllm, built by scripts/setup-vllm.sh), so the vLLM side runs
as a subprocess (tests/vllm_check.py) and reports its replies as JSON; the HF side runs here.
Both sides take their batch from `vllm_check.build_requests`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from vllm_check import YES_NO_SCHEMA, build_requests
from helpers import REPO, TESTS

ROOT = REPO
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
CHECK_SCRIPT = TESTS / "vllm_check.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir) -> Path:
    return tiny_model_dir


@pytest.fixture(scope="module")
def vllm_replies(tiny_model) -> list[dict]:
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PYTHON.relative_to(ROOT)}; build it with `bash scripts/setup-vllm.sh`")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([str(VLLM_PYTHON), str(CHECK_SCRIPT), str(tiny_model)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f"vllm_check.py failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line on stdout, got:\n{proc.stdout[-2000:]}"
    return json.loads(lines[0])["replies"]


def _same_greedy_text(hf: str, vllm: str) -> bool:
    """Equal, except that vLLM drops a trailing incomplete UTF-8 sequence.

    The random model often emits lone non-ASCII byte tokens. HF decodes the whole completion at
    once and renders an unfinished UTF-8 sequence at the end as U+FFFD; vLLM's incremental
    detokenizer (tokenizers' DecodeStream) withholds text that ends in U+FFFD until more bytes
    arrive and does not flush it when the request finishes. Everything before that tail is the
    same; token counts are compared exactly elsewhere.
    """
    if hf == vllm:
        return True
    rest = hf[len(vllm):]
    return hf.startswith(vllm) and "\ufffd" in rest and rest.replace("\ufffd", "").strip() == ""


def test_vllm_batch_matches_hf_greedy(tiny_model, vllm_replies):
    requests = build_requests()
    assert len(vllm_replies) == len(requests)
    for i, (request, reply) in enumerate(zip(requests, vllm_replies)):
        assert reply["error"] is None, f"request {i}: {reply['error']}"
        assert 1 <= reply["completion_tokens"] <= request.params.max_tokens, f"request {i}: {reply}"
        assert reply["finish_reason"] in ("stop", "length"), f"request {i}: {reply}"
        if reply["finish_reason"] == "length":
            assert reply["completion_tokens"] == request.params.max_tokens, f"request {i}: {reply}"

    # The request with the smaller max_tokens was cut shorter than the others got to run.
    short = min(range(len(requests)), key=lambda i: requests[i].params.max_tokens)
    assert len({r.params.max_tokens for r in requests}) > 1
    assert vllm_replies[short]["completion_tokens"] <= requests[short].params.max_tokens
    assert max(r["completion_tokens"] for r in vllm_replies) > requests[short].params.max_tokens

    # The seeded sampled request, sent twice in one batch, comes back the same both times.
    seeded = [i for i, r in enumerate(requests) if r.params.temperature > 0 and r.params.seed is not None]
    assert len(seeded) == 2 and requests[seeded[0]] == requests[seeded[1]]
    first, second = (vllm_replies[i] for i in seeded)
    assert first["text"] == second["text"] and first["completion_tokens"] == second["completion_tokens"]

    # The constrained request follows its schema although the random model writes noise otherwise.
    (constrained,) = [i for i, r in enumerate(requests) if r.params.json_schema == YES_NO_SCHEMA]
    assert vllm_replies[constrained]["finish_reason"] == "stop", vllm_replies[constrained]
    assert json.loads(vllm_replies[constrained]["text"]) in ({"answer": "yes"}, {"answer": "no"})

    # Greedy free requests give what HFChatModel gives greedily on the same folder, in request order.
    from agents.hf_backend import HFChatModel

    greedy = [i for i, r in enumerate(requests) if r.params.temperature == 0 and r.params.json_schema is None]
    assert len(greedy) >= 5
    hf = HFChatModel(str(tiny_model), device="cpu", dtype="float32")
    try:
        hf_replies = hf.generate_sync([requests[i] for i in greedy])
    finally:
        hf.close()
    # Distinct prompts give distinct answers, so a reply out of order would not pass for another.
    assert len({r.text for r in hf_replies}) == len(hf_replies)
    for i, hf_reply in zip(greedy, hf_replies):
        ours = vllm_replies[i]
        assert hf_reply.ok, hf_reply.error
        assert ours["completion_tokens"] == hf_reply.usage.completion_tokens, f"request {i}"
        assert ours["finish_reason"] == hf_reply.finish_reason, f"request {i}"
        assert _same_greedy_text(hf_reply.text, ours["text"]), (f"request {i}: HF {hf_reply.text!r} "
                                                                f"vs vLLM {ours['text']!r}")
