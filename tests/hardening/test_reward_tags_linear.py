"""Issue 18 item 4: the reward policy's tag readers take linear time on hostile text.

r1v.py:22-29 reads tags with `<answer>(.*?)</answer>` and the fullmatch of
`<think>.*?</think>\\s*<answer>.*?</answer>`; in Python's `re` both are quadratic on repeated
open tags (`"<answer>" * 32000` took 101 s). ovlt_eval.grading.tags reads the same spans with
`str.find`; these tests pin the equivalence and the bound.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys

_FIRST_TAG = re.compile(r"<answer>(.*?)</answer>")  # r1v.py:29
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)  # r1v.py:22-24
_ALL_TAGS = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)  # released SFT answer tags
_PIECES = ("<answer>", "</answer>", "<think>", "</think>", "\n", " ", "\t", "x", "7", "<", ">")


def _random_texts(n: int, seed: int = 18):
    rng = random.Random(seed)
    for _ in range(n):
        yield "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))


def test_first_tag_is_the_regex_group_on_every_shape():
    from ovlt_eval.grading.tags import first_one_line_tag, last_closed_tag

    for text in _random_texts(20_000):
        m = _FIRST_TAG.search(text)
        assert first_one_line_tag(text) == (m.group(1) if m else None), repr(text)
        every = _ALL_TAGS.findall(text)
        assert last_closed_tag(text) == (every[-1] if every else None), repr(text)


def test_format_check_is_the_regex_fullmatch_on_every_shape():
    from ovlt_eval.grading.tags import is_think_answer_format

    for text in _random_texts(20_000, seed=7):
        assert is_think_answer_format(text) == bool(_FORMAT.fullmatch(text)), repr(text)
    assert is_think_answer_format("<think>a</think>\n <answer>5</answer>")
    assert is_think_answer_format("<think></think><answer></answer>")
    assert not is_think_answer_format("<think></think><answer>5</answer>\n")


# Each takes minutes through the regexes (quadratic) and milliseconds here.
_HOSTILE = (
    "<answer>" * 64_000 + "x",
    "<think></think><answer>" * 16_000 + "y",
    "<think>" + "</think> <answer>\n" * 20_000 + "</answer>",
)


def test_the_reward_policy_and_the_grpo_reward_read_hostile_replies_in_bounded_time():
    # In a child process: on a regression the parent stops it instead of hanging the suite.
    script = (
        "import sys\n"
        "sys.path.insert(0, '.')\n"
        "from tests.hardening.test_reward_tags_linear import _HOSTILE\n"
        "from ovlt_eval.grading.policy import get_policy\n"
        "from ovlt_train.rewards import score_completion\n"
        "for text in _HOSTILE:\n"
        "    g = get_policy('reward').extract(text)\n"
        "    parts = score_completion(text, '5')\n"
        "    print(g.how, parts.format, parts.status)\n"
        "from ovlt_eval.grading.extract import extract_answer\n"
        "print(extract_answer('\\\\boxed \\n' * 60_000).how)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")
    assert lines[0] == "whole 0.0 no_answer_tag"  # no one-line tag: graded on the whole reply
    assert lines[1] == "whole 0.0 no_answer_tag"
    assert lines[2].startswith("whole 1.0")  # well-formed by the fullmatch; tag spans lines
    assert lines[3] == "no_answer_found"  # `corrected`'s \\boxed search was quadratic too
