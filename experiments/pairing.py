"""Strong/weak pairing and order dependence (PBT.md 8.4).

For every ordered pair of agents the team debate runs once (A answers, B answers independently,
A replies having seen B, B replies; stop early on agreement; greedy by default). Each order is
an ordinary resumable run directory under `OUT/pairs/`. Per unordered pair the report gives:

- each agent's solo accuracy (its own first, independent answer, averaged over both orders);
- team accuracy in each order (mean correctness of the two final answers), with a bootstrap
  95% interval;
- order dependence: the gap between the two orders, with a paired bootstrap 95% interval over
  questions and an exact McNemar (sign) test on per-question team scores;
- pull-up per order: (team - weak solo) / (strong solo - weak solo);
- the directional persuasion matrix of each agent in each order (correct -> wrong, wrong ->
  correct, held correct, held wrong).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from pydantic import Field

from agents.registry import DEFAULT_MODEL
from debate.errors import ConfigError, UserError
from debate.metrics import (bootstrap_interval, mcnemar_exact, mean, paired_sign_counts, pull_up,
                            transition_counts)
from debate.storage import atomic_write_json
from debate.tree import iter_trees
from protocols.config import (AgentConfig, RunConfig, RunSettings, check_agent, locate, parse_config, read_toml,
                              validate)
from protocols.ordered import DebateOutcome, Rounds
from protocols.readers import check_reader
from protocols.run import execute


class PairingConfig(RunSettings):
    agents: dict[str, AgentConfig]
    questions: str = "sample:open"
    rounds: Rounds = 2
    resamples: int = Field(default=2000, ge=100, le=1_000_000, description="Bootstrap resamples per interval.")

    def check(self) -> None:
        """What the schema cannot say: two agents at least, valid personas and model specs."""
        if len(self.agents) < 2:
            raise ConfigError(f"a pairing experiment needs at least two agents (got {len(self.agents)})",
                              field="agents")
        for name, agent in self.agents.items():
            if not AGENT_NAME.fullmatch(name) or ORDER_JOIN in name:
                raise ConfigError(f"agent name {name!r} cannot name a run folder: use 1-64 letters, digits and "
                                  f"'_.:+=-', starting with a letter or digit, without '{ORDER_JOIN}'",
                                  field=f"agents.{name}")
            check_agent(name, agent)
        check_reader(self.reader)

    def debate(self, first: str, second: str) -> RunConfig:
        return parse_config({
            "protocol": {"kind": "debate", "order": [first, second], "rounds": self.rounds},
            "agents": {name: self.agents[name].model_dump() for name in (first, second)},
            **self.model_dump(include=set(RunSettings.model_fields))}, "pairing")


#: Agent names become folder names (`OUT/pairs/A-then-B`): checked against this, they cannot
#: leave OUT or make two orders share a folder.
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+=-]{0,63}")
ORDER_JOIN = "-then-"


#: The main job's agents: SmolLM2 with and without a background passage (a real strength gap),
#: or simulated strong and weak agents (instant).
PAIRING_BACKENDS: dict[str, dict[str, dict[str, Any]]] = {
    "gguf": {"informed": {"model": DEFAULT_MODEL, "informed": True, "max_tokens": 48},
             "uninformed": {"model": DEFAULT_MODEL, "max_tokens": 48}},
    "sim": {"strong": {"model": "sim:strong"}, "weak": {"model": "sim:weak"}},
}


def agents_from_specs(specs: list[str]) -> dict[str, dict[str, Any]]:
    """One agent per model spec, named `aN:TARGET` after the spec's target, cut to what names allow."""
    names = [f"a{i}:{re.sub(r'[^A-Za-z0-9_.:+=]+', '_', spec.split('?')[0].split('/')[-1])[:48]}"
             for i, spec in enumerate(specs, 1)]
    return {name: {"model": spec} for name, spec in zip(names, specs)}


def pairing_config(config_file: Path | None = None, *, agents: list[str] | None = None, backend: str = "gguf",
                   **overrides: Any) -> PairingConfig:
    """The checked config of `debate pairing`: a TOML file, or agents from specs or a named backend,
    with `overrides` (None: keep) on top. Errors name the file and line where there is one."""
    if config_file is not None:
        data, text = read_toml(config_file)
        source = str(config_file)
    else:
        if agents:
            chosen = agents_from_specs(agents)
        elif backend in PAIRING_BACKENDS:
            chosen = PAIRING_BACKENDS[backend]
        else:
            raise UserError(f"unknown backend '{backend}' (expected one of {', '.join(PAIRING_BACKENDS)})",
                            field="--backend")
        data, text, source = {"agents": chosen}, None, "debate pairing"
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    config = validate(PairingConfig, data, source, text)
    try:
        config.check()
    except UserError as exc:
        raise locate(exc, source, text) from None
    return config


def order_dir(out: Path, first: str, second: str) -> Path:
    return out / "pairs" / f"{first}{ORDER_JOIN}{second}"


def run_pairing(config: PairingConfig, out: str | Path, **execute_options: Any) -> dict[str, Any]:
    """Run every ordered pair (resuming what is done), score every pair, save `report.json`."""
    config.check()
    out = Path(out)
    for first, second in itertools.permutations(config.agents, 2):
        execute(config.debate(first, second), order_dir(out, first, second), **execute_options)
    pairs = [score_pair(x, y, outcomes(order_dir(out, x, y)), outcomes(order_dir(out, y, x)),
                        resamples=config.resamples, seed=config.seed)
             for x, y in itertools.combinations(config.agents, 2)]
    report = {"questions": config.questions, "limit": config.limit, "seed": config.seed, "rounds": config.rounds,
              "agents": {name: agent.recorded() for name, agent in config.agents.items()}, "pairs": pairs}
    atomic_write_json(out / "report.json", report)
    return report


def outcomes(folder: Path) -> dict[str, DebateOutcome]:
    """Question id -> debate outcome, for the finished dialogues of one order."""
    return {tree.tree_id: DebateOutcome.model_validate(tree.metadata["outcome"])
            for tree in iter_trees(folder / "trees.jsonl")}


def score_pair(x: str, y: str, x_first: dict[str, DebateOutcome], y_first: dict[str, DebateOutcome], *,
               resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every figure of one pair from the debate outcomes of its two orders (by question id)."""
    orders = {f"{x} first": x_first, f"{y} first": y_first}
    ids = sorted(set(x_first) & set(y_first))  # a dialogue that failed in either order is left out
    if not ids:
        raise ConfigError("no question finished in both orders", field="questions")
    # Solo: each agent's own first answer, per question averaged over the two orders.
    solo_q = {a: [mean([o[q].first_correct[a] for o in orders.values()]) for q in ids] for a in (x, y)}
    solo = {a: mean(v) for a, v in solo_q.items()}
    team = {order: [o[q].team_accuracy for q in ids] for order, o in orders.items()}
    weak, strong = sorted((x, y), key=lambda a: solo[a])
    diffs = [a - b for a, b in zip(*team.values())]
    better = paired_sign_counts(*team.values())
    return {
        "agents": [x, y], "questions": len(ids), "solo_accuracy": solo, "strong": strong, "weak": weak,
        "solo_interval": {a: vars(bootstrap_interval(v, resamples=resamples, seed=seed))
                          for a, v in solo_q.items()},
        "team_accuracy": {order: mean(v) for order, v in team.items()},
        "team_interval": {order: vars(bootstrap_interval(v, resamples=resamples, seed=seed))
                          for order, v in team.items()},
        "order_gap": mean(diffs),
        "order_gap_interval": vars(bootstrap_interval(diffs, resamples=resamples, seed=seed)),
        "order_changed_outcome": {f"{x} first better": better[0], f"{y} first better": better[1]},
        "mcnemar_p": mcnemar_exact(*better),
        "pull_up": {order: pull_up(mean(v), solo[weak], solo[strong]) for order, v in team.items()},
        "persuasion": {order: {a: transition_counts([(o[q].first_correct[a], o[q].final_correct[a])
                                                     for q in ids]) for a in (x, y)}
                       for order, o in orders.items()},
    }
