"""Solo quizzes: each question put once to an agent, its answer read and graded.

This is the solo baseline of every pairing experiment, and the main job until the debate
protocols land.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from agents.agent import Agent
from debate.answers import read_answer
from debate.grading import grade
from debate.records import AnswerRead, Question, Usage


class QuizRecord(BaseModel):
    question_id: str
    agent: str
    model: str
    informed: bool
    text: str
    answer: str | None
    read: AnswerRead | None
    correct: bool
    usage: Usage
    error: str | None = None


class QuizSummary(BaseModel):
    agent: str
    questions: int
    correct: int
    accuracy: float
    readers: dict[str, int]
    errors: int
    completion_tokens: int
    wall_s: float


def run_quiz(agent: Agent, questions: Sequence[Question], *, batch_size: int = 64,
             on_batch: Callable[[int], None] | None = None) -> list[QuizRecord]:
    """Ask every question once; one batched call per `batch_size` questions."""
    records: list[QuizRecord] = []
    for start in range(0, len(questions), batch_size):
        chunk = questions[start:start + batch_size]
        replies = agent.model.generate_sync([agent.request(q) for q in chunk])
        for question, reply in zip(chunk, replies, strict=True):
            read = read_answer(reply.text, question) if reply.ok else None
            answer = read.answer if read is not None else None
            records.append(QuizRecord(question_id=question.id, agent=agent.name, model=agent.model.model_id,
                                      informed=agent.informed, text=reply.text, answer=answer, read=read,
                                      correct=grade(answer, question), usage=reply.usage, error=reply.error))
        if on_batch is not None:
            on_batch(len(chunk))
    return records


def summarize(agent_name: str, records: Sequence[QuizRecord], wall_s: float) -> QuizSummary:
    readers = Counter(r.read.reader if r.read is not None and r.answer is not None else "no answer"
                      for r in records)
    correct = sum(r.correct for r in records)
    return QuizSummary(agent=agent_name, questions=len(records), correct=correct,
                       accuracy=correct / len(records) if records else 0.0, readers=dict(readers),
                       errors=sum(r.error is not None for r in records),
                       completion_tokens=sum(r.usage.completion_tokens for r in records), wall_s=wall_s)


def timed_quiz(agent: Agent, questions: Sequence[Question], **kwargs) -> tuple[list[QuizRecord], QuizSummary]:
    start = time.perf_counter()
    records = run_quiz(agent, questions, **kwargs)
    return records, summarize(agent.name, records, time.perf_counter() - start)


def quiz_agents(agents: Sequence[Agent], questions: Sequence[Question], *, console: Console | None = None,
                batch_size: int = 16) -> tuple[list[QuizRecord], list[QuizSummary]]:
    """Each agent's timed quiz in turn (a progress bar per agent on `console`): every record, and
    one summary per agent."""
    records: list[QuizRecord] = []
    summaries: list[QuizSummary] = []
    with Progress(console=console, transient=True, disable=console is None) as progress:
        for agent in agents:
            task = progress.add_task(escape(f"{agent.name} ({agent.model.model_id})"), total=len(questions))
            agent_records, summary = timed_quiz(agent, questions, batch_size=batch_size,
                                                on_batch=lambda n, t=task: progress.advance(t, n))
            records += agent_records
            summaries.append(summary)
    return records, summaries
