"""Model profiles: how a model family is prompted, and where its answer is.

A profile turns a benchmark item (question text + images) into neutral engine messages and
says which answer format it expects. The prompts follow the OpenVLThinker reference evaluation
(github.com/yihedeng9/OpenVLThinker at 6997b47, `evaluation/eval_openvlthinker.py` for the
OpenVLThinker checkpoints, `evaluation/eval_qwen.py` for the Qwen2.5-VL baseline). The item's
text is already the reference's instruction (the benchmark builds it: `format_instruction`,
MathVista `query`, MathVerse `query_cot`); the profile only decides what is appended:

- `openvlthinker`: nothing (eval_openvlthinker.py:109-110 sends the instruction as is; the
  model was trained to reason in `<think>…</think>` and answer in `<answer>…</answer>`); the
  reference takes the text between the last `<answer>` and `</answer>` and counts a response
  without `</answer>` as "Failed to extract" (:379-396).
- `qwen`: "\\n\\nYour final answer MUST BE put in \\boxed{}" after the same instruction
  (eval_qwen.py:99, :112 — the only prompt difference between the two scripts, whose
  `format_instruction` is the same, eval_qwen.py:322-340); the answer is the last `\\boxed{}`.
- `plain`: the question alone; the answer is found by the general extractor.

In every profile the images come first, then the text, in one user turn (as the reference
builds them, eval_openvlthinker.py:91-113); no system prompt is added (the chat template adds
the model's default).
The sampling defaults are the paper's and live in `engines.types.SamplingParams`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ovlt_eval.errors import UserError

AnswerFormat = Literal["answer_tag", "boxed", "any"]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    answer_format: AnswerFormat
    prompt_suffix: str = ""
    system_prompt: str | None = None
    version: str = "1"
    # the answer policy the reference protocol scores this family's replies with
    reference_policy: str = "reference"

    def build_messages(
        self, question: str, images: Sequence[Any] = ()
    ) -> tuple[dict[str, Any], ...]:
        """Neutral messages for one item: images (path, bytes or PIL) first, then the text."""
        content: list[dict[str, Any]] = [{"type": "image", "image": image} for image in images]
        content.append({"type": "text", "text": question + self.prompt_suffix})
        messages: list[dict[str, Any]] = []
        if self.system_prompt is not None:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": content})
        return tuple(messages)

    def messages_for(self, item: Any) -> tuple[dict[str, Any], ...]:
        """`build_messages` for a `BenchItem` (or anything with `.question` and `.images`)."""
        return self.build_messages(item.question, tuple(getattr(item, "images", ()) or ()))

    def extract(
        self, response: str | None, choices: Sequence[str] | None = None, *, strict: bool = False
    ):
        """The answer in `response` (an `Extraction`).

        Lenient (default): the general extractor, strongest evidence first. `strict=True`
        follows the reference: only this profile's format counts (`answer_tag` / `boxed`).
        """
        from ovlt_eval.grading import extract_answer
        from ovlt_eval.grading.types import Extraction

        found = extract_answer(response, choices)
        if (
            strict
            and self.answer_format != "any"
            and found.answer is not None
            and found.how != self.answer_format
        ):
            return Extraction(None, f"no_{self.answer_format}")
        return found

    def prompt_hash(self) -> str:
        """Changes whenever anything that shapes the prompt changes (for the eval card)."""
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "answer_format": self.answer_format,
            "prompt_suffix": self.prompt_suffix,
            "system_prompt": self.system_prompt,
            "image_position": "before_text",
        }


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="openvlthinker",
            description="OpenVLThinker: question as is; reasoning in <think>, answer in <answer>",
            answer_format="answer_tag",
        ),
        Profile(
            name="qwen",
            description="Qwen2.5-VL-Instruct: question + the reference's \\boxed{} instruction",
            answer_format="boxed",
            prompt_suffix="\n\nYour final answer MUST BE put in \\boxed{}",
            reference_policy="reference_qwen",
        ),
        Profile(
            name="plain",
            description="the question alone; any answer format",
            answer_format="any",
        ),
    )
}


def profile_names() -> list[str]:
    return sorted(PROFILES)


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UserError(
            f"unknown profile {name!r}; known profiles: {', '.join(profile_names())}"
        ) from None


def reference_policy_for(profile_name: str | None) -> str:
    """The reference protocol's answer policy for a profile (unknown names: `reference`)."""
    profile = PROFILES.get(profile_name or "")
    return profile.reference_policy if profile is not None else "reference"
