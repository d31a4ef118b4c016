"""The core vocabulary of the framework: records, answers, question data, errors and the CLI.

Importing this package is cheap: it never imports torch, transformers or vllm.
"""

from __future__ import annotations

from debate.errors import DebateError, UserError
from debate.records import GenerationParams, Message, Question, Reply, ChatRequest, Turn, Usage

__version__ = "0.1.0"

__all__ = [
    "ChatRequest",
    "DebateError",
    "GenerationParams",
    "Message",
    "Question",
    "Reply",
    "Turn",
    "Usage",
    "UserError",
]
