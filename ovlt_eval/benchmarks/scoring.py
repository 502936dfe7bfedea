"""Score a whole predictions mapping: per-item samples plus the summary."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.protocols import DEFAULT_PROTOCOL, check_protocol
from ovlt_eval.benchmarks.summary import summarize
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem
from ovlt_eval.errors import UserError

# Most items finish on the verifier's pure-Python fast path; the rest wait on its symbolic
# worker processes, so a few threads keep those workers busy without fighting for the GIL.
_THREADS = min(8, (os.cpu_count() or 2) * 2)
_CHUNK = 64


def score_predictions(
    bench: Benchmark,
    split: str,
    items: Sequence[BenchItem],
    predictions: Mapping[str, Any],
    *,
    threads: int | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    reference_policy: str = "reference",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Samples (one per item, in item order) and summary. `predictions` maps a native id to
    the response text, or to an object with `.response` and `.meta` (see predictions.py).
    `reference_policy` is the reference protocol's rule for the model's profile
    (`reference`, or `reference_qwen` for Qwen2.5-VL-Instruct replies)."""
    check_protocol(protocol)
    known = {it.id for it in items}
    unknown = [k for k in predictions if k not in known]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise UserError(
            f"{len(unknown)} prediction id(s) are not in {bench.name} {split} ({shown}); "
            f"ids must be the benchmark's native {bench.id_field} values"
        )

    def one(item: BenchItem) -> ScoredItem:
        if item.id not in predictions:
            return bench.score(item, None, protocol=protocol, reference_policy=reference_policy)
        pred = predictions[item.id]
        response = getattr(pred, "response", pred)
        text = "" if response is None else str(response)
        return bench.score(
            item,
            text,
            protocol=protocol,
            reference_policy=reference_policy,
            extraction=getattr(pred, "extraction", None),  # a published extraction (predictions.py)
        )

    workers = threads or _THREADS
    if workers <= 1 or len(items) < 2 * _CHUNK:
        scored = [one(it) for it in items]
    else:
        # ThreadPoolExecutor.map ignores `chunksize`: one future per item costs more than
        # most items do, so the threads take chunks.
        chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ovlt-score") as pool:
            scored = [s for part in pool.map(lambda c: [one(it) for it in c], chunks) for s in part]
    by_id = {s.id: s for s in scored}
    samples = []
    for item, s in zip(items, scored, strict=True):
        pred = predictions.get(item.id)
        samples.append(
            {
                "id": item.id,
                "extracted": s.extracted,
                "correct": bool(s.correct),
                "status": s.status,
                "how": s.how,
                "protocol": s.protocol,
                "correct_reference": s.correct_reference,
                "correct_official": s.correct_official,
                "correct_corrected": s.correct_corrected,
                "extracted_reference": s.extracted_reference,
                "status_reference": s.status_reference,
                "status_official": s.status_official,
                "status_corrected": s.status_corrected,
                "extracted_official": s.extracted_official,
                "extracted_corrected": s.extracted_corrected,
                "disagreement": s.disagreement,
                "meta": dict(getattr(pred, "meta", {}) or {}),
            }
        )
    summary = summarize(bench, split, items, by_id, protocol=protocol)
    summary["reference_policy"] = reference_policy
    return samples, summary
