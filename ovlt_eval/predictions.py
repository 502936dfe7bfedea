"""Loading a predictions file: JSONL, a JSON list, or a JSON object keyed by id.

Each record has the item's native id (`id`, or the benchmark's own id field such as `pid` /
`sample_index`; an object keyed by id may omit it) and `response`, the raw model text.
An optional `extraction` is an answer already extracted from the response by the benchmark's
own pipeline (MathVista's published output files carry GPT-4's `extraction` beside each
`response`); a benchmark that has such a step scores it verbatim under `official` (see
`Benchmark.score_official_extraction`). Every other field is kept untouched as `meta` and
never read by the scorer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.loading import check_text_file
from ovlt_eval.errors import UserError

RESPONSE_FIELD = "response"
# Far above any real predictions file (5,000 items x 100 KiB of reasoning is 500 MiB), far
# below what reading it whole as text would cost in memory.
MAX_PREDICTIONS_BYTES = 1 << 30
EXTRACTION_FIELD = "extraction"


@dataclass(frozen=True)
class Prediction:
    id: str
    response: str | None  # None: the record says the model gave no text (null)
    meta: dict[str, Any] = field(default_factory=dict)
    # The benchmark pipeline's own extracted answer, when the file carries one (None: absent
    # or null, so the scorer extracts from `response` itself).
    extraction: str | None = None


def load_predictions(
    path: str | os.PathLike, id_fields: Iterable[str] = ("id",)
) -> dict[str, Prediction]:
    """Predictions by id, in file order. Bad files raise a one-line `UserError`."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"predictions file not found: {p}")
    id_fields = tuple(dict.fromkeys(("id", *id_fields)))
    try:
        check_text_file(p, "JSONL or JSON predictions", MAX_PREDICTIONS_BYTES)
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{p}: not UTF-8 text; expected JSONL or JSON predictions") from None
    except OSError as err:
        raise UserError(f"cannot read {p}: {err.strerror or err}") from None
    records = list(_records(p, text))
    if not records:
        raise UserError(f"{p}: no predictions found")
    out: dict[str, Prediction] = {}
    duplicates: list[str] = []
    for where, key, rec in records:
        pred = _to_prediction(p, where, key, rec, id_fields)
        if pred.id in out:
            duplicates.append(pred.id)
        out[pred.id] = pred
    if duplicates:
        shown = ", ".join(repr(d) for d in duplicates[:5])
        raise UserError(
            f"{p}: {len(duplicates)} duplicated id(s) ({shown}); keep one prediction per item"
        )
    return out


def _records(p: Path, text: str):
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            if stripped[0] == "[" or "\n" not in stripped.rstrip():
                raise UserError(f"{p}: not valid JSON ({err.msg} at line {err.lineno})") from None
            data = None  # a JSONL file without the .jsonl suffix
        if isinstance(data, list):
            for i, rec in enumerate(data):
                yield f"item {i}", None, rec
            return
        if isinstance(data, dict):
            if any(k in data and not isinstance(data[k], dict) for k in (RESPONSE_FIELD, "id")):
                yield "the single record", None, data
                return
            for key, rec in data.items():
                yield f"key {key!r}", key, rec
            return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(
                f"{p}:{lineno}: not valid JSON ({err.msg}); expected one JSON object per line"
            ) from None
        yield f"line {lineno}", None, rec


def _to_prediction(
    p: Path, where: str, key: str | None, rec: Any, id_fields: tuple[str, ...]
) -> Prediction:
    if isinstance(rec, str) and key is not None:  # {"id": "response text"}
        return Prediction(str(key), rec, {})
    if not isinstance(rec, dict):
        raise UserError(
            f"{p} {where}: expected an object with 'id' and 'response', got {type(rec).__name__}"
        )
    if RESPONSE_FIELD not in rec:
        raise UserError(f"{p} {where}: no 'response' field (the raw model text)")
    found_id = next((rec[f] for f in id_fields if rec.get(f) is not None), None)
    if key is not None:
        if found_id is not None and str(found_id) != str(key) and "id" in rec:
            raise UserError(f"{p} {where}: its 'id' {rec['id']!r} differs from its key")
        found_id = key
    if found_id is None or str(found_id).strip() == "":
        raise UserError(f"{p} {where}: no id (expected one of: {', '.join(id_fields)})")
    response = rec[RESPONSE_FIELD]
    if response is not None and not isinstance(response, str):
        raise UserError(f"{p} {where}: 'response' must be text, got {type(response).__name__}")
    extraction = _extraction(p, where, rec.get(EXTRACTION_FIELD))
    meta = {k: v for k, v in rec.items() if k not in ("id", RESPONSE_FIELD, EXTRACTION_FIELD)}
    return Prediction(str(found_id).strip(), response, meta, extraction)


def _extraction(p: Path, where: str, value: Any) -> str | None:
    """The `extraction` field as text. Numbers and lists are written as Python's `str()`
    writes them, which is what MathVista's `calculate_score.py` compares (`str(extraction)`,
    `float(extraction)`); null means absent."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        raise UserError(
            f"{p} {where}: 'extraction' must be text, a number or a list, "
            f"got {type(value).__name__}"
        )
    return str(value)
