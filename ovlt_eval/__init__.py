"""ovlt_eval — the foundation: answer grading, benchmarks, generation engines, runs.

Importing this package must stay light (no torch, no transformers): heavy libraries are
imported inside the functions that need them.
"""

__version__ = "0.1.0"

# The Python API, loaded on first use so that `import ovlt_eval` stays light.
_API = ("evaluate", "EvalResult", "Judge")
__all__ = ["__version__", *_API, "SamplingParams"]


def __getattr__(name: str):
    if name == "SamplingParams":  # evaluate(..., sampling=SamplingParams(max_tokens=64))
        from ovlt_eval.engines.types import SamplingParams

        return SamplingParams
    if name in _API:
        from ovlt_eval import api

        return getattr(api, name)
    raise AttributeError(f"module 'ovlt_eval' has no attribute {name!r}")
