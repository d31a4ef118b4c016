"""The `debate` command line.

User errors (bad files, unknown specs, unreachable endpoints) print one line and exit with
code 2. Nothing here imports a heavy library (backends import theirs when a spec names them),
so `debate --help` stays fast.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from typer.exceptions import TyperException
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from agents.agent import Agent
from agents.personas import persona_prompt
from agents.registry import DEFAULT_MODEL, load_model, parse_value
from debate.answers import read_answer
from debate.grading import grade
from debate.data import load_questions
from debate.errors import UserError
from debate.records import GenerationParams, Question
from debate.storage import PNG_MAGIC, atomic_write_json, atomic_write_jsonl, check_folder_path, check_output
from debate.show import export_names, outcome_table, rich_tree, save_png, select_tree
from debate.tree import iter_trees
from experiments.quiz import timed_quiz
from experiments.evaluations import (FARM_QUESTIONS, check_balanced_split, evaluation_configs, farm_questions, figures,
                                     run_evaluation)
from experiments.pairing import PairingConfig, run_pairing
from experiments.pbt import NAMES, PBTConfig, run_pbt
from training.build import build_preferences
from training.datasets import CONDITIONS
from training.trainer import TrainConfig
from experiments.reports import (evaluation_table, order_table, persuasion_table, save_evaluation_plot,
                                 save_plot)
from protocols.config import RunConfig, load_config, locate, parse_config, read_toml, validate
from protocols.run import execute

M = TypeVar("M", bound=BaseModel)
#: The defaults of `debate train` and `debate pbt` are the models' own.
_TRAIN = TrainConfig()
_PBT_TRAIN = PBTConfig().train

app = typer.Typer(help="Multi-agent debate and Persuasion-Balanced Training for language models.",
                  add_completion=False, pretty_exceptions_enable=False)
# User data (questions, ids, paths, specs) is printed as text, never read as markup or emoji codes.
# Logs and pipes get wide tables instead of rich's 80-column default.
_PLAIN: dict[str, Any] = {"markup": False, "emoji": False, "highlight": False}
console = Console(**_PLAIN) if sys.stdout.isatty() else Console(width=160, **_PLAIN)
err_console = Console(stderr=True, **_PLAIN)


def _record(model: type[M], options: dict[str, str], **values: Any) -> M:
    """A record built from command-line values; a value out of its bounds is one UserError
    naming the option (`options` maps field names to the option that gave them)."""
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        raise UserError(str(err["msg"]).replace("Value error, ", ""),
                        field=options.get(name, f"--{name.replace('_', '-')}")) from None


def _option_pairs(pairs: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"expected KEY=VALUE, got '{pair}'", field="--option")
        options[key] = parse_value(value)
    return options


@app.command()
def ask(
    spec: Annotated[str, typer.Argument(help="Model spec, e.g. gguf:smollm2, sim:strong, openai:MODEL, hf:PATH.")],
    question: Annotated[str, typer.Argument(help="The question to ask.")],
    persona: Annotated[str, typer.Option(help="Persona prompt to use.")] = "neutral",
    context: Annotated[str | None, typer.Option(help="A background passage shown with the question.")] = None,
    gold: Annotated[list[str] | None, typer.Option(help="Gold answer(s): grade the reply.")] = None,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.0,
    max_tokens: Annotated[int, typer.Option(min=1)] = 80,
    seed: Annotated[int | None, typer.Option()] = None,
    option: Annotated[list[str] | None, typer.Option("--option", "-o",
                                                         help="Backend option KEY=VALUE (repeatable).")] = None,
) -> None:
    """Put one question to one model and show the reply, the answer read from it, and usage."""

    # Without --gold nothing is graded; the placeholder only satisfies the record.
    q = _record(Question, {"text": "QUESTION", "context": "--context", "gold": "--gold"}, id="cli", text=question,
                gold=gold or ["(no gold answer given)"], context=context, source="cli")
    params = _record(GenerationParams, {}, temperature=temperature, max_tokens=max_tokens, seed=seed)
    try:
        persona_prompt(persona)
    except UserError as exc:
        raise UserError(exc.detail, field="--persona") from None
    model = load_model(spec, _option_pairs(option or []))
    if not gold and model.reads_metadata:
        raise UserError("a sim agent needs --gold: the answer it knows or not", field="--gold")
    agent = Agent(name="agent", model=model, persona=persona, informed=context is not None, params=params)
    reply = model.generate_sync([agent.request(q)])[0]
    if not reply.ok:
        raise UserError(f"the model failed to answer: {reply.error}", field=spec)
    read = read_answer(reply.text, q)
    console.print(reply.text, markup=False, highlight=False)
    console.rule(style="dim")
    found = read.answer if read.answer is not None else read.special
    line = f"answer: {found!s}  (reader: {read.reader})"
    if gold:
        line += f"  correct: {grade(read.answer, q)}"
    u = reply.usage
    console.print(line, markup=False)
    console.print(f"model: {reply.model}  tokens: {u.prompt_tokens} prompt + {u.completion_tokens} completion  "
                  f"latency: {u.latency_s:.2f}s" + (f"  cost: ${u.cost_usd:.6f}" if u.cost_usd is not None else ""),
                  markup=False, style="dim")


@app.command()
def questions(
    source: Annotated[str, typer.Argument(help="A JSONL question file, 'sample', 'sample:open', or 'farm:FOLDER'.")],
) -> None:
    """Check a question source and count its questions by kind and source."""

    loaded = load_questions(source)
    table = Table(title=f"{len(loaded)} questions in {source}")
    table.add_column("kind")
    table.add_column("source")
    table.add_column("count", justify="right")
    table.add_column("with context", justify="right")
    counts = Counter((q.kind, q.source) for q in loaded)
    with_context = Counter((q.kind, q.source) for q in loaded if q.context)
    for (kind, src), n in sorted(counts.items()):
        table.add_row(kind, src, str(n), str(with_context[(kind, src)]))
    console.print(table)


@app.command()
def demo(
    model: Annotated[str, typer.Option(help="Model spec.")] = DEFAULT_MODEL,
    source: Annotated[str, typer.Option("--questions", help="Question source.")] = "sample:open",
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("runs/demo"),
    max_tokens: Annotated[int, typer.Option(min=1)] = 48,
) -> None:
    """The main job (until debates land): the questions put to a model, without and with a
    background passage, and an accuracy table. Saves every reply and the summary."""

    params = _record(GenerationParams, {}, temperature=0.0, max_tokens=max_tokens)
    loaded = load_questions(source, limit=limit)
    chat_model = load_model(model)
    agents = [Agent(name="uninformed", model=chat_model, params=params),
              Agent(name="informed", model=chat_model, params=params, informed=True)]
    summaries, all_records = [], []
    with Progress(console=err_console, transient=True) as progress:
        for agent in agents:
            task = progress.add_task(escape(f"{agent.name} ({model})"), total=len(loaded))
            records, summary = timed_quiz(agent, loaded, batch_size=16,
                                          on_batch=lambda n, t=task: progress.advance(t, n))
            summaries.append(summary)
            all_records += records
    table = Table(title=f"{model} on {len(loaded)} questions from {source}")
    for col in ("agent", "accuracy", "correct", "read by", "errors", "tokens", "wall s", "tokens/s"):
        table.add_column(col, justify="left" if col in ("agent", "read by") else "right")
    for s in summaries:
        readers = ", ".join(f"{k} {v}" for k, v in sorted(s.readers.items()))
        table.add_row(s.agent, f"{s.accuracy:.1%}", f"{s.correct}/{s.questions}", readers, str(s.errors),
                      str(s.completion_tokens), f"{s.wall_s:.1f}", f"{s.completion_tokens / max(s.wall_s, 1e-9):.0f}")
    console.print(table)
    atomic_write_jsonl(out / "replies.jsonl", all_records)
    atomic_write_json(out / "summary.json", {"model": model, "questions": source, "limit": limit,
                                             "summaries": [s.model_dump() for s in summaries]})
    console.print(f"saved {out / 'replies.jsonl'} and {out / 'summary.json'}", style="dim")


def _summary_table(title: str, summary: dict[str, object]) -> Table:
    """A run summary as a two-column table; nested figures are flattened to dotted keys."""
    table = Table(title=title, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")

    def add(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, float):
            table.add_row(prefix, f"{value:.3f}")
        else:
            table.add_row(prefix, str(value))

    add("", summary)
    return table


def _execute(config: RunConfig, out: Path | None, overwrite: bool, progress: bool) -> None:
    target = out or Path(config.out or f"runs/{config.protocol.kind}")
    result = execute(config, target, overwrite=overwrite, console=err_console, progress=progress)
    stats = result.stats
    console.print(_summary_table(f"{config.protocol.kind} run: {target}",
                                 result.summary.model_dump(mode="json") if result.summary is not None else {}))
    console.print(f"{stats.trees} dialogues finished, {stats.skipped} already done, {stats.failed} failed; "
                  f"{stats.turns} turns in {stats.steps} steps, {stats.elapsed_s:.1f}s; "
                  f"{stats.read_failures} replies without a readable answer; {stats.retries} retries; "
                  f"trees in {target / 'trees.jsonl'}", style="dim", markup=False)
    if result.failed:
        raise UserError(f"{result.failed} dialogues failed (reasons in {target / 'failed.jsonl'}); "
                        "re-run the same command to retry them")


@app.command()
def run(
    config_file: Annotated[Path, typer.Argument(metavar="CONFIG",
                                                help="A TOML run config (see experiments/configs/).")],
    out: Annotated[Path | None, typer.Option(help="Run directory (default: the config's `out`).")] = None,
    source: Annotated[str | None, typer.Option("--questions", help="Override `questions`.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Override `limit`.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override `seed`.")] = None,
    window: Annotated[int | None, typer.Option(min=1, help="Override `window` (dialogues in flight).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Start the run directory afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Run any protocol from a TOML config; re-running the same command resumes it."""

    config = load_config(config_file)
    overrides = {k: v for k, v in {"questions": source, "limit": limit, "seed": seed, "window": window}.items()
                 if v is not None}
    if overrides:
        config = parse_config({**config.model_dump(mode="json"), **overrides}, str(config_file))
    _execute(config, out, overwrite, progress)


@app.command()
def tree(
    a: Annotated[str, typer.Option("--a", help="Model spec of agent A (speaks first).")] = DEFAULT_MODEL,
    b: Annotated[str, typer.Option("--b", help="Model spec of agent B.")] = DEFAULT_MODEL,
    source: Annotated[str, typer.Option("--questions", help="Question source.")] = "sample:open",
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions.")] = 10,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1)] = 80,
    seed: Annotated[int, typer.Option()] = 0,
    informed: Annotated[list[str] | None, typer.Option(help="Agent (A or B) that sees the questions' "
                                                               "context passages; repeatable.")] = None,
    reader: Annotated[str, typer.Option(help="Answer reader: default, final-line, yes-no, option, "
                                              "candidates or llm:SPEC.")] = "default",
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/tree"),
    overwrite: Annotated[bool, typer.Option(help="Start the run directory afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Build PBT dialogue trees (the paper's 1-2-6-12 shape) for the questions."""

    unknown = sorted(set(informed or []) - {"A", "B"})
    if unknown:
        raise UserError(f"unknown agent '{unknown[0]}' (expected A or B)", field="--informed")
    agents = {name: {"model": spec, "temperature": temperature, "max_tokens": max_tokens,
                     "informed": name in (informed or [])} for name, spec in (("A", a), ("B", b))}
    config = parse_config({"protocol": {"kind": "tree"}, "questions": source, "limit": limit, "seed": seed,
                           "reader": reader, "agents": agents}, "debate tree")
    _execute(config, out, overwrite, progress)


#: The main job's agents: SmolLM2 with and without a background passage (a real strength gap),
#: or simulated strong and weak agents (instant).
PAIRING_BACKENDS: dict[str, dict[str, dict[str, Any]]] = {
    "gguf": {"informed": {"model": DEFAULT_MODEL, "informed": True, "max_tokens": 48},
             "uninformed": {"model": DEFAULT_MODEL, "max_tokens": 48}},
    "sim": {"strong": {"model": "sim:strong"}, "weak": {"model": "sim:weak"}},
}


@app.command()
def pairing(
    config_file: Annotated[Path | None, typer.Argument(metavar="[CONFIG]", help="A TOML pairing config (agents, "
                                                          "questions, ...); see experiments/configs/.")] = None,
    agents: Annotated[list[str] | None, typer.Option("--agents", help="Agent model specs (two or more); "
                                                        "repeat the option.")] = None,
    backend: Annotated[str, typer.Option(help="Without CONFIG or --agents: 'gguf' (SmolLM2 informed vs "
                                              "uninformed) or 'sim' (simulated strong vs weak).")] = "gguf",
    source: Annotated[str | None, typer.Option("--questions", help="Question source.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions.")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (and the bootstrap's).")] = None,
    out: Annotated[Path, typer.Option(help="Experiment folder (one run directory per order, the report, "
                                           "the plot).")] = Path("runs/pairing"),
    overwrite: Annotated[bool, typer.Option(help="Start afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Team debates of every pair of agents in both speaking orders: solo and team accuracy, order
    dependence with a 95% interval and McNemar's test, pull-up, and who persuaded whom."""

    if config_file is not None:
        data, text = read_toml(config_file)
        source_name = str(config_file)
    else:
        if agents:
            # Names become folder names: from the spec's target, with only the characters names allow.
            names = [f"a{i}:{re.sub(r'[^A-Za-z0-9_.:+=]+', '_', spec.split('?')[0].split('/')[-1])[:48]}"
                     for i, spec in enumerate(agents, 1)]
            chosen: dict[str, dict[str, Any]] = {name: {"model": spec} for name, spec in zip(names, agents)}
        elif backend in PAIRING_BACKENDS:
            chosen = PAIRING_BACKENDS[backend]
        else:
            raise UserError(f"unknown backend '{backend}' (expected one of {', '.join(PAIRING_BACKENDS)})",
                            field="--backend")
        data, text, source_name = {"agents": chosen}, None, "debate pairing"
    overrides = {"questions": source, "limit": limit, "seed": seed}
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    config = validate(PairingConfig, data, source_name, text)
    try:
        config.check()
    except UserError as exc:
        raise locate(exc, source_name, text) from None
    report = run_pairing(config, out, overwrite=overwrite, console=err_console, progress=progress)
    console.print(order_table(report))
    console.print(persuasion_table(report))
    plot = save_plot(report, out / "pairing.png")
    console.print(f"report: {out / 'report.json'}  plot: {plot}", style="dim", markup=False)


@app.command(name="eval")
def evaluate(
    evaluation: Annotated[str, typer.Argument(metavar="EVALUATION", help="farm, ays or balanced.")],
    models: Annotated[list[str] | None, typer.Option("--models", help="Model spec to evaluate; repeat the "
                                                        "option to compare several.")] = None,
    source: Annotated[str | None, typer.Option("--questions", help="ays: a question source (default "
                                                  "sample:open); farm: the Farm folder; balanced: the split "
                                                  "(a trees JSONL file).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions (farm: per subset).")] = None,
    appeal: Annotated[str | None, typer.Option(help="farm: logical (default), credibility or emotional "
                                                       "appeals.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1)] = 64,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder (default runs/eval-EVALUATION).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Start afresh instead of resuming.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Farm misinformation (MR@4), "Are you sure?" or balanced persuasion, for one or more models."""

    folder = out or Path(f"runs/eval-{evaluation}")
    specs = models or [DEFAULT_MODEL]
    questions, per_run_limit = source or "sample:open", limit
    if evaluation == "farm":
        farm = source or os.environ.get("DEBATE_FARM_DIR", "../shared/data/farm")
        questions, per_run_limit = str(folder / FARM_QUESTIONS), None
    # Every setting is checked before the farm questions are written into the folder.
    evaluation_configs(evaluation, specs, questions=questions, limit=per_run_limit, appeal=appeal, seed=seed,
                       max_tokens=max_tokens)
    if evaluation == "farm":
        farm_questions(farm, folder, limit)
    elif evaluation == "balanced":
        if source is None:
            raise UserError("give the balanced split: --questions SPLIT.jsonl", field="--questions")
        check_balanced_split(source)
    report = run_evaluation(evaluation, specs, folder, questions=questions, limit=per_run_limit,
                            appeal=appeal, seed=seed, max_tokens=max_tokens, overwrite=overwrite,
                            console=err_console, progress=progress)
    columns, rows = figures(report)
    console.print(evaluation_table(report, columns, rows))
    plot = save_evaluation_plot(report, columns, rows, folder / f"{evaluation}.png")
    console.print(f"report: {folder / 'report.json'}  plot: {plot}", style="dim", markup=False)


@app.command()
def prefs(
    trees_files: Annotated[list[Path], typer.Argument(metavar="TREES...", help="PBT trees (trees.jsonl files "
                                                      "from `debate tree`); several are pooled.")],
    out: Annotated[Path, typer.Option(help="Folder for the data, its card and the balanced benchmark.")],
    condition: Annotated[str, typer.Option(help="balanced (PBT), resist, accept or all.")] = "balanced",
    threshold: Annotated[float, typer.Option(help="Keep sibling pairs whose score gap is at least this share "
                                                  "of the larger score.")] = 0.5,
    strict: Annotated[bool, typer.Option(help="Require a gap strictly above the threshold (the reference "
                                              "code's rule).")] = False,
    persuasion_only: Annotated[bool, typer.Option(help="Label only the persuadee's replies to a persuasion turn "
                                                       "(the reference's rule); --no-persuasion-only also labels "
                                                       "replies to the other agent's independent answer.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the split and of the trimming.")] = 0,
    formats: Annotated[list[str] | None, typer.Option("--format", help="jsonl (always), parquet, hf; "
                                                         "repeatable.")] = None,
    judge: Annotated[str | None, typer.Option(help="Model spec of a judge that must confirm each label "
                                                      "(the chosen and rejected replies' agree / disagree "
                                                      "stance); unconfirmed pairs lose their label.")] = None,
) -> None:
    """Preference pairs from PBT trees: scores, resist/accept labels, splits by question, conditions."""

    if condition not in CONDITIONS:
        raise UserError(f"unknown condition '{condition}' (expected one of {', '.join(CONDITIONS)})",
                        field="--condition")
    summary = build_preferences(trees_files, out, condition, threshold=threshold, strict=strict,
                                persuasion_only=persuasion_only, seed=seed,
                                formats=tuple(dict.fromkeys(["jsonl", *(formats or [])])), judge=judge)
    table = Table(title=f"PBT preference data: {condition} ({summary['train']['records']} training records)")
    for column in ("split", "questions", "resist", "accept", "unlabelled"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, counts in summary["pairs_by_split"].items():
        table.add_row(name, str(summary["questions_by_split"][name]), str(counts.get("resist", 0)),
                      str(counts.get("accept", 0)), str(counts.get("unlabelled", 0)))
    console.print(table)
    console.print(f"balanced benchmark: dev {summary['benchmark']['dev']}, test {summary['benchmark']['test']} "
                  f"items; data and card in {out}", style="dim", markup=False)


@app.command(name="train")
def train_command(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="A folder made by `debate prefs`.")],
    model: Annotated[Path, typer.Option(help="The base model: a transformers folder.")],
    out: Annotated[Path, typer.Option(help="Folder for checkpoints, the best adapter and the merged model.")],
    sft_steps: Annotated[int, typer.Option(min=0, help="SFT steps on the chosen replies (0: skip SFT).")] = (
        _TRAIN.sft_steps),
    dpo_steps: Annotated[int, typer.Option(min=1)] = _TRAIN.dpo_steps,
    batch_size: Annotated[int, typer.Option(min=1)] = _TRAIN.batch_size,
    grad_accum: Annotated[int, typer.Option(min=1)] = _TRAIN.grad_accum,
    dpo_lr: Annotated[float, typer.Option(min=0.0)] = _TRAIN.dpo_lr,
    beta: Annotated[float, typer.Option(min=0.0)] = _TRAIN.beta,
    save_steps: Annotated[int, typer.Option(min=1, help="Save, and score balanced accuracy on dev, every N "
                                                         "DPO steps.")] = _TRAIN.save_steps,
    max_length: Annotated[int, typer.Option(min=32)] = _TRAIN.max_length,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """SFT then DPO with LoRA (TRL); the checkpoint with the best balanced accuracy on dev is kept.
    Re-running the same command resumes from the last checkpoint."""

    from training.trainer import train  # imports torch, transformers, trl when it runs

    config = TrainConfig(sft_steps=sft_steps, dpo_steps=dpo_steps, batch_size=batch_size, grad_accum=grad_accum,
                         dpo_lr=dpo_lr, beta=beta, save_steps=save_steps, max_length=max_length, seed=seed)
    summary = train(model, data, out, config)
    table = Table(title=f"DPO checkpoints by balanced accuracy on dev (best: step {summary['best_step']})")
    for column in ("step", "+ -> - (resist)", "- -> + (accept)", "balanced"):
        table.add_column(column, justify="right")
    for step, rates in summary["checkpoint_scores"].items():
        table.add_row(step, *("-" if rates.get(k) is None else f"{100 * rates[k]:.1f}"
                              for k in ("resist", "accept", "balanced")))
    console.print(table)
    console.print(f"adapter: {out / 'adapter'}  merged model: {out / 'merged'}", style="dim", markup=False)


@app.command()
def convert(
    gguf: Annotated[str, typer.Argument(metavar="GGUF", help="A .gguf file, or 'smollm2' (the bundled "
                                        "SmolLM2-135M-Instruct).")],
    out: Annotated[Path, typer.Option(help="The transformers model folder to write.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
) -> None:
    """Convert a GGUF model into a transformers folder (float32) that `debate train` and hf: specs use."""

    from training.convert import convert_gguf  # imports torch and transformers: only here

    folder = convert_gguf(gguf, out, overwrite=overwrite)
    console.print(f"transformers model folder: {folder} (use it as --model, or as hf:{folder})", markup=False)


@app.command()
def pbt(
    out: Annotated[Path, typer.Option(help="Experiment folder (every stage resumes from it).")] = Path("runs/pbt"),
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N training questions (default: "
                                                 "all 240 of sample-train).")] = None,
    passes: Annotated[int, typer.Option(min=1, help="Tree passes over the questions, each with its own seed "
                                        "(more pairs; about 35 min per pass for 240 questions on 2 cores).")] = 1,
    sft_steps: Annotated[int, typer.Option(min=0)] = _PBT_TRAIN.sft_steps,
    dpo_steps: Annotated[int, typer.Option(min=1)] = _PBT_TRAIN.dpo_steps,
    save_steps: Annotated[int, typer.Option(min=1, help="Score balanced accuracy on dev every N DPO steps.")] = (
        _PBT_TRAIN.save_steps),
    eval_limit: Annotated[int | None, typer.Option(min=1, help="'Are you sure?' on the first N sample "
                                                      "open questions (default: all).")] = None,
    farm: Annotated[Path | None, typer.Option(help="The Farm folder (default: $DEBATE_FARM_DIR or "
                                                 "../shared/data/farm; skipped when absent).")] = None,
    farm_limit: Annotated[int, typer.Option(min=1, help="Farm questions per subset.")] = 25,
    seed: Annotated[int, typer.Option()] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """PBT end to end with SmolLM2 on a CPU: trees -> pairs -> accept-only, resist-only and PBT
    training -> balanced persuasion, "Are you sure?" and Farm, against the base model."""

    check_folder_path(out)

    farm_dir = farm or Path(os.environ.get("DEBATE_FARM_DIR", "../shared/data/farm"))
    if farm is not None and not farm_dir.is_dir():
        raise UserError("no such folder", file=str(farm), field="--farm")
    train = _PBT_TRAIN.model_copy(update={"sft_steps": sft_steps, "dpo_steps": dpo_steps, "save_steps": save_steps})
    config = PBTConfig(limit=limit, tree_passes=passes, train=train, eval_limit=eval_limit,
                       farm=str(farm_dir) if farm_dir.is_dir() else None, farm_limit=farm_limit, seed=seed)
    if config.farm is None:
        err_console.print(f"no Farm data at {farm_dir}: the Farm evaluation is skipped", style="yellow",
                          markup=False)
    report = run_pbt(config, out, console=err_console, progress=progress)
    for evaluation, table in report["evaluations"].items():
        rich_table = Table(title=f"{evaluation} (%)")
        rich_table.add_column("model")
        for column in [*table["columns"], f"n ({table['n_of']})"]:
            rich_table.add_column(column, justify="right")
        for name, values in table["rows"].items():
            rich_table.add_row(NAMES[name], *("-" if v is None else f"{100 * v:.1f}" for v in values),
                               str(table["n"][name]))
        console.print(rich_table)
    console.print(f"report: {out / 'report.md'}, {out / 'report.json'}", style="dim", markup=False)


@app.command()
def show(
    trees_file: Annotated[Path, typer.Argument(metavar="TREES", help="A JSONL file of dialogue trees (trees.jsonl).")],
    tree_id: Annotated[str | None, typer.Option("--tree", help="The id of the tree to show.")] = None,
    index: Annotated[int | None, typer.Option(min=0, help="The position of the tree to show (from 0).")] = None,
    png: Annotated[Path | None, typer.Option(help="Also save a picture of the tree here.")] = None,
    force: Annotated[bool, typer.Option(help="Let --png replace an existing file that is not a PNG.")] = False,
) -> None:
    """Show one dialogue tree in the terminal, coloured by correctness (first tree by default)."""

    if png is not None:  # refused before anything is shown or drawn
        check_output(png, magic=PNG_MAGIC, kind="PNG", inputs=[trees_file], force=force)
    chosen = select_tree(trees_file, tree_id, index)
    console.print(rich_tree(chosen, width=console.width))
    console.print(outcome_table(chosen))
    if png is not None:
        console.print(f"saved {save_png(chosen, png)}", style="dim", markup=False)


@app.command()
def export(
    trees_file: Annotated[Path, typer.Argument(metavar="TREES", help="A JSONL file of dialogue trees.")],
    out: Annotated[Path, typer.Option(help="Folder for one GraphML file per tree (new, empty, or one "
                                           "that holds only GraphML files).")],
) -> None:
    """Export dialogue trees as GraphML (for Gephi, yEd, networkx, igraph)."""

    names = export_names(trees_file, out)  # every line checked before anything is written
    for one in iter_trees(trees_file):
        one.to_graphml(out / names[one.tree_id])
    console.print(f"wrote {len(names)} GraphML files to {out}", markup=False)


def main() -> None:
    start = time.perf_counter()
    try:
        # Not standalone: typer's errors reach the handlers below, and a Ctrl-C returns 130.
        code = app(args=sys.argv[1:] or ["--help"], standalone_mode=False)
        if code == 130:
            raise KeyboardInterrupt
        sys.exit(code if isinstance(code, int) else 0)
    except TyperException as exc:  # typer's own checks (types, ranges, unknown options), as our one line
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "debate"
        err_console.print(f"error: {exc.format_message()} (see {command} --help)".replace("\n", " "), markup=False,
                          highlight=False, soft_wrap=True)
        sys.exit(2)
    except UserError as exc:
        err_console.print(f"error: {exc.one_line()}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print(f"interrupted after {time.perf_counter() - start:.0f}s", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
