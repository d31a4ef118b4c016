"""Writing outputs so that nothing half-written is ever left behind: write a temporary file
beside the target, flush it to disk, then rename it over the target (atomic on POSIX)."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from debate import crash
from debate.errors import DataError, UserError


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` whole or not at all; a filesystem problem (a file in the way, no permission,
    a full disk) is one UserError naming the path, and leaves no temporary file behind."""
    path = Path(path)
    if path.is_dir():
        raise UserError("is a directory, expected a file path", file=str(path))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        crash.point("atomic-rename")
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
        raise
    return path


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def save_figure(figure: Any, path: str | Path, dpi: int) -> Path:
    """A matplotlib figure as a PNG, rendered in memory and written atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


def path_part(text: str, max_chars: int = 80) -> str:
    """A file or folder name for a user string (a tree id, a model spec): safe characters are
    kept, and when anything had to change a digest of the whole string is added, so that two
    different strings never share a name and no name can leave its folder."""
    safe = "".join(c if c.isalnum() or c in "-_.+=" else "_" for c in text)[:max_chars].lstrip(".") or "_"
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def check_folder_path(path: str | Path) -> Path:
    """Refuse a folder path that is a file, a dangling link, or lies under a file, before any
    work is done towards it."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise UserError("is a dangling symbolic link", file=str(path))
    for above in (path, *path.parents):
        if above.exists():
            if not above.is_dir():
                where = "exists and is not a directory" if above == path else f"lies under {above}, which is a file"
                raise UserError(where, file=str(path))
            break
    return path


def check_output(path: str | Path, *, magic: bytes, kind: str, inputs: Iterable[str | Path] = (),
                 force: bool = False) -> Path:
    """Refuse an output path that is one of the command's inputs, a directory, or (without
    --force) an existing file that is not of the output's kind (its first bytes are not `magic`)."""
    path = Path(path)
    for given in inputs:
        if path.exists() and Path(given).exists() and os.path.samefile(path, given):
            raise UserError("is an input of this command; an output never replaces an input", file=str(path))
    if path.is_dir():
        raise UserError(f"is a directory, expected a {kind} file path", file=str(path))
    if path.exists() and not force:
        try:
            with open(path, "rb") as handle:
                head = handle.read(len(magic))
        except OSError as exc:
            raise UserError(f"cannot read: {exc.strerror}", file=str(path)) from None
        if head != magic:
            raise UserError(f"exists and is not a {kind} file; use --force to replace it", file=str(path))
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


#: The longest line `read_lines` reads by default. No record of ours comes near it (a PBT tree
#: is ~100 KB); a file without newlines (a binary, /dev/zero) must not be read whole into memory.
MAX_LINE_BYTES = 64 << 20


def read_lines(path: Path, *, max_bytes: int = MAX_LINE_BYTES, record: str = "record") -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, streamed; read errors name the file, decoding errors
    and lines over `max_bytes` (checked before more is read) the line."""
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):  # opening one would wait for a writer for ever
            raise DataError("is a named pipe, expected a file", file=str(path))
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", file=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", file=str(path)) from None
    with handle:
        number = 0
        while raw := handle.readline(max_bytes + 1):
            number += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                raise DataError(f"line longer than {max_bytes:,} bytes; a {record} may have at most "
                                f"{max_bytes:,} bytes", file=str(path), line=number)
            if number == 1 and raw.startswith(codecs.BOM_UTF8):  # as some editors on Windows save UTF-8
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield number, raw.rstrip(b"\n").decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 text (byte {exc.start + 1} of the line)",
                                file=str(path), line=number) from None


#: Deeper JSON is refused: records nest a few levels, and deep values break what comes after
#: parsing (pydantic stops serialising at 255 levels, recursive code at Python's recursion limit).
MAX_JSON_DEPTH = 64
# A surrogate escape (\ud83d): one without its pair decodes to a str that cannot be written as UTF-8.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_CONTAINERS = {dict, list}


def parse_json(text: str, file: str, line: int | None = None, *, finite: bool = True) -> Any:
    """The JSON value of a user file's text (line `line` of the file, else the whole file); every
    problem, a very deep or huge value included, is a one-line DataError naming file and line.
    Numbers must be finite unless `finite` is False (NaN is Python's JSON, not JSON, but a data
    set exported by pandas holds it)."""
    def fail(message: str, at: int | None = line) -> DataError:
        return DataError(message, file=file, line=at)

    too_deep = f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant) if finite else json.loads(text)
    except _NotFinite as exc:
        raise fail(f"a JSON number must be finite, got {exc}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON: {exc.msg} (column {exc.colno})", (line or 1) + exc.lineno - 1) from None
    except RecursionError:  # far deeper still
        raise fail(too_deep) from None
    except ValueError:  # int() refuses this many digits (CPython's guard against slow conversions)
        raise fail(f"a JSON number has more than {sys.get_int_max_str_digits():,} digits") from None
    if not _nesting_below(value, MAX_JSON_DEPTH):
        raise fail(too_deep)
    if _SURROGATE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise fail("a JSON string holds a lone surrogate (not a Unicode character)") from None
    return value


class _NotFinite(ValueError):
    """NaN, Infinity or a number too large for a float: not JSON, and no record can hold it."""


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotFinite(literal[:20])
    return value


def _no_constant(name: str) -> float:
    raise _NotFinite(name)


def _nesting_below(value: Any, limit: int) -> bool:
    """Whether lists and objects nest at most `limit` levels deep (level by level: no recursion)."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        if not level:
            return True
        # Exact types (json.loads makes no subclasses): the check is on every value of the file.
        level = [child for v in level for child in (v.values() if type(v) is dict else v)
                 if type(child) in _CONTAINERS]
    return not level
