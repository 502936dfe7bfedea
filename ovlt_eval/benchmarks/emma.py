"""EMMA (luckychao/EMMA): multimodal reasoning in Math, Chemistry, Coding and Physics, split
`test`, one Hub config per subject; up to five images per item (`image_1` … `image_5`).

Registered as the reference evaluation names them (eval_openvlthinker.py:36-39):
`emma-math`, `emma-chem`, `emma-code`, `emma-physics`. Loading and prompts follow the
reference (eval_openvlthinker.py:190-225, 261-279, 368-369):

- the prompt is `format_instruction(question, options)`: the multiple-choice hint, the question
  and "(A) …" option lines when the item has options, else the free-form hint and the question;
- images: Math sends `image_1` only (its config names one image field, :194); Chemistry,
  Coding and Physics send every one of `image_1` … `image_5` that is present, in order (:203,
  :265). A Math item whose figure is not in `image_1` gets no image here; the reference would
  fail to generate for it and count it wrong;
- reference gold (base `reference_gold`): the raw `answer`, mapped to its letter when it equals
  an option's text (:384-388).

`corrected` protocol: ovlt's extractor and verifier (multiple choice by letter or option
text, numbers and expressions through the verifier). `official` protocol: not available —
EMMA's own evaluator (GPT-based answer extraction and scoring) is not re-implemented, so
`score_official` returns None.

Local files: the Hub's parquet (`Math/test-00000-of-00001.parquet`, …) with the Hub's field
names (`pid`, `question`, `options`, `answer`, `image_1` … `image_5` as the datasets Image
struct `{"bytes", "path"}`, `subject`, `category`, `task`, `type`, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark, ConfigParquetFiles
from ovlt_eval.benchmarks.loading import as_text, image_entries, parse_option_list, require
from ovlt_eval.benchmarks.reference_prompt import format_instruction
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.benchmarks.verifier_scoring import score_with_verifier

ALL_IMAGE_FIELDS = ("image_1", "image_2", "image_3", "image_4", "image_5")


@dataclass(frozen=True)
class Emma(ConfigParquetFiles, Benchmark):
    name: str = "emma-math"
    version: str = "1"
    hub_id: str = "luckychao/EMMA"
    splits: tuple[str, ...] = ("test",)
    breakdown_keys: tuple[str, ...] = ("category", "task", "type")
    id_field: str = "pid"
    description: str = "EMMA: multimodal reasoning (Math)"
    config: str = "Math"  # the Hub config (subject)
    image_fields: tuple[str, ...] = ("image_1",)
    default_split: str = "test"
    has_official: bool = False

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        require(row, ("pid", "question", "answer"), where, self.name)
        options = parse_option_list(row.get("options"), where, self.name)
        return BenchItem(
            id=as_text(row["pid"]),
            question=format_instruction(as_text(row["question"]), options),
            gold=as_text(row["answer"]).strip(),
            kind="multi_choice" if options else "auto",
            choices=options or None,
            images=image_entries(row, self.image_fields, base),
            breakdown={key: as_text(row.get(key)) for key in self.breakdown_keys},
            raw={k: v for k, v in row.items() if k not in ALL_IMAGE_FIELDS},
        )

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        return score_with_verifier(item, response)

    def score_official(self, item: BenchItem, response: str) -> None:
        return None  # EMMA's GPT-based evaluator is not re-implemented


EMMA_BENCHMARKS = (
    Emma(),
    Emma(
        name="emma-chem",
        config="Chemistry",
        image_fields=ALL_IMAGE_FIELDS,
        description="EMMA: multimodal reasoning (Chemistry)",
    ),
    Emma(
        name="emma-code",
        config="Coding",
        image_fields=ALL_IMAGE_FIELDS,
        description="EMMA: multimodal reasoning (Coding)",
    ),
    Emma(
        name="emma-physics",
        config="Physics",
        image_fields=ALL_IMAGE_FIELDS,
        description="EMMA: multimodal reasoning (Physics)",
    ),
)
