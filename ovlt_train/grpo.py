"""`ovlt-train grpo`: trl GRPOTrainer with the ovlt_eval verifier as reward, medium → hard.

EasyR1 (the released recipe) → trl, what maps:
  lr 1e-6, weight_decay 1e-2, warm-up 0, grad clip 1.0          → same fields
  rollout.n 5, temperature 1.0, top_p 0.99                       → num_generations, temperature, top_p
  max_response_length 2048                                       → max_completion_length
  kl_penalty low_var_kl, kl_coef 1e-2, use_kl_loss               → beta=1e-2 (trl's KL term is k3 = low_var_kl,
                                                                    added to the loss); verl clamps k3 to ±10, trl not
  clip_ratio 0.2                                                 → epsilon
  token-mean loss over the micro-batch                           → loss_type="bnpo"
  rollout_batch_size 512 prompts, actor global_batch_size 128    → generation_batch_size = 512·n completions,
                                                                    one optimiser step per 128·n completions
  max/min_pixels 262144                                          → processor pixel budget
  total_episodes (5 medium, 15 hard)                             → num_train_epochs per curriculum stage
What doesn't: EasyR1's padding-free/ulysses sequence parallelism, its FSDP param/optimizer offload
(use DeepSpeed ZeRO-3 offload in the accelerate config instead), filter_overlong_prompts at
6144 tokens (trl does not truncate prompts; the data factory keeps prompts short), and
val_freq-style in-training validation (run `ovlt-eval` on the checkpoint).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError
from ovlt_train.cards import CurriculumStage, GRPOCard, card_dict, load_card
from ovlt_train.data import DataSpec, load_training_data, parse_spec
from ovlt_train.model_io import (
    freeze_modules,
    load_model,
    load_processor,
    save_checkpoint,
    torch_dtype,
)
from ovlt_train.rewards import build_reward_funcs
from ovlt_train.runinfo import (
    base_record,
    common_trainer_args,
    grad_accumulation,
    is_main_process,
    loss_curve,
    world_size,
)

log = logging.getLogger(__name__)


class StageSkipped(Exception):
    """A curriculum stage with too little data: recorded and reported, the model passes through."""


STAT_KEYS = (
    "reward",
    "reward_std",
    "rewards/accuracy/mean",
    "rewards/format/mean",
    "completions/mean_length",
    "completions/clipped_ratio",
    "kl",
    "loss",
)


def use_vllm(setting: str) -> bool:
    if setting == "off":
        return False
    import torch
    from trl.import_utils import is_vllm_available

    available = is_vllm_available() and torch.cuda.is_available()
    if setting == "on" and not available:
        raise UserError("use_vllm=on needs vllm installed and a CUDA GPU; set use_vllm=auto or off")
    return available


def build_grpo_config(card: GRPOCard, out_dir: str | Path, stage: CurriculumStage):
    from trl import GRPOConfig

    n = card.num_generations
    world = world_size()
    per_device = card.per_device_batch_size
    accum = grad_accumulation(
        card.update_batch_prompts * n, per_device, world, what="grpo update batch"
    )
    generation_batch = card.rollout_batch_prompts * n
    if generation_batch % (per_device * world):
        raise UserError(
            f"grpo: rollout of {generation_batch} completions does not split over {per_device} x {world}"
        )
    vllm = use_vllm(card.use_vllm)
    kwargs: dict[str, Any] = {}
    if vllm:
        kwargs.update(
            vllm_mode="colocate", vllm_gpu_memory_utilization=card.vllm_gpu_memory_utilization
        )
    return GRPOConfig(
        **common_trainer_args(card, out_dir, per_device, accum),
        learning_rate=card.learning_rate,
        warmup_steps=float(card.warmup_ratio),  # a float < 1 is a ratio in transformers 5
        beta=card.beta,
        epsilon=card.epsilon,
        loss_type=card.loss_type,
        scale_rewards=card.scale_rewards,
        num_generations=n,
        temperature=card.temperature,
        top_p=card.top_p,
        max_completion_length=card.max_completion_length,
        generation_batch_size=generation_batch,
        num_train_epochs=stage.epochs,
        max_steps=stage.max_steps,
        use_vllm=vllm,
        log_completions=card.log_completions,
        reward_weights=None,  # set by the caller alongside the reward functions
        **kwargs,
    )


def plan_stages(card: GRPOCard, spec: DataSpec, curriculum: str | None) -> list[CurriculumStage]:
    by_config = {s.config: s for s in card.curriculum}
    if curriculum:
        names = [c.strip() for c in curriculum.split(",") if c.strip()]
        configs = [c if c.startswith("grpo") else f"grpo_{c}" for c in names]
    elif spec.config:
        configs = [spec.config]
    else:
        return list(card.curriculum)
    return [by_config.get(c, CurriculumStage(config=c)) for c in configs]


def stage_stats(log_history: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [e for e in log_history if any(k in e for k in STAT_KEYS)]
    out: dict[str, Any] = {"steps": len(rows)}
    for key in STAT_KEYS:
        values = [float(e[key]) for e in rows if key in e]
        if values:
            out[key] = {"first": values[0], "last": values[-1], "mean": sum(values) / len(values)}
    return out


def run_grpo_stage(
    *, model: str, spec: DataSpec, card: GRPOCard, stage: CurriculumStage, out: Path
) -> Path:
    processor = load_processor(
        model, max_pixels=card.image_max_pixels, min_pixels=card.image_min_pixels
    )
    stage_spec = DataSpec(spec.source, spec.revision, stage.config)
    dataset = load_training_data(
        stage_spec, "trl-grpo", cache_dir=out.parent / f".{out.name}.data", allow_empty=True
    )
    if len(dataset) < card.rollout_batch_prompts:
        # trl would run zero steps without a word; say so and pass the model through.
        raise StageSkipped(
            f"{stage.config} has {len(dataset)} prompts, fewer than one rollout batch "
            f"({card.rollout_batch_prompts}); lower rollout_batch_prompts to train on it"
        )
    config = build_grpo_config(card, out, stage)
    funcs, weights = build_reward_funcs(card.reward)
    config.reward_weights = weights
    policy = load_model(
        model, dtype=torch_dtype(card.bf16), attn_implementation=card.attn_implementation
    )
    frozen = freeze_modules(
        policy, vision_tower=stage.freeze_vision_tower, projector=card.freeze_projector
    )

    from trl import GRPOTrainer

    trainer = GRPOTrainer(
        model=policy,
        reward_funcs=funcs,
        args=config,
        train_dataset=dataset,
        processing_class=processor,
    )
    result = trainer.train()
    record = base_record(
        "grpo",
        init_model=model,
        stage=stage.model_dump(),
        data=stage_spec.describe(),
        card=card_dict(card),
        resolved={
            "gradient_accumulation_steps": config.gradient_accumulation_steps,
            "generation_batch_size": config.generation_batch_size,
            "steps_per_generation": config.steps_per_generation,
            "use_vllm": config.use_vllm,
            "world_size": world_size(),
        },
        parameters=frozen,
        n_prompts=len(dataset),
        train_loss=result.training_loss,
        global_steps=trainer.state.global_step,
        stats=stage_stats(trainer.state.log_history),
        reward_curve=loss_curve(trainer.state.log_history, "reward"),
        log_history=trainer.state.log_history,
    )
    return save_checkpoint(trainer, processor, out, record)


def run_grpo(
    *,
    data: str,
    model: str,
    card_path: str | Path | None,
    overrides: list[str] | dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    curriculum: str | None = None,
) -> Path:
    """Run the curriculum stages in order; a finished stage (its record exists) is skipped."""
    card = load_card(GRPOCard, card_path, overrides)
    spec = parse_spec(data)
    stages = plan_stages(card, spec, curriculum)
    if not stages:
        raise UserError("grpo: the curriculum is empty")
    root = Path(out_dir or f"checkpoints/grpo-{Path(model).name}")
    current = model
    done: list[dict[str, Any]] = []
    for stage in stages:
        out = root / stage.config
        if (out / "ovlt_train.json").is_file():
            log.info("stage %s already finished at %s; skipping", stage.config, out)
        else:
            try:
                run_grpo_stage(model=current, spec=spec, card=card, stage=stage, out=out)
            except StageSkipped as why:
                print(f"ovlt-train grpo: stage {stage.config} skipped: {why}", file=sys.stderr)
                done.append({"config": stage.config, "checkpoint": current, "skipped": str(why)})
                continue
        done.append({"config": stage.config, "checkpoint": str(out)})
        current = str(out)
    if is_main_process():
        (root / "stages.json").write_text(
            json.dumps({"stages": done, "final": current}, indent=2) + "\n"
        )
    return Path(current)
