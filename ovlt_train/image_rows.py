"""Which image paths a training row may name: the benchmark loaders' rule, for `--data`.

A released-format row with `"images": ["/abs/x.png"]` or `["../../x.png"]` trained on
whatever file that was, and `/etc/passwd` (or a text file named `.png`) stopped the trainer
with an `UnidentifiedImageError` traceback, for GRPO after training had started. So, before
training, every image path of a local dataset must be:

* inside the data folder (relative, or absolute under it), unless absolute paths are allowed
  explicitly (`--allow-absolute-images`, $OVLT_ALLOW_ABSOLUTE_IMAGES=1), as LLaMA-Factory-style
  data with absolute paths needs; `..` never leaves the folder;
* a regular, non-empty file within the image size cap (no FIFO, device or link to one);
* an image PIL can identify and verify.

Anything else is a one-line refusal naming the row (`UserError`), never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from ovlt_eval.errors import UserError

ALLOW_ABSOLUTE_ENV = "OVLT_ALLOW_ABSOLUTE_IMAGES"


def absolute_images_allowed() -> bool:
    return os.environ.get(ALLOW_ABSOLUTE_ENV, "").strip().lower() in ("1", "true", "yes")


def checked_image(value: str, base: Path, row: int, *, root: Path | None = None) -> str:
    """The resolved path of one row's image entry `value` (relative to `base`, the folder of
    the row's file), or UserError naming the row. `root`: the data folder the image must lie
    in (default `base`; a config's file in a subfolder may name `../../images/x.png`)."""
    from ovlt_eval.engines.images import file_problem

    shown = value if value.isprintable() and len(value) <= 200 else repr(value[:200])
    where = f"--data: row {row}: image {shown}"  # one line whatever the name holds
    given = Path(value)
    root = (root or base).resolve()
    if given.is_absolute() and not absolute_images_allowed():
        if not given.resolve().is_relative_to(root):
            raise UserError(
                f"{where} is an absolute path outside the data folder {root}; pass "
                "--allow-absolute-images to allow that (LLaMA-Factory-style data)"
            )
    path = given if given.is_absolute() else base / given
    resolved = path.resolve()
    if not given.is_absolute() and not resolved.is_relative_to(root):
        raise UserError(f"{where} leaves the data folder {root}")
    problem = file_problem(resolved)
    if problem is not None:
        raise UserError(f"{where}: {problem[1]} (relative paths resolve against {base})")
    why = _undecodable(resolved)
    if why:
        raise UserError(f"{where} is not an image PIL can read ({why})")
    return str(resolved)


def _undecodable(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()  # the header and, for PNG, the chunks' checksums; no full decode
    except Exception as err:  # noqa: BLE001 - any failure of a hostile file is a refusal
        return type(err).__name__
    return None


def images_problem(images) -> str | None:
    """Why a row's `images` cell is not a list of images (a bare string is not), or None."""
    if images is None or isinstance(images, list | tuple):
        return None
    return f"images is a {type(images).__name__}, not a list"
