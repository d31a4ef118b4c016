"""SFT, then DPO, with TRL and a LoRA adapter (PBT.md section 7).

1. SFT on the chosen replies (`sft_train.jsonl`) with a fresh LoRA adapter; the adapter is then
   merged, giving the SFT model.
2. DPO from the SFT model (`train.jsonl`) with a second LoRA adapter; the reference model is
   the SFT model itself (TRL disables the adapter to compute it), beta 0.1, sigmoid loss.
3. Checkpoints are chosen by **balanced accuracy** on the dev split (PBT.md 8.3), not by loss: at
   every save, a callback lets the model being trained continue each dev dialogue once (the
   Replay protocol) and scores the resist and accept halves. The best adapter and its merged
   model are saved.

Both stages resume from their last checkpoint when run again with the same output folder.
Paper defaults (240 SFT steps, effective batch ~80, DPO lr 5e-4, LoRA r 16 / alpha 32 /
dropout 0.05 on the attention projections) scale down on CPU: the step counts and batch size
are settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from debate import crash
from agents.registry import check_model_folder
from debate.errors import DataError, EndpointError
from training.build import is_complete
from debate.storage import atomic_save_pretrained, atomic_write_json, parse_json, read_lines
from debate.tree import DialogueTree, iter_trees

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sft_steps: int = Field(default=240, ge=0)
    dpo_steps: int = Field(default=200, ge=1)
    batch_size: int = Field(default=4, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    sft_lr: float = Field(default=2e-4, gt=0)
    dpo_lr: float = Field(default=5e-4, gt=0)
    beta: float = Field(default=0.1, gt=0)
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    max_length: int = Field(default=1024, ge=32)
    save_steps: int = Field(default=50, ge=1)
    eval_max_tokens: int = Field(default=48, ge=1)
    seed: int = 0


def _rows(path: Path, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The `keys` of every record of a JSONL file; a record without them is a DataError at its line."""
    rows = []
    for number, line in read_lines(path):
        if line.strip():
            record = parse_json(line, str(path), number)
            missing = [k for k in keys if not isinstance(record, dict) or k not in record]
            if missing:
                raise DataError("not a training record", file=str(path), line=number, field=missing[0])
            rows.append({k: record[k] for k in keys})
    return rows


def _check_data(data: Path) -> None:
    needed = ("train.jsonl", "sft_train.jsonl", "balanced-dev.trees.jsonl")
    if any((data / name).exists() for name in needed) and not is_complete(data):
        raise DataError("`debate prefs` did not finish writing this folder (no complete card.json); "
                        "run it again", file=str(data))
    for name in needed:
        if not (data / name).is_file():
            raise DataError(f"not a preference-data folder (no {name}); make one with `debate prefs`", file=str(data))


def balanced_accuracy(model: Any, tokenizer: Any, dev_trees: Path, max_tokens: int) -> dict[str, float | None]:
    """Let the model continue every dev dialogue once; accuracy on each half and their mean."""
    from agents.agent import Agent
    from agents.hf_backend import HFChatModel
    from debate.records import GenerationParams
    from protocols.engine import Engine
    from protocols.replay import Replay, ReplayOutcome

    chat = HFChatModel.from_loaded(model, tokenizer, "hf:training")
    agent = Agent("model", chat, params=GenerationParams(temperature=0.0, max_tokens=max_tokens))
    trees: list[DialogueTree] = []
    was_training = model.training
    model.eval()
    try:
        Engine(Replay(), {"model": agent}).run(iter_trees(dev_trees), trees.append)
    finally:
        model.train(was_training)
    halves: dict[str, list[bool]] = {"resist": [], "accept": []}
    for tree in trees:
        if "outcome" in tree.metadata:  # not a failed dialogue
            outcome = ReplayOutcome.model_validate(tree.metadata["outcome"])
            halves.setdefault(str(outcome.label), []).extend(c.correct for c in outcome.continuations)
    rates = {label: (sum(v) / len(v) if v else None) for label, v in halves.items() if label in ("resist", "accept")}
    known = [r for r in rates.values() if r is not None]
    return {**rates, "balanced": sum(known) / len(known) if known else None}


def train(model_path: str | Path, data: str | Path, out: str | Path,
          config: TrainConfig | None = None) -> dict[str, Any]:
    """SFT then DPO; returns the training summary (also saved as OUT/training.json)."""
    config = config or TrainConfig()
    model_path, data, out = Path(model_path), Path(data), Path(out)
    check_model_folder(model_path)
    _check_data(data)
    # Every record is read and checked before the heavy imports and the model.
    sft_rows = _rows(data / "sft_train.jsonl", ("messages",))
    pref_rows = _rows(data / "train.jsonl", ("prompt", "chosen", "rejected"))
    import datasets
    import torch
    from peft import AutoPeftModelForCausalLM, LoraConfig
    from transformers import AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    datasets.disable_progress_bars()
    torch.manual_seed(config.seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except Exception as exc:  # a broken tokenizer file raises whatever its parser raises
        raise EndpointError(f"cannot load the tokenizer: {type(exc).__name__}: {str(exc)[:200]}",
                            file=str(model_path)) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=ATTENTION, task_type="CAUSAL_LM")
    common: dict[str, Any] = dict(
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        save_steps=config.save_steps, logging_steps=1, report_to=[], use_cpu=not torch.cuda.is_available(),
        bf16=False, seed=config.seed, gradient_checkpointing=False, disable_tqdm=True)
    summary: dict[str, Any] = {"model": str(model_path), "data": str(data), "config": config.model_dump()}

    # 1. SFT on the chosen replies, then merge. The merged folder appears (by rename) only when
    # complete, so its presence means the stage is done.
    base_for_dpo = model_path
    if config.sft_steps:
        sft_dir = out / "sft"
        if not (sft_dir / "merged" / "config.json").is_file():
            _fit(lambda: SFTTrainer(model=str(model_path), processing_class=tokenizer, peft_config=lora,
                                    train_dataset=datasets.Dataset.from_list(sft_rows),
                                    args=SFTConfig(output_dir=str(sft_dir / "checkpoints"), max_steps=config.sft_steps,
                                                   learning_rate=config.sft_lr, max_length=config.max_length,
                                                   **common)),
                 sft_dir / "checkpoints", config.sft_steps)
            final = sft_dir / "checkpoints" / f"checkpoint-{config.sft_steps}"
            merged = AutoPeftModelForCausalLM.from_pretrained(str(final)).merge_and_unload()
            atomic_save_pretrained(sft_dir / "merged", merged, tokenizer)
        summary["sft_loss"] = _losses(sft_dir / "checkpoints" / f"checkpoint-{config.sft_steps}")
        base_for_dpo = sft_dir / "merged"

    # 2. DPO from the SFT model, checkpoints scored by balanced accuracy on dev. The trainer saves
    # (and the callback scores) every `save_steps` and at the last step.
    dpo_dir = out / "dpo"
    dev_trees = data / "balanced-dev.trees.jsonl"
    scores = _earlier_scores(out)  # checkpoints scored by an earlier, interrupted run

    def score(step: int, model: Any) -> None:
        scores[step] = balanced_accuracy(model, tokenizer, dev_trees, config.eval_max_tokens)
        atomic_write_json(out / "scores.json", {str(k): v for k, v in sorted(scores.items())})
        crash.point("train-scored")

    class BalancedAccuracy(TrainerCallback):
        def on_save(self, args, state, control, model=None, **kwargs):  # noqa: ANN001 - TrainerCallback API
            score(state.global_step, model)

    def dpo_trainer() -> Any:
        trainer = DPOTrainer(model=str(base_for_dpo), processing_class=tokenizer, peft_config=lora,
                             train_dataset=datasets.Dataset.from_list(pref_rows), callbacks=[BalancedAccuracy()],
                             args=DPOConfig(output_dir=str(dpo_dir / "checkpoints"), max_steps=config.dpo_steps,
                                            learning_rate=config.dpo_lr, beta=config.beta, loss_type="sigmoid",  # type: ignore[arg-type]  # TRL takes one name or a list
                                            max_length=config.max_length, **common))
        # TRL drops, without a word, records whose prompt alone fills max_length.
        kept = len(trainer.train_dataset)  # type: ignore[arg-type]  # a map-style Dataset here
        if not kept:
            raise DataError(f"every prompt is at least --max-length ({config.max_length}) tokens long, and TRL "
                            "drops such records: raise --max-length", file=str(data / "train.jsonl"))
        summary["dpo_records"] = {"kept": kept, "dropped": len(pref_rows) - kept}
        return trainer

    _fit(dpo_trainer, dpo_dir / "checkpoints", config.dpo_steps)
    for checkpoint in sorted((dpo_dir / "checkpoints").glob("checkpoint-*")):
        step = _step(checkpoint)
        if step not in scores:  # saved, then killed before its score was written
            score(step, AutoPeftModelForCausalLM.from_pretrained(str(checkpoint)))
    summary["dpo_loss"] = _losses(dpo_dir / "checkpoints" / f"checkpoint-{config.dpo_steps}")
    best = max(scores, key=lambda step: (scores[step]["balanced"] or -1.0, step))
    summary.update({"checkpoint_scores": {str(k): v for k, v in sorted(scores.items())}, "best_step": best})

    # 3. The best adapter, and the merged model (the base it was trained on plus the adapter).
    chosen = AutoPeftModelForCausalLM.from_pretrained(str(dpo_dir / "checkpoints" / f"checkpoint-{best}"))
    atomic_save_pretrained(out / "adapter", chosen, tokenizer)
    atomic_save_pretrained(out / "merged", chosen.merge_and_unload(), tokenizer)
    crash.point("train-saved")
    atomic_write_json(out / "training.json", summary)
    return summary


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-")[1])


def _fit(make_trainer: Callable[[], Any], checkpoints: Path, max_steps: int) -> None:
    """Train to `max_steps`, resuming from the last checkpoint. A finished stage is left alone:
    resumed from its final checkpoint, transformers trains one step past it."""
    found = sorted(checkpoints.glob("checkpoint-*"), key=_step) if checkpoints.is_dir() else []
    if found and _step(found[-1]) >= max_steps:
        return
    make_trainer().train(resume_from_checkpoint=str(found[-1]) if found else None)


def _losses(checkpoint: Path) -> list[float]:
    """The training losses logged up to a checkpoint (across interrupted runs)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def _earlier_scores(out: Path) -> dict[int, dict[str, float | None]]:
    path = out / "scores.json"
    return {int(k): v for k, v in json.loads(path.read_text()).items()} if path.exists() else {}
