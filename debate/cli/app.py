"""The Typer app every command module registers on, the two consoles, and the helpers that turn
command-line values into checked records."""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from agents.registry import parse_value
from debate.errors import UserError

M = TypeVar("M", bound=BaseModel)

app = typer.Typer(help="Multi-agent debate and Persuasion-Balanced Training for language models.",
                  add_completion=False, pretty_exceptions_enable=False)
# User data (questions, ids, paths, specs) is printed as text, never read as markup or emoji codes.
# Logs and pipes get wide tables instead of rich's 80-column default.
_PLAIN: dict[str, Any] = {"markup": False, "emoji": False, "highlight": False}
console = Console(**_PLAIN) if sys.stdout.isatty() else Console(width=160, **_PLAIN)
err_console = Console(stderr=True, **_PLAIN)


def default(model: type[BaseModel], field: str) -> Any:
    """A record's default for one field: the one source of an option's default."""
    return model.model_fields[field].get_default(call_default_factory=True)


def record(model: type[M], options: dict[str, str], **values: Any) -> M:
    """A record built from command-line values; a value out of its bounds is one UserError
    naming the option (`options` maps field names to the option that gave them)."""
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        raise UserError(str(err["msg"]).replace("Value error, ", ""),
                        field=options.get(name, f"--{name.replace('_', '-')}")) from None


def option_pairs(pairs: list[str]) -> dict[str, object]:
    """Backend options from repeated `--option KEY=VALUE`."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"expected KEY=VALUE, got '{pair}'", field="--option")
        options[key] = parse_value(value)
    return options
