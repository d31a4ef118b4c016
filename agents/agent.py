"""An Agent: a name, a chat model, a persona and sampling parameters. Cheap to make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agents.base import ChatModel
from agents.personas import TASK_PROMPT, persona_prompt
from debate.records import ChatRequest, GenerationParams, Message, Question


@dataclass
class Agent:
    name: str
    model: ChatModel
    persona: str = "neutral"
    params: GenerationParams = field(default_factory=GenerationParams)
    task_prompt: str = TASK_PROMPT
    #: An informed agent sees the question's context passage (a real strength gap for pairing).
    informed: bool = False

    def __post_init__(self) -> None:
        persona_prompt(self.persona, self.task_prompt)  # fail early on an unknown persona

    @property
    def system_prompt(self) -> str:
        return persona_prompt(self.persona, self.task_prompt)

    def request(self, question: Question, history: Sequence[Message] = (),
                seed: int | None = None, persona: str | None = None) -> ChatRequest:
        """A request for this agent's next turn; `history` follows the opening question.

        `persona` replaces the agent's own persona for this turn (PBT trees branch by persona).
        When another agent spoke first (history opens with a `user` message), its turn joins the
        question message, so roles alternate as strict chat templates require.
        """
        persona = persona or self.persona
        messages = prompt_messages(question, history, persona=persona, task_prompt=self.task_prompt,
                                   informed=self.informed)
        return ChatRequest(messages=messages,
                           params=self.params.with_seed(seed if seed is not None else self.params.seed),
                           question=question, persona=persona)


def prompt_messages(question: Question, history: Sequence[Message] = (), *, persona: str = "neutral",
                    task_prompt: str = TASK_PROMPT, informed: bool = False) -> list[Message]:
    """A turn's whole prompt: the persona's system prompt, the opening question (with its
    passage when the speaker is informed), then the history. A leading turn of another agent
    joins the question message, so roles alternate as strict chat templates require."""
    text = question.prompt_text()
    if informed and question.context:
        text = f"Background: {question.context}\n\nQuestion: {text}"
    rest = list(history)
    opening = Message(role="user", content=text)
    if rest and rest[0].role == "user":
        opening = Message(role="user", content=f"{opening.content}\n\n{rest.pop(0).content}")
    return [Message(role="system", content=persona_prompt(persona, task_prompt)), opening, *rest]
