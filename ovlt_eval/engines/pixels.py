"""Image pixel limits at evaluation: the base model's processor, unless the user says otherwise.

The reference evaluates every model, the base and every checkpoint, with the processor of
Qwen/Qwen2.5-VL-7B-Instruct (evaluation/eval_openvlthinker.py:346-349 sets
`processor_name="Qwen/Qwen2.5-VL-7B-Instruct"`, :84-89 loads it with
`AutoProcessor.from_pretrained`; eval_qwen.py:358-359 the same), and first resizes each image
with `qwen_vl_utils.process_vision_info` (:118), whose bounds are the same numbers. That
processor's `preprocessor_config.json` says `min_pixels: 3136` (4 x 28 x 28) and
`max_pixels: 12845056` (16384 x 28 x 28): between 4 and 16,384 visual tokens per image.
(transformers' `Qwen2VLImageProcessor` *class* defaults are other numbers, 56 x 56 and
28 x 28 x 1280, so "the base processor's limits" means the Hub config, not the class.)

Checkpoints written by `ovlt-train` carry the training budget in their own processor
(262,144 px; GRPO sets min = max), so evaluating a checkpoint with its own processor would
shrink, or with min = max even enlarge, every image. Engines therefore resolve the limits here:
the base limits by default, the user's `--min-pixels/--max-pixels` when given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ovlt_eval.errors import UserError

BASE_PROCESSOR = "Qwen/Qwen2.5-VL-7B-Instruct"
BASE_MIN_PIXELS = 4 * 28 * 28  # 3,136
BASE_MAX_PIXELS = 16384 * 28 * 28  # 12,845,056

LimitsSource = Literal["base", "user"]


@dataclass(frozen=True)
class PixelLimits:
    min_pixels: int
    max_pixels: int
    source: LimitsSource

    def describe(self) -> dict[str, Any]:
        """The effective limits, and where they come from (for the eval card)."""
        origin = (
            f"base processor {BASE_PROCESSOR} (as the reference evaluates every model)"
            if self.source == "base"
            else "user (--min-pixels/--max-pixels)"
        )
        return {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels, "source": origin}


def resolve_pixel_limits(
    min_pixels: int | None = None, max_pixels: int | None = None
) -> PixelLimits:
    """The user's limits where given, the base processor's for the rest.

    One bound alone keeps the other at the base value, moved if needed so min <= max.
    """
    for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    if min_pixels is None and max_pixels is None:
        return PixelLimits(BASE_MIN_PIXELS, BASE_MAX_PIXELS, "base")
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise UserError(f"--min-pixels {min_pixels} is larger than --max-pixels {max_pixels}")
    low = min_pixels if min_pixels is not None else min(BASE_MIN_PIXELS, max_pixels)  # type: ignore[type-var]
    high = max_pixels if max_pixels is not None else max(BASE_MAX_PIXELS, low)
    return PixelLimits(low, high, "user")


def processor_pixel_limits(processor: Any) -> dict[str, int] | None:
    """The pixel budget a Qwen2-VL-style processor carries, or None for other processors.

    Those keep it in `image_processor.size = {shortest_edge: min, longest_edge: max}` (older
    transformers also in `min_pixels` / `max_pixels` attributes).
    """
    ip = getattr(processor, "image_processor", None)
    size = getattr(ip, "size", None)
    if ip is None or size is None or not hasattr(ip, "merge_size"):
        return None
    get = size.get if isinstance(size, dict) else lambda k: getattr(size, k, None)
    low, high = get("shortest_edge"), get("longest_edge")
    if not isinstance(low, int) or not isinstance(high, int):
        return None
    return {"min_pixels": low, "max_pixels": high}


def fit_pixels(width: int, height: int, limits: PixelLimits) -> tuple[int, int]:
    """(width, height) scaled, aspect kept, so the area lies within the limits (no alignment).

    For engines that cannot reach the model's processor (a remote server): the processor still
    aligns to its patch grid, and applies its own budget on top.
    """
    area = width * height
    if limits.min_pixels <= area <= limits.max_pixels:
        return width, height
    target = limits.max_pixels if area > limits.max_pixels else limits.min_pixels
    scale = (target / area) ** 0.5
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    # int() may round an enlargement just under the minimum: one more pixel each way if it fits
    if w * h < limits.min_pixels and (w + 1) * (h + 1) <= limits.max_pixels:
        w, h = w + 1, h + 1
    return w, h


def data_url_within(image: Any, limits: PixelLimits | None) -> str:
    """A data URL for `image`, resized (aspect kept) into `limits` first when it lies outside.

    An image already within the limits, or with no limits at all, is sent byte for byte.
    """
    from ovlt_eval.engines.images import load_pil, to_data_url

    if limits is None:
        return to_data_url(image)
    pil = load_pil(image)
    size = fit_pixels(pil.width, pil.height, limits)
    if size == pil.size:
        return to_data_url(image)
    from PIL import Image

    return to_data_url(pil.resize(size, Image.Resampling.BICUBIC))
