"""The records that flow through a build.

`Example` is what every source maps into; `Row` is an example plus what the stages learned about
it. Both are frozen: a stage returns a new row (`dataclasses.replace`), so a row seen in a
report is the row that was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ovlt_eval.grading.types import AnswerKind

Pool = Literal["sft", "grpo"]
AnswerType = AnswerKind  # the one list of answer kinds, ovlt_eval/grading/types.py
CONFIGS = ("sft", "grpo_medium", "grpo_hard", "rejected")


@dataclass(frozen=True)
class Image:
    """Encoded image bytes as found in the source (PNG/JPEG/...), validated once at load."""

    data: bytes
    sha256: str
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class Example:
    id: str  # "<source name>:<native id>", unique within a build
    source: str  # the card's source name
    images: tuple[Image, ...]
    question: str
    answer: str
    choices: tuple[str, ...] | None = None
    answer_type: AnswerType = "auto"
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Rejected:
    """A source record that could not become an Example (bad image, empty answer, ...)."""

    id: str
    source: str
    reason: str
    detail: str = ""
    question: str = ""
    answer: str = ""


@dataclass(frozen=True)
class Row:
    example: Example
    pool: Pool
    caption: str | None = None
    samples: tuple[str, ...] = ()
    sample_correct: tuple[bool, ...] = ()
    sample_extracted: tuple[str | None, ...] = ()
    pass_rate: float | None = None
    selected: int | None = None  # index into samples
    response: str | None = None  # the cleaned, formatted trace
    difficulty: str | None = None
    policy_pass_rate: float | None = None
    # set once a stage drops the row
    drop_stage: str | None = None
    drop_reason: str | None = None
    drop_detail: str | None = None

    @property
    def id(self) -> str:
        return self.example.id

    def evolve(self, **changes: Any) -> Row:
        """`dataclasses.replace` for the hot path (~10x cheaper: no __init__ re-run); the field
        names are still checked."""
        bad = changes.keys() - _ROW_FIELDS
        if bad:
            raise TypeError(f"Row has no field(s) {sorted(bad)}")
        new = object.__new__(Row)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    @property
    def dropped(self) -> bool:
        return self.drop_reason is not None


_ROW_FIELDS = frozenset(Row.__dataclass_fields__)
