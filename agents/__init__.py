"""Who speaks: chat-model backends and the Agent (model + persona + sampling params).

Importing this package is cheap: backends import their heavy libraries when first used.
"""

from __future__ import annotations

from agents.agent import Agent
from agents.base import ChatModel
from agents.personas import PERSONAS, TASK_PROMPT, persona_prompt
from agents.registry import DEFAULT_MODEL, KINDS, close_all, load_model, parse_spec

__all__ = ["Agent", "ChatModel", "DEFAULT_MODEL", "KINDS", "PERSONAS", "TASK_PROMPT", "close_all", "load_model",
           "parse_spec", "persona_prompt"]
