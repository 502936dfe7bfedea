"""HallusionBench (lmms-lab/HallusionBench): yes/no questions on charts, tables, maps and
illusions, some asked about an edited figure; split `image` (951 items with a figure).

Loading and prompt follow the reference evaluation (eval_openvlthinker.py:183-189, 370-371,
389-390):

- the prompt is `format_instruction(question, yes_no=True)`:
  "Hint: Please answer the question requiring an answer of yes or no.\\nQuestion: {question}";
- the one image is `image`;
- gold: `gt_answer` "1" means Yes, anything else No (:390), hence the `reference_gold`
  override. Here a `gt_answer` other than "0"/"1" is a one-line error naming the record
  (the reference would silently read it as No).

An item's id joins `category`, `subcategory`, `set_id`, `figure_id` and `question_id` (no
single field is unique: a question is asked of the original and of the edited figure).

`corrected` protocol: ovlt's extractor, then the reply's leading yes/no word ("Yes, the bar
is taller." is Yes) compared with the gold. `official` protocol: not available —
HallusionBench's own evaluator (GPT-4 judged, with per-figure and per-question-pair
accuracies) is not re-implemented, so `score_official` returns None.

Local files: the Hub's parquet (`data/image-00000-of-00001.parquet`) with its field names
(`category`, `subcategory`, `visual_input`, `set_id`, `figure_id`, `sample_note`,
`question_id`, `question`, `gt_answer_details`, `gt_answer`, `filename`, `image` as the
datasets Image struct `{"bytes", "path"}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.loading import as_text, image_entry, require
from ovlt_eval.benchmarks.reference_prompt import format_instruction
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.errors import UserError

_ID_FIELDS = ("category", "subcategory", "set_id", "figure_id", "question_id")
_GOLD = {"1": "Yes", "0": "No"}
_LEADING_YES_NO = re.compile(r"\W*(yes|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class HallusionBench(Benchmark):
    name: str = "hallusionbench"
    version: str = "1"
    hub_id: str = "lmms-lab/HallusionBench"
    splits: tuple[str, ...] = ("image",)
    breakdown_keys: tuple[str, ...] = ("category", "subcategory", "visual_input")
    id_field: str = "question_id"
    description: str = "HallusionBench: yes/no visual hallucination and illusion questions"
    default_split: str = "image"
    has_official: bool = False

    def local_names(self, split: str) -> tuple[str, ...]:
        return (f"{split}-*.parquet", f"{split}.parquet")

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        require(row, ("question", "gt_answer", *_ID_FIELDS), where, self.name)
        raw_gold = as_text(row["gt_answer"])
        if raw_gold not in _GOLD:
            raise UserError(
                f"{where}: gt_answer {raw_gold[:40]!r} is neither '1' (yes) nor '0' (no); "
                f"is this the official {self.name} file?"
            )
        return BenchItem(
            id="_".join(as_text(row[f]) for f in _ID_FIELDS),
            question=format_instruction(as_text(row["question"]), yes_no=True),
            gold=_GOLD[raw_gold],
            kind="text",
            images=image_entry(row.get("image"), base),
            breakdown={key: as_text(row.get(key)) for key in self.breakdown_keys},
            raw={k: v for k, v in row.items() if k != "image"},
        )

    def reference_gold(self, item: BenchItem) -> str:
        # eval_openvlthinker.py:390: "Yes" if the gold is "1", else "No"
        return "Yes" if as_text(item.raw.get("gt_answer")) == "1" else "No"

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        from ovlt_eval.grading.extract import extract_answer
        from ovlt_eval.grading.hedges import hedged

        found = extract_answer(response)
        if found.answer is None:
            return ScoredItem(item.id, None, False, "no_answer", found.how)
        if hedged(found.answer, ("Yes", "No")):  # "Yes/No", "yes or no": no answer given
            return ScoredItem(item.id, found.answer, False, "ok", found.how + "+hedged")
        said = _LEADING_YES_NO.match(found.answer)
        if said is None:
            return ScoredItem(item.id, found.answer, False, "unparseable", found.how + "+no_yes_no")
        return ScoredItem(
            item.id, found.answer, said.group(1).lower() == item.gold.lower(), "ok", found.how
        )

    def score_official(self, item: BenchItem, response: str) -> None:
        return None  # HallusionBench's GPT-4-judged evaluator is not re-implemented
