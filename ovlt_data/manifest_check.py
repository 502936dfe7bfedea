"""The shape of a version's `manifest.json`, checked where it is read (`read_manifest`).

A manifest is a file from disk — maybe another person's download, cut short or edited — and
`inspect`, `diff`, `export`, `merge` and `push` index into it: a list, a string or a missing key
there was a traceback. Only the fields those readers use are checked; others pass untouched.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # "7" is no row count


class _Stats(_Open):
    counts: dict[str, int]
    by_source: dict[str, dict[str, int]] = {}
    reject_reasons: dict[str, int] = {}
    pass_rate_by_source: dict[str, float] = {}


class _Stage(_Open):
    stage: str
    rows_in: int = Field(alias="in")
    out: int
    dropped: dict[str, int]
    pools: list[str] = []


class _Model(_Open):
    engine: str
    model: str
    revision: str | None = None
    sampling: dict[str, Any]


class _Cache(_Open):
    hits: int
    misses: int


class _Match(_Open):
    row: Any
    benchmark: Any
    item: Any
    how: Any


class _Decontamination(_Open):
    matches: list[_Match] = []


class Manifest(_Open):
    name: str
    version: str
    round: int
    card_sha256: str
    fingerprint: str
    code_version: str | None = None
    limit: int | None = None
    shard: str | None = None
    card: dict[str, Any] = {}
    stats: _Stats
    stages: list[_Stage]
    models: dict[str, _Model] = {}
    sources: dict[str, dict[str, Any]] = {}
    cache: _Cache
    decontamination: _Decontamination = _Decontamination()


def check_manifest(data: Any, where: str) -> dict[str, Any]:
    """`data` (parsed JSON) if it has a manifest's shape, else one UserError line naming the
    first bad field."""
    from ovlt_eval.errors import UserError

    if not isinstance(data, dict):
        raise UserError(
            f"{where}: not a valid manifest (a JSON {type(data).__name__}, not an object)"
        )
    try:
        Manifest.model_validate(data)
    except ValidationError as e:
        errs = e.errors()
        first = errs[0]
        field = ".".join(str(x) for x in first["loc"]) or "(top)"
        more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
        raise UserError(
            f"{where}: not a valid manifest: field {field}: {first['msg']}{more}"
        ) from None
    return data
