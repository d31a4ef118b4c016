"""Showing trees: the rich tree's markers, colours and widths, the outcome table, the PNG, picking a tree."""

from __future__ import annotations

import errno
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from debate.errors import DataError, UserError
from debate.records import AnswerRead, Question, Turn
from debate.show import node_label, outcome_table, rich_tree, save_png, select_tree
from debate.tree import ROOT, DialogueTree, save_trees

QUESTION = Question(id="q1", text="Which city is the capital of France?", gold=["Paris"], wrong_answers=["Lyon"])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def said(speaker: str, answer: str | None, answers: dict, *, special: str | None = None, **extra) -> Turn:
    read = AnswerRead(answer=answer, special=special, reader="final-line" if answer else "candidates")
    text = extra.pop("text", f"{speaker} thinks it is {answer}.\nFinal answer: {answer}")
    return Turn(speaker=speaker, text=text, answers=answers, read=read, **extra)


def debate_tree() -> DialogueTree:
    """A right answer, a wrong one, an unread one, agreement; a failed sibling and a scripted challenge."""
    tree = DialogueTree(QUESTION, metadata={"protocol": "debate", "outcome": {
        "stopped": "agreement", "final_answers": {"A": "Paris", "B": "Paris"}, "team_accuracy": 2 / 3}})
    a = tree.add_turn(ROOT, said("A", "Paris", {"A": "Paris"}))
    b = tree.add_turn(a, said("B", "Lyon", {"A": "Paris", "B": "Lyon"}, persona="resistant"))
    tree.add_turn(a, Turn(speaker="B", text="", answers={"A": "Paris", "B": None}, error="HTTP 503 from the endpoint"))
    unread = tree.add_turn(b, said("A", None, {"A": None, "B": "Lyon"}, special="NONE", text="Hmm, hard to say."))
    agree = tree.add_turn(unread, said("B", "Paris", {"A": "Paris", "B": "Paris"}))
    tree.add_turn(agree, Turn(speaker="user", text="Are you sure?", answers={"A": "Paris", "B": "Paris"},
                              tag="challenge"))
    return tree


def render(tree: DialogueTree, width: int) -> list[str]:
    console = Console(record=True, width=width, color_system=None)
    console.print(rich_tree(tree, width=width))
    return console.export_text().splitlines()


def node_of(line: str) -> str:
    """The node id a rendered line shows (after the tree guides)."""
    return re.search(r"\b(r(?:\.\d+)+) ", line).group(1)


def style_at(label, fragment: str) -> str:
    """The styles of the spans covering the start of `fragment` in a rich Text."""
    start = label.plain.index(fragment)
    return " ".join(str(s.style) for s in label.spans if s.start <= start < s.end)


def test_answers_are_marked_and_coloured_by_correctness():
    tree = debate_tree()
    right, wrong, unread = (node_label(tree, n) for n in ("r.0", "r.0.0", "r.0.0.0"))
    assert "A=Paris ✓" in right.plain and "green" in style_at(right, "A=Paris ✓")
    assert "B=Lyon ✗" in wrong.plain and "red" in style_at(wrong, "B=Lyon ✗")
    assert "A=Paris ✓" in wrong.plain  # the other agent's held answer is shown too
    # The speaker's reply held no answer: marked unread, in yellow, with what the reader found.
    assert "A=NONE ?" in unread.plain and "yellow" in style_at(unread, "A=NONE ?")
    assert "via candidates" in unread.plain and "via final-line" in right.plain
    # The speaker's answer comes first and in bold.
    assert wrong.plain.index("B=Lyon") < wrong.plain.index("A=Paris") and "bold" in style_at(wrong, "B=Lyon")


def test_agreement_errors_and_tags_are_visible():
    tree = debate_tree()
    lines = {node_of(line): line for line in render(tree, 140)[1:]}
    assert "agree" in lines["r.0.0.0.0"] and "agree" not in lines["r.0.0"] and "agree" not in lines["r.0"]
    assert "error: HTTP 503 from the endpoint" in lines["r.0.1"]
    assert "bold red" in style_at(node_label(tree, "r.0.1"), "error:")
    assert "[challenge]" in lines["r.0.0.0.0.0"] and "via" not in lines["r.0.0.0.0.0"]
    assert "B/resistant" in lines["r.0.0"] and "A/neutral" in lines["r.0"]


def test_every_node_id_and_the_question_are_shown():
    tree = debate_tree()
    lines = render(tree, 120)
    assert "q1" in lines[0] and "gold: Paris" in lines[0] and "capital of France" in lines[0]
    # Depth first, children in order, each below its parent.
    assert [node_of(line) for line in lines[1:]] == ["r.0", "r.0.0", "r.0.0.0", "r.0.0.0.0", "r.0.0.0.0.0", "r.0.1"]


@pytest.mark.parametrize("width", [50, 80, 160])
def test_each_node_is_one_line_within_the_width(width):
    tree = debate_tree()
    long = "word " * 200
    tree.add_turn("r.0.0.0.0", said("A", "Paris", {"A": "Paris", "B": "Paris"}, text=long + "\nFinal answer: Paris"))
    lines = render(tree, width)
    assert len(lines) == len(tree) + 1  # nothing wrapped onto a second line
    assert all(cell_len(line) <= width for line in lines)
    assert any(line.endswith("…") for line in lines)
    for node in tree.nodes():  # the labels themselves fit, whatever console prints them
        assert cell_len(node_label(tree, node, width=width).plain) <= width


def test_wider_output_shows_more_of_the_text():
    tree = DialogueTree(QUESTION)
    tree.add_turn(ROOT, said("A", "Paris", {"A": "Paris"}, text="x" * 300))
    narrow, wide = render(tree, 70)[1], render(tree, 150)[1]
    assert narrow.count("x") < wide.count("x") < 300
    assert "\n" not in node_label(tree, "r.0", width=70).plain


def test_deep_tree_in_a_narrow_terminal_still_fits():
    tree = DialogueTree(QUESTION)
    node = ROOT
    for _ in range(8):
        node = tree.add_turn(node, said("A", "Paris", {"A": "Paris"}))
    lines = render(tree, 50)
    assert len(lines) == 9 and all(cell_len(line) <= 50 for line in lines)
    assert lines[-1].rstrip().endswith("…")  # the deepest label was cut, not wrapped


def test_outcome_table_rows():
    console = Console(record=True, width=120, color_system=None)
    console.print(outcome_table(debate_tree()))
    text = console.export_text()
    assert "stopped" in text and "agreement" in text and "A=Paris, B=Paris" in text and "0.667" in text
    console.print(outcome_table(DialogueTree(QUESTION)))
    assert "no outcome recorded" in console.export_text()


INJECTED = "\x1b[2J\x1b]0;owned\x07\r\x00\x9b"  # clear screen, set the title, bell, CR, NUL, C1 CSI


def test_control_characters_are_shown_escaped_not_sent_to_the_terminal(tmp_path):
    # Ids, speaker names and question texts refuse control characters; what models and
    # protocols write (replies, answers, readers, tags, errors, metadata) may hold them.
    tree = DialogueTree(QUESTION, tree_id="t1", metadata={
        "protocol": f"debate{INJECTED}", "outcome": {f"key{INJECTED}": f"[/x] value{INJECTED}"}})
    read = AnswerRead(answer="Paris", reader=f"final-line{INJECTED}")
    tree.add_turn(ROOT, Turn(speaker="A", persona=f"neutral{INJECTED}", text=f"It is{INJECTED} Paris",
                             answers={"A": f"Paris{INJECTED}"}, read=read, tag=f"tag{INJECTED}",
                             error=f"boom{INJECTED}"))
    path = save_trees(tmp_path / "trees.jsonl", [tree])
    run = subprocess.run([sys.executable, "-m", "debate.cli", "show", str(path)], capture_output=True)
    assert run.returncode == 0, run.stderr.decode()
    out = run.stdout.decode()
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", out)  # no control character but line feeds
    shown = "\\x1b[2J\\x1b]0;owned\\x07 \\x00\\x9b"  # CR is whitespace: one space
    assert f"(debate{shown})" in out and "[/x] value" in out  # and not read as rich markup
    console = Console(record=True, width=1000, color_system=None)
    console.print(rich_tree(tree, width=1000), outcome_table(tree))
    out = console.export_text()
    for text in (f"A/neutral{shown}", f"A=Paris{shown}", f"via final-line{shown}", f"[tag{shown}]",
                 f"error: boom{shown}", f"It is{shown} Paris", f"(debate{shown})", f"key{shown}", f"[/x] value{shown}"):
        assert text in out, text


# ---------------------------------------------------------------- PNG

def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def wide_tree(children: int) -> DialogueTree:
    tree = DialogueTree(QUESTION)
    first = tree.add_turn(ROOT, said("A", "Paris", {"A": "Paris"}))
    for k in range(children):
        tree.add_turn(first, said("B", "Lyon" if k % 2 else "Paris", {"A": "Paris", "B": "Lyon" if k % 2 else "Paris"}))
    return tree


def chain(length: int) -> DialogueTree:
    tree = DialogueTree(QUESTION)
    node = ROOT
    for k in range(length):
        node = tree.add_turn(node, said("AB"[k % 2], "Paris", {"A": "Paris", "B": "Paris"}))
    return tree


def test_png_is_valid_and_scales_with_the_tree(tmp_path):
    small = png_size(save_png(chain(1), tmp_path / "small.png"))
    wide = png_size(save_png(wide_tree(10), tmp_path / "wide.png"))
    deep = png_size(save_png(chain(10), tmp_path / "deep.png"))
    assert all(w > 0 and h > 0 for w, h in (small, wide, deep))
    assert wide[0] > small[0] and wide[0] > deep[0]   # more leaves: wider
    assert deep[1] > small[1] and deep[1] > wide[1]   # more levels: taller
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.png", "small.png", "wide.png"]


def test_png_of_every_kind_of_node_and_dpi(tmp_path):
    tree = debate_tree()
    low = png_size(save_png(tree, tmp_path / "sub" / "low.png", dpi=50))
    high = png_size(save_png(tree, tmp_path / "sub" / "high.png", dpi=100))
    assert high[0] == pytest.approx(2 * low[0], abs=2) and high[1] == pytest.approx(2 * low[1], abs=2)


def test_failed_png_leaves_nothing_behind(tmp_path, monkeypatch):
    import debate.storage

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(debate.storage.os, "fsync", full_disk)  # the image is half on disk when this fails
    with pytest.raises(UserError, match="cannot write: No space left on device"):
        save_png(chain(2), tmp_path / "tree.png")
    assert list(tmp_path.iterdir()) == []


def test_importing_show_stays_light():
    code = ("import sys, debate.show; heavy = [m for m in ('matplotlib', 'torch', 'transformers', 'vllm') "
            "if m in sys.modules]; print(heavy)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


# ---------------------------------------------------------------- picking a tree

@pytest.fixture
def trees_file(tmp_path) -> Path:
    trees = [DialogueTree(QUESTION, tree_id=f"t{k}", metadata={"k": k}) for k in range(8)]
    return save_trees(tmp_path / "trees.jsonl", trees)


def test_select_by_id_index_or_first(trees_file):
    assert select_tree(trees_file, None, None).tree_id == "t0"
    assert select_tree(trees_file, "t5", None).metadata == {"k": 5}
    assert select_tree(trees_file, None, 7).tree_id == "t7"


def test_select_unknown_id_names_the_file_and_some_ids(trees_file):
    with pytest.raises(DataError) as err:
        select_tree(trees_file, "nope", None)
    message = str(err.value)
    assert str(trees_file) in message and "'nope'" in message and "t0, t1" in message and "8 in all" in message
    assert "\n" not in message


def test_select_errors(tmp_path, trees_file):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="holds no dialogue trees") as err:
        select_tree(empty, None, None)
    assert str(empty) in str(err.value)
    with pytest.raises(DataError, match="index 8 is out of range: the file holds 8 trees"):
        select_tree(trees_file, None, 8)
    with pytest.raises(UserError, match="not both"):
        select_tree(trees_file, "t1", 1)
    with pytest.raises(DataError, match="no such file"):
        select_tree(tmp_path / "missing.jsonl", None, None)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(trees_file.read_text().splitlines()[0] + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: invalid JSON"):
        select_tree(bad, "t3", None)


# ---------------------------------------------------------------- a real run

def test_trees_from_a_sim_debate_run(tmp_path):
    from protocols.config import parse_config
    from protocols.run import execute

    agents = {"A": {"model": "sim:strong", "temperature": 0.7}, "B": {"model": "sim:weak", "temperature": 0.7}}
    execute(parse_config({"protocol": {"kind": "debate"}, "agents": agents, "questions": "sample", "limit": 5}),
            tmp_path / "run", overwrite=True)
    path = tmp_path / "run" / "trees.jsonl"
    stopped_on_agreement = 0
    for index in range(5):
        tree = select_tree(path, None, index)
        lines = render(tree, 200)
        assert {node_of(line) for line in lines[1:]} == set(tree.nodes())
        if tree.metadata["outcome"].get("stopped") == "agreement":
            stopped_on_agreement += 1
            assert "agree" in lines[-1]  # the last turn is where they agreed
        assert png_size(save_png(tree, tmp_path / f"{tree.tree_id}.png"))[0] > 0
    assert stopped_on_agreement > 0
