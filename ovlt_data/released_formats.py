"""The released recipe's data conventions, in one place for the exports and the trainers.

- EasyR1's format prompt: `train/easyr1/examples/format_prompt/math_format.jinja` is
  `{{ content | trim }} You FIRST think …`, rendered on every GRPO prompt at train time
  (`verl/utils/dataset.py:134-136`, template `.strip()`ped first).
- `<image>` placeholders: EasyR1 (`dataset.py:141-146`) and LLaMA-Factory's sharegpt format put
  one `<image>` in the prompt text per entry of `images`; the text is split there and an image
  part goes where each placeholder was.
"""

from __future__ import annotations

from typing import Any

IMAGE_PLACEHOLDER = "<image>"
# math_format.jinja:1, after `{{ content | trim }}` (the leading space is the template's).
MATH_FORMAT_SUFFIX = (
    " You FIRST think about the reasoning process as an internal monologue and then provide the"
    " final answer."
)


def render_format_prompt(content: str, suffix: str | None = MATH_FORMAT_SUFFIX) -> str:
    """`{{ content | trim }}{suffix}`, applied once: a prompt that already ends with the
    instruction (an export that carries it) is returned trimmed, not doubled."""
    text = content.strip()
    if not suffix or text.endswith(suffix.strip()):
        return text
    return text + suffix


def split_placeholders(text: str, n_images: int | None = None) -> list[dict[str, Any]]:
    """Prompt text with `<image>` placeholders -> typed content parts (EasyR1 dataset.py:141-146).

    With `n_images` given, the placeholders must number the images, as LLaMA-Factory requires
    (`mm_plugin.py:359-360`); a mismatch is a ValueError the caller reports for that row."""
    pieces = text.split(IMAGE_PLACEHOLDER)
    if n_images is not None and len(pieces) - 1 != n_images:
        raise ValueError(
            f"{len(pieces) - 1} {IMAGE_PLACEHOLDER} placeholder(s) for {n_images} image(s)"
        )
    parts: list[dict[str, Any]] = []
    for i, piece in enumerate(pieces):
        if i:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def strip_placeholders(text: str) -> str:
    return text.replace(IMAGE_PLACEHOLDER, "").strip()
