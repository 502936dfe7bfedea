from __future__ import annotations

import pytest

from ovlt_eval.benchmarks.types import BenchItem
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import get_profile, profile_names


def test_profiles_prompt_like_the_reference():
    item = BenchItem(id="1", question="What is x?", gold="3", kind="integer", images=("a.png",))
    thinker = get_profile("openvlthinker").messages_for(item)
    assert thinker == (
        {
            "role": "user",
            "content": [
                {"type": "image", "image": "a.png"},
                {"type": "text", "text": "What is x?"},
            ],
        },
    )
    qwen = get_profile("qwen").messages_for(item)
    assert (
        qwen[0]["content"][1]["text"] == "What is x?\n\nYour final answer MUST BE put in \\boxed{}"
    )


def test_prompt_hash_differs_between_profiles_and_is_stable():
    hashes = {name: get_profile(name).prompt_hash() for name in profile_names()}
    assert len(set(hashes.values())) == len(hashes)
    assert get_profile("qwen").prompt_hash() == hashes["qwen"]


def test_strict_extraction_wants_the_profile_format():
    thinker = get_profile("openvlthinker")
    tagged = "<think>2+1</think><answer>3</answer>"
    assert thinker.extract(tagged, strict=True).answer == "3"
    boxed_only = "so it is \\boxed{3}"
    assert thinker.extract(boxed_only).answer == "3"
    assert thinker.extract(boxed_only, strict=True).answer is None
    assert get_profile("qwen").extract(boxed_only, strict=True).answer == "3"


def test_unknown_profile_is_a_user_error():
    with pytest.raises(UserError) as err:
        get_profile("llava")
    assert "openvlthinker" in str(err.value) and "\n" not in str(err.value)
