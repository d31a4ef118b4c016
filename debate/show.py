"""Looking at a dialogue tree: a rich tree for the terminal, an outcome table, a PNG picture.

Every node shows who spoke (speaker, persona), the answers held after the turn, each marked
correct / wrong / unread against the gold answers, the reader that found the speaker's answer,
the turn's tag, any error, and its text cut to one line. Nodes where every agent holds the same
answer are marked "agree", so a debate that stopped on agreement shows where.

matplotlib is an optional extra (`plot`) and heavy to import: only `save_png` imports it.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import networkx as nx
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from debate.grading import grade, same_answer
from debate.errors import DataError, UserError
from debate.storage import parse_json, path_part, read_lines, save_figure
from debate.tree import ROOT, DialogueTree

# How an answer stands against the gold: (marker, rich style, PNG box colour).
CORRECT = ("✓", "green", "#c8e6c9")
WRONG = ("✗", "red", "#ffcdd2")
UNREAD = ("?", "yellow", "#fff59d")   # the speaker replied but no answer could be read
NO_ANSWER = ("–", "dim", "#eeeeee")   # nothing to read: a scripted turn, or an agent yet to speak
_GUIDE = 4           # cells rich's tree guide adds per depth ("├── ")
_MIN_TEXT = 8        # below this many cells a text excerpt says nothing: leave it out
_MAX_PIXELS = 30000  # Agg refuses images over 2**16 pixels a side; stay well under it
# C0 controls, DEL and C1 controls: a terminal obeys them (ESC starts a command), so they are shown escaped.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def answer_status(tree: DialogueTree, node: str, agent: str | None = None) -> tuple[str, str, str]:
    """CORRECT, WRONG, UNREAD or NO_ANSWER for `agent`'s answer after `node` (default: the speaker's)."""
    turn = tree.turn(node)
    agent = turn.speaker if agent is None else agent
    answer = turn.answers.get(agent)
    if answer is not None:
        return CORRECT if grade(answer, tree.question) else WRONG
    # Only the speaker's own reply can be unread; others simply have not answered yet.
    return UNREAD if agent == turn.speaker and turn.read is not None else NO_ANSWER


def agreed(tree: DialogueTree, node: str) -> bool:
    """Whether two or more agents hold answers after `node` and all of them are the same."""
    answers = list(tree.turn(node).answers.values())
    return len(answers) >= 2 and all(same_answer(answers[0], a, tree.question) for a in answers[1:])


def one_line(text: str) -> str:
    """`text` on one line, safe to print: whitespace runs become one space, controls show as \\x1b."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", " ".join(text.split()))


def node_label(tree: DialogueTree, node: str, *, width: int = 100) -> Text:
    """One line for a turn, at most `width` cells: id, speaker, answers, reader, tag, error, text."""
    turn = tree.turn(node)
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(node, style="bold cyan")
    label.append(f" {one_line(turn.speaker)}", style="bold")
    label.append(f"/{one_line(turn.persona)}", style="magenta")
    # The speaker's answer first, then the answers the others hold.
    agents = sorted(turn.answers, key=lambda a: a != turn.speaker)
    if turn.speaker not in turn.answers and turn.read is not None:
        agents.insert(0, turn.speaker)
    for agent in agents:
        marker, style, _ = answer_status(tree, node, agent)
        answer = turn.answers.get(agent)
        if answer is None:
            answer = (turn.read.special or "NONE") if agent == turn.speaker and turn.read else "none"
        bold = " bold" if agent == turn.speaker else ""
        label.append(f"  {one_line(agent)}={one_line(answer)} {marker}", style=style + bold)
    if agreed(tree, node):
        label.append("  agree", style="bold green")
    if turn.read is not None:
        label.append(f"  via {one_line(turn.read.reader)}", style="dim")
    if turn.tag:
        label.append(f"  [{one_line(turn.tag)}]", style="blue")
    if turn.error:
        label.append(f"  error: {one_line(turn.error)}", style="bold red")
    # The text goes last, so cutting the line to the width cuts the text, not the answers.
    if width - label.cell_len - 2 >= _MIN_TEXT:
        label.append(f"  {one_line(turn.text)}")
    label.truncate(width, overflow="ellipsis")
    return label


def question_label(tree: DialogueTree, *, width: int = 100) -> Text:
    question = tree.question
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(one_line(tree.tree_id), style="bold cyan")
    label.append(f"  gold: {' / '.join(map(one_line, question.gold))}", style="green")
    if tree.metadata.get("protocol"):
        label.append(f"  ({one_line(str(tree.metadata['protocol']))})", style="dim")
    label.append(f"  {one_line(question.prompt_text())}", style="bold")
    label.truncate(width, overflow="ellipsis")
    return label


def rich_tree(tree: DialogueTree, *, width: int = 100) -> Tree:
    """The whole dialogue as a rich Tree whose lines fit in `width` cells."""
    root = Tree(question_label(tree, width=width), guide_style="dim")
    branches = {ROOT: root}
    for node in tree.nodes():  # breadth-first: a parent's branch exists before its children
        budget = max(width - _GUIDE * (tree.level(node) + 1), 1)
        branches[node] = branches[tree.parent(node)].add(node_label(tree, node, width=budget))
    return root


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_compact(v) for v in value)
    if value is None or isinstance(value, (str, int, bool)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def outcome_table(tree: DialogueTree) -> Table:
    """The protocol's outcome for this tree (keys vary by protocol), one key per row."""
    protocol = tree.metadata.get("protocol", "?")
    # Text, not str: rich reads a str as markup, and a '[/x]' in a file would crash the table.
    table = Table(title=Text(one_line(f"{tree.tree_id}: outcome ({protocol})")), show_header=True)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    outcome = tree.metadata.get("outcome")
    if not isinstance(outcome, dict) or not outcome:
        table.add_row("(none)", "no outcome recorded: the dialogue did not finish")
        return table
    for key, value in outcome.items():
        table.add_row(Text(one_line(str(key))), Text(one_line(_compact(value))))
    return table


# ---------------------------------------------------------------- PNG

def layout(tree: DialogueTree) -> dict[str, tuple[float, float]]:
    """(x, y) of every node and the root: leaves side by side in order, each parent centred
    over its children, one row per level (y = -1 for level 0, the root at y = 0)."""
    pos: dict[str, tuple[float, float]] = {}
    leaves = 0
    for node in nx.dfs_postorder_nodes(tree.graph, ROOT):  # children before their parent
        y = 0.0 if node == ROOT else -float(tree.level(node) + 1)
        kids = tree.children(node)
        if kids:
            pos[node] = ((pos[kids[0]][0] + pos[kids[-1]][0]) / 2, y)
        else:
            pos[node] = (float(leaves), y)
            leaves += 1
    return pos


def _short(text: str, chars: int) -> str:
    text = one_line(text)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def save_png(tree: DialogueTree, path: str | Path, *, dpi: int = 150) -> Path:
    """Draw the tree top-down to a PNG, written atomically (no half-written file is left)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise UserError("saving a PNG needs matplotlib: pip install 'persuasion-debate[plot]'") from None

    pos = layout(tree)
    columns = int(max(x for x, _ in pos.values())) + 1  # leaves sit at x = 0, 1, 2, ...
    depth = max((tree.level(n) + 1 for n in tree.nodes()), default=0)
    limit = _MAX_PIXELS / dpi
    fig = Figure(figsize=(min(max(1.7 * columns + 0.8, 4.5), limit), min(max(1.1 * depth + 2.2, 3.0), limit)))
    FigureCanvasAgg(fig)  # Agg, whatever backend pyplot would pick
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.84))
    ax.axis("off")
    ax.set_xlim(-0.6, columns - 0.4)
    ax.set_ylim(-depth - 0.5, 0.5)

    for parent, child in tree.graph.edges:
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        ax.plot([x0, x1], [y0, y1], color="#888888", linewidth=0.8, zorder=1)
    box = dict(boxstyle="round,pad=0.3", linewidth=0.8)
    ax.text(*pos[ROOT], f"{_short(tree.tree_id, 22)}\ngold: {_short(tree.question.gold[0], 16)}",
            ha="center", va="center", fontsize=7, zorder=2,
            bbox={**box, "facecolor": "#bbdefb", "edgecolor": "#555555"})
    for node in tree.nodes():
        turn = tree.turn(node)
        marker, _, colour = answer_status(tree, node)
        answer = turn.answers.get(turn.speaker)
        lines = [node + (f" [{turn.tag}]" if turn.tag else ""),
                 _short(f"{turn.speaker} · {turn.persona}", 22),
                 _short(f"{marker} {answer if answer is not None else 'no answer'}", 22)
                 + (" · agree" if agreed(tree, node) else "")]
        if turn.error:
            lines.append("error")
        edge = {"edgecolor": "#c62828", "linewidth": 2.0} if turn.error else {"edgecolor": "#555555"}
        ax.text(*pos[node], "\n".join(lines), ha="center", va="center", fontsize=7, zorder=2,
                bbox={**box, "facecolor": colour, **edge})

    title = textwrap.shorten(one_line(tree.question.text), 300, placeholder="…")
    wrap = max(int(fig.get_figwidth() * 12), 40)  # about 12 characters an inch at this size
    fig.suptitle(textwrap.fill(title, wrap) + f"\ngold: {' / '.join(tree.question.gold)}", fontsize=9)
    legend = [Patch(facecolor=c, edgecolor="#555555", label=f"{m} {name}") for name, (m, _, c) in
              (("correct", CORRECT), ("wrong", WRONG), ("unread", UNREAD), ("no answer", NO_ANSWER))]
    ax.legend(handles=legend, loc="lower left", fontsize=6, frameon=False, ncol=4)

    return save_figure(fig, path, dpi)


# ---------------------------------------------------------------- picking a tree

def _tree_id(data: Any) -> str | None:
    """A line's tree id without validating the whole tree (the default is the question id)."""
    if not isinstance(data, dict):
        return None
    question = data.get("question")
    return data.get("tree_id") or (question.get("id") if isinstance(question, dict) else None)


def select_tree(trees_path: str | Path, tree_id: str | None = None, index: int | None = None) -> DialogueTree:
    """One tree of a JSONL file: by id, by index (0-based), or else the first.

    Only the chosen line is validated as a tree, so picking from a large file stays quick.
    """
    if tree_id is not None and index is not None:
        raise UserError("pick a tree by id or by index, not both")
    if index is not None and index < 0:
        raise UserError(f"tree index must be 0 or more, got {index}")
    source = str(trees_path)
    ids: list[str] = []
    for number, row in read_lines(Path(trees_path), record="dialogue tree"):
        if not row.strip():
            continue
        data = parse_json(row, source, number)
        found = _tree_id(data)
        if (tree_id is None and index in (None, len(ids))) or (tree_id is not None and found == tree_id):
            return DialogueTree.from_dict(data, source=source, line=number)
        ids.append(one_line(str(found)))  # for the error message, printed as it is
    if not ids:
        raise DataError("holds no dialogue trees", file=source)
    if index is not None:
        raise DataError(f"tree index {index} is out of range: the file holds {len(ids)} trees", file=source)
    few = ", ".join(ids[:5]) + (f", … ({len(ids)} in all)" if len(ids) > 5 else "")
    raise DataError(f"no tree with id '{one_line(str(tree_id))}' (available: {few})", file=source)


# ---------------------------------------------------------------- exporting

def export_names(trees_path: str | Path, out: str | Path) -> dict[str, str]:
    """The GraphML file name of every tree of a file, after checking every line and the folder.

    Names come from `path_part`, so ids that differ only in unsafe characters still get files of
    their own. A tree id twice in the file is refused: its two exports would be one file.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise UserError("exists and is not a directory", file=str(out))
        others = [p.name for p in out.iterdir() if p.suffix != ".graphml"]
        if others:
            raise UserError(f"holds {others[0]}, which is not a GraphML file; export into a new or empty folder",
                            file=str(out))
    names: dict[str, str] = {}
    first: dict[str, int] = {}
    for number, row in read_lines(Path(trees_path), record="dialogue tree"):
        if not row.strip():
            continue
        tree = DialogueTree.from_json(row, source=str(trees_path), line=number)
        if tree.tree_id in names:
            raise DataError(f"tree '{tree.tree_id}' is in the file twice (first on line {first[tree.tree_id]})",
                            file=str(trees_path), line=number, field="tree_id")
        names[tree.tree_id] = path_part(tree.tree_id) + ".graphml"
        first[tree.tree_id] = number
    if not names:
        raise DataError("holds no dialogue trees", file=str(trees_path))
    return names
