"""MathVista (AI4Math/MathVista): testmini, 1,000 items (test answers are not public).

`official` protocol (lupantech/MathVista `evaluation/extract_answer.py` then
`calculate_score.py`), in mathvista_official.py: the official quick path, our rules in place
of the GPT-4 extraction call, then `normalize_extracted_answer` + `safe_equal`:
  * multi_choice: "(B)" anywhere → B; a letter within range → that option's text; any other
    text → the option with the smallest edit distance (so even "N/A" picks an option);
  * integer: `str(int(float(x)))`; float: `str(round(float(x), precision))`; list: `str(x)`.
  A prediction row that carries the published GPT `extraction` skips our rules: the
  normalisation above runs on it verbatim (`score_official_extraction`), so published output
  files re-score exactly. Only the extraction is ours; the normalisation is literal.
`corrected` protocol: the same extraction rules and our verifier, with two deliberate
differences from the official normalisation, both counted per item (`disagreement`):
  * numbers go through our verifier (thousands separators, units, "%", LaTeX), and an
    integer gold is not matched by truncating a decimal ("3.7" is not 3);
  * the nearest-option fallback applies to an extracted answer or a short reply only; a long
    response in which no answer was found is `no_answer`, not a free option.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.choice_reading import is_refusal, read_choice, stated_value
from ovlt_eval.benchmarks.loading import as_text, image_entry, option_texts, require
from ovlt_eval.benchmarks.mathvista_official import (
    REFUSAL_EXTRACTION,
    nearest_option,
    normalize_extracted_answer,
    official_extraction,
)
from ovlt_eval.benchmarks.options import is_prose, names_several_options, option_key
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.grading.extract import extract_answer
from ovlt_eval.grading.verify import verify

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The longest response still treated as an answer in itself for the nearest-option rule.
_NEAREST_OPTION_MAX_CHARS = 300
_KINDS = {"integer": "integer", "float": "float", "list": "list", "text": "text"}
_HINTS = {
    "multi_choice": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
    "integer": "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.",
    "float1": "Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.",
    "float2": "Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.",
    "list": "Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.",
}


@dataclass(frozen=True)
class MathVista(Benchmark):
    name: str = "mathvista"
    version: str = "1"
    hub_id: str = "AI4Math/MathVista"
    splits: tuple[str, ...] = ("testmini",)
    breakdown_keys: tuple[str, ...] = (
        "question_type",
        "task",
        "context",
        "grade",
        "skills",
        "source",
    )
    id_field: str = "pid"
    description: str = "MathVista: math reasoning in visual contexts (CC BY-SA 4.0)"
    dataset_prompt: bool = True  # `query`

    def local_names(self, split: str) -> tuple[str, ...]:
        return (f"{split}.json", f"{split}-*.parquet", f"{split}.parquet")

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        require(row, ("question", "answer", "question_type", "answer_type"), where, self.name)
        pid = row.get("pid", row.get("_key"))
        if pid is None:
            require(row, ("pid",), where, self.name)
        choices = option_texts(row.get("choices"), where, self.name) or None
        meta = row.get("metadata") or {}
        if isinstance(meta, str):  # some re-exports store it as JSON text
            try:
                meta = json.loads(meta)
            except json.JSONDecodeError:
                meta = {}
        precision = row.get("precision")
        question_type = as_text(row["question_type"])
        kind = (
            "multi_choice"
            if question_type == "multi_choice"
            else _KINDS.get(as_text(row["answer_type"]), "auto")
        )
        images = image_entry(row.get("decoded_image"), base) or image_entry(row.get("image"), base)
        skills = meta.get("skills") or []
        return BenchItem(
            id=as_text(pid),
            question=as_text(row.get("query")) or build_query(row, choices),
            gold=as_text(row["answer"]),
            kind=kind,
            choices=choices,
            precision=None if precision is None or precision != precision else int(precision),
            unit=as_text(row.get("unit")) or None,
            images=images,
            breakdown={
                "question_type": question_type,
                "task": as_text(meta.get("task")),
                "context": as_text(meta.get("context")),
                "grade": as_text(meta.get("grade")),
                "skills": [as_text(s) for s in skills],
                "source": as_text(meta.get("source")),
            },
            raw={k: v for k, v in row.items() if k not in ("decoded_image", "_key")},
        )

    def score_official(self, item: BenchItem, response: str) -> tuple[str | None, bool]:
        question_type = as_text(item.raw.get("question_type"))
        answer_type = as_text(item.raw.get("answer_type"))
        extraction = official_extraction(
            response,
            question_type,
            answer_type,
            item.choices,
            unit=item.unit,
            question=item.question,
        )
        return self.score_official_extraction(item, extraction)

    def score_official_extraction(self, item: BenchItem, extraction: str) -> tuple[str, bool]:
        """`calculate_score.py` on an extraction: `normalize_extracted_answer` then
        `safe_equal` with the gold, verbatim. Used directly for a published GPT extraction."""
        normalized = normalize_extracted_answer(
            extraction,
            item.choices,
            as_text(item.raw.get("question_type")),
            as_text(item.raw.get("answer_type")),
            item.precision,
        )
        return extraction, normalized is not None and normalized == item.gold

    def disagreement(self, item, response, off_extracted, off_correct, corrected) -> str:
        off = (off_extracted or "").strip()
        choices = item.choices or ()
        if item.kind == "multi_choice" and choices:
            letters = _LETTERS[: len(choices)]
            names_option = off in choices or (len(off) == 1 and off in letters)
            paren = re.findall(r"\(([a-zA-Z])\)", off)
            if paren and off in choices:
                return "official_option_text_read_as_letter"  # "(b) ..." is an option text
            if off_correct and names_several_options(off):
                return "official_first_of_several_options"  # "(A), (B)" counts as A
            if off_correct and not names_option and not paren:
                if is_refusal(off) or off == REFUSAL_EXTRACTION or corrected.status == "no_answer":
                    return "official_nearest_option_on_refusal"
                return "official_nearest_option"
            if corrected.correct and not names_option and not paren:
                return "official_nearest_option_misses_stated_value"
            return "extraction_differs"
        if item.kind in ("integer", "float"):
            try:
                float(off)
            except ValueError:
                if corrected.correct:
                    return "official_number_format"  # units, LaTeX, thousands separators
            else:
                if off_correct and item.kind == "integer" and "." in off:
                    return "official_integer_truncation"
                if off_correct and item.kind == "float":
                    return "official_rounding"
        return "extraction_differs"

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        numeric = item.kind in ("integer", "float")
        found = extract_answer(response, item.choices, last_number_fallback=numeric)
        answer, how = found.answer, found.how
        if answer is not None and item.kind == "multi_choice" and is_refusal(answer):
            return ScoredItem(item.id, answer, False, "no_answer", how + "+refusal")
        if answer is None and item.kind == "multi_choice":
            if is_refusal(response):
                return ScoredItem(item.id, None, False, "no_answer", "refusal")
            read = read_choice(response, item.choices or (), item.question)
            value = stated_value(response)
            keys = [option_key(c) for c in item.choices or ()]
            if read is not None:
                answer, how = read
            elif value is not None and option_key(value) in keys:
                answer, how = _LETTERS[keys.index(option_key(value))], "stated_value"
            else:
                bare = response.strip()
                if (
                    bare
                    and len(bare) <= _NEAREST_OPTION_MAX_CHARS
                    and "<think>" not in bare.lower()
                    and not is_prose(bare)
                ):
                    answer, how = bare, "whole_response"
        if answer is None:
            return ScoredItem(item.id, None, False, "no_answer", found.how)
        if item.kind == "multi_choice":
            return self._score_choice(item, answer, how)
        if is_prose(answer):
            return ScoredItem(item.id, answer, False, "unparseable", how + "+prose")
        verdict = verify(item.gold, answer, item.kind, precision=item.precision, unit=item.unit)
        return ScoredItem(item.id, answer, verdict.correct, verdict.status, how)

    def _score_choice(self, item: BenchItem, answer: str, how: str) -> ScoredItem:
        choices = item.choices or ()
        if names_several_options(answer):
            return ScoredItem(item.id, answer, False, "ok", how)
        letter = _letter(answer, len(choices))
        if letter is not None:
            picked = choices[letter]
            return ScoredItem(item.id, answer, picked == item.gold, "ok", how)
        keys = [option_key(c) for c in choices]
        if option_key(answer) in keys:
            picked = choices[keys.index(option_key(answer))]
            return ScoredItem(item.id, answer, picked == item.gold, "ok", how)
        if not is_prose(answer):
            verdict = verify(item.gold, answer, "multi_choice", choices=choices, unit=item.unit)
            if verdict.correct or verdict.detail != "matches no option":
                return ScoredItem(item.id, answer, verdict.correct, verdict.status, how)
        # Official rule: an answer that names no option counts as the most similar option.
        picked = nearest_option(answer, choices)
        return ScoredItem(item.id, answer, picked == item.gold, "ok", how + "+nearest_option")


def _letter(answer: str, n: int) -> int | None:
    s = answer.strip()
    if s.startswith("(") and s.endswith(")") and len(s) == 3:
        s = s[1]
    if len(s) == 1 and s in _LETTERS[:n]:
        return _LETTERS.index(s)
    return None


def build_query(row: dict[str, Any], choices: tuple[str, ...] | None) -> str:
    """The official zero-shot query when a file has no `query` field (build_query.py)."""
    question_type, answer_type = as_text(row.get("question_type")), as_text(row.get("answer_type"))
    if question_type == "multi_choice":
        hint = _HINTS["multi_choice"]
    elif answer_type == "float":
        hint = _HINTS["float2" if row.get("precision") == 2 else "float1"]
    else:
        hint = _HINTS.get(answer_type, _HINTS["integer"])
    text = f"{hint}\nQuestion: {as_text(row.get('question'))}"
    if row.get("unit"):
        text += f" (Unit: {row['unit']})"
    if choices:
        text += "\nChoices:\n" + "\n".join(f"({_LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return text
