"""Images in neutral messages (path, bytes or PIL image) -> PIL images or data URLs.

Both the `hf` and the `openai` engines go through here, so a `max_pixels` budget resizes an
image the same way whichever engine sees it.

Every image is read through the same guards, here and in `ovlt_data.images`: a path named by
a downloaded file must stay inside its data folder (`image_path`), only a regular file is read
and only up to `MAX_IMAGE_BYTES` (`read_image_file`; `/dev/zero` or a FIFO would never end),
and its header is checked against `MAX_IMAGE_PIXELS` before any pixel is decoded (a PNG of a
few KiB can declare 200 megapixels). Each failure is an `ImageError` with a short `reason`
key, so one bad image is one item's error, never an abort of the run.
"""

from __future__ import annotations

import base64
import io
import math
import os
import stat
from dataclasses import dataclass
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

MAX_IMAGE_BYTES = 64 << 20  # no benchmark or training image comes near; a device file would
MAX_IMAGE_PIXELS = 64_000_000  # 8000 x 8000: our own cap, below PIL's global bomb limits


class ImageError(ValueError):
    """An image could not be used; `reason` is a short stable key (counted by ovlt-data)."""

    def __init__(self, message: str, reason: str = "corrupt_image"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class UnreadableImage:
    """An image a benchmark row names but that must not or cannot be read (outside the data
    folder, missing, not a regular file, empty, too large). It stands in the item's images so
    that the item ends as an `error` when it is sent, instead of going out text-only."""

    source: str
    problem: str
    reason: str

    def error(self) -> ImageError:
        return ImageError(f"{self.problem}: {self.source}", self.reason)


def _huggingface_blobs(root: Path) -> Path | None:
    """A Hugging Face cache snapshot's files are symlinks into the repo's `blobs/`: allowed."""
    for folder in (root, *root.parents):
        if folder.parent.name == "snapshots":
            return folder.parent.parent / "blobs"
    return None


def checked_image_path(value: str, root: str | os.PathLike | None) -> str | UnreadableImage:
    """`value` (a row's image path) as a path inside `root`, or the UnreadableImage saying why not.

    Relative paths resolve against `root`; an absolute one is accepted only when it lies inside
    it. Both the written path and its symlink target must stay inside (a symlink into the same
    repo's Hugging Face `blobs/` is the one exception). Then the file must be a non-empty
    regular file of at most MAX_IMAGE_BYTES: stat only, nothing is read here.
    """
    if root is None:
        return UnreadableImage(
            value, "an image path with no data folder to resolve it in", "image_outside_folder"
        )
    if "\0" in value:
        return UnreadableImage(value[:200], "an image path with a NUL byte", "bad_image_value")
    base = Path(os.path.abspath(root))
    path = Path(os.path.normpath(base / value))  # an absolute `value` replaces `base` here
    resolved_base = base.resolve()
    allowed = [resolved_base, *filter(None, [_huggingface_blobs(resolved_base)])]
    resolved = path.resolve()
    if not path.is_relative_to(base):
        return UnreadableImage(
            value, f"image path outside the data folder {base}", "image_outside_folder"
        )
    if not any(resolved.is_relative_to(a) for a in allowed):
        # A symlink inside a downloaded folder could point anywhere (~/.ssh, /dev/zero), so a
        # link out of the folder is refused even when a user made it on purpose; say how to fix.
        return UnreadableImage(
            value,
            f"image path outside the data folder {base} (a symlink to {resolved}; copy or "
            "bind-mount the images into the data folder)",
            "image_outside_folder",
        )
    problem = file_problem(path)
    return UnreadableImage(value, problem[1], problem[0]) if problem else str(path)


def file_problem(path: str | os.PathLike) -> tuple[str, str] | None:
    """(reason, problem) when `path` is not a readable image file by stat alone, else None."""
    try:
        st = os.stat(path)
    except OSError as err:
        return ("missing_image", f"image not found ({err.strerror or err})")
    return _stat_problem(st)


def _stat_problem(st: os.stat_result) -> tuple[str, str] | None:
    if not stat.S_ISREG(st.st_mode):
        return ("not_a_file", "image path is not a regular file")
    if st.st_size == 0:
        return ("empty_image", "image file is empty")
    if st.st_size > MAX_IMAGE_BYTES:
        return ("image_too_large", f"image file over {MAX_IMAGE_BYTES >> 20} MiB")
    return None


def read_image_file(path: str | os.PathLike) -> bytes:
    """The bytes of `path`, refused (ImageError) unless a regular file within MAX_IMAGE_BYTES.

    Checked on the opened descriptor, so a file swapped for a FIFO or a device after an
    earlier check is still refused; O_NONBLOCK keeps the open of a FIFO from waiting."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise ImageError(
            f"image not found ({err.strerror or err}): {path}", "missing_image"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        problem = _stat_problem(os.fstat(fd))
        if problem:
            raise ImageError(f"{problem[1]}: {path}", problem[0])
        data = fh.read(MAX_IMAGE_BYTES + 1)
    problem = _bytes_problem(data)
    if problem:
        raise ImageError(f"{problem[1]}: {path}", problem[0])
    return data


def _bytes_problem(data: bytes) -> tuple[str, str] | None:
    if not data:
        return ("empty_image", "image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        return ("image_too_large", f"image over {MAX_IMAGE_BYTES >> 20} MiB")
    return None


def open_checked(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS, what: str = "image"):
    """`data` decoded as a PIL image, after its header's size is checked against `max_pixels`.

    Raises ImageError: too large (before decoding), unreadable, truncated or of zero size."""
    from PIL import Image, UnidentifiedImageError

    problem = _bytes_problem(data)
    if problem:
        raise ImageError(f"{problem[1]}: {what}", problem[0])
    try:
        pil = Image.open(io.BytesIO(data))
        w, h = pil.size
        if w * h > max_pixels:
            raise ImageError(f"{what}: {w}x{h} is over {max_pixels} pixels", "image_too_large")
        if w == 0 or h == 0:
            raise ImageError(f"{what}: zero-size image", "corrupt_image")
        pil.load()  # decodes: a truncated or corrupt file fails here
    except ImageError:
        raise
    except Image.DecompressionBombError as err:  # over PIL's own limit, raised by open()
        raise ImageError(f"{what}: {err}".splitlines()[0][:200], "image_too_large") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise ImageError(f"cannot read {what}: {err}".splitlines()[0][:200]) from None
    return pil


def load_pil(image: Any, max_pixels: int | None = None):
    """Open `image` as an RGB PIL image, shrunk (aspect kept) to at most `max_pixels`."""
    from PIL import Image

    if isinstance(image, UnreadableImage):
        raise image.error()
    if isinstance(image, Image.Image):
        w, h = image.size
        if w * h > MAX_IMAGE_PIXELS:
            raise ImageError(f"image {w}x{h} is over {MAX_IMAGE_PIXELS} pixels", "image_too_large")
        pil = image
    elif isinstance(image, bytes | bytearray):
        pil = open_checked(bytes(image))
    elif isinstance(image, str | Path):
        pil = open_checked(read_image_file(image), what=str(image))
    else:
        raise ImageError(f"unsupported image type {type(image).__name__}", "bad_image_value")
    try:
        pil = pil.convert("RGB")
    except (OSError, ValueError) as err:
        raise ImageError(f"cannot read image {_describe(image)}: {err}") from None
    return _shrink(pil, max_pixels)


def to_data_url(image: Any, max_pixels: int | None = None) -> str:
    """A base64 data URL for `image`. A file under the budget is sent byte for byte, after it
    is checked to decode (a corrupt or empty file is this item's error, not the server's)."""
    if isinstance(image, str | Path) and max_pixels is None:
        path = Path(image)
        mime = _MIME_BY_SUFFIX.get(path.suffix.lower())
        if mime is not None:
            data = read_image_file(path)
            open_checked(data, what=str(path))
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
