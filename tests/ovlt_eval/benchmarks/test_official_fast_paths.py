"""The official MATH-V evaluator's shortcuts must give what latex2sympy + eval give, and every
remaining parse must be bounded (worker deadline) and reported, never hang or raise."""

from __future__ import annotations

import random

import pytest

import ovlt_eval.benchmarks.mathvision_official as mo
from ovlt_eval.grading.extract import _contains_word, _leads_with
from ovlt_eval.grading.timeout import run_symbolic


def _parsed(s: str):
    reply = run_symbolic({"op": "official_latex_value", "expr": s, "max_printed": 480}, 30.0)
    assert reply["status"] == "ok", reply
    return reply["value"]


QUICK = [
    "12",
    " 11",
    "+5",
    "-5",
    ".5",
    "-.5",
    "1.50",
    "$10$",
    "$-3$",
    "\\frac{3}{4}",
    "\\frac{4}{2}",
    "4/2",
    "10 / 3",
    "2: 3",
    "3:0",
    "5/0",
    "6\\sqrt{2}",
    "\\sqrt{17}",
    "\\sqrt{4}",
    "14\\pi",
    "\\pi",
    "0\\pi",
    "$\\frac{1}{8}$",
    "$4: 15$",
]


@pytest.mark.parametrize("s", QUICK)
def test_quick_values_equal_the_parser(s):
    quick = mo._quick_value(s)
    assert quick is not mo._UNKNOWN
    real = _parsed(s)
    assert quick == real and type(quick) is type(real)


FREE = [
    "x",
    "ab",
    "{theanswerisa}",
    "2a+b",
    "x-x",
    "a/a",
    "a\\cdot 0",
    "\\frac{a}{a}",
    "56\\mathrm{~cm}^{2}",
    "5\\text{ cm}",
    "\\sqrt{x}",
    "\\frac{d}{dx}x^2",
    "a=3",
]
NOT_FREE = [
    "e",
    "\\pm a",  # not a known-plain command: parsed
    "\\mathrm{pi}",
    "\\text{e}^2",
    "\\mathrm{tau}",
    "2\\pi",
    "\\sum_{k=1}^{3} k",
    "E",
    "1+2",
]


@pytest.mark.parametrize("s", FREE)
def test_free_symbol_strings_are_none_without_parsing(s):
    assert mo._leaves_free_symbol(s)
    assert _parsed(s) is None


@pytest.mark.parametrize("s", NOT_FREE)
def test_constants_and_binders_go_to_the_parser(s):
    assert not mo._leaves_free_symbol(s)


def test_free_symbol_rule_on_random_strings():
    toks = list("abxyzeimp12+-/^(){}= ") + ["\\frac{1}{x}", "\\sqrt{", "\\text{cm}", "\\pi "]
    rng = random.Random(7)
    checked = 0
    for _ in range(400):
        s = "".join(rng.choice(toks) for _ in range(rng.randint(1, 6)))
        if mo._leaves_free_symbol(s):
            checked += 1
            assert _parsed(s) is None, s
    assert checked > 50


def test_hostile_strings_are_reported_not_hung():
    # Guarded strings are refused and say so; the verdict stays False.
    answer, ok, status = mo.official_verdict_status("5", (), "The answer is " + "9" * 200)
    assert not ok and status == "unparseable"
    answer, ok, status = mo.official_verdict_status("5", (), "\\boxed{9^{9^{9^{9}}}}")
    assert not ok and status == "unparseable"
    _, ok, status = mo.official_verdict_status("5", (), "\\boxed{5}")
    assert ok and status == "ok"


def test_parse_deadline_reports_timeout(monkeypatch):
    monkeypatch.setattr(mo, "_EVAL_DEADLINE_S", 0.5)
    monkeypatch.setattr(
        mo, "run_symbolic", lambda req, t: run_symbolic({"op": "hold", "seconds": 30}, t)
    )
    mo._evaluate.cache_clear()
    try:
        assert mo._evaluate("\\sqrt{2}+\\sqrt{3}") == (None, "timeout")
        _, ok, status = mo.official_verdict_status("7", (), "\\boxed{\\sqrt{5}+\\sqrt{7}}")
        assert not ok and status == "timeout"
    finally:
        mo._evaluate.cache_clear()


def test_option_matching_helpers_equal_their_regexes():
    import re

    rng = random.Random(3)
    alphabet = list("ab1 .,;:!\n_é٣")
    for _ in range(20000):
        opt = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        if rng.random() < 0.3:
            text = opt + text
        found = re.search(r"(?<![\w.])" + re.escape(opt) + r"(?![\w]|\.\d)", text)
        assert _contains_word(text, opt) == bool(found), (text, opt)
        led = re.match(re.escape(opt) + r"(?:[ ,;:!]|$)(?!\d)", text)
        assert _leads_with(text, opt) == bool(led), (text, opt)
