"""Stages registry. A stage maps a batch of rows to the same rows, each kept or marked dropped
with a reason (datatrove-style: nothing disappears, dropped rows go to the `rejected` split).

Each stage applies to the rows of its pools (`sft` and/or `grpo`); others pass through. The
build knows stages only through this interface: `prepare()` before the first row, `requires()`
for the card check, `report()` for the manifest.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ovlt_data.card_io import format_validation_error
from ovlt_data.schema import Row
from ovlt_eval.errors import UserError


class StageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pools: list[str] | None = None  # default: the stage kind's pools


@dataclass
class BuildContext:
    card: Any
    cache: Any
    models: dict[str, Any]  # role -> CachedModel
    card_dir: Any = None


@dataclass
class StageStats:
    rows_in: int = 0
    rows_out: int = 0
    drops: Counter = field(default_factory=Counter)
    seconds: float = 0.0  # wall time in this stage (model calls included); not part of any hash

    def as_dict(self) -> dict[str, Any]:
        return {
            "in": self.rows_in,
            "out": self.rows_out,
            "dropped": dict(sorted(self.drops.items())),
            "seconds": round(self.seconds, 2),
        }


class Stage:
    """Subclasses implement `apply(rows) -> rows` over rows of their pools that are still kept."""

    name = "stage"
    default_pools: tuple[str, ...] = ("sft", "grpo")

    def __init__(self, params: StageParams, ctx: BuildContext):
        self.params = params
        self.ctx = ctx
        self.pools = tuple(params.pools or self.default_pools)
        self.stats = StageStats()

    # set by the stage that splits grpo rows into medium / hard: a grpo source needs one
    splits_grpo = False

    def model_role(self) -> str | None:
        return getattr(self.params, "model", None)

    def requires(self) -> str | None:
        """The stage whose output this one reads: it must come earlier, on the same pools."""
        return None

    def prepare(self) -> None:
        """Hook: work done once before any row or model call (e.g. loading benchmark indexes)."""

    def report(self) -> dict[str, Any]:
        """Hook: sections this stage adds to the version's manifest, after the rows are done."""
        return {}

    def calls_per_row(self) -> int:
        return 0

    def describe(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            **self.params.model_dump(mode="json"),
            "pools": list(self.pools),
        }

    def __call__(self, rows: list[Row]) -> list[Row]:
        idx = [i for i, r in enumerate(rows) if not r.dropped and r.pool in self.pools]
        if not idx:
            return rows
        t0 = time.perf_counter()
        done = self.apply([rows[i] for i in idx])
        self.stats.seconds += time.perf_counter() - t0
        out = list(rows)
        for i, r in zip(idx, done, strict=True):
            out[i] = r
            self.stats.rows_in += 1
            if r.dropped:
                self.stats.drops[r.drop_reason] += 1
            else:
                self.stats.rows_out += 1
        return out

    def apply(self, rows: list[Row]) -> list[Row]:
        raise NotImplementedError

    def drop(self, row: Row, reason: str, detail: str = "") -> Row:
        return row.evolve(
            drop_stage=self.name, drop_reason=reason, drop_detail=detail[:500] or None
        )


@dataclass(frozen=True)
class StageKind:
    name: str
    params_model: type[StageParams]
    factory: Callable[[Any, BuildContext], Stage]
    describe: str = ""

    def validate_params(self, params: dict[str, Any], where: str) -> StageParams:
        what, _, prefix = where.partition(": field ")  # "<what>: field stages[i]"
        try:
            return self.params_model.model_validate(params)
        except ValidationError as e:
            raise UserError(format_validation_error(e, what, prefix)) from None


_KINDS: dict[str, StageKind] = {}


def register_stage(
    cls: type[Stage], params_model: type[StageParams], describe: str = ""
) -> type[Stage]:
    _KINDS[cls.name] = StageKind(cls.name, params_model, cls, describe)
    return cls


def _load_builtin() -> None:
    from ovlt_data.stages import decontaminate, difficulty, generate, select_clean, verify  # noqa: F401


def get_stage_kind(name: str, where: str = "stage") -> StageKind:
    _load_builtin()
    if name not in _KINDS:
        raise UserError(f"{where}: unknown stage '{name}' (known: {', '.join(sorted(_KINDS))})")
    return _KINDS[name]


def stage_kinds() -> dict[str, StageKind]:
    _load_builtin()
    return dict(_KINDS)
