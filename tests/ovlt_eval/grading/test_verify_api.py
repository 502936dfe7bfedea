"""Contract details of verify/grade beyond the golden table."""

import pytest

from ovlt_eval.errors import UserError
from ovlt_eval.grading import Graded, Verdict, grade, verify
from ovlt_eval.grading.gold import parse_gold


def test_unknown_kind_is_a_user_error():
    with pytest.raises(UserError, match="unknown answer kind"):
        verify("1", "1", "number")


def test_statuses_for_missing_answers():
    assert verify("1", None) == Verdict(False, "no_answer", "empty answer")
    assert verify("1", "").status == "no_answer"
    assert verify("1", "\\boxed{}").status == "no_answer"


def test_gold_is_parsed_once():
    parse_gold.cache_clear()
    for pred in ("41", "42", "(B)", "forty"):
        verify("42", pred, "integer")
    info = parse_gold.cache_info()
    assert info.misses == 1 and info.hits == 3


def test_non_string_inputs_do_not_raise():
    assert verify(5, 5).correct  # type: ignore[arg-type]
    assert verify("5", b"5").correct  # type: ignore[arg-type]
    assert verify("0.5", 0.5).correct  # type: ignore[arg-type]


def test_grade_extracts_then_verifies():
    g = grade("so the area is \\boxed{12 cm^2}.", "12", "integer")
    assert isinstance(g, Graded)
    assert g.extracted and g.correct and g.status == "ok" and g.how
    assert not grade("so the area is \\boxed{13 cm^2}.", "12", "integer").correct


def test_grade_no_answer_keeps_reason():
    g = grade(None, "12")
    assert (g.extracted, g.correct, g.status) == (None, False, "no_answer")
    assert g.how


def test_grade_multi_choice_with_choices():
    g = grade("<answer>(C)</answer>", "circle", choices=["square", "triangle", "circle"])
    assert g.correct and g.status == "ok"


def test_timeout_is_a_budget_for_the_whole_call(monkeypatch):
    # Each symbolic comparison is slow here; a 4-item answer must still stop near timeout_s.
    import importlib
    import time

    # (the package attribute `verify` is the function; the module is reached by name)
    verify_module = importlib.import_module("ovlt_eval.grading.verify")

    def slow(request, timeout_s):
        time.sleep(min(0.2, timeout_s))
        return {"status": "ok", "correct": False}

    monkeypatch.setattr(verify_module, "run_symbolic", slow)
    start = time.monotonic()
    v = verify(
        "\\alpha, \\beta, \\gamma, \\delta", "\\delta, \\gamma, \\beta, \\alpha", timeout_s=0.3
    )
    assert time.monotonic() - start < 1.0
    assert v == Verdict(False, "timeout", "budget spent")


def test_missing_gold_is_a_status_not_a_false_match():
    assert verify(None, "5") == Verdict(False, "unparseable", "no gold answer")  # type: ignore[arg-type]
    assert verify("  ", "5").status == "unparseable"
