"""The optional judge pass over labelled pairs (PBT.md 5).

A judge model (any agent spec) reads the persuasion turn and one reply and says whether the
reply agrees with it or disagrees. A resist pair is confirmed when its chosen reply disagrees
and its rejected reply agrees; an accept pair when the chosen reply agrees and the rejected one
disagrees. An unconfirmed pair loses its label (it becomes unlabelled, with the verdicts as the
reason), so the judge can only remove noise from the answer reading, never add pairs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from agents.base import ChatModel
from debate.errors import EndpointError
from debate.records import ChatRequest, GenerationParams, Message
from debate.tree import DialogueTree
from training.pairs import Pair

JUDGE_SYSTEM = ("You classify replies in a discussion between two agents. Answer with exactly one word: "
                "Agree or Disagree.")
#: The stance each labelled pair needs from its (chosen, rejected) replies.
EXPECTED = {"resist": ("Disagree", "Agree"), "accept": ("Agree", "Disagree")}
BATCH = 64


def stance_request(tree: DialogueTree, pair: Pair, node: str, max_tokens: int = 8) -> ChatRequest:
    pushing = tree.turn(pair.parent)
    reply = tree.turn(node)
    content = (f"Question: {tree.question.text}\n\n"
               f"Agent {pushing.speaker} said: {pushing.text.strip()}\n\n"
               f"Agent {reply.speaker} replied: {reply.text.strip()}\n\n"
               f"Does Agent {reply.speaker}'s reply agree with Agent {pushing.speaker} (accept its answer) "
               f"or disagree (keep a different answer)? Answer Agree or Disagree.")
    return ChatRequest(messages=[Message(role="system", content=JUDGE_SYSTEM), Message(role="user", content=content)],
                       params=GenerationParams(temperature=0.0, max_tokens=max_tokens), question=tree.question,
                       persona="judge")


def read_stance(text: str) -> str | None:
    """'Agree', 'Disagree', or None when the verdict names neither (or both)."""
    words = set(re.findall(r"\b(agree|disagree)s?\b", text.lower()))
    return {"agree": "Agree", "disagree": "Disagree"}[words.pop()] if len(words) == 1 else None


#: A judge's stances on the (chosen, rejected) replies: 'Agree', 'Disagree' or None (unread).
Verdicts = tuple[str | None, str | None]


def confirm_labels(labelled: Sequence[tuple[DialogueTree, Pair]], judge: ChatModel) -> list[tuple[Pair, Verdicts]]:
    """Each pair, relabelled by the judge's verdicts, with the verdicts (chosen, rejected)."""
    requests = [stance_request(tree, pair, node) for tree, pair in labelled for node in (pair.chosen, pair.rejected)]
    replies = []
    for start in range(0, len(requests), BATCH):
        replies += judge.generate_sync(requests[start:start + BATCH])
    failed = next((r for r in replies if r.error), None)
    if failed is not None:
        raise EndpointError(f"the judge failed: {failed.error}")
    results = []
    for i, (_, pair) in enumerate(labelled):
        verdicts = (read_stance(replies[2 * i].text), read_stance(replies[2 * i + 1].text))
        if pair.label is None or verdicts == EXPECTED[pair.label]:
            results.append((pair, verdicts))
        else:
            reason = f"judge did not confirm {pair.label}: chosen {verdicts[0]}, rejected {verdicts[1]}"
            results.append((replace(pair, label=None, reason=reason), verdicts))
    return results
