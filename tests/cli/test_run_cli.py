"""`debate run`, `debate tree`, `debate show` and `debate export` as a user runs them, and the
one-line errors for bad configs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from debate.tree import load_trees
from helpers import REPO, debate

CONFIGS = REPO / "experiments" / "configs"
SIM = '[agents.A]\nmodel = "sim:strong"\n[agents.B]\nmodel = "sim:weak"\n'


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_a_sim_debate_then_show_and_export_it(tmp_path):
    out = tmp_path / "run"
    run = debate("run", str(CONFIGS / "sim-debate.toml"), "--out", str(out), "--limit", "12", "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "team_accuracy" in run.stdout and "12 dialogues finished" in run.stdout
    assert {p.name for p in out.iterdir()} >= {"config.json", "manifest.json", "trees.jsonl", "failed.jsonl", ".lock"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["summary"]["dialogues"] == 12
    assert (manifest["versions"]["python"].startswith("3.")
            and manifest["agents"] == {"A": "sim:strong", "B": "sim:weak"})
    again = debate("run", str(CONFIGS / "sim-debate.toml"), "--out", str(out), "--limit", "12", "--no-progress")
    assert again.returncode == 0 and "0 dialogues finished, 12 already done" in again.stdout
    shown = debate("show", str(out / "trees.jsonl"), "--index", "1", "--png", str(tmp_path / "t.png"))
    assert shown.returncode == 0 and "r.0 A/neutral" in shown.stdout and "team_accuracy" in shown.stdout
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    exported = debate("export", str(out / "trees.jsonl"), "--out", str(tmp_path / "graphml"))
    assert exported.returncode == 0 and len(list((tmp_path / "graphml").glob("*.graphml"))) == 12


def test_every_example_config_is_valid():
    from experiments.pairing import PairingConfig
    from protocols.config import load_config, read_toml, validate

    names = sorted(p.name for p in CONFIGS.glob("*.toml"))
    assert {"debate.toml", "tree.toml", "challenge.toml", "farm.toml", "pairing.toml"} <= set(names)
    for name in names:
        if name == "pairing.toml":
            data, text = read_toml(CONFIGS / name)
            validate(PairingConfig, data, name, text).check()
        else:
            load_config(CONFIGS / name)


def test_tree_shortcut_with_sim_agents(tmp_path):
    run = debate("tree", "--a", "sim:strong", "--b", "sim:gullible", "--questions", "sample", "--limit", "5",
                 "--out", str(tmp_path / "t"), "--no-progress")
    assert run.returncode == 0, run.stderr
    trees = load_trees(tmp_path / "t" / "trees.jsonl")
    assert len(trees) == 5 and all(t.metadata["protocol"] == "tree" for t in trees)
    assert all(t.turn("r.0").params.temperature == 0.7 for t in trees)


@pytest.mark.parametrize("text,expected", [
    ('[protocol]\nkind = "lecture"\n' + SIM, "run.toml:2: field 'protocol.kind': unknown protocol 'lecture'"),
    ('colour = "red"\n[protocol]\nkind = "debate"\n' + SIM, "run.toml:1: field 'colour': unknown key"),
    ('[protocol]\nkind = "debate"\nrounds = 0\n' + SIM, "run.toml:3: field 'protocol.rounds': Input should be greater"),
    ('[protocol]\nkind = "tree"\n' + SIM.replace('"sim:weak"', '"sim:weak"\ntemperature = -1'),
     "field 'agents.B.temperature': Input should be greater than or equal to 0"),
    ('[protocol]\nkind = "debate"\n[agents.A]\nmodel = "gpt:4"\n[agents.B]\nmodel = "sim:weak"\n',
     "unknown model spec 'gpt:4'"),
    ('[protocol]\nkind = "debate"\n[agents.A]\nmodel = "sim:strong"\n', "needs an agent named 'B'"),
    ('[protocol]\nkind = "tree"\n[[protocol.levels]]\nspeaker = "A"\npersonas = ["sly"]\n' + SIM,
     "unknown persona 'sly'"),
    ('[protocol]\nkind = "debate"\n' + SIM + 'reader = "psychic"\n', "unknown key"),
    ('reader = "psychic"\n[protocol]\nkind = "debate"\n' + SIM, "unknown answer reader 'psychic'"),
    ('[protocol]\nkind = "debate"\nfinal = "judge"\n' + SIM, "final = 'judge' needs a judge agent"),
    ('[protocol\nkind = "debate"\n', "run.toml:1: invalid TOML"),
    ('agents = 3\n', "field 'protocol': missing (required)"),
    ('[protocol]\nkind = "misinformation"\n[agents.model]\nmodel = "sim:weak"\n', "is not a Farm question"),
    ('questions = "nowhere.jsonl"\n[protocol]\nkind = "debate"\n' + SIM, "nowhere.jsonl: no such file"),
])
def test_bad_configs_give_one_line_and_exit_2(tmp_path, text, expected):
    run = debate("run", str(write(tmp_path, text)), "--out", str(tmp_path / "out"), "--no-progress")
    assert run.returncode == 2, run.stdout + run.stderr
    line = run.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line, line
    assert expected in line, line
    assert not (tmp_path / "out").exists()  # every input is checked before the run directory is made


@pytest.mark.parametrize("text,expected", [
    # The key of the agent at fault, not the first agent's key of that name.
    ('[protocol]\nkind = "debate"\n[agents.A]\nmodel = "sim:strong"\n[agents.B]\nmodel = "nothing"\n',
     "run.toml:6: field 'agents.B.model'"),
    # An agent named like a protocol keeps its name in the field.
    ('[protocol]\nkind = "debate"\norder = ["tree", "B"]\n[agents.tree]\nmodel = "sim:strong"\ntemperature = -1\n'
     '[agents.B]\nmodel = "sim:weak"\n', "run.toml:6: field 'agents.tree.temperature'"),
    # The key of the table at fault in an array of tables.
    ('[protocol]\nkind = "tree"\n[[protocol.levels]]\nspeaker = "A"\npersonas = ["neutral"]\n[[protocol.levels]]\n'
     'speaker = "B"\npersonas = ["sly"]\n' + SIM, "run.toml:8: field 'protocol.levels.1.personas'"),
    ('[protocol]\nkind = "debate"\n[agents.A]\nmodel = "openai:m"\noptions = {base_url = "http://127.0.0.1:9/v1"}\n'
     '[agents.B]\nmodel = "sim:weak"\n[agents.B.options]\naccuracy = 2\n',
     "run.toml:9: field 'agents.B.options.accuracy'"),
])
def test_config_errors_name_the_line_of_the_key_at_fault(tmp_path, text, expected):
    run = debate("run", str(write(tmp_path, text)), "--out", str(tmp_path / "out"), "--no-progress")
    assert run.returncode == 2 and f"error: {tmp_path / 'run.toml'}" in run.stderr, run.stderr
    assert expected in run.stderr, run.stderr


def test_a_malformed_question_file_names_its_line(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "text": "t", "gold": ["x"]}\n{"id": "b", "text": "t", "gold": "x"}\n')
    config = write(tmp_path, f'questions = "{questions}"\n[protocol]\nkind = "debate"\n' + SIM)
    run = debate("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert run.returncode == 2 and "q.jsonl:2: field 'gold'" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()


def test_bad_tree_files_and_a_missing_config(tmp_path):
    assert "no such config file" in debate("run", str(tmp_path / "none.toml")).stderr
    bad = tmp_path / "trees.jsonl"
    bad.write_text('{"format": "debate-tree", "version": 9}\n')
    run = debate("show", str(bad))
    assert run.returncode == 2 and "trees.jsonl:1: field 'version': version 9 is not supported" in run.stderr
    bad.write_bytes(b"\xff\xfe{}\n")
    run = debate("export", str(bad), "--out", str(tmp_path / "g"))
    assert run.returncode == 2 and "trees.jsonl:1: not UTF-8" in run.stderr
    assert not (tmp_path / "g").exists()
