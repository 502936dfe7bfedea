"""Load a VLM and its processor for training, freeze what the recipe freezes, save checkpoints
that load back with plain `from_pretrained` (processor and chat template included)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError

log = logging.getLogger(__name__)

# Module names, by family, of the vision encoder and of the projector into the language model.
# Qwen2/2.5-VL keep the projector ("merger") inside `visual`; LLaMA-Factory's
# freeze_multi_modal_projector means exactly `visual.merger` for them.
VISION_MODULES = ("visual", "vision_tower", "vision_model", "vision_encoder")
PROJECTOR_MODULES = ("merger", "multi_modal_projector", "mm_projector", "connector")


def _check_model_ref(model: str) -> None:
    p = Path(model)
    looks_local = model.startswith((".", "/", "~")) or p.exists()
    if looks_local and not (p / "config.json").is_file():
        raise UserError(f"--model {model}: no config.json there (not a model directory)")


def load_processor(model: str, *, max_pixels: int | None = None, min_pixels: int | None = None):
    from transformers import AutoProcessor

    _check_model_ref(model)
    try:
        processor = AutoProcessor.from_pretrained(model)
    except OSError as err:
        raise UserError(
            f"--model {model}: cannot load its processor ({str(err).splitlines()[0]})"
        ) from None
    set_image_pixels(processor, max_pixels=max_pixels, min_pixels=min_pixels)
    return processor


def set_image_pixels(processor: Any, *, max_pixels: int | None, min_pixels: int | None) -> None:
    """Cap image area (pixels) for Qwen-style dynamic-resolution processors.

    These keep the pixel budget in `size = {shortest_edge: min_pixels, longest_edge: max_pixels}`
    (and older releases in `min_pixels` / `max_pixels` attributes). Fixed-size processors have no
    budget to set, so they are left alone.
    """
    ip = getattr(processor, "image_processor", None)
    if ip is None or not hasattr(ip, "merge_size"):
        return
    size = dict(getattr(ip, "size", None) or {})
    if max_pixels is not None:
        size["longest_edge"] = max_pixels
        if hasattr(ip, "max_pixels"):
            ip.max_pixels = max_pixels
    if min_pixels is not None:
        size["shortest_edge"] = min(min_pixels, size.get("longest_edge", min_pixels))
        if hasattr(ip, "min_pixels"):
            ip.min_pixels = size["shortest_edge"]
    ip.size = size


def bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def fit_precision(card: Any) -> tuple[Any, str | None]:
    """(the card as it can train here, a note or None): bf16 (the cards' default, the paper's
    GPUs) falls back to float32 on a machine without it — transformers would refuse to start.
    The caller prints the note once training is about to start, so a mistake found on the way
    stays a single line."""
    if not card.bf16 or bf16_available():
        return card, None
    note = (
        "note: no bf16 on this machine (it needs a CUDA GPU with bf16); training in float32 "
        "(set bf16=false to say so)"
    )
    return card.model_copy(update={"bf16": False}), note


def torch_dtype(bf16: bool):
    import torch

    return torch.bfloat16 if bf16 else torch.float32


def load_model(model: str, *, dtype=None, attn_implementation: str | None = None):
    import transformers

    _check_model_ref(model)
    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        return transformers.AutoModelForImageTextToText.from_pretrained(model, **kwargs)
    except ValueError:
        # Text-only checkpoints (and families without an image-text-to-text mapping).
        return transformers.AutoModelForCausalLM.from_pretrained(model, **kwargs)
    except OSError as err:
        raise UserError(f"--model {model}: cannot load ({str(err).splitlines()[0]})") from None


def load_training_model(model: str, card: Any):
    """(model, Precision): the model in the dtype the card trains at here — fp32 parameters
    under bf16 autocast unless DeepSpeed keeps fp32 master weights (ovlt_train/precision.py)."""
    from ovlt_train.precision import resolve_precision

    precision = resolve_precision(card)
    loaded = load_model(
        model,
        dtype=precision.torch_load_dtype(),
        attn_implementation=getattr(card, "attn_implementation", None),
    )
    return loaded, precision


def freeze_modules(model: Any, *, vision_tower: bool, projector: bool) -> dict[str, int]:
    """Freeze the vision encoder and/or projector; return parameter counts for the run record."""
    counts = {"vision_tower": 0, "projector": 0, "frozen": 0, "trainable": 0}
    for name, param in model.named_parameters():
        parts = set(name.split("."))
        in_projector = bool(parts & set(PROJECTOR_MODULES))
        in_vision = bool(parts & set(VISION_MODULES)) and not in_projector
        if in_projector:
            counts["projector"] += param.numel()
            if projector:
                param.requires_grad_(False)
        elif in_vision:
            counts["vision_tower"] += param.numel()
            if vision_tower:
                param.requires_grad_(False)
        if param.requires_grad:
            counts["trainable"] += param.numel()
        else:
            counts["frozen"] += param.numel()
    if (vision_tower or projector) and counts["vision_tower"] + counts["projector"] == 0:
        log.warning("no vision tower / projector parameters found to freeze (text-only model?)")
    return counts


def save_weights(trainer: Any, out: Path, save_dtype: str | None = None) -> None:
    """The model's weights in `out`. Through the trainer (ZeRO-3 / FSDP shards gathered), except
    where fp32 training weights are saved as bf16 as EasyR1's model_merger.py does (:128-183):
    there every process holds the whole model (no DeepSpeed, no FSDP), so the main process
    writes a bf16 copy without touching the fp32 weights training goes on with."""
    import os

    import torch

    if save_dtype != "bfloat16":
        trainer.save_model(str(out))
        return
    model = trainer.accelerator.unwrap_model(trainer.model)
    first = next(iter(model.parameters()), None)
    sharded = trainer.is_deepspeed_enabled or os.environ.get("ACCELERATE_USE_FSDP", "") in (
        "1",
        "true",
    )
    if first is None or first.dtype == torch.bfloat16 or sharded:
        trainer.save_model(str(out))
        return
    if trainer.accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to(torch.bfloat16) for k, v in model.state_dict().items()}
        model.save_pretrained(str(out), state_dict=state)
        # save_pretrained names the parameters' dtype; config.json says what the files hold
        config_path = out / "config.json"
        config = json.loads(config_path.read_text())
        for key in ("dtype", "torch_dtype"):
            if key in config:
                config[key] = "bfloat16"
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    trainer.accelerator.wait_for_everyone()


def save_checkpoint(
    trainer: Any,
    processor: Any,
    out_dir: str | Path,
    record: dict[str, Any],
    *,
    save_dtype: str | None = None,
) -> Path:
    """Model (via the trainer, so ZeRO-3 shards are gathered) + processor + run record."""
    out = Path(out_dir)
    save_weights(trainer, out, save_dtype)
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(str(out))
        model = trainer.accelerator.unwrap_model(trainer.model)
        gen = getattr(model, "generation_config", None)
        if gen is not None and not (out / "generation_config.json").exists():
            gen.save_pretrained(str(out))
        from ovlt_eval.redact import redact  # the card as its `${VAR}` template, URLs masked

        text = json.dumps(redact(json.loads(json.dumps(record, default=str))), indent=2)
        (out / "ovlt_train.json").write_text(text + "\n")
    return out
