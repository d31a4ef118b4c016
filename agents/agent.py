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

    def question_message(self, question: Question) -> Message:
        """The opening user message: the question, with its passage when the agent is informed."""
        text = question.prompt_text()
        if self.informed and question.context:
            text = f"Background: {question.context}\n\nQuestion: {text}"
        return Message(role="user", content=text)

    def request(self, question: Question, history: Sequence[Message] = (),
                seed: int | None = None, persona: str | None = None) -> ChatRequest:
        """A request for this agent's next turn; `history` follows the opening question.

        `persona` replaces the agent's own persona for this turn (PBT trees branch by persona).
        When another agent spoke first (history opens with a `user` message), its turn joins the
        question message, so roles alternate as strict chat templates require.
        """
        persona = persona or self.persona
        messages = chat_messages(persona_prompt(persona, self.task_prompt), self.question_message(question), history)
        return ChatRequest(messages=messages,
                           params=self.params.with_seed(seed if seed is not None else self.params.seed),
                           question=question, persona=persona)


def chat_messages(system: str, opening: Message, history: Sequence[Message]) -> list[Message]:
    """System prompt, the opening question, then the history; a leading turn of another agent
    joins the question message, so roles alternate as strict chat templates require."""
    rest = list(history)
    if rest and rest[0].role == "user":
        opening = Message(role="user", content=f"{opening.content}\n\n{rest.pop(0).content}")
    return [Message(role="system", content=system), opening, *rest]
