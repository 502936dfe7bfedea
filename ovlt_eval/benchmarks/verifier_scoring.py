"""The `corrected` protocol for benchmarks without benchmark-specific rules (EMMA, MMMU-Pro):
ovlt's extractor, then ovlt's verifier, as MathVerse's corrected scoring does it."""

from __future__ import annotations

from ovlt_eval.benchmarks.options import is_prose, names_several_options
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem


def score_with_verifier(item: BenchItem, response: str) -> ScoredItem:
    from ovlt_eval.grading.extract import extract_answer
    from ovlt_eval.grading.verify import verify

    found = extract_answer(response, item.choices)
    if found.answer is None:
        return ScoredItem(item.id, None, False, "no_answer", found.how)
    pred = found.answer
    if item.kind == "multi_choice" and names_several_options(pred):
        return ScoredItem(item.id, pred, False, "ok", found.how)
    if is_prose(pred):
        return ScoredItem(item.id, pred, False, "unparseable", found.how + "+prose")
    verdict = verify(item.gold, pred, item.kind, choices=item.choices, precision=item.precision)
    return ScoredItem(item.id, pred, verdict.correct, verdict.status, found.how)
