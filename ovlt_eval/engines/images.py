"""Images in neutral messages (path, bytes or PIL image) -> PIL images or data URLs.

Both the `hf` and the `openai` engines go through here, so a `max_pixels` budget resizes an
image the same way whichever engine sees it.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

_MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}


class ImageError(ValueError):
    """An image in a request could not be read (missing file, corrupt bytes)."""


def load_pil(image: Any, max_pixels: int | None = None):
    """Open `image` as an RGB PIL image, shrunk (aspect kept) to at most `max_pixels`."""
    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(image, Image.Image):
            pil = image
        elif isinstance(image, bytes | bytearray):
            pil = Image.open(io.BytesIO(image))
        elif isinstance(image, str | Path):
            pil = Image.open(image)
        else:
            raise ImageError(f"unsupported image type {type(image).__name__}")
        pil.load()
    except (OSError, UnidentifiedImageError) as err:
        raise ImageError(f"cannot read image {_describe(image)}: {err}") from err
    pil = pil.convert("RGB")
    return _shrink(pil, max_pixels)


def to_data_url(image: Any, max_pixels: int | None = None) -> str:
    """A base64 data URL for `image`. A file under the budget is sent byte for byte."""
    if isinstance(image, str | Path) and max_pixels is None:
        path = Path(image)
        mime = _MIME_BY_SUFFIX.get(path.suffix.lower())
        if mime is not None:
            try:
                data = path.read_bytes()
            except OSError as err:
                raise ImageError(f"cannot read image {_describe(image)}: {err}") from err
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    pil = load_pil(image, max_pixels)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")  # lossless: the server sees the pixels the budget left
    return f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _shrink(pil, max_pixels: int | None):
    if max_pixels is None or pil.width * pil.height <= max_pixels:
        return pil
    scale = math.sqrt(max_pixels / (pil.width * pil.height))
    size = (max(1, int(pil.width * scale)), max(1, int(pil.height * scale)))
    from PIL import Image

    return pil.resize(size, Image.Resampling.BICUBIC)


def _describe(image: Any) -> str:
    if isinstance(image, str | Path):
        return str(image)
    return f"<{type(image).__name__}>"


def image_parts(message: dict[str, Any]) -> list[Any]:
    """The images of one neutral message, in order."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [part["image"] for part in content if part.get("type") == "image"]
