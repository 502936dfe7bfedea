"""Issue 18 item 6: a hedge (two or more candidate answers) is wrong under `corrected`, in the
data factory's `verify` stage (same policy) and in HallusionBench's yes/no reading."""

from __future__ import annotations

import pytest

from ovlt_eval.grading.policy import get_policy
from ovlt_eval.grading.verify import verify

ODD = ("3", "5", "7", "9", "11")

# (reply, gold, choices): each was scored correct before (read as its first-named option)
HEDGES = [
    ("<answer>7 or 9</answer>", "C", ODD),
    ("<answer>3, 5, 7, 9, 11</answer>", "A", ODD),
    ("<answer>either 5 or 7</answer>", "B", ODD),
    ("<answer>9/11</answer>", "D", ODD),
    ("The answer is 7 or 9.", "C", ODD),
    ("<answer>Yes/No</answer>", "Yes", None),
    ("<answer>yes or no</answer>", "Yes", None),
    ("<answer>12 or 15</answer>", "12", None),
    ("<answer>\\boxed{12 \\text{ or } 15}</answer>", "12", None),
]

# one answer each, however written: still right
SINGLE = [
    ("<answer>7</answer>", "C", ODD),
    ("<answer>(C) 7</answer>", "C", ODD),
    ("<answer>C</answer>", "C", ODD),
    ("<answer>7, since 7 > 5</answer>", "C", ODD),
    ("<answer>Yes</answer>", "Yes", None),
    ("<answer>60 km/h</answer>", "60", None),
    ("<answer>1/2</answer>", "\\frac{1}{2}", None),
    ("<answer>2, 3</answer>", "2, 3", None),
    ("<answer>x<2 or x>3</answer>", "x<2 or x>3", None),  # the gold itself is written so
    ("<answer>either of them</answer>", "B", ("neither", "either of them")),
]


@pytest.mark.parametrize("reply,gold,choices", HEDGES)
def test_a_hedge_is_wrong_under_corrected(reply, gold, choices):
    kind = "multi_choice" if choices else "auto"
    graded = get_policy("corrected").grade(reply, gold, kind, choices=choices)
    assert graded.correct is False, graded


@pytest.mark.parametrize("reply,gold,choices", SINGLE)
def test_one_answer_is_still_right(reply, gold, choices):
    kind = "multi_choice" if choices else "auto"
    graded = get_policy("corrected").grade(reply, gold, kind, choices=choices)
    assert graded.correct is True, graded


def test_the_verifier_itself_refuses_a_hedge_handed_to_it():
    # the verify stage and other callers may hand verify() an extracted answer directly
    assert not verify("C", "7 or 9", "multi_choice", choices=ODD).correct
    assert verify("C", "7 or 9", "multi_choice", choices=ODD).detail.startswith("hedged")
    assert not verify("12", "12 or 15").correct
    assert verify("C", "7", "multi_choice", choices=ODD).correct


def test_the_rule_itself():
    from ovlt_eval.grading.hedges import hedged

    assert hedged("A or C", ODD) and hedged("(A), (C)", ODD) and hedged("7; 9", ODD)
    assert not hedged("7", ODD) and not hedged("1,000", None) and not hedged("2, 3", None)
    assert not hedged("km/h", None) and hedged("True/False", None)


def test_hallusionbench_yes_slash_no_is_wrong(tmp_path):
    from ovlt_eval.benchmarks import get_benchmark
    from ovlt_eval.benchmarks.types import BenchItem

    bench = get_benchmark("hallusionbench")
    item = BenchItem(id="1", question="Is it?", gold="Yes", kind="text", raw={"gt_answer": "1"})
    assert not bench.score_response(item, "<answer>Yes/No</answer>").correct
    assert bench.score_response(item, "<answer>Yes</answer>").correct


def test_the_verify_stage_drops_a_hedged_trace(tmp_path):
    from ovlt_data.schema import Example
    from ovlt_data.stages.verify import grade_batch

    ex = Example(
        id="s:1", source="s", images=(), question="Which?", answer="C", choices=ODD,
        answer_type="multi_choice",
    )  # fmt: skip
    replies = ("<think>t</think><answer>7 or 9</answer>", "<think>t</think><answer>7</answer>")
    ((correct, _, _),) = grade_batch([(ex, replies)])
    assert correct == (False, True)
