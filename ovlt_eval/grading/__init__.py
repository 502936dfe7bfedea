"""The one answer verifier: extraction from model text and verification against gold.

Public contract (used by benchmarks, engines' runs, the data factory and the GRPO reward):

    extract_answer(response, choices=None) -> Extraction
    verify(gold, pred, kind="auto", *, choices=None, precision=None, unit=None,
           timeout_s=DEFAULT_TIMEOUT_S) -> Verdict
    grade(response, gold, kind="auto", *, choices=None, precision=None, unit=None,
          timeout_s=DEFAULT_TIMEOUT_S) -> Graded

Statuses: "ok", "no_answer", "timeout", "unparseable".
Light to import: sympy / Math-Verify only ever load in the symbolic worker processes.
"""

from ovlt_eval.grading.extract import extract_answer
from ovlt_eval.grading.grade import grade
from ovlt_eval.grading.types import AnswerKind, Extraction, Graded, Status, Verdict
from ovlt_eval.grading.verify import DEFAULT_TIMEOUT_S, KINDS, verify

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "KINDS",
    "AnswerKind",
    "Extraction",
    "Graded",
    "Status",
    "Verdict",
    "extract_answer",
    "grade",
    "verify",
]
