"""EasyR1's in-training checkpoints and validation for trl's GRPOTrainer, as trainer callbacks.

EasyR1 (train/easyr1/verl/trainer/ray_trainer.py) counts a step per rollout batch
(`global_step += 1` per dataloader batch of `rollout_batch_size` prompts, :476-478); it
validates before training (:470-472), every `val_freq` steps (:594-602) and after the last step
if that was not a validation step (:617-624), and saves `global_step_<n>/` every `save_freq`
steps (:604-606, :400). A validation generates one sample per validation prompt with
`val_override_config` (temperature 0.5, n 1: config.yaml:60-62), scores it with the reward
function and logs `val/reward_score` and `val/<part>_reward` (:310-323).

trl counts optimiser steps, and one rollout batch is `rollout_batch_prompts /
update_batch_prompts` of them (4 in the cards), so rollout step n ends at trl step 4n. Here:

- `StepCheckpoints` writes `<stage>/global_step_<n>/` (weights as bf16, processor, chat template,
  an `ovlt_train.json` record naming the step) every `checkpoints.save_steps` rollout steps;
- `InTrainingValidation` scores the validation set every `validation.eval_steps` rollout steps
  and appends `{"step", "rollout_step", "val/reward_score", …}` to the stage's train_log.jsonl
  (and the trainer's log history, hence the final record).

Validation generates with the policy model itself (transformers `generate`, sampled at the
card's temperature); each process takes every world-th prompt and the scores are summed over
processes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ovlt_train.trainer_logging import LOG_NAME

STEP_DIR = "global_step_{}"


def optimizer_steps_per_rollout(card: Any) -> int:
    return max(1, card.rollout_batch_prompts // card.update_batch_prompts)


def step_checkpoint_dir(stage_dir: str | Path, rollout_step: int) -> Path:
    return Path(stage_dir) / STEP_DIR.format(rollout_step)


def _callback_base():
    from transformers.trainer_callback import TrainerCallback

    return TrainerCallback


def make_step_checkpoints(trainer: Any, processor: Any, card: Any, out: Path, record: dict):
    """A callback saving a loadable checkpoint every `card.checkpoints.save_steps` rollout
    steps; `record` is the stage's record so far (the step is added)."""
    from ovlt_train.model_io import save_checkpoint

    every = card.checkpoints.save_steps * optimizer_steps_per_rollout(card)
    per_rollout = optimizer_steps_per_rollout(card)
    save_dtype = record.get("precision", {}).get("save_dtype")

    class StepCheckpoints(_callback_base()):
        def on_step_end(self, args, state, control, **kwargs):
            if every <= 0 or state.global_step % every:
                return
            rollout_step = state.global_step // per_rollout
            where = step_checkpoint_dir(out, rollout_step)
            save_checkpoint(
                trainer,
                processor,
                where,
                {
                    **record,
                    "checkpoint": {
                        "rollout_step": rollout_step,
                        "optimizer_step": state.global_step,
                        "final": False,
                    },
                    "log_history": list(state.log_history),
                },
                save_dtype=save_dtype,
            )
            if state.is_world_process_zero:
                _copy_log(out / LOG_NAME, where / LOG_NAME)

    return StepCheckpoints()


def _copy_log(src: Path, dst: Path) -> None:
    if src.is_file():
        dst.write_bytes(src.read_bytes())


def make_validation(
    trainer: Any, processor: Any, card: Any, out: Path, items: list[dict[str, Any]]
):
    """A callback validating on `items` (trl-grpo rows: prompt, images, solution, …)."""
    spec = card.validation
    per_rollout = optimizer_steps_per_rollout(card)
    every = spec.eval_steps * per_rollout
    log_path = out / LOG_NAME
    done: set[int] = set()

    def validate(state) -> None:
        if state.global_step in done:
            return
        done.add(state.global_step)
        figures = validation_scores(trainer, processor, card, items)
        entry = {"step": state.global_step, "rollout_step": state.global_step // per_rollout}
        entry.update(figures)
        state.log_history.append(entry)
        if state.is_world_process_zero:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("a") as fh:
                fh.write(json.dumps(entry) + "\n")

    class InTrainingValidation(_callback_base()):
        def on_train_begin(self, args, state, control, **kwargs):
            if spec.before_train:
                validate(state)

        def on_step_end(self, args, state, control, **kwargs):
            if every > 0 and state.global_step % every == 0:
                validate(state)

        def on_train_end(self, args, state, control, **kwargs):
            validate(state)  # ray_trainer.py:617-624: unless the last step was validated

    return InTrainingValidation()


def validation_scores(
    trainer: Any, processor: Any, card: Any, items: list[dict[str, Any]]
) -> dict[str, float]:
    """`val/reward_score` (the weighted reward, as trained on) and `val/<part>_reward`, means
    over the validation items, summed across processes."""
    import torch

    from ovlt_train.rewards import build_reward_funcs

    acc = trainer.accelerator
    rank, world = acc.process_index, acc.num_processes
    mine = items[rank::world]
    batch = card.validation.batch_size
    n_batches = math.ceil(math.ceil(len(items) / world) / batch) if items else 0
    funcs, weights = build_reward_funcs(card.reward)
    sums = torch.zeros(len(funcs) + 2, dtype=torch.float64)
    model = acc.unwrap_model(trainer.model)
    was_training = model.training
    model.eval()
    try:
        for b in range(n_batches):
            chunk = mine[b * batch : (b + 1) * batch]
            real = len(chunk)
            if not chunk:  # every process runs as many generate calls (ZeRO-3 lockstep)
                chunk = items[:1]
            texts = _generate(trainer, processor, card, model, chunk)
            if not real:
                continue
            extra = {
                k: [row.get(k) for row in chunk]
                for k in ("answer_type", "choices")
                if any(k in row for row in chunk)
            }
            completions = [[{"role": "assistant", "content": t}] for t in texts]
            solution = [row["solution"] for row in chunk]
            total = [0.0] * len(chunk)
            for i, (func, w) in enumerate(zip(funcs, weights, strict=True)):
                values = func(prompts=None, completions=completions, solution=solution, **extra)
                sums[i] += sum(values)
                total = [t + w * v for t, v in zip(total, values, strict=True)]
            sums[len(funcs)] += sum(total)
            sums[len(funcs) + 1] += real
    finally:
        if was_training:
            model.train()
    sums = acc.reduce(sums.to(acc.device), reduction="sum").cpu() if world > 1 else sums
    n = max(float(sums[-1]), 1.0)
    out = {"val/reward_score": float(sums[len(funcs)]) / n, "val/items": int(sums[-1])}
    for i, func in enumerate(funcs):
        out[f"val/{func.__name__}_reward"] = float(sums[i]) / n
    return out


def _generate(trainer: Any, processor: Any, card: Any, model: Any, rows: list[dict]) -> list[str]:
    import torch
    from trl.data_utils import prepare_multimodal_messages

    from ovlt_eval.engines.images import load_pil  # the harness's own image reading

    images = [[load_pil(img) for img in (row.get("images") or [])] for row in rows]
    # as trl's GRPOTrainer does: image blocks where the prompt has none yet
    prompts = [
        processor.apply_chat_template(
            prepare_multimodal_messages(row["prompt"], imgs) if imgs else row["prompt"],
            add_generation_prompt=True,
            tokenize=False,
        )
        for row, imgs in zip(rows, images, strict=True)
    ]
    kwargs: dict[str, Any] = {"text": prompts, "padding": True, "return_tensors": "pt"}
    if any(images):
        kwargs["images"] = [img for imgs in images for img in imgs]
    tokenizer = getattr(processor, "tokenizer", processor)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        inputs = processor(**kwargs).to(trainer.accelerator.device)
    finally:
        tokenizer.padding_side = side
    bf16 = card.bf16 and trainer.accelerator.device.type == "cuda"
    with (
        torch.no_grad(),
        torch.autocast(trainer.accelerator.device.type, dtype=torch.bfloat16, enabled=bf16),
    ):
        generated = model.generate(
            **inputs,
            do_sample=True,
            temperature=card.validation.temperature,
            top_p=card.validation.top_p,
            max_new_tokens=card.max_completion_length,
            synced_gpus=trainer.is_deepspeed_enabled and trainer.accelerator.num_processes > 1,
        )
    new = generated[:, inputs["input_ids"].shape[1] :]
    return processor.batch_decode(new, skip_special_tokens=True)


def validation_spec(card: Any, stage_spec: Any):
    """The validation data of a stage (a DataSpec), or (None, why)."""
    from ovlt_train.data import RELEASED_GRPO_STAGE, DataSpec, parse_spec

    spec = card.validation
    if spec.eval_steps <= 0 and not spec.before_train:
        return None, "validation off (eval_steps 0)"
    if spec.data == "none":
        return None, "validation data: none"
    if spec.data == "auto":
        if stage_spec.source in RELEASED_GRPO_STAGE:  # EasyR1 val_files = the set's @test
            return DataSpec(stage_spec.source, stage_spec.revision, None, "test"), None
        return None, (
            f"validation data auto: {stage_spec.source} is not a released set with a test "
            "split; set validation.data to a --data spec"
        )
    return parse_spec(spec.data), None


def attach_stage_callbacks(
    trainer: Any, processor: Any, card: Any, stage_spec: Any, out: Path, record: dict
) -> dict[str, Any]:
    """Add the step-checkpoint and validation callbacks to a GRPO stage's trainer; returns what
    the stage record says about them."""
    info: dict[str, Any] = {
        "optimizer_steps_per_rollout_step": optimizer_steps_per_rollout(card),
        "checkpoint_every_rollout_steps": card.checkpoints.save_steps,
    }
    val_spec, why = validation_spec(card, stage_spec)
    # validation first, then the checkpoint, at a step that does both (ray_trainer.py:594-606)
    info["validation"] = _attach_validation(trainer, processor, card, out, val_spec, why)
    if card.checkpoints.save_steps > 0:
        trainer.add_callback(make_step_checkpoints(trainer, processor, card, out, record))
    return info


def _attach_validation(trainer, processor, card, out: Path, val_spec, why) -> dict[str, Any]:
    from ovlt_train.data import load_training_data
    from ovlt_train.released_data import with_format_prompt

    if val_spec is None:
        return {"off": why}
    rows = load_training_data(
        val_spec, "trl-grpo", cache_dir=out.parent / f".{out.name}.val", allow_empty=True
    )
    rows = with_format_prompt(rows, card.format_prompt)
    if card.validation.max_items is not None:
        rows = rows.select(range(min(card.validation.max_items, len(rows))))
    items = [dict(r) for r in rows]
    if not items:
        return {"off": f"validation data {val_spec.source}: no rows"}
    trainer.add_callback(make_validation(trainer, processor, card, out, items))
    return {
        "data": val_spec.describe(),
        "items": len(items),
        "every_rollout_steps": card.validation.eval_steps,
        "temperature": card.validation.temperature,
        "policy": card.reward.policy,
    }
