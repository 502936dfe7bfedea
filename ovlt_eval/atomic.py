"""The one way every final file is written: beside it, fsync, rename, fsync the folder.

A reader (or a resumed run after a crash or power loss) sees the old file or the new one,
never a half-written one. The temp name carries the pid so concurrent writers never share one.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kw) -> Iterator[IO]:
    """A file object for `path` whose contents appear there only once the block ends cleanly."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        # No stray temp file on any failure (a full disk, a read-only folder, Ctrl-C); a failing
        # unlink must not hide the error that matters.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename == str(tmp):
            # name the file the caller asked for, not our temp name
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    _fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike, data: str | bytes, *, errors: str = "strict") -> Path:
    """Write `data` (text as UTF-8, with `errors` for unencodable characters) to `path`."""
    blob = data if isinstance(data, bytes) else data.encode("utf-8", errors=errors)
    with atomic_open(path, "wb") as fh:
        fh.write(blob)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    return write_atomic(path, json.dumps(obj, indent=indent, default=str) + "\n")


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some filesystems cannot open a folder: best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
