"""Hostile model output: verify answers quickly with a status, never raises, never hangs.
(The 10,000-item run is bench/adversarial.py.)"""

import time

import pytest

from ovlt_eval.grading import grade, verify

NASTY = [
    "{" * 5000 + "1" + "}" * 5000,
    "\\frac{" * 300 + "1" + "}{2}" * 300,
    "\\sqrt{" * 200 + "2" + "}" * 200,
    "a" * 100_000,
    "1" * 100_000,
    "9^{9^{9^{9}}}",
    "10**10**10",
    "10^{10^{10}}",
    "2^{99999999}",
    "99999!",
    "\udcff",
    "ok \ud800 then \udfff",
    "\x00\x00\x00",
    "5\x00",
    "\\boxed{" * 50 + "5" + "}" * 50,
    "$" * 1000,
    "\\left(" * 100 + "x" + "\\right)" * 100,
    "(" * 3000,
    "1/0",
    "\\frac{1}{0}",
    "0^0",
    "\\infty - \\infty",
    "1e999999999",
    "1.5e-999999999",
    "\\begin{pmatrix}" + "1&" * 500 + "1\\end{pmatrix}",
    ",".join(["1"] * 5000),
    "x=" * 2000,
]


@pytest.mark.parametrize("kind", ["auto", "integer", "float", "list", "multi_choice", "text"])
def test_nasty_predictions(kind):
    choices = ["1", "2", "3"] if kind == "multi_choice" else None
    for pred in NASTY:
        start = time.monotonic()
        v = verify("1", pred, kind, choices=choices, timeout_s=1.0)
        assert time.monotonic() - start < 4.0, pred[:40]
        assert v.status in ("ok", "timeout", "unparseable", "no_answer")
        assert not (v.correct and v.status != "ok")


def test_nasty_golds_and_responses_do_not_raise():
    for text in NASTY[:12]:
        g = grade(f"<answer>{text}</answer>", "\\frac{1}{2}", timeout_s=1.0)
        assert g.status in ("ok", "timeout", "unparseable", "no_answer")
        v = verify(text, "1", timeout_s=1.0)
        assert v.status in ("ok", "timeout", "unparseable")


def test_division_by_zero_is_not_equal_to_everything():
    assert not verify("1", "\\frac{1}{0}").correct
    assert not verify("\\infty", "1/0").correct
