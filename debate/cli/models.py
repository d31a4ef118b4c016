"""`debate ask`, `debate questions` and `debate demo`: one model, one question source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agents.agent import Agent
from agents.personas import persona_prompt
from agents.registry import DEFAULT_MODEL, load_model
from debate.answers import read_answer
from debate.cli.app import app, console, default, err_console, option_pairs, record
from debate.data import load_questions
from debate.errors import UserError
from debate.grading import grade
from debate.records import GenerationParams, Question
from debate.storage import atomic_write_json, atomic_write_jsonl
from experiments.quiz import quiz_agents
from experiments.reports import questions_table, quiz_table


@app.command()
def ask(
    spec: Annotated[str, typer.Argument(help="Model spec, e.g. gguf:smollm2, sim:strong, openai:MODEL, hf:PATH.")],
    question: Annotated[str, typer.Argument(help="The question to ask.")],
    persona: Annotated[str, typer.Option(help="Persona prompt to use.")] = "neutral",
    context: Annotated[str | None, typer.Option(help="A background passage shown with the question.")] = None,
    gold: Annotated[list[str] | None, typer.Option(help="Gold answer(s): grade the reply.")] = None,
    temperature: Annotated[float, typer.Option(min=0.0)] = default(GenerationParams, "temperature"),
    max_tokens: Annotated[int, typer.Option(min=1)] = default(GenerationParams, "max_tokens"),
    seed: Annotated[int | None, typer.Option()] = None,
    option: Annotated[list[str] | None, typer.Option("--option", "-o",
                                                         help="Backend option KEY=VALUE (repeatable).")] = None,
) -> None:
    """Put one question to one model and show the reply, the answer read from it, and usage."""

    # Without --gold nothing is graded; the placeholder only satisfies the record.
    q = record(Question, {"text": "QUESTION", "context": "--context", "gold": "--gold"}, id="cli", text=question,
               gold=gold or ["(no gold answer given)"], context=context, source="cli")
    params = record(GenerationParams, {}, temperature=temperature, max_tokens=max_tokens, seed=seed)
    try:
        persona_prompt(persona)
    except UserError as exc:
        raise UserError(exc.detail, field="--persona") from None
    model = load_model(spec, option_pairs(option or []))
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

    console.print(questions_table(load_questions(source), source))


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

    params = record(GenerationParams, {}, temperature=0.0, max_tokens=max_tokens)
    loaded = load_questions(source, limit=limit)
    chat_model = load_model(model)
    agents = [Agent(name="uninformed", model=chat_model, params=params),
              Agent(name="informed", model=chat_model, params=params, informed=True)]
    records, summaries = quiz_agents(agents, loaded, console=err_console)
    console.print(quiz_table(f"{model} on {len(loaded)} questions from {source}", summaries))
    atomic_write_jsonl(out / "replies.jsonl", records)
    atomic_write_json(out / "summary.json", {"model": model, "questions": source, "limit": limit,
                                             "summaries": [s.model_dump() for s in summaries]})
    console.print(f"saved {out / 'replies.jsonl'} and {out / 'summary.json'}", style="dim")
