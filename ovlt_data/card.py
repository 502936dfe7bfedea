"""Round cards: the YAML recipe of a build, validated with pydantic at the edge.

A mistake in a card is one line that names the field (`UserError`), raised before any model call.
Strings may use `${VAR}` / `${VAR:-default}` so a card can point at machine-local paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ovlt_eval.errors import UserError

CARDS_DIR = Path(__file__).resolve().parent.parent / "cards" / "rounds"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplingSpec(_Strict):
    max_tokens: int = Field(2048, gt=0)
    temperature: float = Field(0.6, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int = -1
    repetition_penalty: float = Field(1.0, gt=0)
    seed: int | None = 0


class ModelSpec(_Strict):
    engine: str  # a name for ovlt_eval.engines.get_engine: openai | hf | vllm
    model: str
    revision: str = "main"  # part of every cache key: bump it when the weights change
    options: dict[str, Any] = {}  # passed to get_engine (base_urls, batch_size, dtype, ...)
    sampling: SamplingSpec = SamplingSpec()

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in ("openai", "hf", "vllm"):
            raise ValueError(f"unknown engine '{v}' (known: openai, hf, vllm)")
        return v


class SourceSpec(BaseModel):
    """`name` is unique in the card; `kind` picks the loader; other keys are the kind's options."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: str
    pool: Literal["sft", "grpo"]
    limit: int | None = Field(None, gt=0)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    stage: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Card(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    version: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    round: int = Field(ge=0)
    description: str = ""
    seed: int = 0
    batch_size: int = Field(64, gt=0)  # rows per stage batch and per cache commit
    max_image_pixels: int = Field(20_000_000, gt=0)
    licence: str = "other"
    models: dict[str, ModelSpec] = {}
    sources: list[SourceSpec] = Field(min_length=1)
    stages: list[StageSpec] = Field(min_length=1)
    preset: str | None = None  # the card's named preset that was applied (card_presets.py)

    def digest(self) -> str:
        # a card without presets keeps the digest it had before presets existed
        blob = json.dumps(
            self.model_dump(mode="json", exclude={"preset"} if self.preset is None else None),
            sort_keys=True,
        ).encode()
        return hashlib.sha256(blob).hexdigest()


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            got = os.environ.get(name)
            if got is None or got == "":
                if default is None:
                    raise UserError(f"card field {where}: environment variable {name} is not set")
                return default
            return got

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(card)"


def format_validation_error(err: ValidationError, what: str) -> str:
    e = err.errors()[0]
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{what}: field {_loc(tuple(e['loc']))}: {msg}{more}"


def card_path_for_round(n: int) -> Path:
    path = CARDS_DIR / f"round{n}.yaml"
    if not path.exists():
        have = sorted(p.stem for p in CARDS_DIR.glob("round*.yaml"))
        raise UserError(f"no card for round {n} (have: {', '.join(have) or 'none'})")
    return path


def load_card(card: str | os.PathLike | dict | Card) -> Card:
    """Parse and validate a card; every error is one UserError line naming the field."""
    if isinstance(card, Card):
        return card
    what = "card"
    if isinstance(card, dict):
        raw = card
    else:
        import yaml

        path = Path(card)
        what = f"card {path}"
        if not path.is_file():
            raise UserError(f"card not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise UserError(f"{what}: invalid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{what}: expected a mapping at the top level")
    raw = _expand(raw, "")
    from ovlt_data.card_presets import resolve_presets

    raw = resolve_presets(raw, what)
    try:
        parsed = Card.model_validate(raw)
    except ValidationError as e:
        raise UserError(format_validation_error(e, what)) from None
    validate_references(parsed, what)
    return parsed


def validate_references(card: Card, what: str = "card") -> None:
    """Names that pydantic cannot check alone: source kinds, stage names and their params, models."""
    from ovlt_data.sources import get_source_kind
    from ovlt_data.stages import get_stage_kind

    seen: set[str] = set()
    for i, src in enumerate(card.sources):
        if src.name in seen:
            raise UserError(f"{what}: field sources[{i}].name: duplicate source name '{src.name}'")
        seen.add(src.name)
        kind = get_source_kind(src.kind, where=f"{what}: field sources[{i}].kind")
        kind.validate_options(src.options, where=f"{what}: field sources[{i}]")
    for i, st in enumerate(card.stages):
        kind = get_stage_kind(st.stage, where=f"{what}: field stages[{i}].stage")
        params = kind.validate_params(st.params, where=f"{what}: field stages[{i}]")
        model = getattr(params, "model", None)
        if model is not None and model not in card.models and model != "reuse":
            raise UserError(
                f"{what}: field stages[{i}].model: unknown model '{model}' "
                f"(card models: {', '.join(card.models) or 'none'})"
            )
