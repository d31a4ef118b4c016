"""What a protocol is: a declarative rule for which turns are due next in a dialogue tree.

A protocol never calls a model. The engine asks it, for each open tree, which turns are due
given the nodes added in the last step (`ROOT` at the start); generates them all in batches;
adds them to the trees; and asks again. A tree is finished when nothing more is due; the
protocol then summarises it (`outcome`), and the summary is stored in the tree's metadata.

Because `due` depends only on the tree, a resumed run re-expands an unfinished tree exactly as
the first run would have (its generations come back from the cache).

A protocol is a component: one module holds its `Config` (the single source of its kind name,
defaults, bounds and help), its typed `Outcome` (one finished tree) and `Summary` (a run), and
the `Protocol` subclass, which registers itself by being defined. The protocol modules of this
package are found when a kind is first looked up, so adding a protocol is adding a module.
"""

from __future__ import annotations

import abc
import importlib
import pkgutil
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from debate.errors import ConfigError
from debate.grading import same_answer
from debate.records import Question
from debate.tree import ROOT, DialogueTree, Visibility


@dataclass(frozen=True)
class TurnSpec:
    """One turn due: a new child of `parent` spoken by `speaker`.

    A generated turn has `text=None`: the speaker's agent writes it (with `persona` in place of
    its own persona when given). A scripted turn carries its `text` (a challenge, a planted
    claim, a probe question) and, optionally, the `answer` it asserts; no model is called.
    """

    parent: str
    speaker: str
    persona: str | None = None
    #: The agent that writes the turn, when it is not the agent named `speaker` (Replay lets
    #: one model continue a stored dialogue as one of its speakers).
    agent: str | None = None
    round: int | None = None
    text: str | None = None
    answer: str | None = None
    tag: str | None = None

    @property
    def scripted(self) -> bool:
        return self.text is not None


class Record(BaseModel):
    """An outcome or a summary: typed in memory, plain JSON in a tree's metadata or a manifest."""

    model_config = ConfigDict(extra="forbid")


class ProtocolConfig(BaseModel):
    """A protocol's settings. Each protocol module subclasses it once, with `kind` a one-value
    Literal: field bounds and descriptions are the single source of its rules and help."""

    # strict: a TOML `rounds = true` or `turns = "3"` is refused, not turned into 1 or 3.
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: str
    #: Settings that guard a run without deciding its records (not part of a run's identity).
    guards: ClassVar[frozenset[str]] = frozenset()

    def check(self) -> None:  # noqa: B027 - a default for protocols without rules across fields
        """Rules across fields (bounds of one field live on the field): a ConfigError naming it."""

    def build(self) -> Protocol:
        return protocol_class(self.kind)(self)

    def identity(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(self.guards))


ConfigT = TypeVar("ConfigT", bound=ProtocolConfig)
OutcomeT = TypeVar("OutcomeT", bound=Record)
SummaryT = TypeVar("SummaryT", bound=Record)


class Protocol(abc.ABC, Generic[ConfigT, OutcomeT, SummaryT]):
    Config: ClassVar[type[ProtocolConfig]]
    Outcome: ClassVar[type[Record]]
    Summary: ClassVar[type[Record]]
    #: The run's input is stored dialogue trees (`questions` names a JSONL file of them), not questions.
    reads_trees: ClassVar[bool] = False

    def __init__(self, config: ConfigT | None = None, **settings: Any):
        """From a checked config, or from its settings as keywords (checked here)."""
        if config is None:
            config = checked(self.Config, settings)  # type: ignore[assignment]  # Config is ConfigT's class
        elif settings:
            raise TypeError("give a config or settings, not both")
        assert config is not None
        config.check()
        self.config: ConfigT = config

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """`class P(Protocol[PConfig, POutcome, PSummary])` sets P.Config, P.Outcome and P.Summary
        from its type arguments, and registers P under its config's kind."""
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is Protocol:
                cls.Config, cls.Outcome, cls.Summary = typing.get_args(base)
        if not getattr(cls, "__abstractmethods__", None):
            _REGISTRY[kind_of(cls.Config)] = cls

    @property
    def name(self) -> str:
        """The kind, as in configs and in each tree's metadata."""
        return self.config.kind

    @property
    def visibility(self) -> Visibility:
        """What a speaker sees of earlier turns; recorded in every tree this protocol starts."""
        return Visibility()

    @property
    @abc.abstractmethod
    def agents(self) -> tuple[str, ...]:
        """The agent names whose turns a model writes (each needs an agent in the run)."""

    def check(self, item: Any) -> None:  # noqa: B027 - a default that accepts everything
        """Refuse an input this protocol cannot run (a DataError), before anything is written."""

    def new_tree(self, question: Question) -> DialogueTree:
        return DialogueTree(question, metadata={"protocol": self.name}, visibility=self.visibility)

    @abc.abstractmethod
    def due(self, tree: DialogueTree, new_nodes: Sequence[str]) -> list[TurnSpec]:
        """The turns due after `new_nodes` were added (`[ROOT]` for a new tree)."""

    @abc.abstractmethod
    def outcome(self, tree: DialogueTree) -> OutcomeT:
        """What experiments aggregate of a finished tree."""

    @abc.abstractmethod
    def summarize(self, outcomes: Sequence[OutcomeT]) -> SummaryT:
        """The run's figures from the outcomes of its finished trees."""

    def stored_outcome(self, tree: DialogueTree) -> OutcomeT:
        """The outcome stored in a finished tree's metadata, typed again."""
        return self.Outcome.model_validate(tree.metadata["outcome"])  # type: ignore[return-value]


# ---------------------------------------------------------------------- the registry

_REGISTRY: dict[str, type[Protocol[Any, Any, Any]]] = {}
_discovered = False


def kind_of(config: type[ProtocolConfig]) -> str:
    kind = config.model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{config.__name__}.kind needs its kind name as the default")
    return kind


def known_protocols() -> Mapping[str, type[Protocol[Any, Any, Any]]]:
    """Every protocol by kind. The first call imports this package's modules (light: no model
    library), each of which registers the protocols it defines."""
    global _discovered
    if not _discovered:
        package = __name__.rpartition(".")[0]
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{module.name}")
        _discovered = True
    return _REGISTRY


def protocol_class(kind: str) -> type[Protocol[Any, Any, Any]]:
    known = known_protocols()
    if kind not in known:
        raise ConfigError(f"unknown protocol {kind!r} (expected one of {', '.join(known)})", field="kind")
    return known[kind]


def checked(model: type[ProtocolConfig], settings: Mapping[str, Any]) -> ProtocolConfig:
    """`model` from keyword settings (Python values: a tuple for a list is fine); the first
    problem is a ConfigError naming its field."""
    try:
        return model.model_validate({"kind": kind_of(model), **settings}, strict=False)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(str(err["msg"]).replace("Value error, ", ""),
                          field=".".join(str(p) for p in err["loc"]) or None) from None




# ---------------------------------------------------------------------- shared helpers

def held_answers(tree: DialogueTree, node: str) -> dict[str, str | None]:
    """Every agent's current answer at `node` (empty at the root)."""
    return {} if node == ROOT else dict(tree.turn(node).answers)


def agreed(answers: dict[str, str | None], names: Sequence[str], question: Question) -> bool:
    """True when every named agent holds an answer and all of them are the same (`same_answer`)."""
    held = [answers.get(name) for name in names]
    if len(held) < 2 or any(a is None for a in held):
        return False
    return all(same_answer(held[0], other, question) for other in held[1:])


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
