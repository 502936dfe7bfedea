"""Answer policies pin the reference code's semantics (yihedeng9/OpenVLThinker @ 6997b47).

Files: evaluation/eval_openvlthinker.py (E), evaluation/eval_qwen.py (Q),
train/easyr1/examples/reward_function/r1v.py (R), generation/generate_reasoning_thinker.py (G),
utils/clean_answer.py (C).
"""

from __future__ import annotations

import pytest

from ovlt_eval.errors import UserError
from ovlt_eval.grading.policy import (
    POLICIES,
    clean_answer,
    get_policy,
    reference_answer,
    reference_match,
)

REF = get_policy("reference")
QWEN = get_policy("reference_qwen")
REWARD = get_policy("reward")
GEN = get_policy("released_generation")


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("<think>t</think><answer> 5 </answer>", "5"),  # E:380 strip()
        ("<think>t</think><answer>5", None),  # E:379 no </answer>: "Failed to extract."
        ("", None),  # E:379 `if answer and ...`
        ("<answer>1</answer> then <answer>2</answer>", "2"),  # E:380 the last <answer>
        ("<answer>2</answer> then <answer>3", "3"),  # last <answer> unclosed, reply has </answer>
        ("no opening tag 7</answer> tail", "no opening tag 7"),  # E:380 split("<answer>")[-1]
        ("<answer>a</answer><answer>b</answer>junk</answer>", "b"),  # up to the next </answer>
    ],
)
def test_reference_answer_is_the_scripts_split(reply, answer):
    assert reference_answer(reply) == answer
    assert REF.extract(reply).answer == answer


@pytest.mark.parametrize(
    ("gold", "answer", "correct"),
    [
        ("Yes", "yes", True),  # E:392 lower-case equality
        ("0.5", "\\frac{1}{2}", True),  # mathruler grade_answer
        ("10%", "10", True),  # mathruler drops "%"
        ("5", "5 cm", True),  # mathruler drops units
        ("2", "4/2", False),  # mathruler: integer gold needs an integer string
        ("1/2", "2/4", False),  # mathruler: unreduced fractions are not simplified
        ("B", "(B)", True),  # sympy reads "(B)" as the symbol B
        ("B", "B. 45", False),  # but there is no letter reading beyond that
        ("\\sqrt{2}", "1.41421356", False),
    ],
)
def test_reference_compare(gold, answer, correct):
    assert reference_match(gold, answer).correct is correct
    graded = REF.grade(f"<think>x</think><answer>{answer}</answer>", gold)
    assert (graded.correct, graded.status) == (correct, "ok")


def test_failed_extraction_is_an_explicit_status():
    g = REF.grade("<think>the answer is 5</think> 5", "5")
    assert (g.correct, g.status, g.how) == (False, "no_answer", "failed_to_extract")


def test_hung_comparison_is_a_timeout_not_a_silent_false():
    v = reference_match("x+1", "(x+1)**300*(x-1)**300", timeout_s=0.5)
    assert (v.correct, v.status) == (False, "timeout")


def test_qwen_reads_boxed_then_the_whole_lowercased_reply():
    assert QWEN.grade("so \\boxed{\\frac{3}{4}} done", "0.75").correct  # Q:394 boxed
    assert QWEN.grade("0.75", "0.75").correct  # Q:395 whole reply
    # Q:395 lower-cases the reply before splitting on "Answer:", so the split never happens:
    # "Answer: 5" is compared as a whole and is wrong, as in the published script.
    assert not QWEN.grade("Answer: 5", "5").correct
    assert QWEN.grade("", "5").status == "no_answer"  # Q:419 "Failed to generate."


def test_reward_policy_first_one_line_tag_or_whole_reply():
    assert REWARD.extract("<answer>1</answer><answer>2</answer>").answer == "1"  # R:29
    assert REWARD.extract("<answer>\n2\n</answer>").answer == "<answer>\n2\n</answer>"  # no DOTALL
    assert REWARD.reward("<think>a</think><answer>7</answer>", "7") == 0.5  # R:31-38
    assert REWARD.reward("<think>a</think> so <answer>7</answer>", "7") == 1.0
    assert REWARD.reward("<think>a</think> so <answer>8</answer>", "7") == 0.0


def test_released_generation_cleans_and_keeps_dashed_golds_literal():
    assert clean_answer("Yes, it is.") == "yes"  # C:20-21
    assert clean_answer("The area is 12 cm.") == "12"  # C:34-35, 64-65
    assert clean_answer("5 (approximately)") == "5"  # C:26-27
    assert GEN.grade("<answer>The answer is 12 cm</answer>", "12").correct
    # G:220-225: a gold of >= 5 characters with "-" (a date, a range) is compared as a string
    assert not GEN.grade("<answer>2020/01/02</answer>", "2020-01-02").correct
    assert GEN.grade("<answer>2020-01-02</answer>", "2020-01-02").correct


def test_registry_names_every_consumer():
    assert {"reference", "reference_qwen", "reward", "released_generation", "official"} <= set(
        POLICIES
    )
    assert all(p.version and p.description for p in POLICIES.values())
    with pytest.raises(UserError, match="unknown answer policy"):
        get_policy("nope")


def _corpus_pairs():
    numbers = ["5", "05", "-3", "0", "12", "1,000", "1000", "2.5", "2.50", "7.0", "1e3"]
    exprs = ["\\frac{1}{2}", "1/2", "2/4", "0.5", "\\sqrt{2}", "(1,2)", "(1, 2)", "[1,2]", "x+1"]
    words = ["A", "(B)", "yes", "No", "5 cm", "10%", "\\text{blue}", "3 or 4", "1 and 2", ""]
    hostile = ["9" * 400, "1e999999", "\\frac{", "{{{", "^{2}", "((1,2),3)", "- 5", "5,"]
    values = numbers + exprs + words + hostile
    return [(a, b) for a in values for b in values]


def test_in_process_steps_equal_grade_answer():
    # Every pair decided without sympy gets grade_answer's own verdict (mathruler 0.1.0).
    from mathruler.grader import grade_answer

    from ovlt_eval.grading.policy import _mathruler_without_sympy

    decided = 0
    for given, truth in _corpus_pairs():
        got = _mathruler_without_sympy(given, truth)
        if got is None:
            continue
        decided += 1
        try:
            expected = grade_answer(given, truth)
        except Exception:  # noqa: BLE001 - mathruler itself raised: never decided here
            raise AssertionError((given, truth, got)) from None
        assert got == expected, (given, truth)
    assert decided > 500  # most pairs never need sympy


def test_single_letters_decided_in_process_equal_grade_answer():
    # Letter answers ("C" vs "a") are the commonest reference comparison on multiple-choice
    # items; every pair of letters, both cases, against grade_answer itself.
    import string

    from mathruler.grader import grade_answer

    from ovlt_eval.grading.policy import _mathruler_without_sympy

    # mathruler lower-cases before sympy; the capitals that are sympy names (E, I, N, O, Q, S)
    # are checked against a few letters as well
    pairs = [(a, b) for a in string.ascii_lowercase for b in string.ascii_lowercase]
    pairs += [(a, b) for a in "EINOQSA" for b in "eiaEB"]
    for a, b in pairs:
        got = _mathruler_without_sympy(a, b)
        assert got is not None and got == grade_answer(a, b), (a, b)
