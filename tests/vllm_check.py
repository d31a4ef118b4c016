"""Run one batch through VLLMChatModel and print the replies as one JSON line on stdout.

    .venv-vllm/bin/python tests/vllm_check.py MODEL_DIR

vLLM lives in its own venv (scripts/setup-vllm.sh), so tests/agents/test_vllm_backend.py runs this
script as a subprocess. `build_requests` is the one definition of the batch: the test imports
it (this module imports vllm only inside `main`) to ask HFChatModel the same questions.
Everything vLLM prints (its own log, its engine process) goes to stderr; stdout carries only
the JSON line.
"""

from __future__ import annotations

import json
import os
import sys

from debate.records import ChatRequest, GenerationParams, Message

SAMPLED_SEED = 1234
SHORT_MAX_TOKENS = 5
#: The random model's reply must still be one of these JSON objects: vLLM enforces the schema.
YES_NO_SCHEMA = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"],
                 "additionalProperties": False}


def build_requests() -> list[ChatRequest]:
    """Six greedy requests with distinct prompts (one with a smaller max_tokens), one seeded
    sampled request twice, then one greedy request constrained to YES_NO_SCHEMA."""

    def chat(system: str, user: str, **params: object) -> ChatRequest:
        return ChatRequest(messages=[Message(role="system", content=system), Message(role="user", content=user)],
                           params=GenerationParams(**params))

    greedy = dict(temperature=0.0, max_tokens=12)
    requests = [
        chat("You are a careful expert.", "What is the capital of France?", **greedy),
        chat("You are a debater.", "I think the answer is Paris. Do you agree?", **greedy),
        chat("Answer with one word.", "Which planet is the biggest?", **greedy),
        chat("You reconsider when shown evidence.", "The river is long because of the evidence.", **greedy),
        chat("Be sure of your final answer.", "Option one or option two?",
             **{**greedy, "max_tokens": SHORT_MAX_TOKENS}),
        chat("You are a painter.", "Which country and year is the author from?", **greedy),
    ]
    sampled = chat("You are a model.", "Is it yes or no? Think about the question.",
                   temperature=1.0, top_p=0.95, max_tokens=12, seed=SAMPLED_SEED)
    constrained = chat("Answer in JSON.", "Is the sky blue?", temperature=0.0, max_tokens=64,
                       json_schema=YES_NO_SCHEMA)
    return requests + [sampled, sampled.model_copy(deep=True), constrained]


def main(model_dir: str) -> None:
    # Keep fd 1 for the JSON line and send everything else written to stdout (vLLM's logger,
    # the spawned engine process, which inherits the fds) to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache; the default is too big
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")

    from agents.vllm_backend import VLLMChatModel

    model = VLLMChatModel(model_dir, dtype="float32", enforce_eager=True, max_model_len=512,
                          max_num_seqs=16, max_num_batched_tokens=2048, seed=0)
    try:
        replies = model.generate_sync(build_requests())
    finally:
        model.close()
    rows = [{"text": r.text, "completion_tokens": r.usage.completion_tokens, "finish_reason": r.finish_reason,
             "error": r.error} for r in replies]
    out.write(json.dumps({"model": model.model_id, "replies": rows}) + "\n")
    out.flush()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: vllm_check.py MODEL_DIR")
    main(sys.argv[1])
