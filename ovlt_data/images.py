"""Image loading and validation: every image is checked once, at the source, then carried as bytes."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

from ovlt_data.schema import Image

DEFAULT_MAX_PIXELS = 20_000_000  # a 50-megapixel scan is a data error here, not a training image


class BadImage(Exception):
    """The image cannot be used; `reason` is a short stable key for counts."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _encode_pil(img) -> tuple[bytes, str]:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue(), "PNG"


def load_image(
    value: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, base_dir: str | None = None
) -> Image:
    """Accept a path, bytes, a PIL image or a `datasets` image dict; raise BadImage if unusable.

    A path must lie inside `base_dir` (the source's image folder): a row's `../secret` or
    `/etc/passwd` is a rejected row, never read. With no `base_dir` (a Hub source, whose images
    come as bytes or PIL images) a path is refused. The reading guards are ovlt_eval's, shared
    with the benchmarks: regular files only, size-capped, header checked before decoding.
    """
    from PIL import Image as PILImage

    from ovlt_eval.engines.images import (
        ImageError,
        UnreadableImage,
        checked_image_path,
        open_checked,
        read_image_file,
    )

    data: bytes | None = None
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadImage("missing_image", "no image given")
    if isinstance(value, dict):
        if value.get("bytes"):
            value = value["bytes"]
        elif value.get("path"):
            value = value["path"]
        else:
            raise BadImage("missing_image", "empty image record")
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, (str, os.PathLike)):
        path = checked_image_path(os.fspath(value), base_dir)
        if isinstance(path, UnreadableImage):
            raise BadImage(path.reason, f"{path.source}: {path.problem}"[:200])
        try:
            data = read_image_file(path)
        except ImageError as e:
            raise BadImage(e.reason, str(e)[:200]) from None
    elif isinstance(value, PILImage.Image):
        w, h = value.size
        if w * h > max_pixels:
            raise BadImage("image_too_large", f"{w}x{h} > {max_pixels} pixels")
        data, fmt = _encode_pil(value)
        return Image(data, hashlib.sha256(data).hexdigest(), w, h, fmt)
    else:
        raise BadImage("bad_image_value", type(value).__name__)

    # The header is checked first: a huge image is refused before its pixels are decoded.
    try:
        im = open_checked(data, max_pixels)
    except ImageError as e:
        raise BadImage(e.reason, str(e)[:200]) from None
    if _exif_of(im).get(_ORIENTATION_TAG, 1) in range(2, 9):
        # Stored rotated or mirrored, shown upright: keep the upright pixels (what viewers,
        # `datasets` and transformers' load_image show), so the tag cannot hide a benchmark
        # picture from decontamination or change what a trainer sees.
        from PIL import ImageOps

        upright = ImageOps.exif_transpose(im)
        im.close()
        data, fmt = _encode_pil(upright)
        return Image(data, hashlib.sha256(data).hexdigest(), *upright.size, fmt)
    w, h = im.size
    fmt = im.format or "?"
    im.close()
    return Image(data, hashlib.sha256(data).hexdigest(), w, h, fmt)


_ORIENTATION_TAG = 0x0112


def _exif_of(im) -> dict:
    try:
        return dict(im.getexif())
    except Exception:  # noqa: BLE001 - a broken EXIF block is no orientation
        return {}


def to_pil(image: Image):
    from PIL import Image as PILImage

    return PILImage.open(io.BytesIO(image.data))
