"""Generation engines: one interface (`generate(requests)` -> results), several backends.

    from ovlt_eval.engines import get_engine
    engine = get_engine("openai", model="m", base_urls=["http://127.0.0.1:8000/v1"])
    for result in engine.generate(requests): ...

Backends: `openai` (any OpenAI-compatible server), `hf` (in-process transformers),
`vllm` (in-process vLLM, on a GPU or vLLM's CPU
build). Heavy libraries are imported by the backend that needs them.
"""

from ovlt_eval.engines.registry import ENGINES, engine_names, get_engine
from ovlt_eval.engines.types import Engine, GenerationRequest, GenerationResult, SamplingParams

__all__ = [
    "ENGINES",
    "Engine",
    "GenerationRequest",
    "GenerationResult",
    "SamplingParams",
    "engine_names",
    "get_engine",
]
