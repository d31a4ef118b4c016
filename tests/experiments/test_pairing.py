"""Pairing experiments: metrics on hand-made outcome tables, the simulator against its closed
form (docs/sim-team-debate.md), and the `debate pairing` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.sim import PRESETS, SimParams
from debate.metrics import bootstrap_interval, mcnemar_exact, paired_sign_counts, pull_up, transition_counts
from protocols.ordered import DebateOutcome
from experiments.pairing import PairingConfig, run_pairing, score_pair
from experiments.sim_theory import gap_half_width, order_gap, team_expectation
from helpers import debate
from helpers import synthetic


def test_mcnemar_exact_on_known_cases():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(10, 10) == 1.0
    # A textbook case: 25 vs 10 discordant pairs, exact two-sided p = 0.0167.
    assert mcnemar_exact(25, 10) == pytest.approx(0.01666, abs=5e-5)


def test_bootstrap_interval():
    assert vars(bootstrap_interval([0.5] * 40)) == {"low": 0.5, "high": 0.5}
    coin = [1.0, 0.0] * 200  # mean 0.5, standard error 0.025: the 95% interval is about +-0.049
    interval = bootstrap_interval(coin, resamples=4000, seed=1)
    assert interval.contains(0.5) and 0.04 < 0.5 - interval.low < 0.06 and 0.04 < interval.high - 0.5 < 0.06
    assert bootstrap_interval(coin, seed=1) == bootstrap_interval(coin, seed=1)


def test_pull_up_transitions_and_sign_counts():
    assert pull_up(0.7, 0.5, 0.9) == pytest.approx(0.5)
    assert pull_up(0.5, 0.5, 0.9) == 0.0 and pull_up(0.9, 0.5, 0.9) == 1.0
    assert pull_up(0.6, 0.6, 0.6) is None
    assert transition_counts([(True, False), (True, True), (False, True), (False, False), (True, True)]) == {
        "correct->wrong": 1, "wrong->correct": 1, "held correct": 2, "held wrong": 1}
    assert paired_sign_counts([1, 0.5, 0, 1], [0.5, 0.5, 1, 1]) == (1, 1)


def outcome(first: dict[str, bool], final: dict[str, bool]) -> DebateOutcome:
    """A debate outcome with only what pairing reads filled in by hand (answers are not read)."""
    return DebateOutcome(order=list(first), turns=4, stopped="max-turns", first_answers=dict.fromkeys(first),
                         first_correct=first, final_answers=dict.fromkeys(final), final_correct=final,
                         team_accuracy=sum(final.values()) / len(final), team_answer=None, team_correct=False)


def test_score_pair_on_a_hand_made_outcome_table():
    # Four questions. X knows q1-q3, Y knows q1 only. With X first, X is talked out of q2 (gullible
    # first speaker); with Y first, Y is talked into q2 and q3.
    t, f = True, False
    x_first = {"q1": outcome({"X": t, "Y": t}, {"X": t, "Y": t}), "q2": outcome({"X": t, "Y": f}, {"X": f, "Y": f}),
               "q3": outcome({"X": t, "Y": f}, {"X": t, "Y": f}), "q4": outcome({"X": f, "Y": f}, {"X": f, "Y": f})}
    y_first = {"q1": outcome({"Y": t, "X": t}, {"Y": t, "X": t}), "q2": outcome({"Y": f, "X": t}, {"Y": t, "X": t}),
               "q3": outcome({"Y": f, "X": t}, {"Y": t, "X": t}), "q4": outcome({"Y": f, "X": f}, {"Y": f, "X": f}),
               "q5": outcome({"Y": t, "X": t}, {"Y": t, "X": t})}  # finished in one order only: left out
    pair = score_pair("X", "Y", x_first, y_first, resamples=500)
    assert pair["questions"] == 4 and pair["strong"] == "X" and pair["weak"] == "Y"
    assert pair["solo_accuracy"] == {"X": 0.75, "Y": 0.25}
    assert pair["team_accuracy"] == {"X first": pytest.approx(1.5 / 4), "Y first": 0.75}
    assert pair["order_gap"] == pytest.approx(1.5 / 4 - 0.75)
    assert pair["order_changed_outcome"] == {"X first better": 0, "Y first better": 2}
    assert pair["mcnemar_p"] == pytest.approx(0.5)
    assert pair["pull_up"] == {"X first": pytest.approx(0.25), "Y first": pytest.approx(1.0)}
    assert pair["persuasion"]["X first"]["X"] == {"correct->wrong": 1, "wrong->correct": 0, "held correct": 2,
                                                  "held wrong": 1}
    assert pair["persuasion"]["Y first"]["Y"] == {"correct->wrong": 0, "wrong->correct": 2, "held correct": 1,
                                                  "held wrong": 1}


# ---------------------------------------------------------------------- the simulator as an instrument

def sim_spec(name: str, params: SimParams) -> dict:
    return {"model": f"sim:{name}?accuracy={params.accuracy}&accept_correct={params.accept_correct}"
                     f"&accept_wrong={params.accept_wrong}&abandon={params.abandon}"}


@pytest.fixture(scope="module")
def questions(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("questions") / "q.jsonl"  # one wrong answer each, as the closed form assumes
    path.write_text("".join(q.model_dump_json() + "\n" for q in synthetic(3000)))
    return path


GULLIBLE_STRONG = PRESETS["gullible"].model_copy(update={"accuracy": 0.85})
GULLIBLE_WEAK = PRESETS["gullible"].model_copy(update={"accuracy": 0.35})
CALIBRATED_STRONG = PRESETS["calibrated"].model_copy(update={"accuracy": 0.85})
CALIBRATED_WEAK = PRESETS["calibrated"].model_copy(update={"accuracy": 0.35})


@pytest.mark.parametrize("strong,weak", [(PRESETS["strong"], PRESETS["weak"]), (GULLIBLE_STRONG, GULLIBLE_WEAK),
                                         (CALIBRATED_STRONG, CALIBRATED_WEAK)],
                         ids=["presets", "gullible", "calibrated"])
def test_measured_pairs_fall_inside_the_closed_form_intervals(tmp_path, questions, strong, weak):
    config = PairingConfig(agents={"S": sim_spec("s", strong), "W": sim_spec("w", weak)}, questions=str(questions),
                           resamples=200)
    (pair,) = run_pairing(config, tmp_path, progress=False)["pairs"]
    n = pair["questions"]
    assert n == 3000
    for order, (first, second) in (("S first", (strong, weak)), ("W first", (weak, strong))):
        expected = team_expectation(first, second)
        assert abs(pair["team_accuracy"][order] - expected.mean) <= expected.half_width(n), order
    assert abs(pair["order_gap"] - order_gap(strong, weak)) <= gap_half_width(strong, weak, n)
    for name, params in (("S", strong), ("W", weak)):
        assert (abs(pair["solo_accuracy"][name] - params.accuracy)
                <= 3.29 * (params.accuracy * (1 - params.accuracy) / n) ** 0.5)


def test_the_closed_form_shows_the_paper_patterns():
    # Gullible agents: the first speaker adopts the answer it is shown (the second speaker's
    # independent answer), so the team lands near whichever agent answers SECOND.
    assert team_expectation(GULLIBLE_STRONG, GULLIBLE_WEAK).mean == pytest.approx(0.35, abs=0.08)
    assert team_expectation(GULLIBLE_WEAK, GULLIBLE_STRONG).mean == pytest.approx(0.85, abs=0.08)
    assert order_gap(GULLIBLE_STRONG, GULLIBLE_WEAK) < -0.35
    # Calibrated agents (accept right answers, resist wrong ones): near the strong agent either way.
    for first, second in ((CALIBRATED_STRONG, CALIBRATED_WEAK), (CALIBRATED_WEAK, CALIBRATED_STRONG)):
        assert team_expectation(first, second).mean > 0.8
    assert abs(order_gap(CALIBRATED_STRONG, CALIBRATED_WEAK)) < 0.05


def test_pairing_command_with_sim_agents_and_its_errors(tmp_path):
    run = debate("pairing", "--backend", "sim", "--limit", "30", "--out", str(tmp_path / "p"), "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "strong first" in run.stdout and "weak first" in run.stdout and "McNemar" in run.stdout
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["pairs"][0]["questions"] == 30
    assert (tmp_path / "p" / "pairing.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "p" / "pairs").iterdir()) == ["strong-then-weak", "weak-then-strong"]
    three = debate("pairing", "--agents", "sim:strong", "--agents", "sim:weak", "--agents", "sim:gullible",
                   "--limit", "10", "--out", str(tmp_path / "three"), "--no-progress")
    assert three.returncode == 0 and len(json.loads((tmp_path / "three" / "report.json").read_text())["pairs"]) == 3
    alone = debate("pairing", "--agents", "sim:strong", "--out", str(tmp_path / "alone"))
    assert alone.returncode == 2 and "a pairing experiment needs at least two agents (got 1)" in alone.stderr
    assert not (tmp_path / "alone").exists()
    config = tmp_path / "pairing.toml"
    config.write_text('questions = "sample"\n[agents.x]\nmodel = "sim:strong"\n[agents.y]\nmodel = "sim:weak"\n'
                      'persona = "sly"\n')
    bad = debate("pairing", str(config), "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "pairing.toml:6: field 'agents.y.persona': unknown persona 'sly'" in bad.stderr
    assert "unknown backend 'cloud'" in debate("pairing", "--backend", "cloud").stderr
