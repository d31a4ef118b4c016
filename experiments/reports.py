"""Results as terminal tables and PNG plots: runs, question sources, quizzes, pairing reports,
evaluation comparisons, preference data, training checkpoints and the PBT report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from debate.errors import UserError
from debate.records import Question, Usage
from debate.storage import save_figure
from experiments.evaluations import EvaluationReport
from experiments.pbt import NAMES
from experiments.quiz import QuizSummary
from protocols.run import RunResult


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def summary_table(title: str, summary: dict[str, object]) -> Table:
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


def run_table(kind: str, result: RunResult) -> Table:
    summary = result.summary.model_dump(mode="json") if result.summary is not None else {}
    return summary_table(f"{kind} run: {result.out}", summary)


def run_footer(result: RunResult) -> str:
    stats = result.stats
    return (f"{stats.trees} dialogues finished, {stats.skipped} already done, {stats.failed} failed; "
            f"{stats.turns} turns in {stats.steps} steps, {stats.elapsed_s:.1f}s; "
            f"{stats.read_failures} replies without a readable answer; {stats.retries} retries; "
            f"trees in {result.out / 'trees.jsonl'}" + _cached(stats.usage))


def _cached(usage: Usage) -> str:
    """How much of the prompts the server took from its cache, where it says."""
    if usage.cached_prompt_tokens is None:
        return ""
    return f"; {usage.cached_prompt_tokens:,} of {usage.prompt_tokens:,} prompt tokens from the server's cache"


def questions_table(questions: Sequence[Question], source: str) -> Table:
    """A question source's questions counted by kind and source, and how many have a context."""
    table = Table(title=f"{len(questions)} questions in {source}")
    table.add_column("kind")
    table.add_column("source")
    table.add_column("count", justify="right")
    table.add_column("with context", justify="right")
    counts = Counter((q.kind, q.source) for q in questions)
    with_context = Counter((q.kind, q.source) for q in questions if q.context)
    for (kind, src), n in sorted(counts.items()):
        table.add_row(kind, src, str(n), str(with_context[(kind, src)]))
    return table


def quiz_table(title: str, summaries: Sequence[QuizSummary]) -> Table:
    table = Table(title=title)
    for col in ("agent", "accuracy", "correct", "read by", "errors", "tokens", "wall s", "tokens/s"):
        table.add_column(col, justify="left" if col in ("agent", "read by") else "right")
    for s in summaries:
        readers = ", ".join(f"{k} {v}" for k, v in sorted(s.readers.items()))
        table.add_row(s.agent, f"{s.accuracy:.1%}", f"{s.correct}/{s.questions}", readers, str(s.errors),
                      str(s.completion_tokens), f"{s.wall_s:.1f}", f"{s.completion_tokens / max(s.wall_s, 1e-9):.0f}")
    return table


def order_table(report: dict[str, Any]) -> Table:
    """One row per pair and order: solo accuracies, team accuracy, gap, McNemar p, pull-up."""
    table = Table(title=f"Order dependence: team debate on {report['questions']} (accuracy, %)")
    for column in ("pair", "n", "solo", "order", "team [95% CI]", "pull-up", "gap [95% CI]", "McNemar p"):
        table.add_column(column, justify="left" if column in ("pair", "order", "solo") else "right")
    for pair in report["pairs"]:
        x, y = pair["agents"]
        solo = f"{x} {_pct(pair['solo_accuracy'][x])} / {y} {_pct(pair['solo_accuracy'][y])}"
        gap = pair["order_gap_interval"]
        for i, order in enumerate(pair["team_accuracy"]):
            ci = pair["team_interval"][order]
            table.add_row(f"{x} + {y}" if i == 0 else "", str(pair["questions"]) if i == 0 else "",
                          solo if i == 0 else "", order,
                          f"{_pct(pair['team_accuracy'][order])} [{_pct(ci['low'])}, {_pct(ci['high'])}]",
                          "-" if pair["pull_up"][order] is None else f"{pair['pull_up'][order]:.2f}",
                          f"{_pct(pair['order_gap'])} [{_pct(gap['low'])}, {_pct(gap['high'])}]" if i == 0 else "",
                          f"{pair['mcnemar_p']:.3g}" if i == 0 else "")
    return table


def persuasion_table(report: dict[str, Any]) -> Table:
    """The directional persuasion matrix: each agent's first -> final answer, per order."""
    table = Table(title="Who was persuaded (first answer -> final answer, counts)")
    for column in ("pair", "order", "agent", "correct->wrong", "wrong->correct", "held correct", "held wrong"):
        table.add_column(column, justify="left" if column in ("pair", "order", "agent") else "right")
    for pair in report["pairs"]:
        x, y = pair["agents"]
        for order, agents in pair["persuasion"].items():
            for agent, counts in agents.items():
                table.add_row(f"{x} + {y}", order, agent, *(str(v) for v in counts.values()))
    return table


def _figure(width: float, height: float) -> Any:
    """A matplotlib figure drawn with Agg (no display); matplotlib is imported only here."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("plots need matplotlib: pip install '.[plot]'") from None
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | Path) -> Path:
    """Write the PNG through a temporary file, so that no half-written image is ever left."""
    figure.tight_layout()
    return save_figure(figure, path, dpi=130)


def save_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Solo and team accuracy per order for every pair, with bootstrap 95% intervals."""
    pairs = report["pairs"]
    figure = _figure(4.5 * len(pairs) + 1, 4.2)
    for k, pair in enumerate(pairs):
        axes = figure.add_subplot(1, len(pairs), k + 1)
        x, y = pair["agents"]
        labels = [f"{x}\nsolo", f"{y}\nsolo", *(f"team\n{order}" for order in pair["team_accuracy"])]
        values = [pair["solo_accuracy"][x], pair["solo_accuracy"][y], *pair["team_accuracy"].values()]
        intervals = [pair["solo_interval"][x], pair["solo_interval"][y], *pair["team_interval"].values()]
        low = [v - ci["low"] for v, ci in zip(values, intervals)]
        high = [ci["high"] - v for v, ci in zip(values, intervals)]
        axes.bar(range(4), values, yerr=[low, high], capsize=4,
                 color=["#90caf9", "#ffcc80", "#a5d6a7", "#ce93d8"], edgecolor="#333333")
        axes.set_xticks(range(4), labels, fontsize=8)
        axes.set_ylim(0, 1.05)
        axes.set_ylabel("accuracy")
        axes.set_title(f"{x} + {y}: gap {100 * pair['order_gap']:+.1f} pts (p={pair['mcnemar_p']:.2g})", fontsize=9)
    return _save(figure, path)


def evaluation_table(report: EvaluationReport, columns: list[str], rows: dict[str, list[float | None]]) -> Table:
    title = {"farm": f"Farm misinformation rate, % (lower is better; {report.appeal} appeals)",
             "ays": '"Are you sure?" accuracy, %', "balanced": "Balanced persuasion accuracy, %"}[report.evaluation]
    table = Table(title=title)
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    for spec, values in rows.items():
        table.add_row(spec, *(_pct(v) for v in values))
    return table


def save_evaluation_plot(report: EvaluationReport, columns: list[str], rows: dict[str, list[float | None]],
                         path: str | Path) -> Path:
    """Grouped bars: one group per figure, one bar per model."""
    figure = _figure(1.6 * len(columns) * max(1, len(rows)) ** 0.5 + 2, 4.2)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(rows))
    for k, (spec, values) in enumerate(rows.items()):
        axes.bar([i + k * width for i in range(len(columns))], [v if v is not None else 0 for v in values],
                 width=width, label=spec, edgecolor="#333333")
    axes.set_xticks([i + width * (len(rows) - 1) / 2 for i in range(len(columns))], columns, fontsize=8)
    axes.axhline(0, color="#333333", linewidth=0.8)
    axes.set_ylabel("rate" if report.evaluation == "farm" else "accuracy")
    axes.set_title(report.evaluation, fontsize=10)
    axes.legend(fontsize=7)
    return _save(figure, path)


def prefs_table(summary: dict[str, Any]) -> Table:
    """A preference card: questions and pairs by split and label."""
    table = Table(title=f"PBT preference data: {summary['condition']} ({summary['train']['records']} training records)")
    for column in ("split", "questions", "resist", "accept", "unlabelled"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, counts in summary["pairs_by_split"].items():
        table.add_row(name, str(summary["questions_by_split"][name]), str(counts.get("resist", 0)),
                      str(counts.get("accept", 0)), str(counts.get("unlabelled", 0)))
    return table


def checkpoints_table(summary: dict[str, Any]) -> Table:
    """DPO checkpoints by balanced accuracy on dev, as `training.trainer.train` returns them."""
    table = Table(title=f"DPO checkpoints by balanced accuracy on dev (best: step {summary['best_step']})")
    for column in ("step", "+ -> - (resist)", "- -> + (accept)", "balanced"):
        table.add_column(column, justify="right")
    for step, rates in summary["checkpoint_scores"].items():
        table.add_row(step, *(_pct(rates.get(k)) for k in ("resist", "accept", "balanced")))
    return table


def pbt_tables(report: dict[str, Any]) -> list[Table]:
    """One table per evaluation of `debate pbt`: each model's figures (%) and their count."""
    tables = []
    for evaluation, figures in report["evaluations"].items():
        table = Table(title=f"{evaluation} (%)")
        table.add_column("model")
        for column in [*figures["columns"], f"n ({figures['n_of']})"]:
            table.add_column(column, justify="right")
        for name, values in figures["rows"].items():
            table.add_row(NAMES[name], *(_pct(v) for v in values), str(figures["n"][name]))
        tables.append(table)
    return tables
