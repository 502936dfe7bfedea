"""What a benchmark is: items with gold, a prompt per item, official-protocol scoring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovlt_eval.grading.types import AnswerKind, Status


@dataclass(frozen=True)
class BenchItem:
    id: str  # the benchmark's native id (MathVista pid, MathVerse sample_index, MathVision id)
    question: str  # the official prompt text ("query" / "query_cot" / built from question+options)
    gold: str
    kind: AnswerKind
    choices: tuple[str, ...] | None = None
    precision: int | None = None
    unit: str | None = None
    images: tuple[Any, ...] = ()  # local paths (str), raw bytes, or PIL images
    breakdown: dict[str, Any] = field(default_factory=dict)  # category -> value(s) for reports
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ScoredItem:
    id: str
    extracted: str | None
    correct: bool
    status: Status | str  # grading statuses plus "missing_prediction"
    how: str = ""
    # Every protocol's verdict (see protocols.py); `correct` is the chosen one's. None when
    # the item was built by code that knows only one verdict (then `correct` stands for all),
    # or the benchmark has no such evaluator (official for EMMA, MMMU-Pro, HallusionBench).
    correct_reference: bool | None = None
    correct_official: bool | None = None
    correct_corrected: bool | None = None
    extracted_reference: str | None = None
    extracted_official: str | None = None
    extracted_corrected: str | None = None
    disagreement: str | None = None  # why official and corrected differ, a short category
    status_reference: str | None = None  # "ok", "no_answer" (failed to extract), "timeout"
    status_official: str | None = None  # the official evaluation's own status
    status_corrected: str | None = None
    protocol: str = "official"
