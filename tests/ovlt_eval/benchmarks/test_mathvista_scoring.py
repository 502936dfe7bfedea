"""MathVista `official` protocol: published GPT extractions scored verbatim, the literal
`calculate_score.py` normalisation, and the GPT-like readings that stand in for the GPT call."""

import json

import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.benchmarks.mathvista_official import (
    REFUSAL_EXTRACTION,
    normalize_extracted_answer,
    official_extraction,
    refusal_extraction,
)
from ovlt_eval.benchmarks.mathvista_reading import (
    asked_number,
    leading_letter,
    leaked_tail,
    option_by_words,
    stated_letter,
)
from ovlt_eval.errors import UserError
from ovlt_eval.predictions import load_predictions

YES_NO = ("Yes", "No")


@pytest.fixture(scope="module")
def vista(shared):
    b = get_benchmark("mathvista")
    return b, {i.id: i for i in b.load("testmini", shared / "benchmarks/mathvista")}


# ------------------------------------------------------------------ published extraction


def test_prediction_rows_carry_the_published_extraction(tmp_path):
    f = tmp_path / "p.json"
    rows = {
        "1": {"response": "long text", "extraction": "B"},
        "2": {"response": "x", "extraction": 3.5},  # calculate_score.py reads str()/float()
        "3": {"response": "y", "extraction": None},  # null: extract from the response
        "4": {"response": "z", "other": 1},
    }
    f.write_text(json.dumps(rows))
    preds = load_predictions(f)
    assert [preds[k].extraction for k in "1234"] == ["B", "3.5", None, None]
    assert "extraction" not in preds["1"].meta and preds["4"].meta == {"other": 1}
    f.write_text(json.dumps({"1": {"response": "r", "extraction": {"a": 1}}}))
    with pytest.raises(UserError, match="'extraction' must be text"):
        load_predictions(f)


def test_published_extraction_replaces_the_rules_under_official(vista):
    b, it = vista
    five = it["5"]  # choices 97/102/107/122, gold 97
    # The response says B; the published extraction says A: official follows the extraction,
    # corrected keeps reading the response.
    s = b.score(five, "The answer is (B) 102.", extraction="A")
    assert s.extracted_official == "A" and s.correct_official
    assert s.extracted_corrected == "B" and not s.correct_corrected
    # Verbatim: a published non-answer goes through the nearest-option rule, not our rules.
    text = "The text does not provide information needed to answer the question."
    assert b.score(five, "", extraction=text).extracted_official == text
    assert b.score(five, "A").correct_official  # no extraction: the rules read the response


def test_normalisation_is_literal():
    # `round(float(x), int(precision))`: a float item without a precision never scores.
    assert normalize_extracted_answer("1.25", None, "free_form", "float", None) is None
    assert normalize_extracted_answer("1.25", None, "free_form", "float", 1) == "1.2"
    assert normalize_extracted_answer("5.0", None, "free_form", "integer", None) == "5"
    assert normalize_extracted_answer("7.9", None, "free_form", "integer", None) == "7"
    assert normalize_extracted_answer(" (c) x", ("a", "b", "c"), "multi_choice", "text", None) == (
        "c"
    )
    assert normalize_extracted_answer("c", ("a", "b", "c"), "multi_choice", "text", None) == "c"
    assert normalize_extracted_answer("C", ("a", "b", "c"), "multi_choice", "text", None) == "c"
    assert normalize_extracted_answer("x", None, "free_form", "text", None) is None


# ------------------------------------------------------------------ GPT-like readings


def test_stated_letter_is_copied_even_out_of_range():
    assert stated_letter("The correct option letter is D.") == "D"
    assert stated_letter("Navy Blue is not the maximum. The correct answer is C, Dark Gray.") == (
        "C"
    )
    assert stated_letter("The correct option is (B).") == "B"
    assert stated_letter("A correct answer needs more data.") is None
    reply = "The correct option letter is D. Indigo has the lowest value in this case."
    assert official_extraction(reply, "multi_choice", "text", ("yes", "no")) == "D"


def test_leading_letter():
    assert leading_letter("C, Dark Gray") == "C"
    assert leading_letter("A (Yes)") == "A"
    assert leading_letter("B - Grasshopper") == "B"
    assert leading_letter("A survey") is None and leading_letter("Yes") is None


def test_number_the_question_asks_for():
    q = "Question: The model has 4 dots divided into 2 equal groups. There are (_) dots in each group."
    reply = "The model has 4 dots divided into 2 equal groups, with 2 dots in each group."
    assert asked_number(reply, q) == "2"
    assert official_extraction(reply, "free_form", "integer", None, question=q) == "2"
    assert asked_number("Each box has 12 pencils, 36 in all.", "How many pencils in each box?") == (
        "12"
    )
    assert asked_number(
        "It peaked in 2016, with 94% of schools.", "In which year was it highest?"
    ) == ("2016")
    assert asked_number("It peaked in 2016, with 94% of schools.", "What share?") is None
    # An explicit answer is never overridden.
    assert official_extraction("The answer is 4.", "free_form", "integer", None, question=q) == "4"


def test_reply_that_runs_on_into_a_new_exercise_is_read_at_its_end():
    reply = (
        "The answer is A (Yes).\n\nQuestion: Tom has 3 toys and buys 2 more. How many toys?\n"
        "Solution: 3 + 2 = 5.\nTherefore, the total number of toys is 5."
    )
    assert leaked_tail(reply).endswith("is 5.")
    assert official_extraction(reply, "multi_choice", "text", YES_NO) == "5"
    assert leaked_tail("Question: What is x?\nx = 3") is None  # the question restated first
    assert leaked_tail("So 3.\nQuestion: and then?") is None  # no solution follows


def test_option_whose_words_the_conclusion_repeats():
    choices = ("Population will increase", "Population will decrease", "Nothing happens")
    reply = "Without algae the fish would starve, so their population would decrease over time."
    assert option_by_words(reply, choices) == 1
    assert official_extraction(reply, "multi_choice", "text", choices) == "B"
    assert option_by_words("The population changes.", choices) is None


def test_non_answers_shaped_like_gpt():
    # One-line refusal that says what is missing: copied; one that declines: "N/A".
    said = "The text does not provide information needed to answer the question."
    assert refusal_extraction(said) == said
    declined = "The solution cannot be provided as the function is not given in the question."
    assert refusal_extraction(declined) == REFUSAL_EXTRACTION
    assert refusal_extraction(said + " " + said) == REFUSAL_EXTRACTION  # over 100 characters
    # A reply that only asks back answers nothing; a short statement is read as a statement.
    assert official_extraction(
        "Is Sky Blue the minimum?", "multi_choice", "text", ("yes", "no")
    ) == (REFUSAL_EXTRACTION)
    assert (
        official_extraction("The pizza is not split in half.", "multi_choice", "text", YES_NO)
        == "B"
    )
