"""Writing outputs so that nothing half-written is ever left behind: write a temporary file
beside the target, flush it to disk, then rename it over the target (atomic on POSIX)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from debate import crash
from debate.errors import DataError


def atomic_write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        crash.point("atomic-rename")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _plain(record: Any) -> Any:
    return record.model_dump(mode="json") if isinstance(record, BaseModel) else record


def atomic_write_jsonl(path: str | Path, records: Iterable[Any]) -> Path:
    lines = (json.dumps(_plain(r), ensure_ascii=False) + "\n" for r in records)
    return atomic_write_text(path, "".join(lines))


def atomic_write_json(path: str | Path, record: Any) -> Path:
    return atomic_write_text(path, json.dumps(_plain(record), indent=2, ensure_ascii=False) + "\n")


def atomic_save_pretrained(folder: str | Path, *parts: Any) -> Path:
    """Save model, adapter and tokenizer parts (anything with `save_pretrained`) into a staging
    folder beside `folder`, which then replaces it: a folder that exists is complete."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for part in parts:
        part.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, streamed; read errors name the file, decoding errors the line."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", file=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", file=str(path)) from None
    with handle:
        for number, raw in enumerate(handle, 1):
            try:
                yield number, raw.rstrip(b"\n").decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 text (byte {exc.start + 1} of the line)",
                                file=str(path), line=number) from None
