"""GPU check: generation and DPO speed of a ~1B Llama-style model on one NVIDIA GPU, offline.

For a machine with one NVIDIA GPU, PyTorch and transformers (peft too) but no network and no
vLLM. Nothing is downloaded:

1. a randomly initialised Llama model of about 1B parameters (Llama-3.2-1B's shape: hidden 2048,
   16 layers, 32 heads, 8 KV heads, MLP 8192, tied embeddings, a vocabulary of 49,152 like
   SmolLM2's), in bfloat16 on the GPU;
2. a tokenizer: `--tokenizer DIR`, else (except with `--tiny`) SmolLM2's (`runs/bench/models/smollm2-tokenizer`, or the
   folder `python -m experiments.bench.throughput` converts, from which a small tokenizer-only
   copy is saved for carrying), else a byte-level BPE trained here on generated sentences (the
   model's ids beyond it decode to nothing);
3. PBT trees (the paper's 1-2-6-12 shape) through our engine and our `hf:` batched backend
   (`agents.hf_backend.HFChatModel`, KV-cached, left-padded batches), against the reference
   strategy (one sequence, no KV cache, `experiments.bench.throughput.Reference`) on a sample
   of the same nodes' prompts, re-rendered from the trees;
4. a few DPO steps with a LoRA adapter on preference pairs cut from those trees (a node's reply
   against a sibling's): TRL's DPOTrainer when trl and datasets import, else the same sigmoid
   DPO loss written out (`--dpo manual`: the adapter disabled gives the reference model).

It prints tokens/s, turns/s and step times (and `--out FILE` writes them as JSON). Defaults
finish well inside 6 minutes on an H100/H200. Without CUDA it exits with one line, unless given
`--cpu --tiny` (a 2-layer model, a few tokens: the smoke test that runs on any machine).

Our code needs pydantic (with pydantic-core, annotated-types, typing-inspection) and networkx
besides torch and transformers: a machine without them gets one line naming what is missing.
On a machine without network, bring them as wheels, and bring SmolLM2's tokenizer as the 3.4 MB
folder `runs/bench/models/smollm2-tokenizer` (this script writes it wherever the throughput
benchmark's converted folder exists) rather than the 517 MB model folder.

    scripts/gpu-check.sh [--trees 8] [--max-tokens 64] [--reference-nodes 4] [--dpo-steps 5]
    scripts/gpu-check.sh --cpu --tiny
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _name, _value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_name, _value)

MODEL_CACHE = ROOT / "runs" / "bench" / "models"
SMOLLM2_TOKENIZER = MODEL_CACHE / "smollm2-tokenizer"
SMOLLM2_CONVERTED = MODEL_CACHE / "SmolLM2-135M-Instruct.Q4_1-hf"
SMOLLM2_VOCAB = 49152
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
_WORDS = ("the capital of france is paris final answer agree disagree question model answer i think it is yes "
          "no because evidence expert sure reconsider correct wrong city river author painter year country ocean "
          "planet largest who which what where when").split()


def fail(message: str, code: int = 1) -> None:
    print(f"gpu-check: {message}", flush=True)
    raise SystemExit(code)


def say(message: str) -> None:
    print(f"gpu-check: {message}", flush=True)


# ----------------------------------------------------------------------------- set-up


def local_tokenizer():
    """A byte-level BPE with a ChatML template, trained here in well under a second."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(0)
    sentences = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
                 for _ in range(2000)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|im_start|>", "<|im_end|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(sentences, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<pad>")
    tokenizer.chat_template = CHATML
    return tokenizer


def load_tokenizer(path: Path | None, tiny: bool):
    """(tokenizer, where it came from); the tiny model takes the small local one unless given one."""
    from transformers import AutoTokenizer

    if path is not None:
        if not path.is_dir():
            fail(f"{path}: no such tokenizer folder", 2)
        return AutoTokenizer.from_pretrained(path), str(path)
    if tiny:
        return local_tokenizer(), "local BPE"
    if (SMOLLM2_TOKENIZER / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(SMOLLM2_TOKENIZER), "smollm2"
    if (SMOLLM2_CONVERTED / "tokenizer.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(SMOLLM2_CONVERTED)
        try:  # a few MB that can travel where the 517 MB folder cannot
            tokenizer.save_pretrained(SMOLLM2_TOKENIZER)
        except OSError:
            pass
        return tokenizer, "smollm2"
    return local_tokenizer(), "local BPE (SmolLM2's tokenizer not found)"


def build_model(tokenizer, *, tiny: bool, device: str, dtype, seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id}
    if tiny:
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=4096,
                             tie_word_embeddings=True, **ids)
    else:
        config = LlamaConfig(vocab_size=max(len(tokenizer), SMOLLM2_VOCAB), hidden_size=2048, intermediate_size=8192,
                             num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                             max_position_embeddings=8192, rope_theta=500000.0, tie_word_embeddings=True, **ids)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model = model.to(dtype).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- generation


def generate_trees(model, tokenizer, *, trees: int, max_tokens: int, batch: int, seed: int, device: str):
    """PBT trees through our engine and hf backend; (figures, trees)."""
    from agents.agent import Agent
    from agents.hf_backend import HFChatModel
    from debate.data import load_questions
    from debate.records import ChatRequest, GenerationParams, Message
    from protocols.engine import Engine
    from protocols.recursive import RecursiveTree

    chat = HFChatModel.from_loaded(model, tokenizer, "hf:random-llama", max_batch_size=batch)
    chat.generate_sync([ChatRequest(messages=[Message(role="user", content="Hello")],
                                    params=GenerationParams(max_tokens=2, seed=0))])  # warm-up
    params = GenerationParams(temperature=0.7, max_tokens=max_tokens)
    agents = {name: Agent(name, chat, params=params) for name in ("A", "B")}
    protocol = RecursiveTree()
    questions = load_questions("sample:open")[:trees]
    made = []
    engine = Engine(protocol, agents, seed=seed, window=len(questions))
    sync(device)
    started = time.perf_counter()
    engine.run(questions, made.append)
    sync(device)
    wall = time.perf_counter() - started
    stats = engine.stats
    if stats.failed or not made:
        fail(f"the hf backend failed {stats.failed} of {len(questions)} trees", 1)
    usage = stats.usage
    return {"trees": len(made), "turns": stats.turns, "steps": stats.steps, "max_batch_size": batch,
            "generated_tokens": usage.completion_tokens, "prompt_tokens": usage.prompt_tokens, "wall_s": wall,
            "generated_tokens_per_s": usage.completion_tokens / wall, "turns_per_s": stats.turns / wall,
            "prompt_tokens_per_s": usage.prompt_tokens / wall}, made


def reference_generation(model, tokenizer, trees, *, nodes: int, device: str) -> dict[str, Any]:
    from experiments.bench.throughput import Reference, all_requests, run_reference

    reference = Reference(model, tokenizer, device)
    requests = all_requests(trees)
    result = run_reference(reference, requests, nodes, budget_s=120.0, workloads={"hf": requests}, source="hf")
    result.pop("nodes")
    return result


# ----------------------------------------------------------------------------- DPO


def preference_rows(trees, limit: int) -> list[dict[str, Any]]:
    """Conversational DPO records from the trees: a node's reply (chosen) against a sibling's."""
    from experiments.bench.throughput import node_request

    rows = []
    for tree in trees:
        for node in tree.nodes():
            siblings = [s for s in tree.siblings(node) if s != node]
            if not siblings or not tree.turn(node).text.strip() or not tree.turn(siblings[0]).text.strip():
                continue
            prompt = [{"role": m.role, "content": m.content} for m in node_request(tree, node).messages]
            rows.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": tree.turn(node).text}],
                         "rejected": [{"role": "assistant", "content": tree.turn(siblings[0]).text}]})
    if not rows:  # replies that decode to nothing (ids beyond a small tokenizer): fixed texts
        rows = [{"prompt": [{"role": "user", "content": "What is the capital of France?"}],
                 "chosen": [{"role": "assistant", "content": "The capital of France is Paris."}],
                 "rejected": [{"role": "assistant", "content": "I think it is Lyon."}]}]
    return (rows * (limit // len(rows) + 1))[:limit]


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      task_type="CAUSAL_LM")


def dpo_trl(model, tokenizer, rows, *, steps: int, batch: int, device: str, max_length: int) -> dict[str, Any]:
    import datasets
    import torch
    from transformers import PrinterCallback, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    datasets.disable_progress_bars()
    times: list[float] = []
    losses: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - TrainerCallback API
            sync(device)
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - TrainerCallback API
            sync(device)
            times.append(time.perf_counter() - self.started)

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - TrainerCallback API
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    cuda = device.startswith("cuda")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gpu-check-dpo-") as out:
        fields = getattr(DPOConfig, "__dataclass_fields__", {})
        checkpointing = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
        args = DPOConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=5e-4,
                         beta=0.1, loss_type="sigmoid", max_length=max_length, logging_steps=1, report_to=[],
                         save_strategy="no", use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported(),
                         disable_tqdm=True, seed=0, **{checkpointing: False})
        trainer = DPOTrainer(model=model, processing_class=tokenizer, peft_config=lora_config(), args=args,
                             train_dataset=datasets.Dataset.from_list(rows), callbacks=[Timer()])
        trainer.remove_callback(PrinterCallback)  # the per-step log dicts: the summary line says it
        trainer.train()
    return {"implementation": "trl.DPOTrainer", "step_s": times, "loss": losses}


def _sequence_logps(model, tokenizer, rows, key: str, device: str, max_length: int):
    """Sum of the completion tokens' log-probabilities, for each row's prompt + `key` reply."""
    import torch

    from agents.hf_backend import render_chat
    from debate.records import Message

    inputs, masks = [], []
    for row in rows:
        prompt = render_chat(tokenizer, [Message(**m) for m in row["prompt"]])
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        reply = row[key][0]["content"] + (tokenizer.eos_token or "")
        reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + reply_ids)[-max_length:]
        mask = ([0] * len(prompt_ids) + [1] * len(reply_ids))[-max_length:]
        inputs.append(ids)
        masks.append(mask)
    width = max(map(len, inputs))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([x + [pad] * (width - len(x)) for x in inputs], device=device)
    attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in inputs], device=device)
    completion = torch.tensor([m + [0] * (width - len(m)) for m in masks], device=device)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (logps * completion[:, 1:]).sum(-1), int(attention.sum())


def dpo_manual(model, tokenizer, rows, *, steps: int, batch: int, device: str, max_length: int) -> dict[str, Any]:
    """DPO's sigmoid loss (beta 0.1) with a LoRA adapter; the reference is the adapter disabled."""
    import torch
    import torch.nn.functional as F
    from peft import get_peft_model

    torch.manual_seed(0)
    policy = get_peft_model(model, lora_config())
    for parameter in policy.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()  # the adapter trains in float32
    policy.train()
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=5e-4)
    cuda = device.startswith("cuda")
    times, losses, tokens = [], [], 0
    for step in range(steps):
        chunk = [rows[(step * batch + i) % len(rows)] for i in range(batch)]
        sync(device)
        started = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            with torch.no_grad(), policy.disable_adapter():
                ref_chosen, _ = _sequence_logps(policy, tokenizer, chunk, "chosen", device, max_length)
                ref_rejected, _ = _sequence_logps(policy, tokenizer, chunk, "rejected", device, max_length)
            chosen, n1 = _sequence_logps(policy, tokenizer, chunk, "chosen", device, max_length)
            rejected, n2 = _sequence_logps(policy, tokenizer, chunk, "rejected", device, max_length)
            loss = -F.logsigmoid(0.1 * ((chosen - ref_chosen) - (rejected - ref_rejected))).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - started)
        losses.append(float(loss.detach()))
        tokens += n1 + n2
    return {"implementation": "manual sigmoid DPO + peft LoRA", "step_s": times, "loss": losses,
            "train_tokens": tokens}


def has_trl() -> bool:
    try:
        import datasets  # noqa: F401
        import trl  # noqa: F401
    except Exception:  # ImportError, or a trl that does not match this transformers
        return False
    return True


# ----------------------------------------------------------------------------- main


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generation and DPO speed of a random ~1B Llama on one GPU.")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (with --tiny: the smoke test)")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model and a few tokens instead of ~1B")
    parser.add_argument("--trees", type=int, help="PBT trees (questions of sample:open); default 8, tiny 2")
    parser.add_argument("--max-tokens", type=int, help="tokens per reply; default 64, tiny 4")
    parser.add_argument("--batch", type=int, default=128, help="the hf backend's max_batch_size")
    parser.add_argument("--reference-nodes", type=int, help="nodes the reference strategy generates; default 4, tiny 2")
    parser.add_argument("--dpo-steps", type=int, help="DPO steps; default 5, tiny 2")
    parser.add_argument("--dpo-batch", type=int, default=4)
    parser.add_argument("--dpo", choices=("auto", "trl", "manual"), default="auto",
                        help="TRL's DPOTrainer (auto: when trl and datasets import) or the loss written out")
    parser.add_argument("--max-length", type=int, default=1024, help="DPO sequence length cap")
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer folder (default: SmolLM2's if found)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    small = args.tiny
    trees = args.trees or (2 if small else 8)
    max_tokens = args.max_tokens or (4 if small else 64)
    nodes = args.reference_nodes or (2 if small else 4)
    dpo_steps = args.dpo_steps or (2 if small else 5)
    for name, value in (("--trees", trees), ("--max-tokens", max_tokens), ("--reference-nodes", nodes),
                        ("--dpo-steps", dpo_steps), ("--batch", args.batch), ("--dpo-batch", args.dpo_batch)):
        if value < 1:
            parser.error(f"{name} must be at least 1")
    started = time.perf_counter()

    try:
        import torch
    except ImportError:
        fail("PyTorch is not installed for this python (" + sys.executable + ")", 2)
    if args.cpu:
        device = "cpu"
    elif not torch.cuda.is_available():
        fail(f"no CUDA GPU is available to torch {torch.__version__} here; `--cpu --tiny` runs the CPU smoke test")
    else:
        device = "cuda"
    try:
        import transformers
        import peft  # noqa: F401

        import agents.hf_backend  # noqa: F401 - our code's own requirements (pydantic, networkx)
        import protocols.engine  # noqa: F401
    except ImportError as exc:
        fail(f"missing Python package '{exc.name}' (needed: torch, transformers, peft, pydantic, networkx)", 2)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # renamed-argument notices of transformers/TRL
    hf_logging.disable_progress_bar()
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    threads = torch.get_num_threads()

    tokenizer, tokenizer_source = load_tokenizer(args.tokenizer, small)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    t = time.perf_counter()
    model = build_model(tokenizer, tiny=small, device=device, dtype=dtype, seed=args.seed)
    sync(device)
    build_s = time.perf_counter() - t
    params = sum(p.numel() for p in model.parameters())
    say(f"{name}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{'tiny ' if small else ''}random Llama {_count(params)} parameters ({str(dtype).removeprefix('torch.')}, "
        f"vocab {model.config.vocab_size:,}), tokenizer {tokenizer_source}, built in {build_s:.1f} s"
        + (f", {threads} CPU threads" if device == "cpu" else ""))

    hf, made = generate_trees(model, tokenizer, trees=trees, max_tokens=max_tokens, batch=args.batch,
                              seed=args.seed, device=device)
    say(f"hf batched backend (KV cache, max_batch_size {args.batch}): {hf['trees']} PBT trees, {hf['turns']} turns in "
        f"{hf['steps']} steps, {hf['generated_tokens']:,} tokens in {hf['wall_s']:.2f} s: "
        f"{hf['generated_tokens_per_s']:,.1f} generated tokens/s, {hf['prompt_tokens_per_s']:,.0f} prompt tokens/s, "
        f"{hf['turns_per_s']:.2f} turns/s")
    ref = reference_generation(model, tokenizer, made, nodes=nodes, device=device)
    m, cost = ref["measured"], ref["cost_model"]
    say(f"reference (one sequence, no KV cache), measured on {m['turns']} of the {ref['turns']} nodes (the same "
        f"prompts, re-rendered): {m['generated_tokens']:,} tokens in {m['wall_s']:.2f} s: "
        f"{m['generated_tokens_per_s']:,.1f} generated tokens/s, {m['turns_per_s']:.3f} turns/s; a pass over L tokens "
        f"takes {cost['per_pass_s'] * 1000:.2f} ms + {cost['per_position_s'] * 1e6:.2f} us x L")
    say(f"reference on all {ref['turns']} nodes of the trees (their prompt and reply lengths), "
        f"{'EXTRAPOLATED by that cost model' if ref['extrapolated'] else 'priced by that cost model'}: "
        f"~{ref['wall_s']:.1f} s, {ref['generated_tokens_per_s']:,.1f} generated tokens/s, "
        f"{ref['turns_per_s']:.3f} turns/s")
    ratio = hf["wall_s"] and ref["wall_s"] / hf["wall_s"]
    say(f"hf / reference on the same nodes: {ratio:.1f}x (turns/s and tokens/s alike)")

    rows = preference_rows(made, dpo_steps * args.dpo_batch)
    use_trl = args.dpo == "trl" or (args.dpo == "auto" and has_trl())
    if args.dpo == "trl" and not has_trl():
        fail("--dpo trl needs trl and datasets (use --dpo manual)", 2)
    train = (dpo_trl if use_trl else dpo_manual)(model, tokenizer, rows, steps=dpo_steps, batch=args.dpo_batch,
                                                 device=device, max_length=args.max_length)
    steps = train["step_s"]
    later = steps[1:] or steps
    say(f"DPO + LoRA r16 ({train['implementation']}), batch {args.dpo_batch}: {len(steps)} steps, "
        f"step times {', '.join(f'{s:.2f}' for s in steps)} s (first includes warm-up; median after it "
        f"{statistics.median(later):.2f} s), loss {', '.join(f'{x:.4f}' for x in train['loss'])}")
    total = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    say(f"done in {total:.1f} s" + (f", peak GPU memory {peak:.1f} GiB" if peak is not None else ""))
    if args.out:
        args.out.write_text(json.dumps({
            "device": name, "torch": torch.__version__, "transformers": transformers.__version__,
            "parameters": params, "dtype": str(dtype), "tokenizer": tokenizer_source, "tiny": small,
            "settings": {"trees": trees, "max_tokens": max_tokens, "batch": args.batch, "reference_nodes": nodes,
                         "dpo_steps": dpo_steps, "dpo_batch": args.dpo_batch},
            "build_s": build_s, "hf": hf, "reference": ref, "hf_vs_reference": ratio, "dpo": train,
            "total_s": total, "peak_gpu_gib": peak}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
