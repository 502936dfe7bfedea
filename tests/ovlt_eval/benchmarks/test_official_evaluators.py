"""The re-implemented official evaluators, rule by rule, on hand-written responses."""

import time

import pytest

from ovlt_eval.benchmarks.choice_reading import is_refusal, read_choice
from ovlt_eval.benchmarks.mathvision_official import (
    find_math_answer,
    official_available,
    official_is_equal,
    official_model_answer,
    official_verdict,
)
from ovlt_eval.benchmarks.mathvista_official import (
    nearest_option,
    normalize_extracted_answer,
    official_extraction,
    plain_number,
)


@pytest.mark.parametrize(
    "response, expected",
    [
        ("Let me think.\nSo the answer is B.", "b"),  # " B." ending: the letter
        ("C\nbecause the angle is right", "c"),
        ("The area is 12.", "12"),  # number after the last "is "
        ("so the answer is (D) 105. Done", "d105"),  # the MATH-V defect
        ("The final answer is $\\frac{3}{4}$. Thus", "\\frac{3}{4}"),
        ("x = \\boxed{5} and later \\boxed{7}", "7"),  # several boxes: the last
        ("\\boxed{60^{\\circ}}", "60"),
        ("\\boxed{3 units}", "3"),
        ("The answer is 1/2.", "1/2"),  # "1/2." is not a/b, so no \\frac
        ("The answer is 3/4", "\\frac{3}{4}"),
        ("The answer is 0.5", "\\frac{1}{2}"),
    ],
)
def test_mathvision_model_answer(response, expected):
    assert official_model_answer(response) == expected


def test_mathvision_find_math_answer_span_and_stray_brace():
    # The box spans to the last "}" of the text, spaces dropped.
    assert find_math_answer("\\boxed{\\frac{1}{2}} then }") == "\\frac{1}{2}}then"
    assert find_math_answer("a = 3}") == "3"


@pytest.mark.parametrize(
    "gold, answer, expected",
    [
        ("A", "a", True),
        ("105", "d105", False),
        ("$\\frac{1}{300}$", "\\frac{1}{900}", True),  # both round to 0.0
        ("$\\frac{1}{2}$", "0.5", True),
        ("(1.01,2)", "(1.009,2)", True),  # tuples element-wise to 2 decimals
        ("(1,2)", "(1.001,2)", False),  # ... printed: "1" (an int) is not "1.0"
        ("(1.0,2)", "(1.001,2)", False),  # the parser reads 1.0 as the Rational 1: "1"
        ("\\frac{4}{3}", "4/3", True),
        ("$\\boxed{\\frac{3}{4}}$", "\\frac{3}{4}", False),  # MATH-V 2877: gold never matched
        ("$42 \\%$", "42%", False),  # 1485: "%" is not understood
        ("$2\\pi$", "2π", False),  # 2392: nor is "π"
        ("$-\\!2$", "-2", False),  # 2454: nor "\\!"
        ("$\\frac{3^{1008}-1}{3^{1009}}$", "\\frac{1}{3}", True),  # 2822: 0.33 both
        ("5", "5.so,evenwithoutthediagram,wecantell", True),  # 1577: the parsable prefix
        ("4", "{4}", True),
        ("$8 \\mathrm{~kg}$", "8", False),  # LaTeX option with a unit: never matched
        ("$60^{\\circ}$", "60", False),  # MATH-V's parser fails on \circ
        ("", "", False),
    ],
)
@pytest.mark.skipif(not official_available(), reason="MATH-V's latex2sympy2 is not installed")
def test_mathvision_is_equal(gold, answer, expected):
    assert official_is_equal(gold, answer) is expected


def test_mathvision_explosive_input_is_refused_quickly():
    start = time.perf_counter()
    assert not official_is_equal("2^{10^{10}}", "3")
    assert not official_is_equal("1000000!", "3")
    answer, ok = official_verdict("A", ("1", "2"), "\\boxed{" + "{" * 5000 + "}" * 5000)
    assert not ok and time.perf_counter() - start < 5


def test_mathvista_normalisation_rules():
    choices = ("97", "102", "107", "122")
    assert normalize_extracted_answer("(b) text", choices, "multi_choice", "text", None) == "102"
    assert normalize_extracted_answer("C", choices, "multi_choice", "text", None) == "107"
    assert normalize_extracted_answer("N/A", choices, "multi_choice", "text", None) == "97"
    assert normalize_extracted_answer("3.7", None, "free_form", "integer", None) == "3"
    assert normalize_extracted_answer("1.25", None, "free_form", "float", 1) == "1.2"
    assert normalize_extracted_answer("1 cm", None, "free_form", "float", 1) is None
    assert normalize_extracted_answer("[1, 2]", None, "free_form", "list", None) == "[1, 2]"
    assert nearest_option("", ("abc", "ab")) == "ab"


def test_mathvista_extraction_quick_path_then_rules():
    choices = ("plants decrease", "plants increase")
    assert official_extraction("plants increase", "multi_choice", "text", choices) == (
        "plants increase"
    )
    assert official_extraction(" 12 ", "free_form", "integer", None) == "12"
    assert official_extraction("1.50", "free_form", "float", None) == "1.5"
    assert official_extraction('The answer is "7".', "free_form", "integer", None) == "7"
    assert official_extraction("", "multi_choice", "text", choices) == ""
    assert official_extraction("So the total is 1,234 dollars.", "free_form", "integer", None) == (
        "1234"
    )
    assert plain_number("\\frac{1}{2}") == "0.5" and plain_number("45%") == "45"
    assert plain_number("1:4") is None and plain_number("40-50") is None


def test_choice_reading():
    yes_no = ("Yes", "No")
    q = "Question: Are there fewer red cubes than blue balls?"
    assert read_choice("Based on the image, there are fewer red cubes.", yes_no, q)[0] == "A"
    assert read_choice("Based on the image, there are more red cubes.", yes_no, q)[0] == "B"
    assert read_choice("The function is not periodic.", ("yes", "no"))[0] == "B"
    assert read_choice("Thus the length of AB is 3.0.", ("1", "2", "3", "6"))[0] == "C"
    assert read_choice("So the population would decrease.", ("increase", "decrease"))[0] == "B"
    assert read_choice("Either 2 or 3 could fit.", ("2", "3")) is None
    assert is_refusal("Without the table, the answer cannot be determined.")
    assert not is_refusal("The answer is 3.")
