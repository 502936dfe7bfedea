"""Frozen result types shared by the verifier and everything that consumes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# The kind of a gold answer; benchmarks map their own metadata onto these.
#  multi_choice: gold is an option letter or an option's text; `choices` lists option texts
#  integer / float: numeric, float compared at `precision` decimals when given
#  text: normalised string match
#  list: comma-separated values, order-sensitive
#  auto: let the verifier decide (Math-Verify symbolic fallback)
AnswerKind = Literal["multi_choice", "integer", "float", "text", "list", "auto"]
# The one list of answer kinds (the verifier, the data factory, cards and benchmarks use it).
KINDS: tuple[str, ...] = get_args(AnswerKind)

Status = Literal["ok", "no_answer", "timeout", "unparseable"]


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # None when nothing was found, never ""
    how: str  # "answer_tag", "boxed", "answer_is", "answer_colon", "option_letter", ... or a no-answer reason


@dataclass(frozen=True)
class Verdict:
    correct: bool
    status: Status
    detail: str = ""


@dataclass(frozen=True)
class Graded:
    extracted: str | None
    correct: bool
    status: Status
    how: str = ""
