"""The official MATH-V evaluator's shortcuts must give what MATH-V's own parser (latex2sympy2
1.9.1) + eval give, and every remaining parse must be bounded (worker deadline) and reported,
never hang or raise."""

from __future__ import annotations

import random

import pytest

import ovlt_eval.benchmarks.mathvision_official as mo
from ovlt_eval.grading.extract import _contains_word, _leads_with
from ovlt_eval.grading.timeout import run_symbolic_mode

needs_parser = pytest.mark.skipif(
    not mo.official_available(), reason="MATH-V's latex2sympy2 1.9.1 is not installed (make setup)"
)


def _parsed(s: str):
    value, status = mo._parse_eval(s)
    assert status == "ok", (s, status)
    return value


QUICK = [
    "12",
    " 11",
    "+5",
    "-5",
    "007",
    ".5",
    "-.5",
    "1.50",
    "2.0",
    "-0.0",
    "0.125",
    "$10$",
    "$-3$",
    "\\frac{3}{4}",
    "\\frac{4}{2}",
    "4/2",
    "10 / 3",
    "2: 3",
    "3:0",
    "5/0",
    "0/0",
    "6\\sqrt{2}",
    "\\sqrt{17}",
    "\\sqrt{4}",
    "14\\pi",
    "\\pi",
    "0\\pi",
    "$\\frac{1}{8}$",
    "$4: 15$",
]


@needs_parser
@pytest.mark.parametrize("s", QUICK)
def test_quick_values_equal_the_parser(s):
    quick = mo._quick_value(s)
    assert quick is not mo._UNKNOWN
    real = _parsed(s)
    assert quick == real and type(quick) is type(real)


LEADING_SYMBOL = ["x", "ab", "thequestioncannotbeanswered.", "a(1)", "b_{1}", "x-x", "a^0", "t3"]
# shapes met in published outputs: a "d" that is no differential, "e" times symbols, a bracket
# or dollar before a symbol, "<image2>"
LEADING_SYMBOL += ["d92", "d\\sqrt{7}", "d)", "d", "<image2>", "{noneoftheabove}", "(a,b)"]
LEADING_SYMBOL += ["eitdependsontheradius", "dbeetlewith6points", "$x$", "{a}", "dx", "diagram"]
NOT_LEADING = ["e", "ee", "E3", "eE", "ed2", "dd", "tr(1)", "floor(2.5)"]
NOT_LEADING += ["gcd(4,6)", "5a", "{e}", "(1,2)", "$2$", "{3}"]


@needs_parser
@pytest.mark.parametrize("s", LEADING_SYMBOL)
def test_leading_symbol_strings_are_none_without_parsing(s):
    assert mo._leads_with_symbol(s)
    assert _parsed(s) is None


@pytest.mark.parametrize("s", NOT_LEADING)
def test_words_differentials_and_e_go_to_the_parser(s):
    assert not mo._leads_with_symbol(s)


@needs_parser
def test_leading_symbol_rule_on_random_strings():
    toks = list("abxyzimpt12+-/^(){}=.,") + ["\\frac{1}{2}", "\\sqrt{", "\\pi", "!", "d", "e"]
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        head = rng.choice(["a", "b", "x", "t", "d", "d1", "d(", "ex", "{a", "(b", "$x", "<"])
        s = head + "".join(rng.choice(toks) for _ in range(rng.randint(0, 6)))
        if mo._leads_with_symbol(s):
            checked += 1
            assert _parsed(s) is None, s
    assert checked > 100


@needs_parser
def test_parser_quirks_are_the_official_ones():
    # The longest parsable prefix counts; "\\boxed", "π", "%", "\\!" are not understood.
    assert _parsed("5.so,evenwithoutthediagram") == 5
    assert _parsed("\\frac{1}{2}.theansweris\\boxed{d") == 0.5
    assert _parsed("{4}") == 4
    for s in ("$\\boxed{\\frac{3}{4}}$", "2π", "42%", "$-\\!2$", "3\\sqrt{3}-\\pi \\$"):
        assert _parsed(s) is None, s
    assert round(_parsed("$\\frac{3^{1008}-1}{3^{1009}}$"), 2) == 0.33


@needs_parser
def test_hostile_strings_are_reported_not_hung():
    # Refused strings say so; the verdict stays False.
    answer, ok, status = mo.official_verdict_status("5", (), "\\boxed{9^{9^{9^{9}}}}")
    assert not ok and status == "unparseable"
    answer, ok, status = mo.official_verdict_status("5", (), "\\boxed{5" + "+1" * 3000 + "}")
    assert not ok and status == "unparseable"
    _, ok, status = mo.official_verdict_status("5", (), "\\boxed{5}")
    assert ok and status == "ok"
    _, ok, status = mo.official_verdict_status("(1,2)", (), "\\boxed{(1, 2^{3^{40}})}")
    assert not ok and status == "unparseable"


@needs_parser
def test_parse_deadline_reports_timeout(monkeypatch):
    monkeypatch.setattr(mo, "_EVAL_DEADLINE_S", 0.5)
    monkeypatch.setattr(
        mo,
        "run_symbolic_mode",
        lambda argv, req, t: run_symbolic_mode(argv, {"op": "hold", "seconds": 30}, t),
    )
    mo._evaluate.cache_clear()
    try:
        assert mo._evaluate("\\sqrt{2}+\\sqrt{3}") == (None, "timeout")
        _, ok, status = mo.official_verdict_status("7", (), "\\boxed{\\sqrt{5}+\\sqrt{7}}")
        assert not ok and status == "timeout"
    finally:
        mo._evaluate.cache_clear()


def test_missing_parser_means_no_official_verdict(monkeypatch, tmp_path):
    from ovlt_eval.benchmarks import get_benchmark

    monkeypatch.setenv("OVLT_MATHV_LATEX2SYMPY2", str(tmp_path))
    assert not mo.official_available()
    b = get_benchmark("mathvision")
    row = {"id": "1", "question": "q", "answer": "5", "options": []}
    item = b.to_item(row, None, "row")
    assert b.score_official(item, "The answer is 5") is None
    scored = b.score(item, "The answer is 5", protocol="corrected")
    assert scored.correct and scored.correct_official is None


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


UNIT_TAILS = ["12\\mathrm{~cm}", "$3.5 \\mathrm{~m}^{2}$", "$30^{\\circ}$", "45^\\circ", "5{cm}"]
UNIT_TAILS += ["90\\degree", "\\frac{1}{2}\\mathrm{~cm}^{2}", "-4 \\mathrm{~kg}", "7{m}^2"]


@needs_parser
@pytest.mark.parametrize("s", UNIT_TAILS)
def test_number_with_unit_symbol_is_none_without_parsing(s):
    assert mo._UNIT_TAIL.fullmatch(s)
    assert _parsed(s) is None


@needs_parser
def test_unit_tail_rule_on_random_strings():
    # Every string the rule claims has no value in MATH-V's parser; "$20\\%$" (0.2) and a
    # bare number are never claimed.
    rng = random.Random(11)
    units = ["\\mathrm{~cm}", "\\mathrm{ m}", "{cm}", "{kg}", "^{\\circ}", "^\\circ", "\\degree"]
    nums = ["0", "12", "3.25", "-7", "\\frac{3}{4}", "100"]
    claimed = 0
    for _ in range(60):
        s = rng.choice(nums) + rng.choice(["", " "]) + rng.choice(units)
        s += rng.choice(["", "^2", "^{3}"])
        if rng.random() < 0.4:
            s = f"${s}$"
        if mo._UNIT_TAIL.fullmatch(s):
            claimed += 1
            assert _parsed(s) is None, s
    assert claimed > 40
    assert not mo._UNIT_TAIL.fullmatch("$20\\%$") and not mo._UNIT_TAIL.fullmatch("12")
