"""sft_seed (ydeng9/sft_seed, split `train`): the seed pool of the released SFT data, which the
reference evaluators also score per source (`--dataset sftseed`).

Loading, prompt and scoring follow the reference (github.com/yihedeng9/OpenVLThinker at 6997b47):

- fields: image `decoded_image`, prompt `problem`, gold `answer`, per-source key `source`
  (run_evaluation.py:98; eval_qwen.py:178-185; eval_openvlthinker.py:176-182 has no source);
- prompt: `problem` as it is under the v1 scripts (their else-branch, eval_openvlthinker.py:374-
  375); the v1.2 profiles wrap it in the free-form hint (run_evaluation.py:272-276, :209), hence
  `dataset_prompt`;
- gold: `answer` (no choices or options, so no letter mapping: run_evaluation.py:211-217);
- per-source accuracy: `source` is the breakdown key — the reference's "Accuracy by Source"
  table (run_evaluation.py:295-316; eval_qwen.py:375-427).

The rows carry no id field, so an item's id is its row number in the split (the reference
numbers its results the same way, run_evaluation.py:294).

`corrected` protocol: ovlt's extractor and verifier. `official`: none (sft_seed is not a
benchmark with an evaluator of its own).

Local files: the Hub's parquet (`train-*.parquet`) with its field names (`decoded_image` as the
datasets Image struct `{"bytes", "path"}`, `image`, `problem`, `answer`, `source`), or JSON /
JSONL records with the same fields (images as paths relative to the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.loading import as_text, image_entry, require
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.benchmarks.verifier_scoring import score_with_verifier

ROW_NUMBER = "_row"


@dataclass(frozen=True)
class SftSeed(Benchmark):
    name: str = "sftseed"
    version: str = "1"
    hub_id: str = "ydeng9/sft_seed"
    splits: tuple[str, ...] = ("train",)
    breakdown_keys: tuple[str, ...] = ("source",)
    id_field: str = "row number"
    description: str = "sft_seed: the released SFT seed pool, accuracy per source"
    default_split: str = "train"
    has_official: bool = False
    dataset_prompt: bool = True  # `problem`

    def local_names(self, split: str) -> tuple[str, ...]:
        return (
            f"data/{split}-*.parquet",
            f"{split}-*.parquet",
            f"{split}.parquet",
            f"{split}.jsonl",
            f"{split}.json",
        )

    def numbered(self, rows: list[Any]) -> list[Any]:
        return [
            {**row, ROW_NUMBER: i} if isinstance(row, dict) else row for i, row in enumerate(rows)
        ]

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        require(row, ("problem", "answer", "source"), where, self.name)
        return BenchItem(
            id=str(row[ROW_NUMBER]),
            question=as_text(row["problem"]),
            gold=as_text(row["answer"]),
            kind="auto",
            images=image_entry(row.get("decoded_image"), base),
            breakdown={"source": as_text(row["source"])},
            raw={k: v for k, v in row.items() if k != "decoded_image"},
        )

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        return score_with_verifier(item, response)

    def score_official(self, item: BenchItem, response: str) -> None:
        return None  # no evaluator of its own
