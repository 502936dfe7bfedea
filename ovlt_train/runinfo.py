"""What every training run records next to its checkpoint (`ovlt_train.json`)."""

from __future__ import annotations

import os
import platform
import time
from typing import Any


def world_size() -> int:
    """$WORLD_SIZE (set by torchrun / accelerate), 1 without it; a value that is not a positive
    integer is one UserError line, not a traceback or a division by zero."""
    raw = os.environ.get("WORLD_SIZE", "1")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        from ovlt_eval.errors import UserError

        raise UserError(f"$WORLD_SIZE={raw!r}: expected a number of processes >= 1")
    return n


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def grad_accumulation(global_batch: int, per_device: int, world: int, *, what: str) -> int:
    from ovlt_eval.errors import UserError

    if world < 1:
        raise UserError(f"{what}: {world} processes: the world size must be >= 1")
    denom = per_device * world
    if global_batch % denom:
        raise UserError(
            f"{what}: global batch {global_batch} is not a multiple of per-device batch {per_device} x {world} processes"
        )
    return global_batch // denom


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "accelerate", "deepspeed", "vllm"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except ImportError:
            continue
    import ovlt_train

    out["ovlt"] = ovlt_train.__version__
    return out


def base_record(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
        **fields,
    }


def loss_curve(log_history: list[dict[str, Any]], key: str = "loss") -> list[float]:
    return [float(e[key]) for e in log_history if key in e]


def common_trainer_args(card: Any, out_dir: Any, per_device: int, accum: int) -> dict[str, Any]:
    """TrainingArguments fields the SFT and GRPO cards spell the same way; each trainer adds its
    own (learning rate, warmup, epochs and its method's fields) on top."""
    return {
        "output_dir": str(out_dir),
        "weight_decay": card.weight_decay,
        "lr_scheduler_type": card.lr_scheduler_type,
        "max_grad_norm": card.max_grad_norm,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accum,
        "bf16": card.bf16,
        "gradient_checkpointing": card.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False}
        if card.gradient_checkpointing
        else None,
        "deepspeed": card.deepspeed,
        "seed": card.seed,
        "logging_steps": card.logging_steps,
        "save_strategy": card.save_strategy,
        "save_steps": card.save_steps,
        "report_to": card.report_to,
        "remove_unused_columns": False,
        # pinned memory only helps copies to a GPU; without one torch warns on every loader
        "dataloader_pin_memory": _has_cuda(),
    }


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
