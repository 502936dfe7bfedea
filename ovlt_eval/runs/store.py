"""`samples.jsonl`: an append-only, crash-safe record of finished items.

Each finished item is one JSON line, written and fsync'ed before the next item counts as done,
so a run killed at any instant (SIGKILL included) loses at most the line being written. On
open, a torn last line (no trailing newline, or not valid JSON) is cut off; any other line that
is not a JSON object with an `id` stops the resume with one line naming it (finished work is
never dropped nor overwritten). The latest line per id wins, which is how a retried `error`
item or a re-judged item replaces its earlier line without rewriting the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError


class RunLock:
    """An exclusive lock on a run directory: two processes appending to one samples.jsonl
    would interleave their work. The OS drops the lock when its process dies (even SIGKILL)."""

    def __init__(self, out_dir: str | Path, *, name: str = ".lock", busy: str | None = None):
        # `name` / `busy`: other writers (`ovlt-data build`'s version folders) lock the same way
        self.path = Path(out_dir) / name
        self._busy = busy or (
            f"another ovlt-eval run is writing to {self.path.parent}; "
            "wait for it or choose another --out"
        )
        self._fh = None

    def __enter__(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            self._fh = None
            raise UserError(self._busy) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class SampleStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.torn_bytes = 0
        self._load()
        self._fh = None

    def _load(self) -> None:
        if not self.path.exists():
            return
        if not self.path.is_file():  # a folder or a FIFO (whose read would block)
            raise UserError(
                f"{self.path} is not a regular file, so the run cannot resume; move it away "
                "or choose another --out"
            )
        data = self.path.read_bytes()
        good_end = 0
        pos = 0
        lineno = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                break  # a last line without its newline was cut mid-write
            line = data[pos:nl]
            pos = nl + 1
            lineno += 1
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    # Only the very last line can be torn; anything earlier is a corrupt file
                    # whose finished items we must neither drop nor overwrite.
                    if pos < len(data):
                        raise self._bad_line(lineno, "is not valid JSON") from None
                    break
                # A whole line that parses was written whole: no crash makes a list or an
                # id-less object, so this one is corrupt wherever it is.
                if not isinstance(record, dict):
                    raise self._bad_line(
                        lineno, f"is a JSON {type(record).__name__}, not an object"
                    )
                item_id = record.get("id")
                if isinstance(item_id, bool) or not isinstance(item_id, str | int):
                    raise self._bad_line(lineno, "has no 'id'")
                if "status" in record and not isinstance(record["status"], str):
                    # the resume and the summary sort by it: a list crashed them, a null passed
                    raise self._bad_line(lineno, "has a 'status' that is not text")
                self.records[str(item_id)] = record
            good_end = pos
        if good_end < len(data):
            self.torn_bytes = len(data) - good_end
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())

    def _bad_line(self, lineno: int, what: str) -> UserError:
        return UserError(
            f"{self.path}:{lineno}: this line {what}, so the run cannot resume; fix or delete "
            "that line (its item is generated again) or pass --overwrite to start over"
        )

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self.records.get(item_id)

    def values(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def append(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")
        line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        self._fh.write(line)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records[str(record["id"])] = record

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
