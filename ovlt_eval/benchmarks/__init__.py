"""Benchmarks registry: one module per benchmark, each a frozen dataclass instance.

from ovlt_eval.benchmarks import get_benchmark, BENCHMARKS
b = get_benchmark("mathvision")
items = b.load(split="testmini", data=None)   # data: local file/folder, None = the Hub
b.score(item, response) -> ScoredItem
"""

from __future__ import annotations

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.emma import EMMA_BENCHMARKS
from ovlt_eval.benchmarks.hallusionbench import HallusionBench
from ovlt_eval.benchmarks.mathverse import MathVerse
from ovlt_eval.benchmarks.mathvision import MathVision
from ovlt_eval.benchmarks.mathvista import MathVista
from ovlt_eval.benchmarks.mmmu_pro import MMMU_PRO_BENCHMARKS
from ovlt_eval.benchmarks.sftseed import SftSeed
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.errors import UserError

# The paper's three, then the reference evaluation's other benchmarks under the reference's
# names (eval_openvlthinker.py:30-42).
BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        MathVista(),
        MathVerse(),
        MathVision(),
        *EMMA_BENCHMARKS,
        *MMMU_PRO_BENCHMARKS,
        HallusionBench(),
        SftSeed(),
    )
}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name.strip().lower()]
    except KeyError:
        raise UserError(
            f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}"
        ) from None


__all__ = ["BENCHMARKS", "BenchItem", "Benchmark", "ScoredItem", "get_benchmark"]
