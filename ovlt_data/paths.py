"""Write paths that stay inside their root, whatever a card or a manifest says.

Card names, manifest strings and row image paths come from files a user may have downloaded:
each becomes a write path only through these checks, so `..`, `.` or a separator in one of
them can never delete or write outside `--out` (`shutil.rmtree(out / name / "..")` would).
"""

from __future__ import annotations

import os
from pathlib import Path

from ovlt_eval.errors import UserError


def name_problem(value: object) -> str | None:
    """Why `value` is not one plain folder or file name, or None when it is."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty name"
    if value in (".", ".."):
        return f"{value!r} is not a name (it names a folder relative to another)"
    if "/" in value or "\\" in value or (os.sep in value) or "\0" in value:
        return f"{value!r} must not contain a path separator"
    return None


def plain_name(value: object, what: str) -> str:
    """`value` as a single path component, or a one-line UserError naming `what`."""
    problem = name_problem(value)
    if problem:
        raise UserError(f"{what}: {problem}")
    return value  # type: ignore[return-value]


def inside(root: str | os.PathLike, *parts: str, what: str) -> Path:
    """`root / parts...`, refused unless it resolves strictly below `root` (symlinks followed)."""
    base = Path(root).resolve()
    path = Path(root).joinpath(*parts)
    resolved = path.resolve()
    if resolved == base or not resolved.is_relative_to(base):
        raise UserError(f"{what}: {'/'.join(parts)!r} would write outside {root}")
    return path
