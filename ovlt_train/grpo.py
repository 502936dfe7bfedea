"""`ovlt-train grpo`: trl GRPOTrainer with the ovlt_eval verifier as reward, medium → hard.

EasyR1 (the released recipe: train/easyr1/examples/config.yaml, verl/workers/actor/config.py,
openvlthinker_grpo_{medium,hard}.sh) → trl, what maps:
  lr 1e-6, weight_decay 1e-2, warm-up 0, grad clip 1.0          → same fields
  rollout.n 5, temperature 1.0, top_p 0.99                       → num_generations, temperature, top_p
  max_response_length 2048                                       → max_completion_length
  kl_penalty low_var_kl, kl_coef 1e-2, use_kl_loss               → beta=1e-2 (trl's KL term is k3 = low_var_kl,
                                                                    added to the loss); verl clamps k3 to ±10, trl not
  clip_ratio_low 0.2, clip_ratio_high 0.3 (actor/config.py:82-83) → epsilon=0.2, epsilon_high=0.3
  clip_ratio_dual 3.0 (actor/config.py:84; core_algos.py:339-346) → delta=3.0: trl caps the unclipped ratio at
                                                                    delta, which for delta > 1 + epsilon_high is
                                                                    the same loss and gradient as verl's dual clip
                                                                    (min(max(-A·r, -A·clip(r)), -A·3) for A < 0)
  token-mean loss over the micro-batch                           → loss_type="bnpo"
  rollout_batch_size 512 prompts, actor global_batch_size 128    → generation_batch_size = 512·n completions,
                                                                    one optimiser step per 128·n completions
  max/min_pixels 262144                                          → processor pixel budget
  format_prompt math_format.jinja (dataset.py:134-136)           → `format_prompt`, appended to every prompt once
  freeze_vision_tower (fsdp_workers.py:224-226: all of `visual`) → the stage freezes vision tower *and* merger
  total_episodes (5 medium, 15 hard)                             → num_train_epochs per curriculum stage
What doesn't: EasyR1's padding-free/ulysses sequence parallelism, its FSDP param/optimizer offload
(use DeepSpeed ZeRO-3 offload in the accelerate config instead), filter_overlong_prompts at
6144 tokens (trl does not truncate prompts; the data factory keeps prompts short).
save_freq / val_freq (checkpoints and validation during training) are trainer callbacks:
ovlt_train/grpo_callbacks.py. Precision (fp32 weights, bf16 compute): ovlt_train/precision.py.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError
from ovlt_train.cards import CurriculumStage, GRPOCard, card_dict, load_card
from ovlt_train.data import (
    RELEASED_GRPO_STAGE,
    DataSpec,
    has_config,
    load_training_data,
    parse_spec,
)
from ovlt_train.model_io import (
    fit_precision,
    freeze_modules,
    load_processor,
    load_training_model,
    save_checkpoint,
)
from ovlt_train.precision import resolve_precision
from ovlt_train.released_data import with_format_prompt
from ovlt_train.rewards import build_reward_funcs
from ovlt_train.runinfo import (
    base_record,
    common_trainer_args,
    grad_accumulation,
    is_main_process,
    loss_curve,
    world_size,
)
from ovlt_train.trainer_logging import route_logs
from ovlt_train.trl_config import config_json, make_config
from ovlt_train.vllm_rollouts import align_rollouts, resolve_use_vllm, rollout_dtype

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


def build_grpo_config(
    card: GRPOCard,
    out_dir: str | Path,
    stage: CurriculumStage,
    *,
    for_print: bool = False,
    world: int | None = None,
):
    """trl's GRPOConfig for one stage; with `for_print`, (config, note) — see trl_config."""
    from trl import GRPOConfig

    n = card.num_generations
    world = world or world_size()
    per_device = card.per_device_batch_size
    accum = grad_accumulation(
        card.update_batch_prompts * n, per_device, world, what="grpo update batch"
    )
    generation_batch = card.rollout_batch_prompts * n
    if generation_batch % (per_device * world):
        raise UserError(
            f"grpo: rollout of {generation_batch} completions does not split over {per_device} x {world}"
        )
    vllm = resolve_use_vllm(card.use_vllm)
    vllm_kwargs: dict[str, Any] = {}
    if vllm:
        vllm_kwargs.update(
            vllm_mode="colocate", vllm_gpu_memory_utilization=card.vllm_gpu_memory_utilization
        )
    kwargs = dict(
        **common_trainer_args(card, out_dir, per_device, accum),
        learning_rate=card.learning_rate,
        warmup_steps=float(card.warmup_ratio),  # a float < 1 is a ratio in transformers 5
        beta=card.beta,
        epsilon=card.epsilon,
        epsilon_high=card.epsilon_high,
        delta=card.delta,
        use_bias_correction_kl=card.use_bias_correction_kl,
        vllm_importance_sampling_correction=card.vllm_importance_sampling_correction,
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
        reward_weights=build_reward_funcs(card.reward)[1],
        **vllm_kwargs,
    )
    config, note = make_config(GRPOConfig, kwargs, for_print=for_print)
    return (config, note) if for_print else config


def plan_stages(card: GRPOCard, spec: DataSpec, curriculum: str | None) -> list[CurriculumStage]:
    by_config = {s.config: s for s in card.curriculum}
    if curriculum:
        names = [c.strip() for c in curriculum.split(",") if c.strip()]
        configs = [c if c.startswith("grpo") else f"grpo_{c}" for c in names]
    elif spec.config:
        configs = [spec.config]
    elif spec.source in RELEASED_GRPO_STAGE:
        configs = [RELEASED_GRPO_STAGE[spec.source]]
    else:
        return list(card.curriculum)
    return [by_config.get(c, CurriculumStage(config=c)) for c in configs]


def stage_data(spec: DataSpec, stage: CurriculumStage, n_stages: int) -> DataSpec:
    """The data of one stage: the source's config of that name; a source without configs (the
    released EasyR1 sets, a folder of EasyR1 parquet) is one stage's data, read whole."""
    if spec.config:
        return spec
    if has_config(spec, stage.config):
        return spec.with_config(stage.config, is_default=False)
    if n_stages > 1:
        raise UserError(
            f"--data {spec.source} has no {stage.config} config: it is one stage's data; "
            "name that stage with --curriculum medium or --curriculum hard"
        )
    return spec.with_config(stage.config, is_default=True)


def frozen_parts(card: GRPOCard, stage: CurriculumStage) -> dict[str, bool]:
    # EasyR1 freezes `model.visual` whole, and for Qwen2/2.5-VL that holds the merger too.
    return {
        "vision_tower": stage.freeze_vision_tower,
        "projector": card.freeze_projector or stage.freeze_vision_tower,
    }


def resolved_config(
    card: GRPOCard, stages: list[CurriculumStage], world: int | None = None
) -> dict[str, Any]:
    """What `--print-config` prints: per stage, trl's GRPOConfig as it would run here."""
    out = []
    for stage in stages:
        config, note = build_grpo_config(
            card, "<out>/" + stage.config, stage, for_print=True, world=world
        )
        trl = config_json(config, note)
        if world and world != world_size():
            # trl derives this from the processes it runs in (here one), not from --world-size
            trl["steps_per_generation"] = config.generation_batch_size // (
                config.per_device_train_batch_size * world
            )
        out.append(
            {
                "stage": stage.model_dump(),
                "frozen": frozen_parts(card, stage),
                "format_prompt": card.format_prompt,
                "reward": card.reward.model_dump(),
                "trl": trl,
                **({"note": note} if note else {}),
            }
        )
    first = out[0]["trl"] if out else {}
    return {
        "trl_class": "trl.GRPOConfig",
        "world_size": world or world_size(),
        "use_vllm": f"card {card.use_vllm!r}, resolved on this machine",
        "precision": resolve_precision(card).describe(),
        "micro_batch": micro_batch_line(card, first, world or world_size()),
        "stages": out,
    }


def micro_batch_line(card: GRPOCard, trl: dict[str, Any], world: int) -> str:
    per_device = trl.get("per_device_train_batch_size", card.per_device_batch_size)
    accum = trl.get("gradient_accumulation_steps", "?")
    return (
        f"{per_device} completions per device x {accum} accumulation x {world} processes = "
        f"{card.update_batch_prompts * card.num_generations} per optimiser step "
        "(EasyR1 micro_batch_size_per_device_for_update 2; bnpo token mean per micro-batch)"
    )


def stage_stats(log_history: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [e for e in log_history if any(k in e for k in STAT_KEYS)]
    out: dict[str, Any] = {"steps": len(rows)}
    for key in STAT_KEYS:
        values = [float(e[key]) for e in rows if key in e]
        if values:
            out[key] = {"first": values[0], "last": values[-1], "mean": sum(values) / len(values)}
    return out


def run_grpo_stage(
    *,
    model: str,
    spec: DataSpec,
    card: GRPOCard,
    stage: CurriculumStage,
    out: Path,
    progress: bool = True,
    note: str | None = None,
) -> Path:
    processor = load_processor(
        model, max_pixels=card.image_max_pixels, min_pixels=card.image_min_pixels
    )
    stage_spec = stage_data(spec, stage, 1)
    dataset = load_training_data(
        stage_spec, "trl-grpo", cache_dir=out.parent / f".{out.name}.data", allow_empty=True
    )
    dataset = with_format_prompt(dataset, card.format_prompt)
    if len(dataset) < card.rollout_batch_prompts:
        # trl would run zero steps without a word; say so and pass the model through.
        raise StageSkipped(
            f"{stage.config} has {len(dataset)} prompts, fewer than one rollout batch "
            f"({card.rollout_batch_prompts}); lower rollout_batch_prompts to train on it"
        )
    config = build_grpo_config(card, out, stage)
    funcs, _ = build_reward_funcs(card.reward)
    policy, precision = load_training_model(model, card)
    frozen = freeze_modules(policy, **frozen_parts(card, stage))

    from trl import GRPOTrainer

    with rollout_dtype("bfloat16" if card.bf16 else "float32", enabled=config.use_vllm):
        trainer = GRPOTrainer(
            model=policy,
            reward_funcs=funcs,
            args=config,
            train_dataset=dataset,
            processing_class=processor,
        )
    align_rollouts(trainer, processor)
    route_logs(trainer, out, progress=progress)
    head = dict(init_model=model, stage=stage.model_dump(), data=stage_spec.describe())
    head.update(card=card_dict(card), precision=precision.describe())
    from ovlt_train.grpo_callbacks import attach_stage_callbacks

    in_training = attach_stage_callbacks(
        trainer, processor, card, stage_spec, out, base_record("grpo", **head)
    )
    if note:
        print(f"ovlt-train grpo: {note}", file=sys.stderr)
    result = trainer.train()
    record = base_record(
        "grpo",
        **head,
        in_training=in_training,
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
    return save_checkpoint(trainer, processor, out, record, save_dtype=precision.save_dtype)


def run_grpo(**kwargs: Any) -> Path:
    """`run_curriculum` (the same keyword arguments), returning the final checkpoint only."""
    return Path(run_curriculum(**kwargs)[-1]["checkpoint"])


def run_curriculum(
    *,
    data: str,
    model: str,
    card_path: str | Path | None,
    overrides: list[str] | dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    curriculum: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run the curriculum stages in order, each into `out_dir/<config>`; a finished stage (its
    record exists) is skipped. Returns, per stage, its config and checkpoint, and `skipped` (why)
    for a stage with too little data (the model passes through); also written to stages.json."""
    card, note = fit_precision(load_card(GRPOCard, card_path, overrides))
    from ovlt_train.preflight import check_training_card

    check_training_card(card, f"card {card_path}")
    spec = parse_spec(data)
    stages = plan_stages(card, spec, curriculum)
    if not stages:
        raise UserError("grpo: the curriculum is empty")
    for stage in stages:
        stage_data(spec, stage, len(stages))  # a source without configs names its one stage
    root = Path(out_dir or f"checkpoints/grpo-{Path(model).name}")
    current = model
    done: list[dict[str, Any]] = []
    for stage in stages:
        out = root / stage.config
        if (out / "ovlt_train.json").is_file():
            log.info("stage %s already finished at %s; skipping", stage.config, out)
        else:
            try:
                run_grpo_stage(
                    model=current,
                    spec=stage_data(spec, stage, len(stages)),
                    card=card,
                    stage=stage,
                    out=out,
                    progress=progress,
                    note=note,
                )
                note = None  # said once
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
    return done


def print_grpo_config(
    *,
    card_path: str | Path | None,
    overrides: list[str] | dict[str, Any] | None = None,
    data: str | None = None,
    curriculum: str | None = None,
    world: int | None = None,
) -> dict[str, Any]:
    card = load_card(GRPOCard, card_path, overrides)
    stages = (
        plan_stages(card, parse_spec(data), curriculum)
        if data
        else plan_stages(card, DataSpec("", None, None), curriculum)
    )
    return resolved_config(card, stages, world)
