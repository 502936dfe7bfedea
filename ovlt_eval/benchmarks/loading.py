"""Reading official benchmark files (JSON, JSONL, Hub parquet) and the Hub itself.

Every failure a user can cause (a wrong path, a corrupt file, no network) becomes a one-line
`UserError` that says what to do next.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ovlt_eval.engines.images import checked_image_path
from ovlt_eval.errors import UserError

PARQUET_SUFFIXES = (".parquet",)
# An options literal is parsed only when it could be an option list (ast.literal_eval of a
# million-item literal took 38 s and 1.2 GB); the longest real ones are a few KB.
MAX_OPTIONS_CHARS = 100_000
MAX_OPTIONS = 1000
# Official JSON/JSONL files hold text and image paths: a few MiB (MathVista's test.json, the
# largest, ~10 MiB). Anything far above is the wrong file, and json.load would hold it all.
MAX_TEXT_BYTES = 512 << 20


# How the command being run takes a benchmark's local files: `--data PATH` for ovlt-eval; a card
# field for the data factory and the loop, which have no --data (`benchmark_data_hint`).
_DATA_HINT: contextvars.ContextVar[Callable[[str], str] | None] = contextvars.ContextVar(
    "ovlt_benchmark_data_hint", default=None
)


def data_hint(bench: str) -> str:
    hint = _DATA_HINT.get()
    return hint(bench) if hint is not None else "--data PATH"


@contextlib.contextmanager
def benchmark_data_hint(hint: Callable[[str], str]):
    """Within this block, errors that tell the user how to give a benchmark's local files say
    `hint(bench)` instead of `--data PATH`."""
    token = _DATA_HINT.set(hint)
    try:
        yield
    finally:
        _DATA_HINT.reset(token)


def find_data_file(data: str | os.PathLike, bench: str, split: str, names: Sequence[str]) -> Path:
    """The file to read: `data` itself, or the first of `names` found under the folder `data`.

    `names` are the official file names for this split (e.g. "testmini.json",
    "testmini-*.parquet" style globs are allowed).
    """
    path = Path(data).expanduser()
    if path.is_file():
        return path
    if path.exists() and not path.is_dir():  # /dev/zero, a FIFO, a socket
        raise UserError(
            f"{bench} data {path} is not a regular file or folder; give the official file or "
            f"its folder ({data_hint(bench)})"
        )
    if path.is_dir():
        for name in names:
            hits = sorted(path.glob(name)) or sorted(path.glob(f"data/{name}"))
            if hits:
                return hits[0]
        raise UserError(
            f"no {bench} {split} file in {path}: expected one of {', '.join(names)}"
            f" (or give the file itself: {data_hint(bench)})"
        )
    raise UserError(f"{bench} data not found: {path} does not exist")


def parquet_files(first: Path) -> list[Path]:
    """All shards of a split written like the Hub does (`testmini-00000-of-00002.parquet`)."""
    name = first.name
    if "-00000-of-" in name:
        prefix = name.split("-00000-of-")[0]
        return sorted(first.parent.glob(f"{prefix}-*-of-*.parquet"))
    return [first]


def read_records(path: Path, bench: str) -> list[dict[str, Any]]:
    """Rows of an official file as dicts: JSON list, JSON dict keyed by id, JSONL or parquet."""
    suffix = path.suffix.lower()
    try:
        for p in parquet_files(path) if suffix in PARQUET_SUFFIXES else [path]:
            if not p.is_file():  # a FIFO found by the folder's glob would block the open
                raise UserError(f"{p}: not a regular file; expected the official {bench} file")
        if suffix in PARQUET_SUFFIXES:
            return _read_parquet(parquet_files(path))
        check_text_file(path, f"the official {bench} JSON/JSONL or parquet")
        with open(path, encoding="utf-8") as fh:
            if suffix == ".jsonl":
                rows = []
                for lineno, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as err:
                            raise UserError(
                                f"{path}:{lineno}: not valid JSON ({err.msg}); is this the official {bench} file?"
                            ) from None
                return rows
            data = json.load(fh)
    except UserError:
        raise
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: not a UTF-8 text file; expected the official {bench} JSON/JSONL or parquet"
        ) from None
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    except Exception as err:  # pyarrow raises its own types for a corrupt parquet
        raise UserError(
            f"cannot read {path} as parquet: {type(err).__name__}: {err}".splitlines()[0]
        ) from None
    if isinstance(data, dict):
        return [dict(v, _key=k) if isinstance(v, dict) else v for k, v in data.items()]
    if isinstance(data, list):
        return data
    raise UserError(
        f"{path}: expected a JSON list or object of {bench} records, got {type(data).__name__}"
    )


def check_text_file(path: Path, expected: str, limit: int = MAX_TEXT_BYTES) -> None:
    """Refuse, before parsing, a JSON/JSONL file over `limit` bytes or with NUL bytes in its
    first block (a sparse or binary file, which `json.load` would read whole: 4 GB of memory
    for a 2 GB sparse file). `expected`: what the file should be, for the message."""
    size = path.stat().st_size
    if size > limit:
        raise UserError(
            f"{path}: {size >> 20} MiB is over the {limit >> 20} MiB {expected} could be; "
            "is it the right file?"
        )
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if b"\0" in head:
        raise UserError(f"{path}: not a UTF-8 text file (it holds NUL bytes); expected {expected}")


def _read_parquet(paths: list[Path]) -> list[dict[str, Any]]:
    from ovlt_eval.benchmarks.parquet_limits import read_parquet_rows

    return read_parquet_rows(paths)  # cells and rows sized before Python objects are built


def load_hub(hub_id: str, config: str | None, split: str, bench: str) -> list[dict[str, Any]]:
    """Rows of a Hub dataset split through `datasets` (imported only here)."""
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a core dependency
        raise UserError(
            f"loading from the Hub needs the 'datasets' package; or give local files: {data_hint(bench)}"
        ) from None
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("1", "true", "yes"):
        _check_hub_reachable(hub_id, bench)
    try:
        ds = datasets.load_dataset(hub_id, name=config, split=split)
    except Exception as err:
        detail = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise UserError(
            f"could not load {bench} from the Hugging Face Hub ({hub_id}"
            f"{'/' + config if config else ''}, split {split}): {detail}; "
            f"give the official local files instead: {data_hint(bench)}"
        ) from None
    return [dict(row) for row in ds]


def _check_hub_reachable(hub_id: str, bench: str) -> None:
    """Fail in seconds, not after `datasets`' minute of retries, when the Hub is unreachable."""
    from ovlt_eval.hub_access import check_hub_ref

    check_hub_ref(
        hub_id,
        repo_type="dataset",
        what=bench,
        could_be_path=False,
        hint=f"; give the official local files ({data_hint(bench)}) or set HF_HUB_OFFLINE=1 "
        "with a cached copy",
    )


def require(row: dict[str, Any], fields: Sequence[str], where: str, bench: str) -> None:
    missing = [f for f in fields if f not in row]
    if missing:
        raise UserError(
            f"{where}: record lacks {', '.join(missing)}; is this the official {bench} file?"
        )


def image_entry(value: Any, base: Path | None) -> tuple[Any, ...]:
    """One image as BenchItem wants it: a local path, raw bytes, or a PIL image.

    A path that is outside the data folder `base`, missing, empty or not a regular file becomes
    an `UnreadableImage`: the item is then an `error` when sent (resumes retry it), never read
    from elsewhere and never evaluated silently as text only."""
    if value is None or value == "":
        return ()
    if isinstance(value, dict):  # parquet Image struct {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return (value["bytes"],)
        value = value.get("path")
        if not value:
            return ()
    if isinstance(value, (bytes, bytearray)):
        return (bytes(value),)
    if isinstance(value, str):
        return (checked_image_path(value, base),)
    return (value,)  # a PIL image from datasets' decoded_image


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_option_list(value: Any, where: str, bench: str) -> tuple[str, ...]:
    """A record's options as texts: a list as stored, or a Python-literal list in a string
    (MMMU-Pro stores "['a', 'b']"; the reference `eval()`s it, eval_openvlthinker.py:312).

    Parsed with `ast.literal_eval`, never `eval`: a downloaded file is not code. Anything that
    is not a list of options is a one-line error naming the record.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        if not value.strip():
            return ()
        import ast

        if len(value) > MAX_OPTIONS_CHARS or value.count(",") >= MAX_OPTIONS:
            raise UserError(
                f"{where}: options literal of {len(value):,} characters / "
                f"{value.count(',') + 1:,} items is not an option list; is this the official "
                f"{bench} file?"
            )
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
            raise UserError(
                f"{where}: options {value[:60]!r} is not a Python list literal "
                f"({type(err).__name__}); is this the official {bench} file?"
            ) from None
    if not isinstance(value, list | tuple):
        raise UserError(
            f"{where}: options should be a list, got {type(value).__name__}; "
            f"is this the official {bench} file?"
        )
    out = []
    for opt in value:
        if isinstance(opt, dict | list | tuple | set | bytes):
            raise UserError(f"{where}: an option is a {type(opt).__name__}, not text")
        out.append(as_text(opt))
    return tuple(out)


def option_texts(value: Any, where: str, bench: str) -> tuple[str, ...]:
    """A record's choices/options as texts: a list as the official files store it; a list
    written as text ("['1', '2']", as re-exports do) parsed, never split into characters;
    anything else a one-line error naming the record."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None", "[]")):
        return ()
    if isinstance(value, list | tuple):
        return tuple(as_text(v) for v in value)
    if isinstance(value, str):
        return parse_option_list(value, where, bench)
    raise UserError(
        f"{where}: options should be a list, got {type(value).__name__}; "
        f"is this the official {bench} file?"
    )


def image_entries(row: dict[str, Any], fields: Sequence[str], base: Path | None) -> tuple[Any, ...]:
    """The images of `fields`, in order, skipping absent ones (the reference keeps every field
    that is not None, eval_openvlthinker.py:265)."""
    images: list[Any] = []
    for name in fields:
        images.extend(image_entry(row.get(name), base))
    return tuple(images)
