"""What the benchmarks share: synthetic questions, the machine's description, saving results."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from debate.records import Question
from debate.storage import atomic_write_json

DEFAULT_OUT = Path("runs/bench")


def synthetic_questions(n: int) -> Iterator[Question]:
    """`n` distinct open questions, made one at a time so memory does not grow with `n`."""
    for i in range(n):
        yield Question(id=f"q{i}", text=f"In which city is landmark number {i}?", gold=[f"City {i}"],
                       wrong_answers=[f"Town {i}"], source="bench")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]}


def save(out: Path, name: str, results: dict[str, Any]) -> Path:
    return atomic_write_json(out / f"{name}.json", results)
