"""Content-addressed store of every model call (SQLite, WAL).

Key = sha256 of (model, revision, messages with images replaced by their sha256, sampling
parameters, sample index). All k samples of one request are written in the same transaction,
and a stage commits once per batch, so a crash loses at most the batch in flight and never
leaves an item half-sampled (a resumed build asks for the same k samples again).

The same file also memoises the build's other deterministic work, each entry keyed by the
content it was computed from, so a warm rebuild replays instead of recomputing: `verdicts`
(grader version + gold + sample text), `image_prints` (a training image's decontamination
fingerprint by print version + image sha256), `image_matches` (the benchmark images a fingerprint
matched, by the benchmark index's content and the fingerprint), `items` (a synthetic item's
generator version + options + index -> its encoded PNG and text) and `blobs` (a benchmark's
index part by its files' bytes; a dataset-card figure by its aggregated numbers).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, model TEXT NOT NULL, output TEXT NOT NULL,
                                  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS image_prints (key TEXT PRIMARY KEY, print BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS image_matches (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, meta TEXT NOT NULL, data BLOB);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


def _normal_content(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") == "image":
        img = part.get("image")
        sha = getattr(img, "sha256", None)
        if sha is None:
            data = img if isinstance(img, (bytes, bytearray)) else str(img).encode()
            sha = hashlib.sha256(data).hexdigest()
        return {"type": "image", "sha256": sha}
    return part


def messages_for_key(messages) -> list[dict]:
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = [_normal_content(p) for p in content]
        out.append({"role": m.get("role"), "content": content})
    return out


def call_keys(model: str, revision: str, messages, sampling: dict, k: int) -> list[str]:
    """One key per sample index; the request is serialised once, the index appended.

    The serialised request is `json.dumps({"messages", "model", "revision", "sampling"},
    sort_keys=True, ensure_ascii=False)`; only the messages change between rows, so the rest is
    encoded once per (model, revision, sampling) and the text joined around them (same bytes)."""
    tail = _request_tail(model, revision, json.dumps(sampling, sort_keys=True, ensure_ascii=False))
    msgs = json.dumps(messages_for_key(messages), sort_keys=True, ensure_ascii=False)
    base = hashlib.sha256(f'{{"messages": {msgs}{tail}'.encode()).hexdigest()
    return [hashlib.sha256(f"{base}:{i}".encode()).hexdigest() for i in range(k)]


@functools.lru_cache(maxsize=64)
def _request_tail(model: str, revision: str, sampling_json: str) -> str:
    enc = functools.partial(json.dumps, ensure_ascii=False)
    return f', "model": {enc(model)}, "revision": {enc(revision)}, "sampling": {sampling_json}}}'


# A cache written before the table was named for what it holds kept the same fingerprints in
# `phash`, as hex text of the print's 256 bytes (under keys "print16:<sha256>"; keys without
# that prefix were real pHashes, which nothing reads any more).
_OLD_PRINT_PREFIX = "print16:"
_PRINT_BYTES = 256


def _migrate_phash_table(db: sqlite3.Connection) -> None:
    """Move an old cache's `phash` rows into `image_prints` once, in one transaction, so its
    warm rebuild stays warm; the old table is dropped."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='phash'").fetchone():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name='phash'").fetchone():  # still?
            rows = db.execute(
                "SELECT sha256, value FROM phash WHERE sha256 LIKE ?", (_OLD_PRINT_PREFIX + "%",)
            ).fetchall()
            moved = []
            for key, value in rows:
                try:
                    moved.append((key, int(value, 16).to_bytes(_PRINT_BYTES, "big")))
                except (ValueError, OverflowError):
                    continue  # a damaged row is a cache miss, recomputed
            db.executemany("INSERT OR IGNORE INTO image_prints VALUES (?, ?)", moved)
            db.execute("DROP TABLE phash")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# seconds a connection waits for another writer before the build stops with "locked"
BUSY_TIMEOUT = 60.0


class CallCache:
    def __init__(self, path: str | Path, *, any_thread: bool = False):
        """`any_thread`: the connection may move between threads (one user at a time), as a
        source generator does when the build's prefetch thread takes it over."""
        self.path = Path(path)
        if self.path.is_dir():
            raise UserError(f"cache {self.path}: a folder, not a cache file; name a file (--cache)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._disk_errors():
            self.db = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=not any_thread,
            )
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
                _migrate_phash_table(self.db)
            except BaseException:
                self.db.close()
                raise
        self.hits = 0
        self.misses = 0

    def _select_in(self, columns: str, table: str, key_col: str, keys: list[str]):
        """Rows whose `key_col` is one of `keys`, queried in chunks under SQLite's variable limit."""
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT {columns} FROM {table} WHERE {key_col} IN ({','.join('?' * len(chunk))})"
            with self._disk_errors():
                rows = self.db.execute(q, chunk).fetchall()
            yield from rows

    def _write_many(self, sql: str, rows: list[tuple]) -> None:
        """One transaction, committed before returning; rolled back on any error so the
        connection is left usable."""
        if not rows:
            return
        with self._disk_errors():
            self.db.execute("BEGIN")
            try:
                self.db.executemany(sql, rows)
                self.db.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after a full disk or I/O error; a second
                # ROLLBACK would raise "cannot rollback" and hide the real cause.
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    # SQLite reports a full or read-only disk as OperationalError text: make it the OSError it
    # is (errno + path), so the CLIs print one line (ovlt_eval.errors.storage_error).
    _DISK_MESSAGES = (
        ("database or disk is full", errno.ENOSPC),
        ("readonly database", errno.EROFS),
        ("unable to open database file", errno.EACCES),
    )

    @contextlib.contextmanager
    def _disk_errors(self):
        try:
            yield
        except sqlite3.DatabaseError as err:  # OperationalError is one
            for text, code in self._DISK_MESSAGES:
                if text in str(err):
                    raise OSError(
                        code, f"{os.strerror(code)} (SQLite: {err})", str(self.path)
                    ) from err
            if "is locked" in str(err):  # waited `timeout` seconds for another writer
                raise UserError(
                    f"cache {self.path}: locked by another process for {BUSY_TIMEOUT:.0f} s "
                    "(another build using this cache?); wait for it, or point --cache elsewhere"
                ) from None
            if "not a database" in str(err) or "malformed" in str(err):
                raise UserError(
                    f"cache {self.path}: not a readable SQLite cache ({err}); move it away "
                    "(the next build starts a new one) or point --cache elsewhere"
                ) from None
            raise

    def get_many(self, keys: list[str]) -> dict[str, str]:
        return dict(self._select_in("key, output", "calls", "key", keys))

    def put_many(self, rows: list[tuple[str, str, str]]) -> None:
        """rows: (key, model, output); one transaction, committed before returning."""
        now = time.time()
        self._write_many(
            "INSERT OR REPLACE INTO calls (key, model, output, created) VALUES (?, ?, ?, ?)",
            [(k, m, o, now) for k, m, o in rows],
        )

    def image_prints_get(self, keys: list[str]) -> dict[str, bytes]:
        return dict(self._select_in("key, print", "image_prints", "key", keys))

    def image_prints_put(self, items: dict[str, bytes]) -> None:
        self._write_many("INSERT OR REPLACE INTO image_prints VALUES (?, ?)", list(items.items()))

    def kv_get(self, table: str, keys: list[str]) -> dict[str, str]:
        return dict(self._select_in("key, value", table, "key", keys))

    def kv_put(self, table: str, items: dict[str, str]) -> None:
        self._write_many(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", list(items.items()))

    def items_get(self, keys: list[str]) -> dict[str, tuple[str, bytes | None]]:
        """Rendered source items by content key: key -> (meta JSON, payload bytes)."""
        return {k: (m, d) for k, m, d in self._select_in("key, meta, data", "items", "key", keys)}

    def items_put(self, rows: list[tuple[str, str, bytes | None]]) -> None:
        self._write_many("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", rows)

    def blob_get(self, key: str) -> bytes | None:
        with self._disk_errors():
            row = self.db.execute("SELECT data FROM blobs WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def blob_put(self, key: str, data: bytes) -> None:
        with self._disk_errors():
            self.db.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?)", (key, data))

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        self.db.close()
