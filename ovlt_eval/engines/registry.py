"""The engine registry: `get_engine("openai" | "hf" | "vllm", **options)`.

Engine modules are imported only when asked for, so `import ovlt_eval` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from ovlt_eval.engines.types import Engine
from ovlt_eval.errors import UserError

# name -> (module, class); descriptions are what `--help` and errors show.
ENGINES: dict[str, tuple[str, str, str]] = {
    "openai": (
        "ovlt_eval.engines.openai",
        "OpenAIEngine",
        "any OpenAI-compatible endpoint (vLLM, SGLang, transformers serve, hosted APIs)",
    ),
    "hf": ("ovlt_eval.engines.hf", "HFEngine", "in-process transformers, batched"),
    "vllm": (
        "ovlt_eval.engines.vllm",
        "VLLMEngine",
        "in-process vllm.LLM (a GPU, or vLLM's CPU build: make setup-vllm)",
    ),
}


def engine_names() -> list[str]:
    return sorted(ENGINES)


def get_engine(name: str, **options: Any) -> Engine:
    """Build the engine called `name`; options are the engine class's keyword arguments."""
    if name not in ENGINES:
        raise UserError(f"unknown engine {name!r}; known engines: {', '.join(engine_names())}")
    module_name, class_name, _ = ENGINES[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls(**options)
    except TypeError as err:
        # A misspelled option is a user mistake, not a crash.
        if "unexpected keyword argument" in str(err):
            raise UserError(f"engine {name!r}: {err}") from None
        raise
