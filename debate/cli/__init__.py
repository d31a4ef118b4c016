"""The `debate` command line: one module per command group, wiring only. Defaults come from the
records they fill, tables and plots from `experiments.reports`.

User errors (bad files, unknown specs, unreachable endpoints) print one line and exit with
code 2. Nothing here imports a heavy library (backends import theirs when a spec names them),
so `debate --help` stays fast.
"""

from __future__ import annotations

import sys
import time

from typer.exceptions import TyperException

from debate.cli.app import app, err_console
# Each command module registers its commands on `app`, in the order `debate --help` lists them.
from debate.cli import models, runs, pairing, evaluations, training, trees  # noqa: F401, E402
from debate.errors import UserError

__all__ = ["app", "main"]


def main() -> None:
    start = time.perf_counter()
    try:
        # Not standalone: typer's errors reach the handlers below, and a Ctrl-C returns 130.
        code = app(args=sys.argv[1:] or ["--help"], standalone_mode=False)
        if code == 130:
            raise KeyboardInterrupt
        sys.exit(code if isinstance(code, int) else 0)
    except TyperException as exc:  # typer's own checks (types, ranges, unknown options), as our one line
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "debate"
        err_console.print(f"error: {exc.format_message()} (see {command} --help)".replace("\n", " "), markup=False,
                          highlight=False, soft_wrap=True)
        sys.exit(2)
    except UserError as exc:
        err_console.print(f"error: {exc.one_line()}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print(f"interrupted after {time.perf_counter() - start:.0f}s", markup=False)
        sys.exit(130)
