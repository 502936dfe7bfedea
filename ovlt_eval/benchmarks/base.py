"""The shape every benchmark module fills in: identity, loading, official-protocol scoring."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.loading import as_text, find_data_file, load_hub, read_records
from ovlt_eval.benchmarks.protocols import DEFAULT_PROTOCOL, check_protocol
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.errors import UserError
from ovlt_eval.grading.extract import final_text
from ovlt_eval.grading.policy import get_policy

# process_response's letter table (eval_openvlthinker.py:300): an 11th option maps nowhere.
_REFERENCE_LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class Benchmark:
    name: str
    version: str  # bump when loading or scoring changes a number
    hub_id: str
    splits: tuple[str, ...]
    breakdown_keys: tuple[str, ...]
    id_field: str  # the native id's field name in official files
    description: str = ""
    default_split: str = "testmini"
    # False where ovlt has no re-implementation of the benchmark's own evaluator
    # (score_official returns None): the default protocol is then `reference`.
    has_official: bool = True
    # True where the prompt is the dataset's own ready-made text (MathVista `query`, MathVerse
    # `query_cot`, sft_seed `problem`): the v1.2 profiles wrap it (run_evaluation.py:272-276)
    dataset_prompt: bool = False

    @property
    def default_protocol(self) -> str:
        return "official" if self.has_official else "reference"

    def official_missing(self) -> str | None:
        """Why the official evaluator cannot run on this machine (None: it can)."""
        return None

    def check_protocol_available(self, protocol: str) -> str:
        """One-line error, before any generation, when `protocol` cannot be scored here."""
        check_protocol(protocol)
        if protocol == "official" and not self.has_official:
            raise UserError(
                f"{self.name} has no official evaluator in ovlt; use --protocol reference "
                "or corrected"
            )
        missing = self.official_missing() if protocol == "official" else None
        if missing:
            raise UserError(f"{self.name}: {missing}; or use --protocol reference or corrected")
        return protocol

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
            self._check_split_of_file(path, split)
            rows = read_records(path, self.name)
            base = path.parent
            where = str(path)
        if not rows:
            raise UserError(f"{where}: no {self.name} records found")
        items = []
        for i, row in enumerate(self.numbered(rows)):
            if not isinstance(row, dict):
                raise UserError(
                    f"{where}: record {i} is not an object; is this the official {self.name} file?"
                )
            try:
                items.append(self.to_item(row, base, f"{where} record {i}"))
            except (TypeError, ValueError, AttributeError, KeyError, IndexError) as err:
                # A field of the wrong type (metadata a list, precision "abc", choices a
                # number): one line naming the record, not a traceback.
                detail = " ".join(f"{type(err).__name__}: {err}".split())[:160]
                raise UserError(
                    f"{where} record {i} ({self.id_field} {_shown_id(row, self.id_field)}): "
                    f"a field has an unexpected type or value ({detail}); is this the official "
                    f"{self.name} file?"
                ) from None
        ids = [it.id for it in items]
        if len(set(ids)) != len(ids):
            raise UserError(
                f"{where}: duplicated {self.id_field} values; is this an official {self.name} file?"
            )
        return items

    def split_named_by(self, path: str | Path | None) -> str | None:
        """The split a local file is the official file of (by its name), if exactly one."""
        if path is None or str(path).startswith(("hf://", "http://", "https://")):
            return None
        from fnmatch import fnmatch

        name = Path(path).name
        named = [
            s for s in self.splits if any(fnmatch(name, pattern) for pattern in self.local_names(s))
        ]
        return named[0] if len(named) == 1 else None

    def _check_split_of_file(self, path: Path, split: str) -> None:
        """A file named as another split's official file (`testmini.jsonl` under `--split
        test`) is refused: its items would be scored and labelled as the wrong split."""
        from fnmatch import fnmatch

        def named_for(s: str) -> bool:
            return any(fnmatch(path.name, pattern) for pattern in self.local_names(s))

        if named_for(split):
            return
        for other in self.splits:
            if other != split and named_for(other):
                raise UserError(
                    f"{path} is {self.name}'s {other} file, but the split asked for is {split}: "
                    f"give the {split} file, or ask for split {other}"
                )

    def hub_location(self, split: str) -> tuple[str | None, str]:
        """(config, split) on the Hub for one of our splits."""
        return None, split

    def numbered(self, rows: list[Any]) -> list[Any]:
        """The rows as `to_item` reads them (a benchmark without an id field numbers them)."""
        return rows

    def local_names(self, split: str) -> tuple[str, ...]:
        raise NotImplementedError

    def to_item(self, row: dict[str, Any], base: Path | None, where: str) -> BenchItem:
        raise NotImplementedError

    # ------------------------------------------------------------------ scoring

    def score(
        self,
        item: BenchItem,
        response: str | None,
        *,
        protocol: str = DEFAULT_PROTOCOL,
        reference_policy: str = "reference",
        extraction: str | None = None,
    ) -> ScoredItem:
        """One item's verdicts under every protocol; `correct` is `protocol`'s. Never raises
        on model output. `reference_policy` is the profile's reference rule (`reference` for
        eval_openvlthinker.py, `reference_qwen` for eval_qwen.py). `extraction`: the benchmark
        pipeline's own extracted answer published beside the response (MathVista's GPT
        `extraction`); where the benchmark has that step, the official verdict normalises it
        verbatim instead of extracting from `response` (`score_official_extraction`)."""
        check_protocol(protocol)
        if response is None:
            return ScoredItem(
                item.id,
                None,
                False,
                "missing_prediction",
                "",
                correct_reference=False,
                correct_official=False,
                correct_corrected=False,
                protocol=protocol,
            )
        corrected = self.score_response(item, response)
        ref = get_policy(reference_policy).grade(
            response, self.reference_gold(item), item.kind, choices=item.choices
        )
        # The official evaluators read plain replies; a reasoning reply is reduced to its final
        # answer first (no-op for replies without <think>/<answer> tags).
        official_result = (
            self.score_official_extraction(item, extraction) if extraction is not None else None
        )
        if official_result is None:
            official_result = self.score_official(item, final_text(response))
        if official_result is None:  # no official evaluator for this benchmark
            if protocol == "official":
                raise UserError(
                    f"{self.name} has no official evaluator in ovlt; use --protocol reference "
                    "or corrected"
                )
            off_extracted, off_correct, off_status = None, None, "ok"
        else:
            off_extracted, off_correct = official_result[0], official_result[1]
            # A third element, where given, is the official evaluation's status ("timeout" /
            # "unparseable" when a comparison was cut off or refused as unsafe).
            off_status = official_result[2] if len(official_result) > 2 else "ok"
        reason = None
        if off_correct is not None and off_correct != corrected.correct:
            reason = self.disagreement(item, response, off_extracted, off_correct, corrected)
        if protocol == "official":
            extracted, correct = off_extracted, bool(off_correct)
            status = (
                "ok" if off_correct else (off_status if off_status != "ok" else corrected.status)
            )
        elif protocol == "reference":
            extracted, correct, status = ref.extracted, ref.correct, ref.status
        else:
            extracted, correct, status = corrected.extracted, corrected.correct, corrected.status
        return replace(
            corrected,
            extracted=extracted,
            correct=correct,
            status=status,
            how=ref.how if protocol == "reference" else corrected.how,
            correct_reference=ref.correct,
            correct_official=off_correct,
            correct_corrected=corrected.correct,
            extracted_reference=ref.extracted,
            extracted_official=off_extracted,
            extracted_corrected=corrected.extracted,
            status_reference=ref.status,
            status_official=None if off_correct is None else off_status,
            status_corrected=corrected.status,
            disagreement=reason,
            protocol=protocol,
        )

    def reference_gold(self, item: BenchItem) -> str:
        """The gold the reference script compares with: the raw answer, mapped to its option
        letter when it equals one of the item's choices, then options, exactly
        (eval_openvlthinker.py:296-309 `process_response`)."""
        raw = item.raw.get("answer", item.gold)
        gold = raw if isinstance(raw, str) else as_text(raw)
        for field in ("choices", "options"):
            listed = item.raw.get(field)
            if isinstance(listed, list | tuple) and len(listed) > 0:
                try:
                    return _REFERENCE_LETTERS[list(listed).index(gold)]
                except (ValueError, IndexError):
                    pass
        return gold

    def score_response(self, item: BenchItem, response: str) -> ScoredItem:
        """The corrected protocol: our extraction and verifier."""
        raise NotImplementedError

    def score_official(self, item: BenchItem, response: str) -> tuple | None:
        """The official evaluator's (extracted answer, verdict), optionally followed by a
        status ("ok", "timeout", "unparseable"); None when the benchmark has no official
        evaluator in ovlt."""
        raise NotImplementedError

    def score_official_extraction(self, item: BenchItem, extraction: str) -> tuple | None:
        """The official verdict from an answer the benchmark's own extraction step already
        produced (published beside the response), normalised and compared verbatim. None:
        this benchmark has no separate extraction step, so the response is scored instead."""
        return None

    def disagreement(
        self,
        item: BenchItem,
        response: str,
        off_extracted: str | None,
        off_correct: bool,
        corrected: ScoredItem,
    ) -> str:
        """A short category for why the official and corrected verdicts differ."""
        return "extraction_differs"


def _shown_id(row: dict[str, Any], field: str) -> str:
    value = row.get(field, row.get("_key"))
    return repr(value)[:40] if isinstance(value, str | int) else "?"


class ConfigParquetFiles:
    """Loading for Hub datasets with one config per subset (EMMA's subjects, MMMU-Pro's
    settings): the Hub location is (config, split), and local files are the Hub's parquet
    shards, in a folder named after the config or directly under `--data`."""

    config: str

    def hub_location(self, split: str) -> tuple[str | None, str]:
        return self.config, split

    def local_names(self, split: str) -> tuple[str, ...]:
        return (f"{self.config}/{split}-*.parquet", f"{split}-*.parquet", f"{split}.parquet")
