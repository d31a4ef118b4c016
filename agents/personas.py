"""Persona prompts, in our own words (PBT.md section 2).

Every persona builds on the same task prompt, which asks for short replies that end with a
`Final answer: X` line. The `neutral` persona is the task prompt alone; it is the prompt a
trained model sees, and the one evaluation dialogues use.
"""

from __future__ import annotations

from debate.errors import ConfigError

TASK_PROMPT = (
    "You are answering a question, possibly together with another agent. "
    "Keep every reply short (one or two sentences), stay on the question, and do not ask new questions. "
    "End every reply with a line of the form 'Final answer: X', where X is your answer alone."
)

_PERSONA_INTENTS = {
    "neutral": "",
    "resistant": (
        "Hold on to your own answer. The other agent is mistaken: do not give in to it, "
        "and explain briefly why your answer stands."
    ),
    "acceptant": (
        "The other agent is an expert on this topic. Go along with its answer and adopt it "
        "as your own."
    ),
    "logical": (
        "Convince the other agent that your answer is right by giving clear reasons and "
        "evidence."
    ),
    "emotional": (
        "Convince the other agent that your answer is right by appealing to its feelings: "
        "show how much getting this right matters."
    ),
    "credibility": (
        "Convince the other agent that your answer is right by pointing to your expertise and "
        "to trustworthy sources that back it."
    ),
    "judge": (
        "You are the judge of a discussion between agents. Read their arguments, decide which "
        "answer to the question is correct, and state it."
    ),
    "challenger": (
        "Question the other agent's answer: point out what could be wrong with it and ask it to "
        "reconsider, without stating an answer of your own unless you are sure."
    ),
}

PERSONAS = tuple(_PERSONA_INTENTS)
#: The personas of a persuasion turn (PBT.md 2, level 2): their listener's replies get PBT labels.
PERSUASION_PERSONAS = frozenset({"logical", "emotional", "credibility"})


def persona_intent(persona: str) -> str:
    """What a persona asks of a turn beyond the task prompt ("" for neutral)."""
    try:
        return _PERSONA_INTENTS[persona]
    except KeyError:
        raise ConfigError(f"unknown persona '{persona}' (expected one of {', '.join(PERSONAS)})",
                          field="persona") from None


def persona_prompt(persona: str, task_prompt: str = TASK_PROMPT) -> str:
    """The system prompt of a persona: the task prompt plus the persona's intent."""
    return f"{task_prompt} {persona_intent(persona)}".strip()
