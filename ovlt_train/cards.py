"""Training cards: YAML recipes validated by pydantic, with `--set key=value` overrides.

Read by `ovlt_data.card_io`, the loader every card shares (environment expansion, overrides,
one-line errors).

A card names every knob that can move a result; CLI flags only override it. Errors are one
line naming the field (`UserError`), never a pydantic traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# read_yaml / apply_overrides are re-exported: the loop composes cards from them
from ovlt_data.card_io import (  # noqa: F401
    apply_overrides,
    format_validation_error,
    read_card,
    read_yaml,
)
from ovlt_data.released_formats import MATH_FORMAT_SUFFIX
from ovlt_eval.errors import UserError
from ovlt_eval.grading.types import AnswerKind
from ovlt_train.precision import PrecisionSetting

# The paper (Table 7) and the released LLaMA-Factory yaml disagree on the SFT learning rate
# (5e-7 vs 5e-6), warm-up (0.1 vs 0.15) and global batch (32 vs 2 x 4 x 8 GPUs = 64). Both are
# kept as named presets so a run says which one it followed; `released` (the default) is what
# trained the released checkpoints: train/llama-factory/sft.yaml:30-35, and its cutoff — the yaml
# comments `cutoff_len: 4096` out (:18), so LLaMA-Factory's default 2048 applied
# (hparams/data_args.py:48-49). Table 7 names no cutoff; `paper` keeps 4096 so that round-1's
# <= 500-word traces are never cut.
SFT_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "learning_rate": 5e-7,
        "warmup_ratio": 0.1,
        "global_batch_size": 32,
        "max_length": 4096,
    },
    "released": {
        "learning_rate": 5e-6,
        "warmup_ratio": 0.15,
        "global_batch_size": 64,
        "max_length": 2048,
    },
}
# EasyR1 actor defaults the released GRPO runs used (verl/workers/actor/config.py:82-84); the
# examples/config.yaml and the scripts do not override them.
EASYR1_CLIP_RATIO_LOW = 0.2
EASYR1_CLIP_RATIO_HIGH = 0.3
EASYR1_CLIP_RATIO_DUAL = 3.0


class _Card(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SFTCard(_Card):
    kind: Literal["sft"] = "sft"
    preset: Literal["paper", "released"] = "released"
    # None: take the preset's value.
    learning_rate: float | None = Field(default=None, gt=0)
    warmup_ratio: float | None = Field(default=None, ge=0, lt=1)
    global_batch_size: int | None = Field(default=None, ge=1)
    per_device_batch_size: int = Field(default=2, ge=1)
    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = -1  # > 0 overrides epochs (smoke runs)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    bf16: bool = True
    # auto: fp32 weights + bf16 compute unless DeepSpeed keeps fp32 master weights (precision.py)
    precision: PrecisionSetting = "auto"
    gradient_checkpointing: bool = True
    # Tokens per example, image tokens included. Checked against every example before training.
    # None: the preset's value (LLaMA-Factory's cutoff_len).
    max_length: int | None = Field(default=None, ge=16)
    image_max_pixels: int = Field(default=262_144, ge=784)
    image_min_pixels: int | None = Field(default=None, ge=1)
    freeze_vision_tower: bool = True
    freeze_projector: bool = True
    assistant_only_loss: bool = True
    attn_implementation: str | None = None  # e.g. "flash_attention_2" on GPUs
    deepspeed: str | None = None  # path to a DeepSpeed json (ZeRO-3 for 7B on 8 GPUs)
    seed: int = 42
    logging_steps: int = Field(default=10, ge=1)
    save_strategy: Literal["no", "steps", "epoch"] = "no"  # the final model is always saved
    save_steps: int = Field(default=1000, ge=1)
    report_to: list[str] = Field(default_factory=lambda: ["none"])
    dataloader_num_workers: int = Field(default=0, ge=0)

    def resolved(self, name: str) -> Any:
        value = getattr(self, name)
        return SFT_PRESETS[self.preset][name] if value is None else value


class RewardSpec(_Card):
    # The answer policy (ovlt_eval/grading/policy.py): `reward` is upstream's r1v.py rule
    # (first <answer>, mathruler); `corrected` is ovlt's extractor + verifier.
    policy: Literal["reward", "corrected"] = "reward"
    accuracy_weight: float = 1.0
    # 1 when the whole completion is <think>…</think> … <answer>…</answer>. Upstream logs it
    # but trains on accuracy only ("overall" = accuracy), hence weight 0.
    format_weight: float = 0.0
    # Upstream (r1v.py): a correct answer with nothing between </think> and <answer> earns
    # 1 - 0.5. Set 0 to switch off.
    empty_conclusion_penalty: float = Field(default=0.5, ge=0, le=1)
    answer_kind: AnswerKind = "auto"
    # Workers for grading one batch; processes isolate Math-Verify's signal-based timeouts.
    workers: int = Field(default=0, ge=0)
    worker_kind: Literal["thread", "process"] = "thread"


class CheckpointSpec(_Card):
    """EasyR1 `trainer.save_freq` (config.yaml:87): a loadable checkpoint (weights, processor,
    record) every `save_steps` rollout steps, in `<stage>/global_step_<n>/` (ray_trainer.py:400).
    A step here is EasyR1's: one rollout batch (`rollout_batch_prompts`), i.e.
    rollout_batch_prompts / update_batch_prompts optimiser steps of trl."""

    save_steps: int = Field(default=10, ge=0)  # 0: only the final checkpoint


class ValidationSpec(_Card):
    """EasyR1 in-training validation (config.yaml:60-62, :83-84; ray_trainer.py:274-323): every
    `eval_steps` rollout steps (and before training), one sample per validation prompt at
    temperature 0.5, scored by the reward policy; `val/reward_score` goes to train_log.jsonl."""

    eval_steps: int = Field(default=5, ge=0)  # 0: no in-training validation
    # auto: the released set's `@test` split (EasyR1 val_files), else none; or a --data spec
    data: str = "auto"
    temperature: float = Field(default=0.5, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_items: int | None = Field(default=None, ge=1)
    before_train: bool = True  # val_before_train (config.yaml:84)
    batch_size: int = Field(default=8, ge=1)


class CurriculumStage(_Card):
    config: str  # dataset config, e.g. grpo_medium
    epochs: float = Field(default=1.0, gt=0)  # EasyR1 trainer.total_episodes
    # EasyR1's freeze_vision_tower: `model.visual.requires_grad_(False)` (fsdp_workers.py:224-226)
    # freezes the whole vision module, the merger (projector) of Qwen2/2.5-VL included.
    freeze_vision_tower: bool = True
    max_steps: int = -1


class GRPOCard(_Card):
    kind: Literal["grpo"] = "grpo"
    # Released EasyR1 config (train/easyr1/examples/config.yaml) = paper Table 8.
    learning_rate: float = Field(default=1e-6, gt=0)
    weight_decay: float = Field(default=1e-2, ge=0)
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    lr_scheduler_type: str = "constant"
    max_grad_norm: float = Field(default=1.0, gt=0)
    # KL: EasyR1 `use_kl_loss, kl_penalty=low_var_kl, kl_coef=1e-2`. trl adds beta * k3 to the
    # per-token loss, and k3 is low_var_kl; verl also clamps k3 to [-10, 10], trl does not.
    beta: float = Field(default=1e-2, ge=0)
    # PPO clip: ratio kept in [1 - epsilon, 1 + epsilon_high] (EasyR1 clip_ratio_low / _high).
    epsilon: float = Field(default=EASYR1_CLIP_RATIO_LOW, gt=0)
    epsilon_high: float = Field(default=EASYR1_CLIP_RATIO_HIGH, gt=0)
    # Dual clip (EasyR1 clip_ratio_dual, core_algos.py:341-346): for a negative advantage the loss
    # is capped at -A x delta. trl's `delta` caps the unclipped ratio at delta, which gives the
    # same loss and gradient for either sign as long as delta > 1 + epsilon_high (checked below).
    # null: no dual clip.
    delta: float | None = Field(default=EASYR1_CLIP_RATIO_DUAL, gt=1)
    # EasyR1 averages token losses over the micro-batch (token-mean) = trl "bnpo".
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"] = "bnpo"
    # trl defaults that EasyR1 does not have (both default to true in trl 1.16). EasyR1's KL loss
    # is plain low_var_kl of the current policy against the reference, masked-mean'd and added
    # to the loss (train/easyr1/verl/workers/actor/dp_actor.py:262-269, core_algos.py:420-423),
    # never weighted by an importance ratio (trl grpo_config.py:972, DeepSeek-V3.2's
    # bias-corrected KL). EasyR1 recomputes the old log-probs with the actor itself
    # (verl/trainer/ray_trainer.py:537-540), never taking the rollout engine's, so it has no
    # rollout-vs-trainer correction (trl grpo_config.py:925, truncated importance sampling).
    use_bias_correction_kl: bool = False
    vllm_importance_sampling_correction: bool = False
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_generations: int = Field(default=5, ge=2)  # rollout n
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=0.99, gt=0, le=1)
    max_completion_length: int = Field(default=2048, ge=1)
    # Prompts per rollout and per optimiser update (EasyR1 rollout_batch_size / actor
    # global_batch_size, both counted in prompts; each prompt has num_generations samples).
    rollout_batch_prompts: int = Field(default=512, ge=1)
    update_batch_prompts: int = Field(default=128, ge=1)
    # Completions per device per micro-step: EasyR1's micro_batch_size_per_device_for_update
    # (config.yaml:28), so bnpo's token mean runs over the same 2 sequences as its token-mean;
    # accumulation is derived (640 / (2 x 8 GPUs) = 40).
    per_device_batch_size: int = Field(default=2, ge=1)
    image_max_pixels: int = Field(default=262_144, ge=784)
    image_min_pixels: int | None = Field(default=262_144, ge=1)
    freeze_projector: bool = False
    bf16: bool = True
    precision: PrecisionSetting = "auto"  # see ovlt_train/precision.py
    gradient_checkpointing: bool = True
    attn_implementation: str | None = None
    deepspeed: str | None = None
    # auto: colocated vLLM where it is installed and works (CUDA, or vLLM's CPU build), else
    # transformers generate. YAML reads a bare on/off as a boolean: true/false are accepted.
    use_vllm: Literal["auto", "on", "off"] = "auto"
    vllm_gpu_memory_utilization: float = Field(default=0.6, gt=0, le=1)
    seed: int = 1
    logging_steps: int = Field(default=1, ge=1)
    # trl's own (resumable) checkpoints; the loadable EasyR1-style ones are `checkpoints` below
    save_strategy: Literal["no", "steps", "epoch"] = "no"
    save_steps: int = Field(default=10, ge=1)
    checkpoints: CheckpointSpec = Field(default_factory=lambda: CheckpointSpec())
    validation: ValidationSpec = Field(default_factory=lambda: ValidationSpec())
    report_to: list[str] = Field(default_factory=lambda: ["none"])
    log_completions: bool = False
    # Appended to every GRPO prompt, as EasyR1 renders examples/format_prompt/math_format.jinja
    # (`{{ content | trim }}` + this); never twice (a prompt that already ends with it is kept).
    # null: prompts as they are.
    format_prompt: str | None = MATH_FORMAT_SUFFIX
    reward: RewardSpec = Field(default_factory=RewardSpec)
    # EasyR1 scripts: medium 5 episodes with the vision tower frozen, hard 15 (config default)
    # with it trainable.
    curriculum: list[CurriculumStage] = Field(
        default_factory=lambda: [
            CurriculumStage(config="grpo_medium", epochs=5, freeze_vision_tower=True),
            CurriculumStage(config="grpo_hard", epochs=15, freeze_vision_tower=False),
        ]
    )

    @field_validator("use_vllm", mode="before")
    @classmethod
    def _yaml_booleans(cls, v: Any) -> Any:
        # `--set use_vllm=on` and `use_vllm: off` reach us as YAML booleans.
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="after")
    def _batches_fit(self) -> GRPOCard:
        if self.delta is not None and self.delta <= 1 + self.epsilon_high:
            raise ValueError(
                f"delta ({self.delta}) must exceed 1 + epsilon_high ({1 + self.epsilon_high}) "
                "to act as the dual clip"
            )
        if self.rollout_batch_prompts % self.update_batch_prompts:
            raise ValueError(
                f"rollout_batch_prompts ({self.rollout_batch_prompts}) must be a multiple of "
                f"update_batch_prompts ({self.update_batch_prompts})"
            )
        return self


class LoopCard(_Card):
    kind: Literal["loop"] = "loop"
    name: str = "openvlthinker"
    base_model: str  # SFT of every round starts here (the paper's SFT-Iter(i) ← base)
    work_dir: str = "runs/loop"
    rounds: int = Field(default=3, ge=1)
    # The data factory's round card; "{round}" in the path is filled in. `data_round_cards`
    # names a card per round explicitly (round 1 distils; rounds ≥ 2 self-generate).
    data_card: str = "cards/rounds/round{round}.yaml"
    data_round_cards: dict[int, str] = Field(default_factory=dict)
    # From round 2 on, these models of the data card become the previous round's GRPO checkpoint.
    generator_models: list[str] = Field(default_factory=lambda: ["generator"])
    generator_engine: Literal["hf", "vllm", "openai"] = "hf"
    generator_options: dict[str, Any] = Field(default_factory=dict)
    # Which checkpoint of round i-1's last GRPO stage writes round i's data: "final", or
    # "step<N>" = that stage's EasyR1-style global_step_<N> checkpoint; a mapping picks per
    # round, e.g. {3: step30} (generate_reasoning_thinker.py:269 loads
    # checkpoints/openvlthinker_grpo_iter2_hard_step30); rounds it does not name use "final".
    generate_from: str | dict[int, str] = "final"
    data_overrides: dict[str, Any] = Field(default_factory=dict)  # dotted keys into the data card
    # Applied on top from round 2 on: there the GRPO model answers the image itself (the paper's
    # rounds ≥ 2), e.g. {"stages.2.mode": "image", "stages.2.model": "policy"}.
    later_rounds_data_overrides: dict[str, Any] = Field(default_factory=dict)
    sft_card: str = "cards/train/sft.yaml"
    grpo_card: str = "cards/train/grpo.yaml"
    sft_overrides: dict[str, Any] = Field(default_factory=dict)
    grpo_overrides: dict[str, Any] = Field(default_factory=dict)
    curriculum: list[str] = Field(
        default_factory=lambda: ["grpo_medium", "grpo_hard"], min_length=1
    )
    # How training steps run: null = in the loop's own process (one device); a command prefix
    # such as [accelerate, launch, --config_file, cards/train/accelerate_8gpu_zero3.yaml] runs
    # each `ovlt-train sft|grpo` under it (multi-GPU); [python] = a fresh process per step.
    launcher: list[str] | None = None
    benches: list[str] = Field(default_factory=lambda: ["mathvista", "mathverse", "mathvision"])
    # Keyword arguments of `ovlt_eval.evaluate` (engine, data, limit, dtype, max_pixels, …;
    # `sampling`: SamplingParams fields such as max_tokens); profile/protocol override the loop's.
    eval_options: dict[str, Any] = Field(default_factory=dict)
    eval_after: list[Literal["sft", "grpo"]] = Field(default_factory=lambda: ["sft", "grpo"])
    eval_base: bool = True  # the base model is row 0 of the table

    def card_for_round(self, r: int) -> str:
        return self.data_round_cards.get(r) or self.data_card.format(round=r)

    def generate_from_for(self, r: int) -> str:
        if isinstance(self.generate_from, str):
            return self.generate_from
        return self.generate_from.get(r, "final")

    @model_validator(mode="after")
    def _generate_from_known(self) -> LoopCard:
        values = (
            [self.generate_from]
            if isinstance(self.generate_from, str)
            else list(self.generate_from.values())
        )
        for value in values:
            if value != "final" and not _STEP_REF.fullmatch(value):
                raise ValueError(
                    f"generate_from {value!r}: expected 'final' or 'step<N>' (e.g. step30)"
                )
        return self


_STEP_REF = re.compile(r"step([1-9][0-9]*)")


def step_of(ref: str) -> int | None:
    """`step30` -> 30; `final` -> None."""
    found = _STEP_REF.fullmatch(ref)
    return int(found.group(1)) if found else None


CardT = TypeVar("CardT", bound=_Card)


def load_card(
    cls: type[CardT],
    path: str | Path | None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> CardT:
    raw = read_card(path, overrides)
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise UserError(format_validation_error(err, str(path) if path else cls.__name__)) from None


def card_dict(card: BaseModel) -> dict[str, Any]:
    return card.model_dump(mode="json")
