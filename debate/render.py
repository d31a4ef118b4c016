"""What one speaker sees of a dialogue tree, as chat messages.

The viewer's own turns are `assistant` messages; everyone else's are `user` messages. Runs of
consecutive turns by others become ONE user message, each turn labelled with its speaker
("Agent B: ..."), and runs of the viewer's own turns (possible when others' turns are hidden
or failed) become one assistant message, so roles always alternate: strict chat templates
(Mistral style) accept the result. Failed turns (`turn.error` set) are never shown.

Independent opening round: turns with `round < opening_round` are given independently. While
the turn being generated is itself in that round, others' opening turns stay hidden; from the
first round after it on, everything on the path is visible. Two entry points state which turn
is being generated:

- `render_for_next(tree, parent, viewer, next_round=...)`: the history the viewer sees when it
  speaks next, as a new child of `parent` (the prompt of a turn not generated yet, or of a
  pair of siblings under `parent`);
- `render_history(tree, node, viewer)`: the path down to `node` inclusive, seen at the moment
  `node` was spoken (for the node's own speaker: its prompt followed by its reply).

The question and the system prompt are not part of the history: `Agent.request` adds them.
"""

from __future__ import annotations

from collections.abc import Iterable

from debate.records import Message, Turn
from debate.tree import ROOT, DialogueTree

LABEL = "Agent {speaker}: {text}"


def render_for_next(tree: DialogueTree, parent: str, viewer: str, *, next_round: int | None = None,
                    opening_round: int = 0, label_others: bool = True) -> list[Message]:
    """The history `viewer` sees when it speaks next as a child of `parent`.

    `next_round` is the round of the turn to be generated (default: its level, as in
    `DialogueTree.add_turn`); `parent` may be the root ("r"), which gives an empty history.
    """
    if next_round is None:
        next_round = 0 if parent == ROOT else tree.level(parent) + 1
    return _render(tree, tree.path(parent), viewer, next_round < opening_round, opening_round, label_others)


def render_history(tree: DialogueTree, node: str, viewer: str, *, opening_round: int = 0,
                   label_others: bool = True) -> list[Message]:
    """The path from level 0 down to `node` inclusive, as `viewer` saw it when `node` was spoken.

    If `node` is in the opening round (round < opening_round), others' opening turns are hidden
    (including `node` itself when someone else spoke it).
    """
    hiding = tree.round(node) < opening_round
    return _render(tree, tree.path(node), viewer, hiding, opening_round, label_others)


def _render(tree: DialogueTree, nodes: list[str], viewer: str, hiding: bool, opening_round: int,
            label_others: bool) -> list[Message]:
    hidden = {n for n in nodes if hiding and tree.turn(n).speaker != viewer and tree.round(n) < opening_round}
    return messages_for((tree.turn(n) for n in nodes if n not in hidden), viewer, label_others=label_others)


def messages_for(turns: Iterable[Turn], viewer: str, *, label_others: bool = True) -> list[Message]:
    """Chat messages for a sequence of turns from `viewer`'s point of view (merged, alternating)."""
    runs: list[tuple[str, list[Turn]]] = []
    for turn in turns:
        if turn.error is not None:
            continue
        role = "assistant" if turn.speaker == viewer else "user"
        if runs and runs[-1][0] == role:
            runs[-1][1].append(turn)
        else:
            runs.append((role, [turn]))
    messages = []
    for role, run in runs:
        if role == "assistant":
            messages.append(Message(role="assistant", content="\n\n".join(t.text for t in run)))
            continue
        texts = [LABEL.format(speaker=t.speaker, text=t.text) if label_others else t.text for t in run]
        speakers = {t.speaker for t in run}
        messages.append(Message(role="user", content="\n\n".join(texts),
                                name=next(iter(speakers)) if len(speakers) == 1 else None))
    return messages
