"""Round cards: the YAML recipe of a build, validated with pydantic at the edge.

A mistake in a card is one line that names the field (`UserError`), raised before any model call.
Strings may use `${VAR}` / `${VAR:-default}` so a card can point at machine-local paths; reading,
expansion, `--set` overrides and the error format are `card_io`'s, shared with the training cards.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

import ovlt_cards
from ovlt_data.card_io import apply_overrides, expand_env, format_validation_error, read_card
from ovlt_data.paths import name_problem
from ovlt_eval.engines.types import DATA_SAMPLING
from ovlt_eval.errors import UserError

CARDS_DIR = ovlt_cards.CARDS_DIR / "rounds"
MAX_ROWS = 1_000_000_000  # a `limit` / `--limit` above this is a typo (and past islice's range)
MAX_BATCH = 100_000  # rows held in memory per stage batch


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplingSpec(_Strict):
    # defaults: ovlt_eval.engines.types.DATA_SAMPLING (every default sampling is declared there)
    max_tokens: int = Field(DATA_SAMPLING.max_tokens, gt=0)
    temperature: float = Field(DATA_SAMPLING.temperature, ge=0)
    top_p: float = Field(DATA_SAMPLING.top_p, gt=0, le=1)
    top_k: int = DATA_SAMPLING.top_k
    repetition_penalty: float = Field(DATA_SAMPLING.repetition_penalty, gt=0)
    seed: int | None = DATA_SAMPLING.seed


class ModelSpec(_Strict):
    engine: str  # a name for ovlt_eval.engines.get_engine: openai | hf | vllm
    model: str
    revision: str = "main"  # part of every cache key: bump it when the weights change
    options: dict[str, Any] = {}  # passed to get_engine (base_urls, batch_size, dtype, ...)
    sampling: SamplingSpec = SamplingSpec()
    # openai: seconds one HTTP attempt may take (None: 60 + 0.1 x max_tokens); a call's retries
    # together stop after 3 x this, and the row is a model_error the next build retries
    request_timeout: float | None = Field(None, gt=0, allow_inf_nan=False)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in ("openai", "hf", "vllm"):
            raise ValueError(f"unknown engine '{v}' (known: openai, hf, vllm)")
        return v

    @model_validator(mode="after")
    def _timeout_is_for_servers(self) -> ModelSpec:
        if self.request_timeout is not None and self.engine != "openai":
            raise ValueError(f"request_timeout is for engine openai, not '{self.engine}'")
        return self

    def engine_options(self) -> dict[str, Any]:
        """What `get_engine` is opened with, besides the model."""
        if self.request_timeout is None:
            return dict(self.options)
        return {**self.options, "request_timeout": self.request_timeout}


class SourceSpec(BaseModel):
    """`name` is unique in the card; `kind` picks the loader; other keys are the kind's options."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: str
    pool: Literal["sft", "grpo"]
    limit: int | None = Field(None, gt=0, le=MAX_ROWS)

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
    # rows per stage batch and per cache commit; a batch is held in memory, images and all
    batch_size: int = Field(64, gt=0, le=MAX_BATCH)
    max_image_pixels: int = Field(20_000_000, gt=0)
    licence: str = "other"
    models: dict[str, ModelSpec] = {}
    sources: list[SourceSpec] = Field(min_length=1)
    stages: list[StageSpec] = Field(min_length=1)
    preset: str | None = None  # the card's named preset that was applied (card_presets.py)

    @field_validator("name", "version")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # `out/<name>/<version>` is replaced with --force: "." or ".." there is a sibling of
        # --out, or --out itself, deleted
        problem = name_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    def digest(self) -> str:
        # a card without presets keeps the digest it had before presets existed; a timeout
        # changes how long a build waits, not what it builds, so it never enters the digest
        exclude: dict[str, Any] = {"models": {"__all__": {"request_timeout"}}}
        if self.preset is None:
            exclude["preset"] = True
        blob = json.dumps(self.model_dump(mode="json", exclude=exclude), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def card_path_for_round(n: int) -> Path:
    path = CARDS_DIR / f"round{n}.yaml"
    if not path.exists():
        have = sorted(p.stem for p in CARDS_DIR.glob("round*.yaml"))
        raise UserError(f"no card for round {n} (have: {', '.join(have) or 'none'})")
    return path


def load_card(card: str | os.PathLike | dict | Card, overrides: list[str] | None = None) -> Card:
    """Parse and validate a card; every error is one UserError line naming the field."""
    if isinstance(card, Card):
        return card
    if isinstance(card, dict):
        what = "card"
        raw = apply_overrides(expand_env(card), overrides or [])
    else:
        what = f"card {Path(card)}"
        raw = read_card(card, overrides)
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
