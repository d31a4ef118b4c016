"""What one speaker sees of a dialogue tree, as chat messages.

The viewer's own turns are `assistant` messages; everyone else's are `user` messages. Runs of
consecutive turns by others become ONE user message, each turn labelled with its speaker
("Agent B: ..."), and runs of the viewer's own turns (possible when others' turns are hidden
or failed) become one assistant message, so roles always alternate: strict chat templates
(Mistral style) accept the result. Failed turns (`turn.error` set) are never shown.

What a speaker sees is decided here only, from the tree's own `Visibility` (recorded by its
protocol): turns with `round < opening_round` are given independently, so while the turn being
generated is itself in that round, others' opening turns stay hidden; from the first round
after it on, everything on the path is visible. The engine's prompts and its reading of an
"Agree", pair mining and the training prompts all ask `view` (or `sees`).

- `view(tree, parent, viewer, round=...)`: the history the viewer sees when it speaks next, as a
  new child of `parent`, and the last turn by another speaker in it (what an "Agree" agrees with);
- `render_history(tree, node, viewer)`: the path down to `node` inclusive, seen at the moment
  `node` was spoken (for the node's own speaker: its prompt followed by its reply).

The question and the system prompt are not part of the history: `Agent.request` adds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from debate.records import Message, Turn
from debate.tree import ROOT, DialogueTree

LABEL = "Agent {speaker}: {text}"


@dataclass(frozen=True)
class View:
    """What a speaker sees when it speaks next."""

    messages: list[Message]
    #: The last turn by another speaker among them: the one an "Agree" agrees with.
    other: Turn | None
    #: One per message: the persona of the viewer's own turn (assistant messages), else None.
    personas: list[str | None]


def view(tree: DialogueTree, parent: str, viewer: str, *, round: int | None = None,
         prefix_order: bool = False) -> View:
    """What `viewer` sees when it speaks next as a child of `parent`, in `round` (default: the
    child's level, as in `DialogueTree.add_turn`); `parent` may be the root, an empty history.

    `prefix_order`: others' opening turns, hidden when the viewer gave its own opening answer,
    come after that answer once revealed (as the viewer met them), so that the prompt of the
    viewer's opening turn stays the start of its later prompts."""
    round = _next_round(tree, parent) if round is None else round
    nodes = _visible(tree, tree.path(parent), viewer, round)
    shown = [turn for turn in map(tree.turn, nodes) if turn.error is None]
    other = next((turn for turn in reversed(shown) if turn.speaker != viewer), None)
    if prefix_order:
        shown = [turn for turn in map(tree.turn, _revealed_after_own(tree, nodes, viewer)) if turn.error is None]
    runs = _runs(shown, viewer)
    return View(_messages(runs, tree.visibility.label_others), other,
                [run[-1].persona if role == "assistant" else None for role, run in runs])


def sees(tree: DialogueTree, node: str, viewer: str, *, round: int) -> bool:
    """Whether `viewer`, speaking in `round` below `node`, sees the turn at `node`."""
    return bool(_visible(tree, [node], viewer, round))


def render_history(tree: DialogueTree, node: str, viewer: str) -> list[Message]:
    """The path from level 0 down to `node` inclusive, as `viewer` saw it when `node` was spoken.

    If `node` is in the opening round, others' opening turns are hidden (including `node`
    itself when someone else spoke it).
    """
    shown = (tree.turn(n) for n in _visible(tree, tree.path(node), viewer, tree.round(node)))
    return messages_for(shown, viewer, label_others=tree.visibility.label_others)


def _revealed_after_own(tree: DialogueTree, nodes: list[str], viewer: str) -> list[str]:
    """`nodes` with others' opening-round turns that precede the viewer's last opening-round
    turn moved to just after it."""
    opening = tree.visibility.opening_round
    own = [n for n in nodes if tree.round(n) < opening and tree.turn(n).speaker == viewer]
    if not own:
        return nodes
    cut = nodes.index(own[-1])
    hidden = [n for n in nodes[:cut] if tree.round(n) < opening and tree.turn(n).speaker != viewer]
    rest = [n for n in nodes if n not in hidden]
    at = rest.index(own[-1]) + 1
    return rest[:at] + hidden + rest[at:]


def _next_round(tree: DialogueTree, parent: str) -> int:
    return 0 if parent == ROOT else tree.level(parent) + 1


def _visible(tree: DialogueTree, nodes: list[str], viewer: str, round: int) -> list[str]:
    """The nodes among `nodes` that `viewer`, speaking in `round`, sees."""
    opening = tree.visibility.opening_round
    if round >= opening:
        return nodes
    return [n for n in nodes if tree.turn(n).speaker == viewer or tree.round(n) >= opening]


def messages_for(turns: Iterable[Turn], viewer: str, *, label_others: bool = True) -> list[Message]:
    """Chat messages for a sequence of turns from `viewer`'s point of view (merged, alternating)."""
    return _messages(_runs(turns, viewer), label_others)


def _runs(turns: Iterable[Turn], viewer: str) -> list[tuple[str, list[Turn]]]:
    """The turns grouped into runs of one role (`assistant`: the viewer's), failed ones left out."""
    runs: list[tuple[str, list[Turn]]] = []
    for turn in turns:
        if turn.error is not None:
            continue
        role = "assistant" if turn.speaker == viewer else "user"
        if runs and runs[-1][0] == role:
            runs[-1][1].append(turn)
        else:
            runs.append((role, [turn]))
    return runs


def _messages(runs: list[tuple[str, list[Turn]]], label_others: bool) -> list[Message]:
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
