"""`debate show` and `debate export`: dialogue trees in the terminal, as pictures, as GraphML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from debate.cli.app import app, console
from debate.show import export_names, outcome_table, rich_tree, save_png, select_tree
from debate.storage import PNG_MAGIC, check_output
from debate.tree import iter_trees


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
