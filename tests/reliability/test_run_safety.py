"""No data loss, no escape from the output folder (issue 12, items 1-5 and 8): each test here
failed on the release before it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from debate.errors import ConfigError
from protocols.config import load_config, parse_config
from protocols.run import execute
from helpers import REPO, debate

SIM_DEBATE = REPO / "experiments" / "configs" / "sim-debate.toml"


def snapshot(root: Path) -> dict[str, tuple[bool, bytes | str]]:
    """Every path under root: links by target, files by content (directories by presence)."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = (True, os.readlink(path))
        elif path.is_file():
            found[key] = (False, path.read_bytes())
        else:
            found[key] = (False, "dir")
    return found


def run_sim(out: Path, *extra: str):
    return debate("run", str(SIM_DEBATE), "--out", str(out), "--limit", "3", "--no-progress", *extra)


def refused(run, expected: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    line = run.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and expected in line, line


# ---------------------------------------------------------------- 1. ours, and only ours

def test_overwrite_leaves_a_folder_that_is_not_ours_alone(tmp_path):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "trees.jsonl").write_text("someone's data\n")
    (out / "notes.txt").write_text("keep me\n")
    before = snapshot(tmp_path)
    refused(run_sim(out, "--overwrite"), "holds trees.jsonl but no config.json; not a run directory of this tool")
    assert snapshot(tmp_path) == before  # nothing deleted, and no .lock


def test_a_config_json_that_is_not_ours_is_not_a_run_directory(tmp_path):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "config.json").write_text('{"colour": "red"}\n')
    (out / "trees.jsonl").write_text("someone's data\n")
    before = snapshot(tmp_path)
    refused(run_sim(out, "--overwrite"), "config.json is not a run config of this tool")
    assert snapshot(tmp_path) == before


def test_a_refused_run_takes_no_lock(tmp_path):
    out = tmp_path / "run"
    assert run_sim(out).returncode == 0
    (out / ".lock").unlink()
    before = snapshot(tmp_path)
    refused(run_sim(out, "--seed", "7"), "holds a different run")
    assert snapshot(tmp_path) == before


def test_links_in_the_place_of_our_files_are_never_followed(tmp_path):
    out = tmp_path / "run"
    assert run_sim(out).returncode == 0
    precious = tmp_path / "precious.txt"
    precious.write_text("not yours\n")
    for name in (".lock", "trees.jsonl", "cache.sqlite"):
        original = (out / name).read_bytes()
        (out / name).unlink()
        (out / name).symlink_to(precious)
        refused(run_sim(out), f"{name} is a symbolic link")
        refused(run_sim(out, "--overwrite"), f"{name} is a symbolic link")
        assert precious.read_text() == "not yours\n"
        (out / name).unlink()
        (out / name).write_bytes(original)


def test_overwrite_of_our_own_run_starts_afresh(tmp_path):
    out = tmp_path / "run"
    assert run_sim(out).returncode == 0
    (out / "unrelated.txt").write_text("kept\n")
    again = run_sim(out, "--seed", "7", "--overwrite")
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "config.json").read_text())["seed"] == 7
    assert (out / "unrelated.txt").read_text() == "kept\n"  # only our own files were replaced


def test_a_duplicate_tree_on_resume_is_refused(tmp_path):
    out = tmp_path / "run"
    assert run_sim(out).returncode == 0
    lines = (out / "trees.jsonl").read_text().splitlines()
    (out / "trees.jsonl").write_text("\n".join([*lines, lines[0]]) + "\n")
    refused(run_sim(out), f"trees.jsonl:{len(lines) + 1}: tree '{json.loads(lines[0])['tree_id']}' is here twice")


def test_a_torn_last_line_is_cut_without_reading_the_file_whole(tmp_path):
    out = tmp_path / "run"
    assert run_sim(out).returncode == 0
    whole = (out / "trees.jsonl").read_bytes()
    (out / "trees.jsonl").write_bytes(whole + b'{"format": "debate-tree", "tre' + b"x" * 200_000)
    again = run_sim(out)
    assert again.returncode == 0, again.stderr
    assert (out / "trees.jsonl").read_bytes() == whole


def test_cached_replies_count_no_retries_on_resume(tmp_path):
    from agents.cache import GenerationCache
    from debate.records import Reply

    cache = GenerationCache(tmp_path / "cache.sqlite")
    cache.put_many([("k", Reply(text="x", model="m", retries=3))])
    assert cache.get_many(["k"])["k"].retries == 0  # counted once, when it was generated
    cache.close()


# ---------------------------------------------------------------- 2, 3. outputs

def test_show_png_never_replaces_an_input_or_a_file_of_another_kind(tmp_path):
    out = tmp_path / "run"
    assert run_sim(out).returncode == 0
    trees = out / "trees.jsonl"
    before = snapshot(tmp_path)
    refused(debate("show", str(trees), "--png", str(trees)), "is an input of this command")
    refused(debate("show", str(trees), "--png", str(out / "config.json")), "exists and is not a PNG file; use --force")
    refused(debate("show", str(trees), "--png", str(out)), "is a directory")
    assert snapshot(tmp_path) == before
    assert debate("show", str(trees), "--png", str(out / "config.json"), "--force").returncode == 0
    assert (out / "config.json").read_bytes().startswith(b"\x89PNG")
    assert debate("show", str(trees), "--png", str(tmp_path / "t.png")).returncode == 0
    assert debate("show", str(trees), "--png", str(tmp_path / "t.png")).returncode == 0  # a PNG may be replaced


def test_export_gives_every_tree_its_own_file_and_writes_nothing_on_a_bad_line(tmp_path):
    out = tmp_path / "run"
    assert run_sim(out).returncode == 0
    lines = [json.loads(line) for line in (out / "trees.jsonl").read_text().splitlines()]
    for record, tree_id in zip(lines, ["a/b", "a_b", "x" * 400]):
        record["tree_id"] = tree_id
    trees = tmp_path / "ids.jsonl"
    trees.write_text("".join(json.dumps(r) + "\n" for r in lines))
    done = debate("export", str(trees), "--out", str(tmp_path / "graphml"))
    assert done.returncode == 0 and "wrote 3 GraphML files" in done.stdout, done.stderr
    assert len(list((tmp_path / "graphml").iterdir())) == 3
    trees.write_text(trees.read_text() + "{not json\n")
    refused(debate("export", str(trees), "--out", str(tmp_path / "fresh")), "ids.jsonl:4: invalid JSON")
    assert not (tmp_path / "fresh").exists()
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "thesis.tex").write_text("mine\n")
    trees.write_text("".join(json.dumps(r) + "\n" for r in lines))
    refused(debate("export", str(trees), "--out", str(tmp_path / "mixed")), "holds thesis.tex")
    assert [p.name for p in (tmp_path / "mixed").iterdir()] == ["thesis.tex"]


# ---------------------------------------------------------------- 4. the questions are part of a run

def test_a_changed_question_file_is_not_resumed_as_the_same_run(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "q1", "text": "Capital of France?", "gold": ["Paris"]}\n')
    config = parse_config({"protocol": {"kind": "challenge"}, "agents": {"model": {"model": "sim:strong"}},
                           "questions": str(questions)})
    assert execute(config, tmp_path / "run", progress=False).stats.trees == 1
    questions.write_text('{"id": "q1", "text": "Capital of Italy?", "gold": ["Rome"]}\n')
    with pytest.raises(ConfigError, match="field 'questions': the questions .* content changed"):
        execute(config, tmp_path / "run", progress=False)
    assert execute(config, tmp_path / "run", overwrite=True, progress=False).stats.trees == 1
    tree = json.loads((tmp_path / "run" / "trees.jsonl").read_text())
    assert tree["question"]["gold"] == ["Rome"]
    # The digest covers the whole file: a larger limit still resumes the same run.
    questions.write_text(questions.read_text() + '{"id": "q2", "text": "Capital of Spain?", "gold": ["Madrid"]}\n')
    first = parse_config({**config.model_dump(mode="json"), "limit": 1})
    execute(first, tmp_path / "more", progress=False)
    assert execute(config, tmp_path / "more", progress=False).stats.skipped == 1


# ---------------------------------------------------------------- 5. user strings as path parts

@pytest.mark.parametrize("name", ["../../escaped", "a-then-b", "x/y", ".hidden", ""])
def test_pairing_names_that_cannot_name_a_folder_are_refused(tmp_path, name):
    config = tmp_path / "pairing.toml"
    config.write_text(f'limit = 2\n[agents."{name}"]\nmodel = "sim:strong"\n[agents.other]\nmodel = "sim:weak"\n')
    work = tmp_path / "work"
    work.mkdir()
    before = snapshot(tmp_path)
    refused(debate("pairing", str(config), "--out", str(work / "out"), "--no-progress"),
            f"field 'agents.{name}': agent name")
    assert snapshot(tmp_path) == before


def test_eval_specs_that_differ_only_in_options_get_folders_of_their_own(tmp_path):
    run = debate("eval", "ays", "--models", "sim:x?accuracy=0.9", "--models", "sim:x?accuracy=0.1", "--limit", "4",
                 "--out", str(tmp_path / "e"), "--no-progress")
    assert run.returncode == 0, run.stderr
    folders = [p for p in (tmp_path / "e").iterdir() if p.is_dir()]
    assert len(folders) == 2
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    accuracy = [report["models"][spec]["accuracy_before"] for spec in ("sim:x?accuracy=0.9", "sim:x?accuracy=0.1")]
    assert accuracy[0] > accuracy[1]


def test_eval_refuses_before_it_writes(tmp_path):
    before = snapshot(tmp_path)
    refused(debate("eval", "ays", "--appeal", "emotional", "--models", "sim:strong", "--out", str(tmp_path / "e")),
            "field '--appeal': appeals are for the farm evaluation")
    refused(debate("eval", "farm", "--appeal", "angry", "--models", "sim:strong", "--out", str(tmp_path / "e")),
            "field 'protocol.appeal'")
    refused(debate("eval", "farm", "--models", "nothing", "--out", str(tmp_path / "e")), "unknown model spec")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- 8. bounded sizes

def test_an_astronomical_tree_is_refused_at_once(tmp_path):
    levels = ", ".join('{{speaker = "{}", personas = ["neutral", "logical", "emotional"]}}'.format("AB"[i % 2])
                       for i in range(12))
    config = tmp_path / "tree.toml"
    config.write_text(f'[protocol]\nkind = "tree"\nstop_on_agreement = false\nlevels = [{levels}]\n'
                      '[agents.A]\nmodel = "sim:strong"\n[agents.B]\nmodel = "sim:weak"\n')
    refused(debate("run", str(config), "--out", str(tmp_path / "out"), "--no-progress"),
            "can reach 797,160 turns per question, more than max_turns = 5,000")
    assert not (tmp_path / "out").exists()
    config.write_text(config.read_text().replace("stop_on_agreement = false", "max_turns = 1000000"))
    assert load_config(config).protocol.max_turns == 1_000_000  # raised explicitly, the bound moves


# ---------------------------------------------------------------- prefs: written whole, marked complete

@pytest.fixture(scope="module")
def sim_trees(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trees") / "run"
    run = debate("tree", "--a", "sim:strong", "--b", "sim:gullible", "--questions", "sample-train", "--limit", "40",
                 "--out", str(out), "--no-progress")
    assert run.returncode == 0, run.stderr
    return out / "trees.jsonl"


def test_prefs_writes_only_into_a_folder_of_its_own(tmp_path, sim_trees):
    data = tmp_path / "data"
    data.mkdir()
    (data / "thesis.tex").write_text("mine\n")
    before = snapshot(tmp_path)
    refused(debate("prefs", str(sim_trees), "--out", str(data)), "holds thesis.tex, which `debate prefs` did not write")
    assert snapshot(tmp_path) == before


def test_train_refuses_a_folder_prefs_did_not_finish(tmp_path, sim_trees):
    data = tmp_path / "data"
    assert debate("prefs", str(sim_trees), "--out", str(data)).returncode == 0
    (data / ".train.jsonl.x1y2.tmp").write_text("half")  # as a kill mid-write leaves it
    card = (data / "card.json").read_bytes()
    (data / "card.json").unlink()  # as a kill before the last write leaves it
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"")
    (model / "tokenizer.json").write_text("{}")
    refused(debate("train", str(data), "--model", str(model), "--out", str(tmp_path / "o")),
            "`debate prefs` did not finish writing this folder")
    assert not (tmp_path / "o").exists()
    again = debate("prefs", str(sim_trees), "--out", str(data))
    assert again.returncode == 0, again.stderr
    assert (data / "card.json").read_bytes() == card  # the same data, now marked complete
    assert not (data / ".train.jsonl.x1y2.tmp").exists()


def test_train_checks_the_model_folder_before_the_heavy_imports(tmp_path, sim_trees):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    refused(debate("train", str(tmp_path), "--model", str(model), "--out", str(tmp_path / "o"), timeout=15),
            "not a transformers model folder (no weights")


@pytest.mark.parametrize("crash_at", ["atomic-rename:1", "atomic-rename:4", "atomic-rename:8"])
def test_prefs_killed_mid_write_is_refused_by_train_then_completed_by_a_rerun(tmp_path, sim_trees, crash_at):
    import subprocess
    import sys

    data = tmp_path / "data"
    command = [sys.executable, "-m", "debate.cli", "prefs", str(sim_trees), "--out", str(data)]
    killed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DEBATE_CRASH_AT": crash_at})
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no clean-up ran
    assert not (data / "card.json").exists()
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"")
    (model / "tokenizer.json").write_text("{}")
    if (data / "train.jsonl").exists():
        refused(debate("train", str(data), "--model", str(model), "--out", str(tmp_path / "o")),
                "`debate prefs` did not finish writing this folder")
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    whole = tmp_path / "whole"
    assert debate("prefs", str(sim_trees), "--out", str(whole)).returncode == 0
    assert sorted(p.name for p in data.iterdir()) == sorted(p.name for p in whole.iterdir())  # no temp file left
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "balanced-test.trees.jsonl"):
        assert (data / name).read_bytes() == (whole / name).read_bytes()
