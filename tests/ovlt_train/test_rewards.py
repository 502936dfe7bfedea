"""The GRPO reward: the ovlt_eval verifier on <answer>, upstream's empty-conclusion penalty."""

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
        (GOOD, "7", 1.0, 1.0, "ok"),
        ("<think> 3 + 4 = 7 </think><answer>7</answer>", "7", 0.5, 1.0, "ok"),  # empty conclusion
        (
            "<think>x</think> so <answer>7.0</answer>",
            "7",
            1.0,
            1.0,
            "ok",
        ),  # the verifier, not string equality
        ("<think>x</think> so <answer>8</answer>", "7", 0.0, 1.0, "ok"),
        (
            "The answer is 7.",
            "7",
            0.0,
            0.0,
            "no_answer_tag",
        ),  # no tag: no reward, whatever the text says
        ("<answer>7</answer> trailing", "7", 1.0, 0.0, "ok"),
        ("<think>x</think> <answer></answer>", "7", 0.0, 1.0, "no_answer_tag"),
    ],
)
def test_score_completion(text, gold, accuracy, fmt, status):
    parts = score_completion(text, gold)
    assert (parts.accuracy, parts.format, parts.status) == (accuracy, fmt, status)


def test_multiple_choice_uses_choices():
    parts = score_completion(
        "<think>x</think> It is B. <answer>B</answer>",
        "10",
        kind="multi_choice",
        choices=["8", "10"],
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
    assert (
        clone.__name__ == "format"
        and clone(completions=completions, solution=solution) == [1.0, 0.0] * 3
    )
