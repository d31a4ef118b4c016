"""Generation throughput on real PBT trees: our default path, our `hf:` batched path, and the
reference implementation's strategy, side by side in one process.

Every path builds the same shape of work: full PBT trees (the paper's 1-2-6-12 shape, 21 turns,
`kind = "tree"` with `stop_on_agreement = false`; `--stop-on-agreement` gives `debate tree`'s own
early stops, and then the paths' trees differ in size) for the first N bundled questions, with
`debate tree`'s agent settings (temperature 0.7, max_tokens 80, seed 0) on every path.

1. **default**: `gguf:smollm2` through the engine (`protocols.run.execute`): a managed llama.cpp
   server, requests batched per engine step over its parallel slots.
2. **hf**: the same run with `hf:FOLDER`, the GGUF converted once to a transformers folder
   (`training.convert`, kept under `--model-cache`): our own left-padded, KV-cached batches.
3. **reference**: the paper's code's strategy: transformers, ONE sequence at a time and NO KV
   cache (each new token recomputes the forward pass over the whole prompt and reply so far;
   only the last position's logits are computed, as `generate` does). Its prompts are not
   written anew: every node's request is re-rendered from a tree the engine made
   (`debate.render.view` + `agents.agent.prompt_messages`, the engine's own two calls), so both
   strategies answer exactly the same chat-templated prompts with the same sampling settings
   and per-node seeds.

The reference runs at about 3 tokens/s here, which would take many minutes per tree, so it
generates a sample of the nodes (`--reference-nodes`, spread over the levels, shortest and
longest prompt first, within `--reference-budget` seconds). Every forward pass is timed with
its length, a cost model is fitted on them (a pass over L tokens takes a + b L seconds), and
the model prices every node of each engine path's own trees with that node's real prompt and
reply lengths. So each engine path is compared with the reference strategy on exactly its own
nodes, and the ratio of the wall times is the ratio of every rate. The table marks those
figures `~` (extrapolated) and also shows what the sample measured.

Rates are per second of generation wall time (model loading, server start-up and one short
warm-up request are reported apart as `setup_s`): generated tokens/s, prompt tokens/s (prompt
tokens of the requests served per second, the same definition for every path) and turns/s.
The target is the default path at >= 20x the reference strategy in turns/s.

    python -m experiments.bench.throughput [--limit 2] [--max-tokens 80] [--model smollm2|PATH]
                                           [--paths default,hf,reference] [--reference-nodes 4]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agents.agent import prompt_messages
from agents.personas import TASK_PROMPT
from debate.errors import UserError
from debate.records import ChatRequest, GenerationParams, Message
from debate.render import view
from debate.tree import DialogueTree, iter_trees
from experiments.bench.common import DEFAULT_OUT, machine, save

PATHS = ("default", "hf", "reference")
RATES = ("turns_per_s", "generated_tokens_per_s", "prompt_tokens_per_s")
TARGET_TURNS_RATIO = 20.0
#: `debate tree`'s defaults (debate/cli/runs.py), so the benchmark measures what that command does.
TREE_QUESTIONS, TREE_TEMPERATURE, TREE_MAX_TOKENS, TREE_SEED = "sample:open", 0.7, 80, 0


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Models:
    """What each path runs: a GGUF spec for the default path, a transformers folder for the others."""

    gguf_spec: str | None
    hf_folder: Path | None
    label: str


def resolve_models(model: str, cache: Path, paths: Sequence[str], console: Console | None = None) -> Models:
    """`smollm2`, a .gguf file (converted once into `cache`) or a transformers folder."""
    needs_hf = any(p in ("hf", "reference") for p in paths)
    if model in ("smollm2", "gguf:smollm2") or model.endswith(".gguf"):
        spec = "gguf:smollm2" if model in ("smollm2", "gguf:smollm2") else f"gguf:{Path(model).expanduser()}"
        folder = None
        if needs_hf:
            from training.convert import convert_gguf, gguf_file

            source = gguf_file(model)
            target = cache / f"{source.stem}-hf"
            if not (target / "config.json").is_file() and console is not None:
                console.print(f"converting {source.name} to a transformers folder in {target} (once)", markup=False)
            folder = convert_gguf(model, target)
        return Models(spec, folder, "smollm2" if spec == "gguf:smollm2" else Path(model).name)
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        raise UserError("expected 'smollm2', a .gguf file or a transformers model folder", file=str(folder))
    if "default" in paths:
        raise UserError("the default path serves a GGUF file through llama.cpp: with a transformers folder, "
                        "use --paths hf,reference", field="--model")
    return Models(None, folder, folder.name)


# ----------------------------------------------------------------------------- engine paths


def tree_config(spec: str, *, questions: str, limit: int, max_tokens: int, temperature: float, seed: int,
                stop_on_agreement: bool = False):
    """The run config of `debate tree` for both agents on `spec`, without the generation cache
    (every turn is generated, none replayed); full trees unless `stop_on_agreement`."""
    from protocols.config import parse_config

    agents = {name: {"model": spec, "temperature": temperature, "max_tokens": max_tokens} for name in ("A", "B")}
    return parse_config({"protocol": {"kind": "tree", "stop_on_agreement": stop_on_agreement},
                         "questions": questions, "limit": limit, "seed": seed, "agents": agents, "cache": False},
                        "throughput benchmark")


@dataclass
class PathRun:
    figures: dict[str, Any]
    trees: list[DialogueTree] = field(default_factory=list)


def rates(turns: int, generated: int, prompt: int, wall: float) -> dict[str, float]:
    return {"turns_per_s": turns / wall, "generated_tokens_per_s": generated / wall,
            "prompt_tokens_per_s": prompt / wall}


def run_engine_path(name: str, spec: str, settings: dict[str, Any], workdir: Path) -> PathRun:
    """One whole `debate tree` run of `spec` through `protocols.run.execute`, in `workdir`."""
    from agents.registry import close_all, load_model
    from protocols.run import execute

    config = tree_config(spec, **settings)
    started = time.perf_counter()
    # Server start or weight loading, and one short warm-up request, timed apart (execute then
    # finds the model loaded: one instance per spec).
    warm = load_model(spec).generate_sync([ChatRequest(messages=[Message(role="user", content="Hello")],
                                                       params=GenerationParams(max_tokens=2, seed=0))])
    if not warm[0].ok:
        raise RuntimeError(f"the {name} path's model does not answer: {warm[0].error}")
    setup = time.perf_counter() - started
    try:
        result = execute(config, workdir / name, progress=False)
    finally:
        close_all()  # stop the server / free the weights before the next path runs
    trees = list(iter_trees(workdir / name / "trees.jsonl"))
    stats = result.stats
    wall = stats.elapsed_s
    usage = stats.usage
    figures = {"spec": spec, "trees": len(trees), "failed": result.failed, "turns": stats.turns,
               "steps": stats.steps, "generated_tokens": usage.completion_tokens,
               "prompt_tokens": usage.prompt_tokens, "wall_s": wall, "setup_s": setup,
               **rates(stats.turns, usage.completion_tokens, usage.prompt_tokens, wall)}
    if result.failed or not trees:
        raise RuntimeError(f"the {name} path failed {result.failed} trees (see {workdir / name})")
    return PathRun(figures, trees)


# ----------------------------------------------------------------------------- reference strategy


@dataclass(frozen=True)
class NodeRequest:
    """What the engine asked for at one node, rebuilt from the finished tree, and what it cost there."""

    tree_id: str
    node: str
    level: int
    messages: list[Message]
    params: GenerationParams
    engine_prompt_tokens: int
    engine_completion_tokens: int
    engine_text: str


def node_request(tree: DialogueTree, node: str, *, informed: bool = False,
                 task_prompt: str = TASK_PROMPT) -> NodeRequest:
    """The request of `node` as the engine made it: the speaker's view of the parent (in the
    node's round) behind the persona's system prompt and the question (`Agent.request`)."""
    turn = tree.turn(node)
    history = view(tree, tree.parent(node), turn.speaker, round=tree.round(node)).messages
    messages = prompt_messages(tree.question, history, persona=turn.persona, task_prompt=task_prompt,
                               informed=informed)
    params = turn.params if turn.seed is None else turn.params.with_seed(turn.seed)
    return NodeRequest(tree.tree_id, node, tree.level(node), messages, params, turn.usage.prompt_tokens,
                       turn.usage.completion_tokens, turn.text)


def all_requests(trees: Sequence[DialogueTree]) -> list[NodeRequest]:
    return [node_request(tree, node) for tree in trees for node in tree.nodes() if tree.turn(node).error is None]


def sample_nodes(requests: Sequence[NodeRequest], k: int) -> list[NodeRequest]:
    """`k` requests spread evenly over the workload ordered by level, in the order they are to be
    generated: the shortest prompt and the longest first (so that even a sample cut short by the
    time budget spans the workload's sequence lengths), then the others."""
    ordered = sorted(requests, key=lambda r: (r.level, r.tree_id, r.node))
    if k < len(ordered):
        step = len(ordered) / k
        ordered = [ordered[int(i * step + step / 2)] for i in range(k)]
    by_length = sorted(ordered, key=lambda r: r.engine_prompt_tokens)
    if len(by_length) <= 2:
        return by_length
    ends = [by_length[0], by_length[-1]]
    return ends + [r for r in ordered if r is not ends[0] and r is not ends[1]]


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Reference:
    """The reference implementation's decoding: one sequence, no KV cache (each token re-runs the
    forward pass over the whole sequence), the same chat template, sampler and per-request seed
    as our hf backend, so that only the strategy differs. Every forward pass is timed with the
    length it ran over, for the cost model (`fit_cost`)."""

    def __init__(self, model, tokenizer, device: str):
        import inspect

        from agents.hf_backend import HFChatModel

        self.model, self.tokenizer, self.device = model, tokenizer, device
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self.eos_ids.add(tokenizer.eos_token_id)
        # Only the last position's logits are needed (transformers' generate does the same).
        self._keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
        self._pick = HFChatModel._pick

    @classmethod
    def load(cls, folder: Path, device: str = "cpu", dtype: str = "float32") -> Reference:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
        model = model.to(device).eval()  # type: ignore[arg-type]  # transformers types .to() for a dtype
        return cls(model, tokenizer, device)

    def prompt(self, messages: Sequence[Message]) -> str:
        from agents.hf_backend import render_chat

        return render_chat(self.tokenizer, messages)

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> dict[str, Any]:
        import random

        import torch

        started = time.perf_counter()
        text = self.prompt(messages)
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
        prompt_tokens = int(ids.shape[1])
        generator = torch.Generator(device=self.device)
        generator.manual_seed(params.seed if params.seed is not None else random.getrandbits(63))
        out: list[int] = []
        steps: list[tuple[int, float]] = []  # (sequence length, seconds) of every forward pass
        with torch.inference_mode():
            for _ in range(params.max_tokens):
                step = time.perf_counter()
                logits = self.model(input_ids=ids, use_cache=False, **self._keep).logits[0, -1, :].float()
                token = self._pick(logits, params.temperature, params.top_p, generator)  # int(): synchronises
                steps.append((int(ids.shape[1]), time.perf_counter() - step))
                out.append(token)
                if token in self.eos_ids:
                    break
                ids = torch.cat([ids, torch.tensor([[token]], device=self.device)], dim=1)
        reply = self.tokenizer.decode([t for t in out if t not in self.eos_ids], skip_special_tokens=True).strip()
        seconds = time.perf_counter() - started
        return {"prompt_tokens": prompt_tokens, "completion_tokens": len(out), "seconds": seconds, "text": reply,
                "prompt_sha": prompt_hash(text), "steps": steps}


def fit_cost(nodes: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The reference's cost model from its timed forward passes: a pass over L tokens takes
    `per_pass_s + per_position_s * L` (least squares, both terms at least 0), and a node costs
    `per_node_s` more (rendering, tokenising, decoding)."""
    points = [p for n in nodes for p in n["steps"]]
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    count = len(points)
    mean_x, mean_y = sum(xs) / count, sum(ys) / count
    spread = sum((x - mean_x) ** 2 for x in xs)
    b = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0
    a = mean_y - b * mean_x
    if b <= 0 or a < 0:  # one length only, or noise: proportional to the length
        a, b = 0.0, sum(ys) / sum(xs)
    overhead = sum(n["seconds"] - sum(t for _, t in n["steps"]) for n in nodes) / len(nodes)
    residual = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    total = sum((y - mean_y) ** 2 for y in ys)
    return {"per_pass_s": a, "per_position_s": b, "per_node_s": max(overhead, 0.0), "passes": count,
            "min_length": min(xs), "max_length": max(xs), "r2": 1 - residual / total if total else 1.0}


def predicted_seconds(cost: dict[str, float], prompt_tokens: int, completion_tokens: int) -> float:
    """What the reference takes for a node: one pass per generated token, over P, P+1, ... tokens."""
    n = max(completion_tokens, 1)
    positions = n * prompt_tokens + n * (n - 1) / 2
    return cost["per_node_s"] + n * cost["per_pass_s"] + positions * cost["per_position_s"]


def estimate(cost: dict[str, float], requests: Sequence[NodeRequest]) -> dict[str, Any]:
    """The reference strategy's figures on a whole workload: the engine's own nodes, with their
    prompt and reply lengths, priced by the cost model."""
    wall = sum(predicted_seconds(cost, r.engine_prompt_tokens, r.engine_completion_tokens) for r in requests)
    generated = sum(r.engine_completion_tokens for r in requests)
    prompt = sum(r.engine_prompt_tokens for r in requests)
    return {"turns": len(requests), "generated_tokens": generated, "prompt_tokens": prompt, "wall_s": wall,
            **rates(len(requests), generated, prompt, wall)}


def run_reference(reference: Reference, requests: Sequence[NodeRequest], sample: int, budget_s: float,
                  workloads: Mapping[str, Sequence[NodeRequest]], source: str,
                  console: Console | None = None) -> dict[str, Any]:
    """The reference strategy on a sample of `requests` (the `source` path's), and its figures
    on each of `workloads` (every engine path's own nodes) by the cost model fitted on the sample."""
    chosen = sample_nodes(requests, sample)
    nodes: list[dict[str, Any]] = []
    started = time.perf_counter()
    for request in chosen:
        if nodes and time.perf_counter() - started > budget_s:
            break  # over the time budget: the nodes done so far give the cost model
        done = reference.generate(request.messages, request.params)
        nodes.append({"tree": request.tree_id, "node": request.node, "level": request.level,
                      "engine_prompt_tokens": request.engine_prompt_tokens,
                      "same_reply_as_engine": done["text"] == request.engine_text, **done})
        if console is not None:
            console.print(f"  reference {len(nodes)}/{len(chosen)}: {request.tree_id} {request.node} "
                          f"{done['prompt_tokens']} prompt + {done['completion_tokens']} tokens in "
                          f"{done['seconds']:.1f} s", markup=False, style="dim")
    cost = fit_cost(nodes)
    wall = sum(n["seconds"] for n in nodes)
    generated = sum(n["completion_tokens"] for n in nodes)
    prompt = sum(n["prompt_tokens"] for n in nodes)
    estimates = {name: estimate(cost, work) for name, work in workloads.items()}
    check = sum(predicted_seconds(cost, n["prompt_tokens"], n["completion_tokens"]) for n in nodes)
    return {"strategy": "transformers, one sequence at a time, no KV cache (use_cache=False, full forward "
                        "pass per token)",
            "prompts_from": source, **estimates[source], "extrapolated": len(nodes) < len(requests),
            "measured": {"turns": len(nodes), "sampled": len(chosen), "generated_tokens": generated,
                         "prompt_tokens": prompt, "wall_s": wall, "model_wall_s": check,
                         **rates(len(nodes), generated, prompt, wall)},
            "cost_model": cost, "estimates": estimates,
            "prompt_tokens_equal_engine": sum(n["prompt_tokens"] == n["engine_prompt_tokens"] for n in nodes),
            "same_reply_as_engine": sum(n["same_reply_as_engine"] for n in nodes),
            "nodes": [{k: v for k, v in n.items() if k not in ("text", "steps")} for n in nodes]}


# ----------------------------------------------------------------------------- the benchmark


@dataclass
class Outcome:
    results: dict[str, Any]
    #: The trees each engine path made, and the requests the reference strategy was given.
    trees: dict[str, list[DialogueTree]] = field(default_factory=dict)
    reference_requests: list[NodeRequest] = field(default_factory=list)


def measure(*, paths: Sequence[str] = PATHS, model: str = "smollm2", limit: int = 2,
            questions: str = TREE_QUESTIONS, max_tokens: int = TREE_MAX_TOKENS,
            temperature: float = TREE_TEMPERATURE, seed: int = TREE_SEED, stop_on_agreement: bool = False,
            reference_nodes: int = 4, reference_budget_s: float = 90.0, device: str = "auto",
            model_cache: Path = DEFAULT_OUT / "models", console: Console | None = None) -> Outcome:
    unknown = [p for p in paths if p not in PATHS]
    if unknown or not paths:
        raise UserError(f"unknown path '{unknown[0] if unknown else ''}' (expected some of {', '.join(PATHS)})",
                        field="--paths")
    if "reference" in paths and not any(p in paths for p in ("default", "hf")):
        raise UserError("the reference strategy re-renders the engine's prompts: add default or hf to --paths",
                        field="--paths")
    models = resolve_models(model, model_cache, paths, console)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars

    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    settings = {"questions": questions, "limit": limit, "max_tokens": max_tokens, "temperature": temperature,
                "seed": seed, "stop_on_agreement": stop_on_agreement}
    figures: dict[str, dict[str, Any]] = {}
    outcome = Outcome({})
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        workdir = Path(tmp)
        if "default" in paths:
            assert models.gguf_spec is not None
            _say(console, f"default path: {models.gguf_spec} through the engine")
            run = run_engine_path("default", models.gguf_spec, settings, workdir)
            figures["default"], outcome.trees["default"] = run.figures, run.trees
        if "hf" in paths:
            spec = f"hf:{models.hf_folder}?device={device}&dtype={dtype}"
            _say(console, f"hf path: {spec} through the engine")
            run = run_engine_path("hf", spec, settings, workdir)
            figures["hf"], outcome.trees["hf"] = run.figures, run.trees
    if "reference" in paths:
        assert models.hf_folder is not None
        source = "default" if "default" in outcome.trees else "hf"
        workloads = {name: all_requests(trees) for name, trees in outcome.trees.items()}
        requests = workloads[source]
        outcome.reference_requests = requests
        _say(console, f"reference strategy: {min(reference_nodes, len(requests))} of the {len(requests)} requests "
                      f"of the {source} path's trees, re-rendered and generated one at a time without KV cache")
        started = time.perf_counter()
        reference = Reference.load(models.hf_folder, device, dtype)
        reference.generate([Message(role="user", content="Hello")], GenerationParams(max_tokens=2, seed=0))  # warm-up
        setup = time.perf_counter() - started
        figures["reference"] = {"spec": str(models.hf_folder), "setup_s": setup,
                                **run_reference(reference, requests, reference_nodes, reference_budget_s,
                                                workloads, source, console)}
        del reference

    # Each engine path against the reference strategy on that path's own nodes (the same
    # prompts and reply lengths): the ratio of the wall times, so of every rate alike.
    ratios = {}
    if "reference" in figures:
        for name, on_same in figures["reference"]["estimates"].items():
            ratios[f"{name}_vs_reference"] = {key: figures[name][key] / on_same[key] for key in RATES}
    met = None
    if "default_vs_reference" in ratios:
        met = ratios["default_vs_reference"]["turns_per_s"] >= TARGET_TURNS_RATIO
    outcome.results = {
        "machine": machine(),
        "settings": {**settings, "model": models.label, "paths": list(paths), "device": device, "dtype": dtype,
                     "protocol": "tree (1-2-6-12, independent first round, "
                                 + ("stop on agreement)" if stop_on_agreement else "full trees)"),
                     "reference_nodes": reference_nodes, "reference_budget_s": reference_budget_s},
        "paths": figures,
        "ratios": ratios,
        "target": {"default_vs_reference_turns_per_s_at_least": TARGET_TURNS_RATIO, "met": met},
    }
    return outcome


def _say(console: Console | None, text: str) -> None:
    if console is not None:
        console.print(text, markup=False)


def table(results: dict[str, Any]) -> Table:
    s = results["settings"]
    out = Table(title=f"PBT trees for {s['limit']} questions of {s['questions']}, {s['protocol']} ({s['model']}, "
                      f"max_tokens {s['max_tokens']}, temperature {s['temperature']}, {s['device']})")
    for column in ("path", "turns", "gen. tokens", "wall", "gen. tokens/s", "prompt tokens/s", "turns/s",
                   "vs reference", "setup"):
        out.add_column(column, justify="left" if column == "path" else "right", no_wrap=column == "path")
    names = {"default": "default (gguf, llama.cpp, engine)", "hf": "hf (engine, batched, KV cache)"}
    paths = results["paths"]
    for name, f in paths.items():
        if name == "reference":
            continue
        ratio = results["ratios"].get(f"{name}_vs_reference")
        out.add_row(names[name], f"{f['turns']}", f"{f['generated_tokens']:,}", f"{f['wall_s']:.1f} s",
                    f"{f['generated_tokens_per_s']:.1f}", f"{f['prompt_tokens_per_s']:.0f}", f"{f['turns_per_s']:.3f}",
                    f"{ratio['turns_per_s']:.1f}x" if ratio else "-", f"{f['setup_s']:.1f} s")
    ref = paths.get("reference")
    if ref:
        for name, e in ref["estimates"].items():
            mark = "~" if ref["extrapolated"] else ""
            out.add_row(f"reference (1 seq., no KV) on {name}'s nodes", f"{e['turns']}",
                        f"{e['generated_tokens']:,}", f"{mark}{e['wall_s']:.1f} s",
                        f"{e['generated_tokens_per_s']:.2f}",
                        f"{e['prompt_tokens_per_s']:.0f}", f"{e['turns_per_s']:.4f}", "1.00x",
                        f"{ref['setup_s']:.1f} s")
        m = ref["measured"]
        out.add_row(f"reference, measured sample ({ref['prompts_from']})", f"{m['turns']}",
                    f"{m['generated_tokens']:,}", f"{m['wall_s']:.1f} s", f"{m['generated_tokens_per_s']:.2f}",
                    f"{m['prompt_tokens_per_s']:.0f}", f"{m['turns_per_s']:.4f}", "", "")
    return out


def notes(results: dict[str, Any]) -> list[str]:
    lines = []
    ref = results["paths"].get("reference")
    if ref:
        m, c = ref["measured"], ref["cost_model"]
        if ref["extrapolated"]:
            lines.append(f"reference: generated {m['turns']} of the {ref['turns']} nodes of the {ref['prompts_from']} "
                         f"path's trees (spread over the levels) in {m['wall_s']:.1f} s; the other rows (~) are "
                         f"EXTRAPOLATED to every node of each path's own trees (its prompt and reply lengths) by a "
                         f"cost model fitted on those {c['passes']} forward passes")
        lines.append(f"reference cost model: a pass over L tokens takes {c['per_pass_s'] * 1000:.1f} ms + "
                     f"{c['per_position_s'] * 1e6:.1f} us x L (L {c['min_length']:.0f}-{c['max_length']:.0f}, "
                     f"R2 {c['r2']:.2f}), plus {c['per_node_s'] * 1000:.0f} ms per node; on the sample it predicts "
                     f"{m['model_wall_s']:.1f} s for {m['wall_s']:.1f} s measured")
        lines.append(f"reference prompts: re-rendered from the {ref['prompts_from']} path's trees; prompt token count "
                     f"equal to the engine's on {ref['prompt_tokens_equal_engine']} of {m['turns']} nodes, "
                     f"same reply as the engine on {ref['same_reply_as_engine']}")
    for name, ratio in results["ratios"].items():
        lines.append(f"{name.replace('_vs_', ' / ')} on the same nodes: {ratio['turns_per_s']:.1f}x "
                     f"(turns/s, generated and prompt tokens/s alike)")
    target = results["target"]
    if target["met"] is not None:
        lines.append(f"target default >= {TARGET_TURNS_RATIO:.0f}x reference in turns/s: "
                     f"{'met' if target['met'] else 'MISSED'}")
    return lines


def main(argv: Sequence[str] | None = None) -> Outcome:
    parser = argparse.ArgumentParser(description="Generation throughput on PBT trees: default, hf and reference paths.")
    parser.add_argument("--limit", type=int, default=2, help="questions (one tree each)")
    parser.add_argument("--questions", default=TREE_QUESTIONS,
                        help="question source (sample:open, sample-train, ...)")
    parser.add_argument("--max-tokens", type=int, default=TREE_MAX_TOKENS)
    parser.add_argument("--temperature", type=float, default=TREE_TEMPERATURE)
    parser.add_argument("--seed", type=int, default=TREE_SEED)
    parser.add_argument("--model", default="smollm2", help="smollm2, a .gguf file, or a transformers folder "
                        "(hf and reference paths only)")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated: default,hf,reference")
    parser.add_argument("--stop-on-agreement", action="store_true",
                        help="stop trees where the agents agree, as `debate tree` does (default: full 21-turn trees, "
                             "the same shape for every path)")
    parser.add_argument("--reference-nodes", type=int, default=4,
                        help="nodes the reference strategy generates (a cost model fitted on them prices the rest)")
    parser.add_argument("--reference-budget", type=float, default=90.0,
                        help="seconds after which the reference stops taking new nodes (at least one is done)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] for the hf and reference paths")
    parser.add_argument("--model-cache", type=Path, default=DEFAULT_OUT / "models",
                        help="where the GGUF's transformers folder is converted to (once)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for throughput.json")
    args = parser.parse_args(argv)
    for name in ("limit", "max_tokens", "reference_nodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    console = Console(width=max(Console().width, 132))  # the table's nine columns, also in a pipe
    try:
        outcome = measure(paths=[p.strip() for p in args.paths.split(",") if p.strip()], model=args.model,
                          limit=args.limit, questions=args.questions, max_tokens=args.max_tokens,
                          temperature=args.temperature, seed=args.seed, stop_on_agreement=args.stop_on_agreement,
                          reference_nodes=args.reference_nodes,
                          reference_budget_s=args.reference_budget, device=args.device,
                          model_cache=args.model_cache, console=console)
    except UserError as exc:
        console.print(f"error: {exc.one_line()}", markup=False, style="red")
        raise SystemExit(2) from None
    path = save(args.out, "throughput", outcome.results)
    console.print(table(outcome.results))
    for line in notes(outcome.results):
        console.print(line, markup=False)
    console.print(f"results: {path}", markup=False)
    return outcome


if __name__ == "__main__":
    main()
