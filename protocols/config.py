"""Run configurations: TOML files validated by pydantic, turned into agents and a protocol.

```toml
questions = "sample"          # any question source (debate.data.load_questions)
limit = 20
seed = 0
reader = "default"            # or final-line, yes-no, option, candidates, llm:SPEC
out = "runs/debate"

[protocol]
kind = "debate"               # debate | tree | challenge | misinformation | replay
rounds = 2

[agents.A]
model = "gguf:smollm2"
informed = true
[agents.B]
model = "gguf:smollm2"
```

Every problem is one line naming the file, the line of the offending key when it can be
found, and the field.
"""

from __future__ import annotations

import functools
import re
import stat
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from agents.agent import Agent, Instructions
from agents.personas import persona_prompt
from agents.registry import DEFAULT_MODEL, check_option, check_spec, load_model, parse_spec
from debate.errors import ConfigError, UserError
from debate.records import GenerationParams, Sampling
from protocols.base import ProtocolConfig, known_protocols
from protocols.readers import check_reader

M = TypeVar("M", bound=BaseModel)
#: A config file is read no further than this (a path given by mistake may be huge or endless).
MAX_CONFIG_BYTES = 1 << 20
#: Dialogues in flight at most (each holds its tree in memory).
MAX_WINDOW = 1_000_000


class _Strict(BaseModel):
    # strict: a TOML `limit = true` or `seed = "3"` is refused, not turned into 1 or 3.
    model_config = ConfigDict(extra="forbid", strict=True)


class AgentConfig(Sampling):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(default=DEFAULT_MODEL, description="The model spec (KIND:TARGET?options).")
    persona: str = Field(default="neutral", description="The persona prompt.")
    informed: bool = Field(default=False, description="The agent sees the question's context passage.")
    instructions: Instructions = Field(default="system", description="Where each turn's persona instruction goes: "
                                       "'system' (the system prompt, the paper's layout) or 'turn' (after the "
                                       "turn's last user message; sibling branches then share their history).")
    options: dict[str, Any] = Field(default_factory=dict, description="Backend options (spec options win).")

    @property
    def params(self) -> GenerationParams:
        return GenerationParams(**self.model_dump(include=set(Sampling.model_fields)))

    def recorded(self) -> dict[str, Any]:
        """The settings as run identities and reports record them. `instructions` appears only
        when it is not the default, so records made before it existed are unchanged (and resume)."""
        return self.model_dump(mode="json", exclude={"instructions"} if self.instructions == "system" else set())

    def build(self, name: str) -> Agent:
        return Agent(name, load_model(self.model, self.options), persona=self.persona, params=self.params,
                     informed=self.informed, instructions=self.instructions)


#: `K/N`: the K-th of N shards, 1 <= K <= N.
SHARD = re.compile(r"([1-9][0-9]{0,5})/([1-9][0-9]{0,5})")


def shard_parts(shard: str) -> tuple[int, int]:
    """(K, N) of a checked `K/N`."""
    k, n = SHARD.fullmatch(shard).groups()  # type: ignore[union-attr]  # checked by RunSettings
    return int(k), int(n)


class ScaleConfig(_Strict):
    """`[scale]`: run the shards of one run as Ray tasks, then merge them (not part of a run's identity:
    where dialogues are generated does not change them)."""

    workers: int | None = Field(default=None, ge=1, le=10_000, description="Shards, one Ray task each (default: "
                                "as many as the cluster's CPUs allow at `cpus` each).")
    ray: str = Field(default="local", description="'local' (start a Ray instance here) or a cluster address.")
    cpus: float = Field(default=1.0, gt=0, description="CPUs each shard's task declares.")
    gpus: float = Field(default=0.0, ge=0, description="GPUs each shard's task declares (in-process hf: or vllm:).")
    retries: int = Field(default=3, ge=0, le=100, description="Times a shard whose worker died is resumed.")


class RunSettings(_Strict):
    """What every run of the engine is given besides its protocol and agents (pairing too)."""

    #: A question source; for replay, a JSONL file of stored trees instead.
    questions: str = "sample"
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    reader: str = "default"
    window: int = Field(default=256, ge=1, le=MAX_WINDOW)
    shard: str | None = Field(default=None, description="K/N: only the K-th of N shards of the questions (the "
                              "questions at positions K-1, K-1+N, ...); `debate merge` joins the shards.")
    scale: ScaleConfig | None = None

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        if value is not None:
            match = SHARD.fullmatch(value)
            if match is None or int(match[1]) > int(match[2]):
                raise ValueError(f"expected K/N with 1 <= K <= N, got '{value}'")
        return value


class RunConfig(RunSettings):
    protocol: SerializeAsAny[ProtocolConfig]
    agents: dict[str, AgentConfig] = Field(min_length=1)
    cache: bool = True
    out: str | None = None

    def build_agents(self) -> dict[str, Agent]:
        return {name: cfg.build(name) for name, cfg in self.agents.items()}

    def identity(self) -> dict[str, Any]:
        """The fields that decide a run's records: a run directory resumes only the same identity."""
        # An unsharded run's identity has no `shard` key, as before shards existed.
        unset = {"shard"} if self.shard is None else set()
        identity = self.model_dump(mode="json", exclude={"limit", "window", "out", "scale", *unset})
        identity["protocol"] = self.protocol.identity()
        identity["agents"] = {name: agent.recorded() for name, agent in self.agents.items()}
        return identity


def _at(field: str, check: Callable[[], object]) -> None:
    """Run a check; its error becomes a ConfigError about `field`."""
    try:
        check()
    except UserError as exc:
        raise ConfigError(exc.detail if exc.file is None else exc.one_line(), field=field) from None


def check_agent(name: str, agent: AgentConfig) -> None:
    """An agent's persona and model spec, checked without loading the model."""
    _at(f"agents.{name}.persona", lambda: persona_prompt(agent.persona))
    try:
        kind = parse_spec(agent.model)[0]
    except UserError:
        kind = None  # a bad spec is reported below, at the model's line
    for key, value in agent.options.items():  # the options table's own lines, before the merged spec
        if kind is not None:
            _at(f"agents.{name}.options.{key}", functools.partial(check_option, kind, key, value))
    _at(f"agents.{name}.model", lambda: check_spec(agent.model, agent.options))


def _check_meaning(config: RunConfig) -> None:
    """What the schema cannot say: personas, specs, readers and the protocol's own rules.

    Nothing is loaded. Each error carries the dotted field it is about.
    """
    for name, agent in config.agents.items():
        check_agent(name, agent)
    _at("reader", lambda: check_reader(config.reader))
    try:
        protocol = config.protocol.build()
    except UserError as exc:
        raise ConfigError(exc.detail, field=f"protocol.{exc.field}" if exc.field else "protocol") from None
    missing = [name for name in protocol.agents if name not in config.agents]
    if missing:
        raise ConfigError(f"protocol '{protocol.name}' needs an agent named '{missing[0]}' "
                          f"(the config has: {', '.join(config.agents)})", field="agents")


def validate(model: type[M], data: Any, source: str, text: str | None, at: tuple[str, ...] = ()) -> M:
    """`model.model_validate(data)`, with the first problem as one ConfigError (file, line, field);
    `at` is where `data` sits in the file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [*at, *(str(p) for p in err["loc"])]
        message = "unknown key (not a setting)" if err["type"] == "extra_forbidden" else \
            str(err["msg"]).replace("Value error, ", "")
        if err["type"] == "missing":
            message = "missing (required)"
        raise ConfigError(message, file=source, line=_line_of(text, loc) if loc else None,
                          field=".".join(loc) or None) from None


def locate(exc: UserError, source: str, text: str | None) -> ConfigError:
    """The error placed at the line of its key, or of its section when the key is absent."""
    if not exc.field:
        return ConfigError(exc.detail, file=source, line=None, field=None)
    # A name may hold dots (`[agents.".."]`): the path is also tried with the rest as one key,
    # and the reading that matches more of its path wins.
    head, _, rest = exc.field.partition(".")
    found = [_find(text, path) for path in (exc.field.split("."), [head, rest])]
    line, _ = max(found, key=lambda f: f[1])
    return ConfigError(exc.detail, file=source, line=line, field=exc.field)


def parse_config(data: dict[str, Any], source: str = "<config>", text: str | None = None) -> RunConfig:
    protocol = data.get("protocol")
    if isinstance(protocol, dict):  # its kind names the protocol's own config model
        known = known_protocols()
        kind = protocol.get("kind")
        if not isinstance(kind, str) or kind not in known:
            raise ConfigError(f"unknown protocol {kind!r} (expected one of {', '.join(known)})",
                              file=source, line=_line_of(text, ["protocol", "kind"]), field="protocol.kind")
        data = {**data, "protocol": validate(known[kind].Config, protocol, source, text, at=("protocol",))}
    config = validate(RunConfig, data, source, text)
    try:
        _check_meaning(config)
    except ConfigError as exc:
        raise locate(exc, source, text) from None
    return config


def read_toml(path: str | Path) -> tuple[dict[str, Any], str]:
    """A TOML file's data and text; unreadable files and bad TOML are one ConfigError."""
    path = Path(path)
    try:
        if stat.S_ISFIFO(path.stat().st_mode):
            raise ConfigError("is a named pipe, expected a config file", file=str(path))
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # never more: the path may be /dev/zero
    except FileNotFoundError:
        raise ConfigError("no such config file", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config: {exc.strerror}", file=str(path)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"more than {MAX_CONFIG_BYTES:,} bytes; a config is a few lines", file=str(path))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start + 1})", file=str(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(where.group(1)) if where else None
        message = str(exc).split(" (at ")[0]
        raise ConfigError(f"invalid TOML: {message}", file=str(path), line=line) from None
    except RecursionError:
        raise ConfigError("invalid TOML: values nested too deep", file=str(path)) from None
    except ValueError:  # an integer of thousands of digits (CPython's guard on int conversion)
        raise ConfigError(f"invalid TOML: a number has more than {sys.get_int_max_str_digits():,} digits",
                          file=str(path)) from None


def load_config(path: str | Path) -> RunConfig:
    data, text = read_toml(path)
    return parse_config(data, str(path), text)


_KEY_PART = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)')
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*((?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_-]+)"
                         r"(?:\s*\.\s*(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=")


def _key_parts(text: str) -> list[str]:
    return [next(g for g in match.groups() if g is not None) for match in _KEY_PART.finditer(text)]


def _line_of(text: str | None, path: list[str]) -> int | None:
    """The line that sets the key at `path`, or else the line of its nearest enclosing table."""
    return _find(text, path)[0]


def _find(text: str | None, path: list[str]) -> tuple[int | None, float]:
    """(line, share of `path` matched) of the line that sets the key at `path`, or else of its
    nearest enclosing table or key. TOML parsers do not report where a value came from, so the
    text is scanned, following table headers, quoted keys and arrays of tables (the N-th
    `[[protocol.levels]]` is `protocol.levels.N`)."""
    if text is None or not path:
        return None, 0.0
    best, best_length = None, 0
    table: list[str] = []
    counts: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        assignment = None if header else _ASSIGNMENT.match(line)
        if header:
            table = _key_parts(header.group(2))
            if header.group(1) == "[[":  # the next element of an array of tables
                counts[tuple(table)] = counts.get(tuple(table), -1) + 1
                table = [*table, str(counts[tuple(table)])]
            here = table
        elif assignment:
            here = [*table, *_key_parts(assignment.group(1))]
        else:
            continue
        length = next((k for k in range(min(len(here), len(path)), 0, -1) if here[:k] == path[:k]), 0)
        if length > best_length:
            best, best_length = number, length
    return best, best_length / len(path)
