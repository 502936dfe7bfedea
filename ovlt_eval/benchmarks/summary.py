"""summary.json: overall accuracy, per-category breakdowns and counts by status."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from ovlt_eval import __version__
from ovlt_eval.benchmarks.base import Benchmark
from ovlt_eval.benchmarks.protocols import DEFAULT_PROTOCOL, check_protocol
from ovlt_eval.benchmarks.types import BenchItem, ScoredItem

STATUSES = ("ok", "no_answer", "timeout", "unparseable", "missing_prediction")


def scorer_version(bench: Benchmark) -> str:
    return f"ovlt-{__version__}/{bench.name}-{bench.version}"


def _pct(correct: int, n: int) -> float:
    return round(100.0 * correct / n, 2) if n else 0.0


def summarize(
    bench: Benchmark,
    split: str,
    items: Sequence[BenchItem],
    scored: Mapping[str, ScoredItem],
    *,
    protocol: str = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Accuracy over *all* items of the split: an item without a prediction is incorrect
    (and counted under `missing_prediction`). `accuracy` is the `correct` field's (the
    protocol the items were scored under); every protocol's accuracy sits beside it
    (None for a protocol the benchmark has no evaluator for)."""
    check_protocol(protocol)
    n = len(items)
    correct = 0
    by_protocol = {"reference": 0, "official": 0, "corrected": 0}
    available = {"reference": True, "official": True, "corrected": True}
    reference_failed = 0
    # Every protocol's timeouts, not only the chosen one's: a reference comparison cut off by
    # its deadline counts as wrong in accuracy_reference and must show somewhere.
    timeouts = {"reference": 0, "official": 0, "corrected": 0}
    disagreements: Counter[str] = Counter()
    status_counts: Counter[str] = Counter({s: 0 for s in STATUSES})
    groups: dict[str, dict[str, list[int]]] = {
        k: defaultdict(lambda: [0, 0]) for k in bench.breakdown_keys
    }
    for item in items:
        s = scored.get(item.id)
        ok = bool(s and s.correct)
        correct += ok
        if s is not None:
            verdicts = {
                "reference": s.correct_reference,
                "official": s.correct_official,
                "corrected": s.correct_corrected,
            }
            unknown_official = s.correct_official is None and s.correct_corrected is not None
            if unknown_official and s.status != "missing_prediction":
                available["official"] = False  # the benchmark has no official evaluator
            for name, verdict in verdicts.items():
                by_protocol[name] += ok if verdict is None else bool(verdict)
            reference_failed += s.status_reference == "no_answer"
            per_protocol = {
                "reference": s.status_reference,
                "official": s.status_official,
                "corrected": s.status_corrected,
            }
            if all(v is None for v in per_protocol.values()):
                per_protocol[s.protocol] = s.status  # built by code that knows one verdict
            for name, status in per_protocol.items():
                timeouts[name] += status == "timeout"
            if s.disagreement:
                disagreements[s.disagreement] += 1
        status_counts[s.status if s else "missing_prediction"] += 1
        for key in bench.breakdown_keys:
            value = item.breakdown.get(key)
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                cell = groups[key]["" if v is None else str(v)]
                cell[0] += 1
                cell[1] += ok
    breakdown = {
        key: {
            value: {"n": cnt, "correct": ok, "accuracy": _pct(ok, cnt)}
            for value, (cnt, ok) in sorted(cells.items(), key=lambda kv: _sort_key(kv[0]))
        }
        for key, cells in groups.items()
    }
    return {
        "benchmark": bench.name,
        "benchmark_version": bench.version,
        "split": split,
        "n": n,
        "protocol": protocol,
        "correct": correct,
        "accuracy": _pct(correct, n),
        "accuracy_reference": _pct(by_protocol["reference"], n),
        "accuracy_official": _pct(by_protocol["official"], n) if available["official"] else None,
        "accuracy_corrected": _pct(by_protocol["corrected"], n),
        # the reference script's "Failed to extract." (no </answer>): counted wrong there
        "reference_failed_to_extract": reference_failed,
        "disagreements": dict(disagreements.most_common()),
        "missing_predictions": status_counts["missing_prediction"],
        "counts": {
            **status_counts,
            **{f"timeout_{name}": n_out for name, n_out in timeouts.items()},
        },
        "breakdown": breakdown,
        "scorer_version": scorer_version(bench),
    }


def _sort_key(value: str):
    return (0, int(value), "") if value.isdigit() else (1, 0, value)
