"""Construct a trl config from card values: its validation errors become one line, and
`--print-config` can resolve a bf16 config on a machine without a GPU."""

from __future__ import annotations

import json
import warnings
from typing import Any

from ovlt_eval.errors import UserError

NO_GPU_NOTE = (
    "resolved on a machine without a CUDA GPU: transformers refuses bf16 there, so the config was "
    "built with use_cpu=true only to validate it; `trl.use_cpu` shows the GPU run's value (false)"
)


def make_config(cls: type, kwargs: dict[str, Any], *, for_print: bool = False):
    """(config, note): note is None unless the config had to be resolved for printing only."""
    with warnings.catch_warnings():
        # transformers 5 renames gradient_checkpointing* to activation_checkpointing* and warns
        # on every config; trl's configs still document the old names, which work until v6.
        warnings.filterwarnings(
            "ignore", message=r"`gradient_checkpointing", category=FutureWarning
        )
        try:
            return cls(**kwargs), None
        except ValueError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if for_print and kwargs.get("bf16") and "bf16" in first and not kwargs.get("use_cpu"):
                return cls(**{**kwargs, "use_cpu": True}), NO_GPU_NOTE
            raise UserError(f"{cls.__name__}: {first}") from None


def config_json(config: Any, note: str | None) -> dict[str, Any]:
    out = json.loads(config.to_json_string())
    if note:  # the GPU run's values, not this machine's
        out["use_cpu"] = False
        out["dataloader_pin_memory"] = True
    return out
