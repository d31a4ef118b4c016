"""Experiment results as terminal tables and PNG plots: pairing reports and evaluation comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from debate.errors import UserError
from debate.storage import save_figure
from experiments.evaluations import EvaluationReport


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


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
