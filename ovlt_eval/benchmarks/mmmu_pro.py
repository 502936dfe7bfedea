"""MMMU-Pro (MMMU/MMMU_Pro): multi-discipline multiple choice, split `test`, three Hub configs:
`vision` (the question and options are rendered into one screenshot, `image`),
`standard (4 options)` and `standard (10 options)` (question text with `image_1` … `image_7`).

Registered as the reference evaluation names them (eval_openvlthinker.py:40-42):
`mmmu-pro-vision`, `mmmu-pro-4`, `mmmu-pro-10`. Loading and prompts follow the reference
(eval_openvlthinker.py:226-251, 261-279, 368-373):

- `options` is a Python-literal string on the Hub ("['0.5', '1.2']"); the reference `eval()`s
  it (:312), we parse it with `ast.literal_eval`; a value that is not a list literal is a
  one-line error naming the record;
- standard: `format_instruction(question, options)` — the multiple-choice hint, the question,
  "(A) …" lines; images: each of `image_1` … `image_7` that is present, in order (:238, :265);
- vision: `format_instruction('', options, vision=True)` — the config names no question field
  (:226-233), so the text is the vision hint, the option-letter hint and the "(A) …" lines;
  the one image is `image`;
- reference gold: the raw `answer` (a letter), never mapped (:381-382), hence the
  `reference_gold` override.

`corrected` protocol: ovlt's extractor and verifier on the option letter or option text.
`official` protocol: not available — MMMU-Pro's own evaluator (its regex answer parsing with
a random fallback) is not re-implemented, so `score_official` returns None.

Local files: the Hub's parquet (`vision/test-0000k-of-0000n.parquet`,
`standard (4 options)/test-….parquet`, …) with the Hub's field names (`id`, `question`,
`options`, `answer`, `subject`, `image` / `image_1` … `image_7` as the datasets Image struct
`{"bytes", "path"}`, `img_type`, `topic_difficulty`, `explanation`).
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

STANDARD_IMAGE_FIELDS = tuple(f"image_{i}" for i in range(1, 8))
VISION_IMAGE_FIELDS = ("image",)


@dataclass(frozen=True)
class MMMUPro(ConfigParquetFiles, Benchmark):
    name: str = "mmmu-pro-vision"
    version: str = "1"
    hub_id: str = "MMMU/MMMU_Pro"
    splits: tuple[str, ...] = ("test",)
    breakdown_keys: tuple[str, ...] = ("subject",)
    id_field: str = "id"
    description: str = "MMMU-Pro vision: question and options inside the image (Apache-2.0)"
    config: str = "vision"  # the Hub config
    vision: bool = True
    default_split: str = "test"
    has_official: bool = False

    @property
    def image_fields(self) -> tuple[str, ...]:
        return VISION_IMAGE_FIELDS if self.vision else STANDARD_IMAGE_FIELDS

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        require(row, ("id", "options", "answer"), where, self.name)
        if not self.vision:
            require(row, ("question",), where, self.name)
        options = parse_option_list(row.get("options"), where, self.name)
        if self.vision:
            prompt = format_instruction("", options, vision=True)
        else:
            prompt = format_instruction(as_text(row["question"]), options)
        return BenchItem(
            id=as_text(row["id"]),
            question=prompt,
            gold=as_text(row["answer"]).strip(),
            kind="multi_choice" if options else "auto",
            choices=options or None,
            images=image_entries(row, self.image_fields, base),
            breakdown={key: as_text(row.get(key)) for key in self.breakdown_keys},
            raw={k: v for k, v in row.items() if k not in self.image_fields},
        )

    def reference_gold(self, item: BenchItem) -> str:
        # eval_openvlthinker.py:381-382: MMMU-Pro compares with the raw answer, unmapped
        return as_text(item.raw.get("answer", item.gold))

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        return score_with_verifier(item, response)

    def score_official(self, item: BenchItem, response: str) -> None:
        return None  # MMMU-Pro's own evaluator is not re-implemented


MMMU_PRO_BENCHMARKS = (
    MMMUPro(),
    MMMUPro(
        name="mmmu-pro-4",
        config="standard (4 options)",
        vision=False,
        breakdown_keys=("subject", "topic_difficulty", "img_type"),
        description="MMMU-Pro standard, 4 options (Apache-2.0)",
    ),
    MMMUPro(
        name="mmmu-pro-10",
        config="standard (10 options)",
        vision=False,
        breakdown_keys=("subject", "topic_difficulty", "img_type"),
        description="MMMU-Pro standard, 10 options (Apache-2.0)",
    ),
)
