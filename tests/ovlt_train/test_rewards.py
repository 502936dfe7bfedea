"""The GRPO reward: the `reward` answer policy, i.e. upstream's r1v.py
(train/easyr1/examples/reward_function/r1v.py:21-45 at yihedeng9/OpenVLThinker 6997b47)."""

from __future__ import annotations

import pickle

import pytest

from ovlt_train.rewards import (
    VerifierReward,
    answer_in_tags,
    has_empty_conclusion,
    score_completion,
)

GOOD = "<think> 3 + 4 = 7 </think> So the sum is 7. <answer>7</answer>"


@pytest.mark.parametrize(
    ("text", "gold", "accuracy", "fmt", "status"),
    [
        # r1v.py:22-24: format is a fullmatch of <think>…</think>\s*<answer>…</answer>, so a
        # written conclusion between them scores format 0 (upstream logs it, trains on accuracy)
        (GOOD, "7", 1.0, 0.0, "ok"),
        ("<think> 3 + 4 = 7 </think><answer>7</answer>", "7", 0.5, 1.0, "ok"),  # r1v.py:31-38
        ("<think>x</think> so <answer>7.0</answer>", "7", 1.0, 0.0, "ok"),  # mathruler: 7.0 == 7
        ("<think>x</think> so <answer>8</answer>", "7", 0.0, 0.0, "ok"),
        # r1v.py:35: no tag -> the whole reply is graded; a sentence never equals 7 ...
        ("The answer is 7.", "7", 0.0, 0.0, "no_answer_tag"),
        # ... but a bare "7" does
        ("7", "7", 1.0, 0.0, "no_answer_tag"),
        ("<answer>7</answer> trailing", "7", 1.0, 0.0, "ok"),
        ("<think>x</think> <answer></answer>", "7", 0.0, 1.0, "ok"),
        # r1v.py:29 searches without DOTALL: a two-line answer is not a tag match, and the
        # whole reply ("<think>…<answer>\n7\n</answer>") is graded instead -> wrong
        ("<think>x</think> so <answer>\n7\n</answer>", "7", 0.0, 0.0, "no_answer_tag"),
        ("<answer>Yes</answer>", "yes", 1.0, 0.0, "ok"),  # lower-case equality
    ],
)
def test_score_completion(text, gold, accuracy, fmt, status):
    parts = score_completion(text, gold)
    assert (parts.accuracy, parts.format, parts.status) == (accuracy, fmt, status)


def test_first_answer_counts_as_upstream():
    parts = score_completion("<think>x</think> so <answer>8</answer> no, <answer>7</answer>", "7")
    assert parts.accuracy == 0.0
    corrected = score_completion(
        "<think>x</think> so <answer>8</answer> no, <answer>7</answer>", "7", policy="corrected"
    )
    assert corrected.accuracy == 1.0  # ovlt's extractor reads the last answer tag


def test_multiple_choice_letter_needs_the_corrected_policy():
    text = "<think>x</think> It is B. <answer>B</answer>"
    # upstream compares the letter with the gold text: no credit
    assert score_completion(text, "10", kind="multi_choice", choices=["8", "10"]).accuracy == 0.0
    parts = score_completion(
        text, "10", kind="multi_choice", choices=["8", "10"], policy="corrected"
    )
    assert parts.accuracy == 1.0


def test_helpers():
    assert answer_in_tags("<answer> 1 </answer><answer>2</answer>") == "1"  # the first, as upstream
    assert has_empty_conclusion("<think>a</think>\n <answer>1</answer>")
    assert not has_empty_conclusion(GOOD)


def test_reward_callable_on_trl_inputs_threads_and_processes():
    completions = [
        [{"role": "assistant", "content": GOOD}],
        [{"role": "assistant", "content": "no tags"}],
    ] * 3
    solution = ["7", "7"] * 3
    logged = {}
    for workers, kind in ((0, "thread"), (2, "thread"), (2, "process")):
        reward = VerifierReward(workers=workers, worker_kind=kind)
        got = reward(
            prompts=[None] * 6,
            completions=completions,
            solution=solution,
            log_metric=logged.__setitem__,
        )
        assert got == [1.0, 0.0] * 3
    assert logged["reward_detail/no_answer_tag"] == 0.5
    clone = pickle.loads(pickle.dumps(VerifierReward(part="format")))
    fmt_completions = [
        [{"role": "assistant", "content": "<think>x</think><answer>7</answer>"}],
        [{"role": "assistant", "content": "no tags"}],
    ] * 3
    assert (
        clone.__name__ == "format"
        and clone(completions=fmt_completions, solution=solution) == [1.0, 0.0] * 3
    )
