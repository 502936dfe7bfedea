"""grade(response, gold) = extract an answer from model text, then verify it."""

from __future__ import annotations

from collections.abc import Sequence

from ovlt_eval.grading.types import AnswerKind, Graded
from ovlt_eval.grading.verify import DEFAULT_TIMEOUT_S, verify


def grade(
    response: str | None,
    gold: str,
    kind: AnswerKind = "auto",
    *,
    choices: Sequence[str] | None = None,
    precision: int | float | None = None,
    unit: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Graded:
    """Score one raw model response. No answer found -> Graded(None, False, "no_answer", how=reason)."""
    from ovlt_eval.grading.extract import extract_answer

    try:
        extraction = extract_answer(response, choices)
    except Exception as e:  # noqa: BLE001 - model text must never raise out of grading
        return Graded(None, False, "unparseable", how=f"extract failed: {type(e).__name__}")
    if extraction.answer is None:
        return Graded(None, False, "no_answer", how=extraction.how)
    verdict = verify(
        gold,
        extraction.answer,
        kind,
        choices=choices,
        precision=precision,
        unit=unit,
        timeout_s=timeout_s,
    )
    return Graded(extraction.answer, verdict.correct, verdict.status, how=extraction.how)
