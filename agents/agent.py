"""An Agent: a name, a chat model, a persona and sampling parameters. Cheap to make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agents.base import ChatModel
from agents.personas import TASK_PROMPT, persona_intent, persona_prompt
from debate.records import ChatRequest, GenerationParams, Message, Question

#: Where a turn's persona instruction goes: in the system prompt (the paper's layout), or after
#: the last user message of the turn's prompt, with a constant system prompt. In the second,
#: sibling branches share their whole history, and a turn's prompt and reply are the start of the
#: prompts of the same speaker's later turns below it (a server's prompt cache reuses them).
Instructions = Literal["system", "turn"]
INSTRUCTION = "Instruction for your reply: {intent}"


@dataclass
class Agent:
    name: str
    model: ChatModel
    persona: str = "neutral"
    params: GenerationParams = field(default_factory=GenerationParams)
    task_prompt: str = TASK_PROMPT
    #: An informed agent sees the question's context passage (a real strength gap for pairing).
    informed: bool = False
    instructions: Instructions = "system"

    def __post_init__(self) -> None:
        persona_prompt(self.persona, self.task_prompt)  # fail early on an unknown persona

    @property
    def system_prompt(self) -> str:
        return persona_prompt(self.persona, self.task_prompt)

    def request(self, question: Question, history: Sequence[Message] = (),
                seed: int | None = None, persona: str | None = None,
                history_personas: Sequence[str | None] = ()) -> ChatRequest:
        """A request for this agent's next turn; `history` follows the opening question.

        `persona` replaces the agent's own persona for this turn (PBT trees branch by persona).
        When another agent spoke first (history opens with a `user` message), its turn joins the
        question message, so roles alternate as strict chat templates require.
        `history_personas` (one per history message: the persona of the agent's own turns) lets
        turn-placed instructions stay where they were given.
        """
        persona = persona or self.persona
        messages = prompt_messages(question, history, persona=persona, task_prompt=self.task_prompt,
                                   informed=self.informed, instructions=self.instructions,
                                   history_personas=history_personas)
        return ChatRequest(messages=messages,
                           params=self.params.with_seed(seed if seed is not None else self.params.seed),
                           question=question, persona=persona)


def prompt_messages(question: Question, history: Sequence[Message] = (), *, persona: str = "neutral",
                    task_prompt: str = TASK_PROMPT, informed: bool = False, instructions: Instructions = "system",
                    history_personas: Sequence[str | None] = ()) -> list[Message]:
    """A turn's whole prompt: the persona's system prompt, the opening question (with its
    passage when the speaker is informed), then the history. A leading turn of another agent
    joins the question message, so roles alternate as strict chat templates require.

    With `instructions="turn"` the system prompt is the task prompt alone, and each persona's
    instruction follows the user message its turn answered: this turn's after the last one, and
    each earlier own turn's (from `history_personas`) where it was given."""
    text = question.prompt_text()
    if informed and question.context:
        text = f"Background: {question.context}\n\nQuestion: {text}"
    if instructions == "system":
        rest = list(history)
        opening = Message(role="user", content=text)
        if rest and rest[0].role == "user":
            opening = Message(role="user", content=f"{opening.content}\n\n{rest.pop(0).content}")
        return [Message(role="system", content=persona_prompt(persona, task_prompt)), opening, *rest]
    # The opening question is a user message of its own here, merged below like any other run.
    turns = [Message(role="user", content=text), *history]
    personas = [None, *history_personas, *([None] * (len(history) - len(history_personas)))]
    if turns[-1].role == "assistant":
        turns.append(Message(role="user", content=""))
        personas.append(None)
    personas.append(persona)
    turns.append(Message(role="assistant", content=""))  # the turn to come, which answers the last user message
    given = [_instructed(m, persona_intent(p)) if m.role == "user" and p else m
             for m, p in zip(turns[:-1], personas[1:])]
    merged: list[Message] = []
    for message in (m for m in given if m.content):
        if merged and merged[-1].role == message.role == "user":
            merged[-1] = Message(role="user", content=f"{merged[-1].content}\n\n{message.content}".strip())
        else:
            merged.append(message)
    return [Message(role="system", content=persona_prompt("neutral", task_prompt)), *merged]


def _instructed(message: Message, intent: str) -> Message:
    """A user message followed by the instruction for the reply to it (none for neutral)."""
    if not intent:
        return message
    return Message(role="user", content=f"{message.content}\n\n{INSTRUCTION.format(intent=intent)}".strip(),
                   name=message.name)
