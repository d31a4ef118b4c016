"""One exception hierarchy for the whole framework.

`UserError` and its subclasses are mistakes the user can fix (a bad file, an unknown model
spec, an unreachable endpoint). The CLI prints them as one line and exits with code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class DebateError(Exception):
    """Base class of every error raised on purpose by this framework."""


class UserError(DebateError):
    """A problem in the user's input, reported as one line: where, which field, what was expected."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.detail = message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file) + (f":{self.line}" if self.line is not None else "") + ": "
        field = f"field '{self.field}': " if self.field else ""
        # One line, and no terminal control sequence from a user's file in it.
        return _CONTROL.sub(lambda m: " " if m.group() in "\n\r\t" else m.group().encode("unicode_escape").decode(),
                            f"{where}{field}{self.detail}")


class DataError(UserError):
    """A question or dialogue file that cannot be read as promised."""


class SpecError(UserError):
    """A model spec string that names no known backend or carries bad options."""


class ConfigError(UserError):
    """A configuration value that is missing, unknown or out of range."""


class EndpointError(UserError):
    """A model endpoint or model file that cannot be reached or loaded."""


class GenerationError(DebateError):
    """A single request failed for good (after retries); carried on its Reply, not raised."""
