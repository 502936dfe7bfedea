from ovlt_data.stages.difficulty import DifficultyParams, bucket
from ovlt_data.stages.select_clean import cut_reflections, select_index, split_think


def test_select_policies_differ_as_documented():
    samples = ["a " * 50, "b " * 10, "c " * 30, "d " * 20]
    correct = [True, True, True, False]
    assert select_index(samples, correct, "shortest_correct") == 1  # 10 words
    # upstream: sort correct by words (10, 30, 50), drop the longest (50), keep the next (30)
    assert select_index(samples, correct, "upstream") == 2
    assert select_index(samples, [False, True, False, False], "upstream") == 1
    assert select_index(samples, [False] * 4, "shortest_correct") is None


def test_reflection_cut_keeps_text_before_first_keyword():
    think, after = split_think(
        "<think>Count: 3 circles. Wait, maybe 4? But wait, no.</think>\nSo \\boxed{3}."
    )
    assert after == "So \\boxed{3}."
    cut, did = cut_reflections(think, ["Wait,", "But wait", "But the question"])
    assert did and cut == "Count: 3 circles."
    assert cut_reflections("no reflection here", ["Wait,"]) == ("no reflection here", False)


def test_difficulty_buckets():
    p = DifficultyParams(easy_at_least=0.75, hard_at_most=0.25)
    assert [bucket(r, p) for r in (0.0, 0.25, 0.5, 0.75, 1.0)] == [
        "hard",
        "hard",
        "medium",
        "easy",
        "easy",
    ]


def _row(samples, correct, extracted):
    from ovlt_data.schema import Example, Row

    ex = Example(
        id="s:1", source="s", images=(), question="How many?", answer="3", answer_type="integer"
    )
    return Row(
        ex,
        "sft",
        samples=tuple(samples),
        sample_correct=tuple(correct),
        sample_extracted=tuple(extracted),
        selected=0,
    )


def test_clean_formats_r1_and_vlm_traces():
    from ovlt_data.stages import BuildContext
    from ovlt_data.stages.select_clean import Clean, CleanParams

    clean = Clean(CleanParams(), BuildContext(None, None, {}))
    r1 = "<think>\nThere are 3 circles. Wait, let me recount: 3.\n</think>\nSo the answer is \\boxed{3}."
    vlm = "<think>I count 3 circles.</think><answer>3</answer>"
    bare = "I count 3 circles. But wait, maybe 4. The answer is 3"
    long = "<think>" + "word " * 600 + "</think><answer>3</answer>"
    out = clean([_row([t], [True], ["3"]) for t in (r1, vlm, bare, long)])
    assert (
        out[0].response
        == "<think>\nThere are 3 circles.\n</think>\nSo the answer is 3.\n<answer>3</answer>"
    )
    assert (
        out[1].response
        == "<think>\nI count 3 circles.\n</think>\nThe answer is 3.\n<answer>3</answer>"
    )
    assert out[2].response.startswith("<think>\nI count 3 circles.\n</think>")
    assert out[3].drop_reason == "too_long" and clean.truncated == 2
