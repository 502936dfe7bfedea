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
- `openvlthinker-v1.2` / `qwen-v1.2`: `evaluation/run_evaluation.py`, the unified script that
  came with the v1.2 release. It passes *every* benchmark's instruction through
  `format_instruction` (:272-276), so the datasets' ready-made prompts — MathVista `query`,
  MathVerse `query_cot`, sft_seed `problem`, which have no options field there (:95-98) — are
  wrapped as "Hint: Please answer the question requiring an answer.\nQuestion: {query}"
  (:209); the other benchmarks get the same text as under v1 (its `format_instruction`,
  :192-209, is the v1 function). Extraction: OpenVLThinker as v1 (:224-227); Qwen takes
  mathruler's boxed content *and* the text after the last lower-case "answer:", correct if
  either is (:228-238; policy `reference_qwen_v1.2`).

Each profile names the reference script it follows and the split that script evaluates each
benchmark on (MathVision: `test` in eval_openvlthinker.py:170 and run_evaluation.py:97,
`testmini` in eval_qwen.py:172); `reference_split_note` says when a `reference`-protocol run
uses another split.

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
    # run_evaluation.py wraps the datasets' ready-made prompts (query, query_cot, problem) in
    # format_instruction's free-form hint; the v1 scripts send them as they are
    wrap_dataset_prompt: bool = False
    reference_script: str = "evaluation/eval_openvlthinker.py"
    # (benchmark, split) the reference script evaluates, where it is not the benchmark's default
    reference_splits: tuple[tuple[str, str], ...] = (("mathvision", "test"),)

    def text_for(self, question: str, *, dataset_prompt: bool = False) -> str:
        """The text sent after the images (the question as the benchmark built it)."""
        if dataset_prompt and self.wrap_dataset_prompt:
            from ovlt_eval.benchmarks.reference_prompt import format_instruction

            question = format_instruction(question)
        return question + self.prompt_suffix

    def reference_split(self, bench: str, default: str) -> str:
        return dict(self.reference_splits).get(bench, default)

    def build_messages(
        self, question: str, images: Sequence[Any] = (), *, dataset_prompt: bool = False
    ) -> tuple[dict[str, Any], ...]:
        """Neutral messages for one item: images (path, bytes or PIL) first, then the text."""
        content: list[dict[str, Any]] = [{"type": "image", "image": image} for image in images]
        content.append(
            {"type": "text", "text": self.text_for(question, dataset_prompt=dataset_prompt)}
        )
        messages: list[dict[str, Any]] = []
        if self.system_prompt is not None:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": content})
        return tuple(messages)

    def messages_for(self, item: Any, benchmark: Any = None) -> tuple[dict[str, Any], ...]:
        """`build_messages` for a `BenchItem` (or anything with `.question` and `.images`) of
        `benchmark` (whose `dataset_prompt` says the question is the dataset's own prompt)."""
        return self.build_messages(
            item.question,
            tuple(getattr(item, "images", ()) or ()),
            dataset_prompt=bool(getattr(benchmark, "dataset_prompt", False)),
        )

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
            # only where set, so the v1 profiles' prompt hash (and their runs' resume) stay
            **({"wrap_dataset_prompt": True} if self.wrap_dataset_prompt else {}),
        }


QWEN_SUFFIX = "\n\nYour final answer MUST BE put in \\boxed{}"  # eval_qwen.py:99

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
            prompt_suffix=QWEN_SUFFIX,
            reference_policy="reference_qwen",
            reference_script="evaluation/eval_qwen.py",
            reference_splits=(("mathvision", "testmini"),),  # eval_qwen.py:172
        ),
        Profile(
            name="openvlthinker-v1.2",
            description="OpenVLThinker-7B-v1.2 as run_evaluation.py prompts it: dataset prompts "
            "wrapped in the free-form hint; answer in <answer>",
            answer_format="answer_tag",
            wrap_dataset_prompt=True,
            reference_script="evaluation/run_evaluation.py",
        ),
        Profile(
            name="qwen-v1.2",
            description="Qwen2.5-VL-Instruct as run_evaluation.py prompts it: dataset prompts "
            "wrapped in the free-form hint + \\boxed{} instruction; boxed or 'answer:'",
            answer_format="boxed",
            prompt_suffix=QWEN_SUFFIX,  # run_evaluation.py:87
            reference_policy="reference_qwen_v1.2",
            wrap_dataset_prompt=True,
            reference_script="evaluation/run_evaluation.py",
        ),
        Profile(
            name="plain",
            description="the question alone; any answer format",
            answer_format="any",
            reference_splits=(),
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


def reference_split_note(bench: Any, split: str, profile_name: str, protocol: str) -> str | None:
    """A one-line note when a `reference`-protocol run scores another split than the profile's
    reference script evaluated (None otherwise)."""
    profile = PROFILES.get(profile_name)
    if protocol != "reference" or profile is None or not profile.reference_splits:
        return None
    name = getattr(bench, "name", str(bench))
    expected = profile.reference_split(name, getattr(bench, "default_split", split))
    if expected == split or expected not in getattr(bench, "splits", (expected,)):
        return None
    return (
        f"note: {profile.reference_script} evaluates {name} on {expected!r}; this "
        f"--protocol reference run uses {split!r}, so its number is not the script's "
        f"(--split {expected} reproduces it)"
    )
