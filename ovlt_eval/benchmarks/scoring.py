"""Score a whole predictions mapping: per-item samples plus the summary."""

from __future__ import annotations

import os
import time
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
# A whole file's scoring time is bounded too: each comparison has its deadline (seconds), but
# 200 hostile replies at the deadline each took minutes. Normal files score at hundreds of
# items a second, so this default is far above any real file; past it the remaining items are
# `timeout` (status and every protocol's verdict) and the summary says how many.
BUDGET_BASE_S = 30.0
BUDGET_PER_ITEM_S = 0.25


def default_budget_s(n_items: int) -> float:
    """BUDGET_BASE_S + BUDGET_PER_ITEM_S per scored prediction, or $OVLT_SCORE_BUDGET_S."""
    env = os.environ.get("OVLT_SCORE_BUDGET_S", "").strip()
    try:
        if env and float(env) > 0:
            return float(env)
    except ValueError:
        pass
    return BUDGET_BASE_S + BUDGET_PER_ITEM_S * n_items


def score_predictions(
    bench: Benchmark,
    split: str,
    items: Sequence[BenchItem],
    predictions: Mapping[str, Any],
    *,
    threads: int | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    reference_policy: str = "reference",
    budget_s: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Samples (one per item, in item order) and summary. `predictions` maps a native id to
    the response text, or to an object with `.response` and `.meta` (see predictions.py).
    `reference_policy` is the reference protocol's rule for the model's profile
    (`reference`, or `reference_qwen` for Qwen2.5-VL-Instruct replies). `budget_s`: the most
    seconds the whole file may take (default `default_budget_s`); items not started by then
    are `timeout`, counted in summary["budget_timeouts"]."""
    check_protocol(protocol)
    known = {it.id for it in items}
    unknown = [k for k in predictions if k not in known]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise UserError(
            f"{len(unknown)} prediction id(s) are not in {bench.name} {split} ({shown}); "
            f"ids must be the benchmark's native {bench.id_field} values"
        )

    n_scored = sum(1 for it in items if it.id in predictions)
    budget = float(budget_s) if budget_s is not None else default_budget_s(n_scored)
    ends = time.monotonic() + budget

    def one(item: BenchItem) -> ScoredItem:
        if item.id in predictions and time.monotonic() > ends:
            return _out_of_budget(item, protocol)
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
    summary["budget_s"] = round(budget, 1)
    summary["budget_timeouts"] = sum(s.how == _BUDGET_HOW for s in scored)
    return samples, summary


_BUDGET_HOW = "file_budget_spent"


def _out_of_budget(item: BenchItem, protocol: str) -> ScoredItem:
    return ScoredItem(
        item.id,
        None,
        False,
        "timeout",
        _BUDGET_HOW,
        correct_reference=False,
        correct_official=False,
        correct_corrected=False,
        status_reference="timeout",
        status_official="timeout",
        status_corrected="timeout",
        protocol=protocol,
    )
