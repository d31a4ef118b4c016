"""Shards of one run (`--shard K/N`) and `debate merge`: the merged run is the one process run."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import debate

from debate.data import load_questions
from debate.errors import UserError
from protocols.config import parse_config
from protocols.merge import merge
from protocols.run import execute

TREE = {"protocol": {"kind": "tree"}, "questions": "sample-train", "limit": 23, "seed": 3,
        "agents": {"A": {"model": "sim:strong", "temperature": 0.7}, "B": {"model": "sim:gullible",
                                                                          "temperature": 0.7}}}


def _trees(folder: Path) -> list[str]:
    return (folder / "trees.jsonl").read_text().splitlines()


def _ids(folder: Path) -> list[str]:
    return [json.loads(line)["tree_id"] for line in _trees(folder)]


def _sharded(tmp_path: Path, count: int, data: dict | None = None) -> list[Path]:
    paths = [tmp_path / f"s{k}" for k in range(1, count + 1)]
    for k, path in enumerate(paths, 1):
        execute(parse_config({**(data or TREE), "shard": f"{k}/{count}"}), path, progress=False)
    return paths


def test_shards_partition_the_questions_by_position(tmp_path):
    paths = _sharded(tmp_path, 3)
    ids = [q.id for q in load_questions("sample-train")[:23]]
    for k, path in enumerate(paths, 1):
        assert sorted(_ids(path)) == sorted(ids[k - 1::3])  # positions k-1, k-1+3, ...
    assert sum(len(_ids(p)) for p in paths) == 23


def test_merged_shards_equal_the_single_process_run(tmp_path):
    execute(parse_config(TREE), tmp_path / "whole", progress=False)
    [result] = merge(_sharded(tmp_path, 3), tmp_path / "merged")
    merged, whole = tmp_path / "merged", tmp_path / "whole"
    assert result.trees == 23 and result.failed == 0
    assert sorted(_trees(merged)) == sorted(_trees(whole))  # every tree, byte for byte
    assert _ids(merged) == [q.id for q in load_questions("sample-train")[:23]]  # in question order
    assert json.loads((merged / "config.json").read_text()) == json.loads((whole / "config.json").read_text())
    manifests = [json.loads((f / "manifest.json").read_text()) for f in (merged, whole)]
    assert manifests[0]["summary"] == manifests[1]["summary"] and manifests[0]["status"] == "finished"
    assert manifests[0]["stats"]["turns"] == manifests[1]["stats"]["turns"]
    before = _trees(merged)
    [twice] = merge(_sharded(tmp_path, 3), merged)  # merging again changes nothing
    assert _trees(merged) == before and twice.summary == result.summary
    again = execute(parse_config(TREE), merged, progress=False)  # the whole run, resumed: nothing to do
    assert again.stats.skipped == 23 and again.stats.trees == 0 and again.stats.turns == 0


def test_merge_takes_the_shards_cache_entries(tmp_path, tiny_model_dir):
    tiny = {"model": f"hf:{tiny_model_dir}", "max_tokens": 4}
    paths = _sharded(tmp_path, 2, {**TREE, "limit": 4, "agents": {"A": tiny, "B": tiny}})
    merge(paths, tmp_path / "merged")

    def keys(path: Path) -> set[str]:
        with sqlite3.connect(path / "cache.sqlite") as db:
            return {row[0] for row in db.execute("SELECT key FROM replies")}

    first, second = keys(paths[0]), keys(paths[1])
    assert first - second and second - first and keys(tmp_path / "merged") == first | second


def test_merge_refuses_shards_that_do_not_make_one_run(tmp_path):
    paths = _sharded(tmp_path, 3)
    other = tmp_path / "other"
    execute(parse_config({**TREE, "seed": 4, "shard": "3/3"}), other, progress=False)
    cases = [
        ([paths[0], paths[1], other], "ran another config", "field 'seed'"),
        ([paths[0], paths[0], paths[1]], "shard 1/3 is given twice", "s1"),
        ([paths[0], paths[1]], "shard 3/3 is missing", "SHARDS"),
    ]
    for shards, message, where in cases:
        with pytest.raises(UserError) as caught:
            merge(shards, tmp_path / "m")
        assert message in caught.value.one_line() and where in caught.value.one_line()
    assert not (tmp_path / "m").exists()
    whole = tmp_path / "whole"
    execute(parse_config(TREE), whole, progress=False)
    with pytest.raises(UserError, match="is a whole run, not a shard"):
        merge([paths[0], whole], tmp_path / "m")
    manifest = json.loads((paths[2] / "manifest.json").read_text())
    (paths[2] / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    with pytest.raises(UserError, match="has not finished"):
        merge(paths, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_shard_and_merge_from_the_command_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('questions = "sample:open"\nlimit = 9\n[protocol]\nkind = "debate"\n'
                      '[agents.A]\nmodel = "sim:strong"\n[agents.B]\nmodel = "sim:weak"\n')
    for k in (1, 2):
        run = debate("run", str(config), "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}"), "--no-progress")
        assert run.returncode == 0, run.stderr
    merged = debate("merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "m"))
    assert merged.returncode == 0 and "9 dialogues, 0 failed" in merged.stdout, merged.stderr
    resumed = debate("run", str(config), "--out", str(tmp_path / "m"), "--no-progress")
    assert resumed.returncode == 0 and "0 dialogues finished, 9 already done" in resumed.stdout
    bad = debate("run", str(config), "--shard", "3/2", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "expected K/N with 1 <= K <= N, got '3/2'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_sharded_pairing_merges_into_the_same_report(tmp_path):
    common = ["--backend", "sim", "--limit", "12", "--no-progress"]
    assert debate("pairing", *common, "--out", str(tmp_path / "whole")).returncode == 0
    for k in (1, 2):
        run = debate("pairing", *common, "--shard", f"{k}/2", "--out", str(tmp_path / f"p{k}"))
        assert run.returncode == 0, run.stderr
    merged = debate("merge", str(tmp_path / "p1"), str(tmp_path / "p2"), "--out", str(tmp_path / "m"))
    assert merged.returncode == 0 and merged.stdout.count("12 dialogues") == 2, merged.stdout + merged.stderr
    assert debate("pairing", *common, "--out", str(tmp_path / "m")).returncode == 0
    reports = [json.loads((tmp_path / f / "report.json").read_text()) for f in ("m", "whole")]
    assert reports[0] == reports[1]
