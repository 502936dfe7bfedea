"""MATH-Vision (MathLLMs/MathVision): 3,040 competition problems, 304 in testmini.

`official` protocol: MATH-V's own evaluator (`evaluation/evaluate.py` + `utils.py`),
re-implemented in mathvision_official.py, defects included.

`corrected` protocol, with our extractor and verifier:
  * the model answer is the last `\\boxed{}`, else the text after "the (final/correct)
    answer is", else an option letter, else the whole (short) response;
  * it is correct when it equals the gold letter *or* the gold option's text (letter and
    text together, "(D) 105", count), or the gold option's value;
where the official evaluator is itself wrong we do not copy it (see calibration report):
  * golds written as `$\\boxed{\\frac{16}{7}}$`, a form feed for `\\f` (`\\x0crac{36}{13}`)
    or `69{degrees}` can never be matched officially; we clean the gold first;
  * the official extraction keeps units glued to numbers ("60degrees") and compares the
    text; we strip units, so "60 degrees" is 60.
The prompt is the OpenVLThinker reference's (eval_openvlthinker.py:311-329, 368-369): with
options, the multiple-choice hint, "Question: …" and "Choices:" with one "(A) …" line per
option — also when the options are just the letters A-E ("(A) A"), as the reference lists
them; without options, the free-form hint and "Question: …" (see reference_prompt.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.loading import as_text, image_entry, option_texts, require
from ovlt_eval.benchmarks.mathvision_official import (
    INSTALL_HINT,
    official_available,
    official_value,
    official_verdict_status,
    parser_unusable,
)
from ovlt_eval.benchmarks.options import is_prose, names_several_options
from ovlt_eval.benchmarks.reference_prompt import format_instruction
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.errors import UserError
from ovlt_eval.grading.extract import extract_answer
from ovlt_eval.grading.verify import verify

_LETTERS = "ABCDEFGHIJ"
# Official comparison: both sides evaluated and rounded to 2 decimals.
_OFFICIAL_PRECISION = 2


@dataclass(frozen=True)
class MathVision(Benchmark):
    name: str = "mathvision"
    version: str = "2"  # 2: the reference's prompt (hint + Question: + Choices:)
    hub_id: str = "MathLLMs/MathVision"
    splits: tuple[str, ...] = ("test", "testmini")
    breakdown_keys: tuple[str, ...] = ("subject", "level")
    id_field: str = "id"
    description: str = "MATH-Vision: competition math with images (MIT)"

    def local_names(self, split: str) -> tuple[str, ...]:
        return (f"{split}.jsonl", f"{split}-*.parquet", f"{split}.parquet")

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        require(row, ("id", "question", "answer"), where, self.name)
        options = option_texts(row.get("options"), where, self.name)
        gold = clean_gold(as_text(row["answer"]))
        if options:
            kind = "multi_choice"
            if len(gold) != 1 or gold not in _LETTERS[: len(options)]:
                raise UserError(f"{where}: multiple-choice answer {gold!r} is not an option letter")
        else:
            kind = "auto"
        images = image_entry(row.get("decoded_image"), base) or image_entry(row.get("image"), base)
        level = row.get("level")
        return BenchItem(
            id=as_text(row["id"]),
            question=build_prompt(as_text(row["question"]), options),
            gold=gold,
            kind=kind,
            choices=options or None,
            precision=None if options else _OFFICIAL_PRECISION,
            images=images,
            breakdown={
                "subject": as_text(row.get("subject")),
                "level": "" if level is None else str(level),
            },
            raw={k: v for k, v in row.items() if k != "decoded_image"},
        )

    def official_missing(self) -> str | None:
        if official_available():
            return parser_unusable()  # a damaged folder is refused, not scored "unparseable"
        return f"{INSTALL_HINT} (`ovlt-eval setup-official` does this)"

    def score_official(self, item: BenchItem, response: str) -> tuple[str | None, bool, str] | None:
        # MATH-V's verdict from the raw gold and options, nothing repaired; None (no official
        # evaluator) where MATH-V's own LaTeX parser is not installed.
        if not official_available():
            _warn_no_parser()
            return None
        unusable = parser_unusable()
        if unusable:  # checked once per process; under `official` refused before scoring
            _warn_parser_unusable(unusable)
            return None
        raw_gold = as_text(item.raw.get("answer", item.gold))
        options = tuple(as_text(o) for o in (item.raw.get("options") or ()))
        return official_verdict_status(raw_gold, options, response)

    def disagreement(self, item, response, off_extracted, off_correct, corrected) -> str:
        raw_gold = as_text(item.raw.get("answer", item.gold)).strip()
        off = off_extracted or ""
        option = item.choices[_LETTERS.index(item.gold)] if item.choices else None
        if corrected.correct:  # the official verdict is the wrong one
            if clean_gold(raw_gold) != raw_gold:
                return "gold_annotation_slip"  # "$\\boxed{..}$", a form feed, "{degrees}"
            if option is not None:
                if len(off) > 1 and off[0] == item.gold.lower() and not off[1].isalpha():
                    return "official_letter_with_text"
                if re.search(r"[$\\^{]|\d\s*[a-zA-Z%°]", option):
                    return "official_latex_option"
                return "official_option_text_missed"
            if re.search(r"[a-zA-Z%°\\]", corrected.extracted or ""):
                return "official_units_or_latex"
            return "official_extraction_missed"
        # The official verdict is True where ours is not. Both sides numbers to MATH-V: equal
        # after rounding to 2 decimals (1/300 = 1/900), or equal as floats only (1/3 and
        # (3^1008-1)/3^1009), where we read the same number.
        target = option if option is not None else raw_gold
        a, b = official_value(off.lower()), official_value(target.lower())
        if a is not None and b is not None:
            if a != b:
                return "official_rounding"
            ours = official_value(final_value(corrected.extracted or "").lower())
            if ours is not None and ours == a:
                return "official_rounding"
        if corrected.extracted and names_several_options(corrected.extracted):
            return "official_took_one_of_several_options"
        if corrected.status == "no_answer":
            return "corrected_no_answer"
        return "official_lenient_extraction"

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        found = extract_answer(response, item.choices)
        if found.answer is None:
            return ScoredItem(item.id, None, False, "no_answer", found.how)
        pred = final_value(found.answer)
        if item.choices and names_several_options(pred):
            return ScoredItem(item.id, found.answer, False, "ok", found.how)
        if is_prose(pred):
            return ScoredItem(item.id, found.answer, False, "unparseable", found.how + "+prose")
        verdict = verify(item.gold, pred, item.kind, choices=item.choices, precision=item.precision)
        if not verdict.correct and verdict.status == "ok" and item.choices:
            # Officially a prediction may also equal the gold option's *value*: "96" for
            # "$3 \cdot 2^{5}$" (both evaluated, rounded to 2 decimals).
            option = item.choices[_LETTERS.index(item.gold)]
            if option != item.gold and not _is_letter(pred, len(item.choices)):
                by_value = verify(clean_gold(option), pred, "auto", precision=_OFFICIAL_PRECISION)
                if by_value.correct:
                    verdict = by_value
        return ScoredItem(item.id, found.answer, verdict.correct, verdict.status, found.how)


@lru_cache(maxsize=1)
@lru_cache(maxsize=1)
def _warn_parser_unusable(why: str) -> None:
    logging.getLogger(__name__).warning("no official MATH-V verdicts: %s", why)


def _warn_no_parser() -> None:
    logging.getLogger(__name__).warning("no official MATH-V verdicts: %s", INSTALL_HINT)


def final_value(answer: str) -> str:
    """The value after the last "=" or "\\approx", as the official evaluator reads it."""
    s = answer
    if "=" in s and not re.search(r"[<>!]=|\\[lg]eq?|\\neq", s):
        tail = s.rsplit("=", 1)[1].strip()
        s = tail or s
    if "\\approx" in s:
        s = s.rsplit("\\approx", 1)[1].strip() or s
    return s


def _is_letter(pred: str, n: int) -> bool:
    p = pred.strip().strip("()").strip()
    return len(p) == 1 and p.upper() in _LETTERS[:n]


def build_prompt(question: str, options: tuple[str, ...]) -> str:
    """The reference's text for a MATH-V item (eval_openvlthinker.py:369)."""
    return format_instruction(question, options)


def clean_gold(answer: str) -> str:
    """Undo annotation slips in official golds that no prediction could ever match."""
    s = answer.replace("\x0c", "\\f").strip()
    if len(s) >= 2 and s[0] == "$" and s[-1] == "$":
        s = s[1:-1].strip()
    boxed = re.fullmatch(r"\\boxed\{(.*)\}", s, re.S)
    if boxed:
        s = boxed.group(1).strip()
    s = (
        re.sub(r"\{?\\?(?:degrees?)\}?$", "", s).strip()
        if re.search(r"\d\{?degrees?\}?$", s)
        else s
    )
    return s
