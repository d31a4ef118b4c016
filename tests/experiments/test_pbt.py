"""The end-to-end PBT experiment's orchestration, small: sim agents make the trees, the tiny
model is trained under the three conditions and evaluated with the base on balanced persuasion
and "Are you sure?"; a second invocation resumes without training again. (The real run with
SmolLM2 is `debate pbt`; its figures are in the README.)"""

from __future__ import annotations

import json

import pytest

from debate.errors import UserError
from experiments.pbt import PBTConfig, run_pbt
from training.trainer import TrainConfig


@pytest.mark.slow
def test_pbt_end_to_end_small(tiny_model_dir, tmp_path):
    config = PBTConfig(base_model=str(tiny_model_dir), tree_a="sim:strong", tree_b="sim:gullible",
                       questions="sample", limit=170, eval_limit=12,
                       train=TrainConfig(sft_steps=2, dpo_steps=2, save_steps=2, batch_size=2, max_length=1024,
                                         eval_max_tokens=8))
    report = run_pbt(config, tmp_path)
    assert set(report["evaluations"]) == {"balanced", "ays"}  # no Farm folder given
    for table in report["evaluations"].values():
        assert set(table["rows"]) == {"base", "accept", "resist", "balanced"}
        assert all(v is None or 0 <= v <= 1 or table["columns"][i] == "difference"
                   for values in table["rows"].values() for i, v in enumerate(values))
    assert set(report["evaluations"]["ays"]["n"].values()) == {12}
    cards = report["cards"]
    by_label = {c: cards[c]["train"]["by_label"] for c in ("accept", "resist", "balanced")}
    n = by_label["balanced"]["accept"]
    assert n == by_label["balanced"]["resist"] == by_label["resist"]["resist"] > 0
    assert by_label["accept"] == {"accept": n} and by_label["resist"] == {"resist": n}  # matched sizes
    # The three conditions share one split: the same balanced test set.
    tests = {(tmp_path / f"data-{c}" / "test.jsonl").read_text() for c in ("accept", "resist", "balanced")}
    assert len(tests) == 1
    for condition in ("accept", "resist", "balanced"):
        assert (tmp_path / f"model-{condition}" / "merged" / "config.json").is_file()
    markdown = (tmp_path / "report.md").read_text()
    assert "| PBT (balanced) |" in markdown and "## Pairs" in markdown

    trained = {c: (tmp_path / f"model-{c}" / "training.json").stat().st_mtime_ns
               for c in ("accept", "resist", "balanced")}
    again = run_pbt(config, tmp_path)
    assert again["evaluations"] == report["evaluations"]
    assert {c: (tmp_path / f"model-{c}" / "training.json").stat().st_mtime_ns for c in trained} == trained
    assert json.loads((tmp_path / "timings.json").read_text()).keys() >= {"trees", "prefs", "eval-ays"}
    with pytest.raises(UserError, match="was trained with other settings"):  # never a silent mix
        run_pbt(config.model_copy(update={"train": config.train.model_copy(update={"dpo_steps": 3})}), tmp_path)
