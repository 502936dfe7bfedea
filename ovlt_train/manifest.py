"""The loop manifest: one JSON file that says which step ran, made what, from what.

Every state change rewrites the whole file atomically (temp file, fsync, rename), so a loop
killed at any instant leaves either the old or the new manifest, never half of one. A step is
finished only when its record says `done`; anything else is redone on resume.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError

MANIFEST_NAME = "loop_manifest.json"
FORMAT = 1


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def atomic_write_json(path: Path, data: Any) -> None:
    from ovlt_eval.atomic import write_json_atomic  # the one atomic writer (fsync, rename)

    write_json_atomic(path, data)


def output_version(path: str | Path, inputs: dict[str, str]) -> str:
    """A short id for a step's output: its files (names, sizes), small records' bytes, inputs."""
    p = Path(path)
    h = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode())
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        rel = f.name if p.is_file() else str(f.relative_to(p))
        if rel.startswith(".") or "/." in rel:
            continue
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        if f.suffix in (".json", ".jsonl", ".yaml", ".md") and size < 1_000_000:
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def read_manifest_file(path: Path) -> dict[str, Any]:
    """A loop manifest as a mapping with a `steps` mapping of step records; a file cut short,
    not UTF-8, or of another shape is one UserError line (never a traceback mid-resume)."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise UserError(
            f"{path}: unreadable manifest ({err}); move it away to start over"
        ) from None
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, dict) or not all(isinstance(r, dict) for r in steps.values()):
        raise UserError(
            f"{path}: not a loop manifest (an object whose `steps` maps step ids to records); "
            "move it away to start over"
        )
    return data


class Manifest:
    def __init__(self, work_dir: Path, data: dict[str, Any]):
        self.work_dir = work_dir
        self.path = work_dir / MANIFEST_NAME
        self.data = data

    @classmethod
    def open(cls, work_dir: Path, *, name: str, card: dict[str, Any], card_digest: str) -> Manifest:
        path = work_dir / MANIFEST_NAME
        if path.is_file():
            data = read_manifest_file(path)
            if data.get("card_digest") != card_digest:
                raise UserError(
                    f"{path} was written for another loop card (digest {str(data.get('card_digest', '?'))[:12]} ≠ "
                    f"{card_digest[:12]}); use a new work_dir or move the old one away"
                )
            data["card"] = card  # `rounds` may grow; it is outside the digest
            return cls(work_dir, data)
        work_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT,
            "name": name,
            "created": now(),
            "card_digest": card_digest,
            "card": card,
            "steps": {},
        }
        m = cls(work_dir, data)
        m.save()
        return m

    def save(self) -> None:
        from ovlt_eval.redact import redact

        # the card as its template (a `${VAR}` value may be a key), URLs without credentials;
        # elsewhere no template substitution: step outputs are read back as paths on resume
        atomic_write_json(
            self.path, {k: redact(v, templates=k == "card") for k, v in self.data.items()}
        )

    def step(self, step_id: str) -> dict[str, Any]:
        return self.data["steps"].get(step_id, {})

    def is_done(self, step_id: str) -> bool:
        rec = self.step(step_id)
        out = rec.get("output")  # Path("") is the current folder, which always exists
        return (
            rec.get("status") == "done"
            and isinstance(out, str)
            and bool(out)
            and Path(out).exists()
        )

    def start(self, step_id: str, info: dict[str, Any]) -> None:
        rec = self.data["steps"].setdefault(step_id, {"attempts": 0})
        rec.update(info)
        rec.update(
            status="running", started=now(), attempts=rec.get("attempts", 0) + 1, pid=os.getpid()
        )
        rec.pop("error", None)
        self.save()

    def finish(
        self, step_id: str, *, output: str, version: str, result: dict[str, Any], seconds: float
    ) -> None:
        rec = self.data["steps"][step_id]
        rec.update(
            status="done",
            finished=now(),
            output=output,
            version=version,
            result=result,
            seconds=round(seconds, 2),
        )
        rec.pop("pid", None)
        self.save()

    def fail(self, step_id: str, error: str) -> None:
        rec = self.data["steps"][step_id]
        rec.update(status="failed", error=error, finished=now())
        rec.pop("pid", None)
        self.save()


@contextmanager
def exclusive(work_dir: Path):
    """One loop per work dir at a time (a second one would interleave steps)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    lock_path = work_dir / ".loop.lock"
    fh = lock_path.open("a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another `ovlt-train loop` is running in {work_dir}") from None
        yield
    finally:
        fh.close()
