"""The one answer verifier: extraction from model text and verification against gold.

Public contract (used by benchmarks, engines' runs, the data factory and the GRPO reward):

    extract_answer(response, choices=None) -> Extraction
    verify(gold, pred, kind="auto", *, choices=None, precision=None, unit=None,
           timeout_s=DEFAULT_TIMEOUT_S) -> Verdict
    grade(response, gold, kind="auto", *, choices=None, precision=None, unit=None) -> Graded

Statuses: "ok", "no_answer", "timeout", "unparseable".
"""

from ovlt_eval.grading.types import AnswerKind, Extraction, Graded, Verdict  # noqa: F401
