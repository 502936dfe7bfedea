"""The shape every benchmark module fills in: identity, loading, official-protocol scoring."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.loading import find_data_file, load_hub, read_records
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.errors import UserError


@dataclass(frozen=True)
class Benchmark:
    name: str
    version: str  # bump when loading or scoring changes a number
    hub_id: str
    splits: tuple[str, ...]
    breakdown_keys: tuple[str, ...]
    id_field: str  # the native id's field name in official files
    description: str = ""

    # ------------------------------------------------------------------ loading

    def load(
        self, split: str = "testmini", data: str | os.PathLike | None = None
    ) -> list[BenchItem]:
        """Items of `split` from local official files (`data`: file or folder) or the Hub."""
        if split not in self.splits:
            raise UserError(f"{self.name} has no split {split!r}; known: {', '.join(self.splits)}")
        if data is None:
            config, hub_split = self.hub_location(split)
            rows = load_hub(self.hub_id, config, hub_split, self.name)
            base = None
            where = self.hub_id
        else:
            path = find_data_file(data, self.name, split, self.local_names(split))
            rows = read_records(path, self.name)
            base = path.parent
            where = str(path)
        if not rows:
            raise UserError(f"{where}: no {self.name} records found")
        items = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise UserError(
                    f"{where}: record {i} is not an object; is this the official {self.name} file?"
                )
            items.append(self.to_item(row, base, f"{where} record {i}"))
        ids = [it.id for it in items]
        if len(set(ids)) != len(ids):
            raise UserError(
                f"{where}: duplicated {self.id_field} values; is this an official {self.name} file?"
            )
        return items

    def hub_location(self, split: str) -> tuple[str | None, str]:
        """(config, split) on the Hub for one of our splits."""
        return None, split

    def local_names(self, split: str) -> tuple[str, ...]:
        raise NotImplementedError

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        raise NotImplementedError

    # ------------------------------------------------------------------ scoring

    def score(self, item: BenchItem, response: str | None) -> ScoredItem:
        """One item's verdict under the official protocol; never raises on model output."""
        if response is None:
            return ScoredItem(item.id, None, False, "missing_prediction", "")
        return self.score_response(item, response)

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        raise NotImplementedError
