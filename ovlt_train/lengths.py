"""Token budgets checked before training: image tokens must never be cut.

A truncated image placeholder run makes the model see fewer `<|image_pad|>` tokens than the
vision tower produces features, which surfaces mid-training as "Image features and image
tokens do not match". Counting from the processor up front turns that into a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ovlt_eval.errors import UserError


@dataclass(frozen=True)
class LengthReport:
    n: int
    max_total: int  # longest example, image tokens included
    max_through_images: int  # longest prefix that ends at an example's last image token
    truncated: int  # examples longer than max_length (their answer end is cut)
    cut_images: int  # examples whose image tokens would be cut (an error)
    worst_index: int


def image_token_counts(processor: Any, images: list[Any]) -> list[int]:
    """Placeholder tokens each image expands to, from the processor's own arithmetic."""
    if not images:
        return []
    sizes = [(img.height, img.width) for img in images]
    counter = getattr(processor, "_get_num_multimodal_tokens", None)
    if counter is not None:
        try:
            data = counter(image_sizes=sizes)
            counts = getattr(data, "num_image_tokens", None)
            if counts is None and isinstance(data, dict):
                counts = data.get("num_image_tokens")
            if counts is not None:
                return [int(c) for c in counts]
        except (TypeError, NotImplementedError, AttributeError):
            pass
    # Fallback: run the image processor (slower, always right for Qwen-style grids).
    ip = processor.image_processor
    out = ip(images=images, return_tensors="pt")
    if "image_grid_thw" in out:
        merge = getattr(ip, "merge_size", 1) ** 2
        return [int(t.prod().item()) // merge for t in out["image_grid_thw"]]
    per_image = getattr(processor, "image_seq_length", None) or getattr(
        processor, "num_image_tokens", None
    )
    if per_image is None:
        raise UserError(
            # max_length: null no longer skips the check (null means the preset's value), so
            # the message names what is supported instead of a switch that does not exist.
            "cannot count image tokens for this processor (it reports no image_grid_thw, "
            "image_seq_length or num_image_tokens); ovlt-train supports Qwen2-VL-style processors"
        )
    return [int(per_image)] * len(images)


def _image_token_id(processor: Any) -> int | None:
    tok = processor.tokenizer
    for attr in ("image_token_id",):
        value = getattr(processor, attr, None) or getattr(tok, attr, None)
        if isinstance(value, int):
            return value
    token = getattr(processor, "image_token", None)
    if token:
        return tok.convert_tokens_to_ids(token)
    return None


def measure(
    processor: Any,
    messages: list[dict[str, Any]],
    images: list[Any],
    chat_template: str | None = None,
) -> tuple[int, int]:
    """(total tokens, tokens through the last image token) of one conversation."""
    from trl.data_utils import prepare_multimodal_messages

    msgs = prepare_multimodal_messages(messages, images=images) if images else messages
    text = processor.apply_chat_template(msgs, tokenize=False, chat_template=chat_template)
    ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    counts = image_token_counts(processor, images)
    extra = sum(c - 1 for c in counts)
    total = len(ids) + extra
    img_id = _image_token_id(processor)
    if not images or img_id is None or img_id not in ids:
        return total, 0
    last = len(ids) - 1 - ids[::-1].index(img_id)
    return total, last + 1 + extra


def check_lengths(
    dataset: Any, processor: Any, max_length: int | None, *, column: str = "messages"
) -> LengthReport:
    n = len(dataset)
    max_total = max_img = truncated = cut = 0
    worst = -1
    for i in range(n):
        row = dataset[i]
        images = [img for img in (row.get("images") or []) if img is not None]
        total, through_images = measure(processor, row[column], images)
        if total > max_total:
            max_total = total
        if through_images > max_img:
            max_img, worst = through_images, i
        if max_length is not None:
            truncated += total > max_length
            cut += through_images > max_length
    report = LengthReport(n, max_total, max_img, truncated, cut, worst)
    if max_length is not None and cut:
        raise UserError(
            f"max_length={max_length} would cut the image tokens of {cut}/{n} examples "
            f"(example {worst} needs {max_img} tokens through its last image); "
            f"raise max_length to ≥ {max_img} or lower image_max_pixels"
        )
    return report
