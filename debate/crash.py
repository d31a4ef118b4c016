"""Deliberate crash points, for the reliability tests that kill a run at chosen moments.

With `DEBATE_CRASH_AT=NAME:N` in the environment, the N-th time the process reaches point NAME
it kills itself with SIGKILL: no clean-up, no flush, exactly like a power cut or an OOM kill.
Without the variable a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable

_reached: Counter[str] = Counter()


def point(name: str, before: Callable[[], None] | None = None) -> None:
    """A place a test may kill the process; `before` runs first (e.g. to push a half-write to disk)."""
    armed = os.environ.get("DEBATE_CRASH_AT")
    if not armed or armed.partition(":")[0] != name:
        return
    _reached[name] += 1
    if str(_reached[name]) == armed.partition(":")[2]:
        if before is not None:
            before()
        os.kill(os.getpid(), signal.SIGKILL)
