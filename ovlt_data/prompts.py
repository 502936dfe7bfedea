"""Prompts of the recipe (paper §4 for the caption prompt)."""

from __future__ import annotations

from ovlt_data.schema import Example

CAPTION_PROMPT = (
    "Please provide a detailed description of this image that could help another AI model "
    "understand it completely. Be specific and comprehensive while maintaining natural language flow."
)

# Round 1: a text-only R1 model sees the caption instead of the image.
DISTILL_FROM_CAPTION = (
    "Image description:\n{caption}\n\nQuestion: {question}\n\n"
    "Please reason step by step, and put your final answer within \\boxed{{}}."
)

# Round >= 2: the VLM sees the image; the authors prompt with the problem alone (no system prompt).
DISTILL_FROM_IMAGE = "{question}"

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def question_block(ex: Example) -> str:
    """The question as a model sees it: options listed with letters for multiple choice."""
    if not ex.choices:
        return ex.question
    opts = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(ex.choices))
    return f"{ex.question}\nChoices:\n{opts}"


def image_message(ex: Example, text: str) -> list[dict]:
    content = [{"type": "image", "image": img} for img in ex.images]
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def text_message(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]
