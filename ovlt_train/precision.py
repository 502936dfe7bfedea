"""Training precision as EasyR1 runs it: fp32 weights and optimizer state, bf16 compute.

EasyR1 loads the actor in float32 (`train/easyr1/verl/workers/fsdp_workers.py:184-185`: no
`torch_dtype` given → float32 for the actor) and lets FSDP compute in bf16
(`MixedPrecision(param_dtype=bf16, reduce_dtype=fp32, buffer_dtype=fp32)`, :235-239 with
`verl/workers/actor/config.py:64-66`). AdamW therefore updates fp32 weights. Loading the weights
in bf16 and stepping AdamW on them directly loses most updates at the recipe's learning rates:
a bf16 weight of magnitude ~1e-2 has a spacing of ~6e-5, and an Adam step is about `lr` (1e-6
for GRPO, 5e-6 for SFT), so the update rounds back to the same weight.

Where a DeepSpeed config is in force (the README's 8-GPU ZeRO-3 path), DeepSpeed's bf16 mode
keeps fp32 master weights and optimizer state itself, so the model is loaded in bf16 as before.
Everywhere else (one GPU, plain `accelerate`/DDP, FSDP, the loop's in-process steps) the model
is loaded in float32 and the Trainer's `bf16=True` runs the forward and backward under bf16
autocast: the `mixed` mode. `precision: bf16` in a card keeps the old pure-bf16 behaviour
(EasyR1's `adamw_bf16` optimizer strategy is its nearest relative) for memory-bound runs.

Memory (weights + AdamW state, per parameter): mixed 4 + 4 + 8 = 16 bytes, pure bf16 2 + 2 + 4
(torch AdamW keeps its moments in the parameter's dtype) = 8 bytes; activations are bf16 in
both. A 7B model in `mixed` mode needs ~112 GB for weights, gradients and optimizer state, so
one 80 GB GPU cannot hold it: use ZeRO-3 over 8 GPUs (the documented path) there.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

PrecisionSetting = Literal["auto", "mixed", "bf16"]


@dataclass(frozen=True)
class Precision:
    mode: Literal["mixed", "bf16", "fp32", "deepspeed"]
    load_dtype: Literal["float32", "bfloat16"]  # the parameters' dtype, as loaded
    compute_dtype: Literal["float32", "bfloat16"]  # forward/backward
    master_weights: str  # where the fp32 copy the optimizer updates lives (or "none")
    save_dtype: Literal["float32", "bfloat16"]  # the checkpoint's weights
    why: str

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def torch_load_dtype(self):
        import torch

        return getattr(torch, self.load_dtype)

    def line(self) -> str:
        return (
            f"precision: {self.mode} (parameters {self.load_dtype}, compute "
            f"{self.compute_dtype}, fp32 master weights: {self.master_weights})"
        )


def deepspeed_in_force(card: Any) -> bool:
    """A DeepSpeed config from the card, or from `accelerate launch` with a DeepSpeed config
    (accelerate exports ACCELERATE_USE_DEEPSPEED to the processes it starts)."""
    if getattr(card, "deepspeed", None):
        return True
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true", "yes")


def resolve_precision(card: Any, *, deepspeed: bool | None = None) -> Precision:
    """The precision a training card runs at here (`card.bf16`, `card.precision`)."""
    ds = deepspeed_in_force(card) if deepspeed is None else deepspeed
    setting: str = getattr(card, "precision", "auto")
    if not card.bf16:
        return Precision(
            "fp32", "float32", "float32", "parameters (fp32)", "float32", "bf16 is off"
        )
    if setting == "bf16":
        return Precision(
            "bf16",
            "bfloat16",
            "bfloat16",
            "none" if not ds else "DeepSpeed optimizer",
            "bfloat16",
            "card precision: bf16 (AdamW updates bf16 weights; small updates round away)",
        )
    if ds and setting == "auto":
        return Precision(
            "deepspeed",
            "bfloat16",
            "bfloat16",
            "DeepSpeed optimizer",
            "bfloat16",
            "a DeepSpeed config keeps fp32 master weights and optimizer state",
        )
    return Precision(
        "mixed",
        "float32",
        "bfloat16",
        "parameters (fp32)",
        "bfloat16",
        "EasyR1: fp32 actor weights (fsdp_workers.py:184-185), bf16 compute (:235-239)",
    )
