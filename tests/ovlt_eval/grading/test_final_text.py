"""The text official evaluators read: reasoning replies reduced to their final answer."""

import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.benchmarks.types import BenchItem
from ovlt_eval.grading.extract import final_text


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("The answer is 60.\n\n\\boxed{60}", "The answer is 60.\n\n\\boxed{60}"),  # plain: as is
        ("<think>maybe 5</think><answer> 6 </answer>", "6"),
        ("<think>maybe 5</think>So it is 6.", "So it is 6."),
        ("<think>still going, 5 or 6", ""),
        ("reasoning</think>\n<answer>B</answer>", "B"),
    ],
)
def test_final_text(response, expected):
    assert final_text(response) == expected


def test_official_protocol_reads_the_answer_tag_not_the_thinking():
    bench = get_benchmark("mathvision")
    item = BenchItem(id="x", question="q", gold="6", kind="integer")
    right = bench.score(
        item, "<think>I first thought 5. The answer is 5.</think><answer>6</answer>"
    )
    wrong = bench.score(
        item, "<think>I first thought 6. The answer is 6.</think><answer>5</answer>"
    )
    assert right.correct_official and right.correct_corrected
    assert not wrong.correct_official and not wrong.correct_corrected
