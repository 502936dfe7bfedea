"""MathVerse (AI4Math/MathVerse): testmini, 788 problems in five visual versions (3,940
items: Text Dominant, Text Lite, Vision Intensive, Vision Dominant, Vision Only) plus the
788-item Text Only version (`testmini_text_only`).

Official pipeline (ZrrSkywalker/MathVerse `evaluation/`): GPT extracts the answer from the
response (`extract_answer_s1.py`), then either `--quick_match` (extraction == gold,
verbatim) or a GPT judge that accepts the same meaning ("0.5 m" and "50 cm").
`official` protocol: the only rule-based official scorer, `--quick_match`, over our rule
extraction in place of GPT's: correct iff the extracted text equals the raw gold verbatim.
`corrected` protocol: rule extraction; multiple choice by option letter (the options are
written inside the question, "Choices:\\nA:40°", and are parsed from it so that a written
option text counts); free-form through the verifier (units, degrees, LaTeX, symbolic
equivalence). Gold slips fixed first: "(C)" → C, "118掳T" (a mis-decoded "°") → "118°T".
The prompt is `query_cot`, as in the official CoT evaluation and in the OpenVLThinker
reference (eval_openvlthinker.py:160-167, 375: config and split `testmini`, `query_cot` sent
as is, after the image). The paper's MathVerse number is over that `testmini`: all five
versions, 3,940 items (`--split testmini`, from the Hub or the full testmini JSON/parquet);
`testmini_text_only` is the separate 788-item Text Only config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.loading import as_text, image_entry, require
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.benchmarks.verifier_scoring import score_with_verifier
from ovlt_eval.grading.extract import extract_answer

_CHOICES_BLOCK = re.compile(r"Choices\s*:\s*\n", re.IGNORECASE)
_CHOICE_LINE = re.compile(r"^\s*\(?([A-H])\)?\s*[:.)：]\s*(.*?)\s*$")
_LETTER_GOLD = re.compile(r"\(?([A-H])\)?\.?")


@dataclass(frozen=True)
class MathVerse(Benchmark):
    name: str = "mathverse"
    version: str = "1"
    hub_id: str = "AI4Math/MathVerse"
    splits: tuple[str, ...] = ("testmini", "testmini_text_only")
    breakdown_keys: tuple[str, ...] = ("problem_version", "subject", "subfield", "question_type")
    id_field: str = "sample_index"
    description: str = "MathVerse: visual math with problem versions (MIT)"
    dataset_prompt: bool = True  # `query_cot`

    def hub_location(self, split: str) -> tuple[str | None, str]:
        # Each Hub config holds one split named "testmini".
        return split, "testmini"

    def local_names(self, split: str) -> tuple[str, ...]:
        return (f"{split}.json", f"{split}-*.parquet", f"{split}.parquet")

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        require(row, ("sample_index", "question", "answer", "question_type"), where, self.name)
        question = as_text(row["question"])
        gold = clean_gold(as_text(row["answer"]))
        question_type = as_text(row["question_type"])
        choices = None
        kind = "auto"
        if question_type == "multi-choice":
            letter = _LETTER_GOLD.fullmatch(gold)
            if letter:
                gold = letter.group(1)
                kind = "multi_choice"
                choices = parse_choices(question)
                if choices is not None and ord(gold) - ord("A") >= len(choices):
                    choices = None  # options not all legible in the text: compare letters
        meta = row.get("metadata") or {}
        images = image_entry(row.get("image"), base)
        return BenchItem(
            id=as_text(row["sample_index"]),
            question=as_text(row.get("query_cot")) or question,
            gold=gold,
            kind=kind,
            choices=choices,
            images=images,
            breakdown={
                "problem_version": as_text(row.get("problem_version")),
                "subject": as_text(meta.get("subject")),
                "subfield": as_text(meta.get("subfield")),
                "question_type": question_type,
            },
            raw={k: v for k, v in row.items() if k != "image" or isinstance(v, str)},
        )

    def score_official(self, item: BenchItem, response: str) -> tuple[str | None, bool]:
        # score_answer_s2.py `match_answer(quick_match=True)`: inst['answer'] ==
        # inst['extraction'], the raw gold against the extraction, verbatim. Our rules stand
        # in for GPT's extraction, reading the response as written: without the option texts
        # we parse out of the question (mapping a written option text to its letter is ours,
        # `corrected` only), and with the gold unrepaired.
        found = extract_answer(response, None)
        raw_gold = as_text(item.raw.get("answer", item.gold))
        return found.answer, found.answer is not None and found.answer == raw_gold

    def disagreement(self, item, response, off_extracted, off_correct, corrected) -> str:
        raw_gold = as_text(item.raw.get("answer", item.gold))
        if corrected.correct:
            if raw_gold.strip() != item.gold:
                return "gold_annotation_slip"  # "(C)" for C, "118掳T" for "118°T"
            if item.kind == "multi_choice" and off_extracted != item.gold:
                return "official_option_text_not_read"  # "40°" for "B:40°"
            return "official_verbatim_match"  # "0.5" vs "\\frac{1}{2}", "5 cm" vs "5"
        return "extraction_differs"

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        return score_with_verifier(item, response)


def parse_choices(question: str) -> tuple[str, ...] | None:
    """Option texts from the "Choices:" block of a question, in letter order, if legible."""
    blocks = list(_CHOICES_BLOCK.finditer(question))
    if not blocks:
        return None
    texts: list[str] = []
    for line in question[blocks[-1].end() :].splitlines():
        m = _CHOICE_LINE.match(line)
        if not m:
            if line.strip():
                break
            continue
        if ord(m.group(1)) - ord("A") != len(texts):
            return None
        texts.append(m.group(2))
    return tuple(texts) if len(texts) >= 2 else None


def clean_gold(answer: str) -> str:
    return answer.replace("掳", "°").strip()
