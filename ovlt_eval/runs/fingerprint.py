"""Content hashes for the eval card: what was asked, of which data, with which images."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


def image_digest(image: Any) -> str:
    """sha256 of an image as given to the model: file bytes, raw bytes, or decoded pixels."""
    if isinstance(image, (bytes, bytearray)):
        return sha256_bytes(bytes(image))
    if isinstance(image, (str, Path)):
        path = Path(image)
        if path.exists():
            return sha256_bytes(path.read_bytes())
        return "missing:" + sha256_bytes(str(image).encode())
    if isinstance(image, Mapping) and image.get("bytes"):  # datasets' Image feature
        return sha256_bytes(image["bytes"])
    tobytes = getattr(image, "tobytes", None)
    if tobytes is not None:  # a PIL image
        header = f"{getattr(image, 'mode', '')}:{getattr(image, 'size', '')}:".encode()
        return sha256_bytes(header + tobytes())
    return "unhashable:" + type(image).__name__


def item_payload(item: Any) -> dict[str, Any]:
    """The fields of a BenchItem that define the task (images are hashed separately)."""
    return {
        "id": item.id,
        "question": item.question,
        "gold": item.gold,
        "kind": item.kind,
        "choices": list(item.choices) if item.choices is not None else None,
        "precision": item.precision,
        "unit": item.unit,
        "breakdown": item.breakdown,
    }


def data_fingerprint(items: Iterable[Any]) -> str:
    h = hashlib.sha256()
    for item in sorted(items, key=lambda it: it.id):
        h.update(canonical_json(item_payload(item)))
        h.update(b"\n")
    return h.hexdigest()


def image_hashes(items: Iterable[Any]) -> dict[str, list[str]]:
    return {item.id: [image_digest(img) for img in item.images] for item in items}


def combined_digest(per_item: Mapping[str, Any]) -> str:
    return sha256_bytes(canonical_json(dict(sorted(per_item.items()))))


def git_sha(start: Path | None = None) -> str | None:
    """The harness checkout's commit (with '-dirty' when modified); None when not a checkout."""
    where = start or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
