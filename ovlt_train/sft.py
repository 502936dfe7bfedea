"""`ovlt-train sft`: trl SFTTrainer over an ovlt-data SFT export (Qwen2.5-VL and other VLMs)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError
from ovlt_train.cards import SFTCard, card_dict, load_card
from ovlt_train.data import load_training_data, parse_spec
from ovlt_train.lengths import check_lengths
from ovlt_train.model_io import (
    fit_precision,
    freeze_modules,
    load_processor,
    load_training_model,
    save_checkpoint,
)
from ovlt_train.precision import resolve_precision
from ovlt_train.runinfo import (
    base_record,
    common_trainer_args,
    grad_accumulation,
    loss_curve,
    world_size,
)
from ovlt_train.trainer_logging import route_logs
from ovlt_train.trl_config import config_json, make_config

log = logging.getLogger(__name__)


def build_sft_config(
    card: SFTCard, out_dir: str | Path, *, for_print: bool = False, world: int | None = None
):
    """trl's SFTConfig; with `for_print`, (config, note) — see trl_config."""
    from trl import SFTConfig

    per_device = card.per_device_batch_size
    accum = grad_accumulation(
        card.resolved("global_batch_size"), per_device, world or world_size(), what="sft"
    )
    kwargs = dict(
        **common_trainer_args(card, out_dir, per_device, accum),
        learning_rate=card.resolved("learning_rate"),
        # a float < 1 is a ratio in transformers 5
        warmup_steps=float(card.resolved("warmup_ratio")),
        num_train_epochs=card.num_train_epochs,
        max_steps=card.max_steps,
        max_length=card.resolved("max_length"),
        assistant_only_loss=card.assistant_only_loss,
        packing=False,  # images cannot be packed
        dataloader_num_workers=card.dataloader_num_workers,
    )
    config, note = make_config(SFTConfig, kwargs, for_print=for_print)
    return (config, note) if for_print else config


def print_sft_config(
    *,
    card_path: str | Path | None,
    overrides: list[str] | dict[str, Any] | None = None,
    world: int | None = None,
) -> dict[str, Any]:
    """What `--print-config` prints: trl's SFTConfig as it would run here, and the frozen parts."""
    card = load_card(SFTCard, card_path, overrides)
    config, note = build_sft_config(card, "<out>", for_print=True, world=world)
    return {
        "trl_class": "trl.SFTConfig",
        "world_size": world or world_size(),
        "preset": card.preset,
        "frozen": {"vision_tower": card.freeze_vision_tower, "projector": card.freeze_projector},
        "image_max_pixels": card.image_max_pixels,
        "precision": resolve_precision(card).describe(),
        "micro_batch": f"{config.per_device_train_batch_size} per device x "
        f"{config.gradient_accumulation_steps} accumulation x {world or world_size()} processes "
        f"= {card.resolved('global_batch_size')} (LLaMA-Factory sft.yaml: 2 x 4 x 8)",
        "trl": config_json(config, note),
        **({"note": note} if note else {}),
    }


def run_sft(
    *,
    data: str,
    model: str,
    card_path: str | Path | None,
    overrides: list[str] | dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    card, note = fit_precision(load_card(SFTCard, card_path, overrides))
    from ovlt_train.preflight import check_training_card

    check_training_card(card, f"card {card_path}")
    spec = parse_spec(data, default_config="sft")
    out = Path(out_dir or f"checkpoints/sft-{Path(model).name}")
    processor = load_processor(
        model, max_pixels=card.image_max_pixels, min_pixels=card.image_min_pixels
    )
    dataset = load_training_data(spec, "trl-sft", cache_dir=out.parent / f".{out.name}.data")
    max_length = card.resolved("max_length")
    lengths = check_lengths(dataset, processor, max_length, column="messages")
    if lengths.truncated:
        log.warning(
            "%d/%d examples exceed max_length=%d and lose the end of their answer (longest: %d tokens)",
            lengths.truncated,
            lengths.n,
            max_length,
            lengths.max_total,
        )
    config = build_sft_config(card, out)
    vlm, precision = load_training_model(model, card)
    frozen = freeze_modules(
        vlm, vision_tower=card.freeze_vision_tower, projector=card.freeze_projector
    )

    from trl import SFTTrainer

    try:
        trainer = SFTTrainer(
            model=vlm, args=config, train_dataset=dataset, processing_class=processor
        )
    except ValueError as err:
        if "chat template" in str(err).lower() or "generation" in str(err).lower():
            raise UserError(
                f"assistant-only loss needs a chat template trl can mark ({str(err).splitlines()[0]}); "
                "set assistant_only_loss=false to train on the whole sequence"
            ) from None
        raise
    route_logs(trainer, out, progress=progress)
    if note:
        print(f"ovlt-train sft: {note}", file=sys.stderr)
    result = trainer.train()
    record = base_record(
        "sft",
        base_model=model,
        data=spec.describe(),
        card=card_dict(card),
        precision=precision.describe(),
        resolved={
            "learning_rate": config.learning_rate,
            "warmup_ratio": card.resolved("warmup_ratio"),
            "global_batch_size": card.resolved("global_batch_size"),
            "max_length": max_length,
            "gradient_accumulation_steps": config.gradient_accumulation_steps,
            "world_size": world_size(),
        },
        parameters=frozen,
        lengths=lengths.__dict__,
        n_examples=len(dataset),
        train_loss=result.training_loss,
        global_steps=trainer.state.global_step,
        loss_curve=loss_curve(trainer.state.log_history),
        log_history=trainer.state.log_history,
    )
    return save_checkpoint(trainer, processor, out, record, save_dtype=precision.save_dtype)
