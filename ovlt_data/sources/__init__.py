"""Sources registry: every training source maps its records into `Example` (or `Rejected`).

Kinds: `synthetic` (embedded, offline default), `local` (JSONL / JSON / parquet / image folder,
mapped by the card), `tabmwp_local` (the PromptPG TabMWP files), `hub` (the paper's sources,
catalogued in `hub.py`, loaded lazily with `datasets`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ovlt_data.card_io import format_validation_error
from ovlt_data.schema import Example, Rejected
from ovlt_eval.errors import UserError


@dataclass(frozen=True)
class SourceContext:
    max_pixels: int
    # relative paths in a card resolve against the card's folder (None: a dict card, which
    # has none), else the bundled data: `card_io.resolve_card_path`
    base_dir: Path | None
    # the build's cache: sources that render items (synthetic) keep them there, so a rebuild
    # reads the bytes instead of drawing and encoding them again
    cache_path: Path | None = None


Records = Iterator[Example | Rejected]


@dataclass(frozen=True)
class SourceKind:
    name: str
    options_model: type[BaseModel]
    # open() does the eager part (file exists, dataset reachable) so errors come before model calls
    open: Callable[[str, Any, SourceContext], Records]
    fingerprint: Callable[[str, Any, SourceContext], dict[str, Any]]
    describe: str = ""

    def validate_options(self, options: dict[str, Any], where: str) -> BaseModel:
        # `where` is "<what>: field <path>": the option's field is named under that path
        what, _, prefix = where.partition(": field ")
        try:
            return self.options_model.model_validate(options)
        except ValidationError as e:
            raise UserError(format_validation_error(e, what, prefix)) from None


_KINDS: dict[str, SourceKind] = {}


def register_source(kind: SourceKind) -> SourceKind:
    _KINDS[kind.name] = kind
    return kind


def _load_builtin() -> None:
    from ovlt_data.sources import hub, local, synthetic, tabmwp  # noqa: F401


def get_source_kind(name: str, where: str = "source kind") -> SourceKind:
    _load_builtin()
    if name not in _KINDS:
        raise UserError(
            f"{where}: unknown source kind '{name}' (known: {', '.join(sorted(_KINDS))})"
        )
    return _KINDS[name]


def source_kinds() -> dict[str, SourceKind]:
    _load_builtin()
    return dict(_KINDS)
