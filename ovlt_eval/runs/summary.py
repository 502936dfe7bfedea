"""A run's `summary.json`: the benchmark's own summary (the `score` code path) plus run figures.

Figures added: pass@k when n > 1, mean response length, no-answer rate, error counts, and —
when a judge ran — the rules-only and rules+judge accuracies side by side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from math import comb
from typing import Any

from ovlt_eval.benchmarks.types import ScoredItem


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one item with c correct out of n samples (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def ks_for(n: int) -> list[int]:
    ks = [1]
    while ks[-1] * 2 < n:
        ks.append(ks[-1] * 2)
    if n > 1:
        ks.append(n)
    return ks


def scored_from_records(
    items: Sequence[Any], records: Mapping[str, dict[str, Any]], *, with_judge: bool
) -> dict[str, ScoredItem]:
    """The verdicts the benchmark's summarize sees; an `error` item keeps its own status."""
    out = {}
    for item in items:
        rec = records.get(item.id)
        if rec is None:
            continue
        if rec.get("status") == "error":
            out[item.id] = ScoredItem(
                id=item.id, extracted=None, correct=False, status="error", how="generation_error"
            )
            continue
        correct = (
            bool(rec.get("final_correct", rec.get("correct")))
            if with_judge
            else bool(rec.get("correct"))
        )
        out[item.id] = ScoredItem(
            id=item.id,
            extracted=rec.get("extracted"),
            correct=correct,
            status=rec.get("status", "ok"),
            how=rec.get("how", ""),
            correct_reference=rec.get("correct_reference"),
            status_reference=rec.get("status_reference"),
            status_official=rec.get("status_official"),
            status_corrected=rec.get("status_corrected"),
            correct_official=rec.get("correct_official"),
            correct_corrected=rec.get("correct_corrected"),
            disagreement=rec.get("disagreement"),
        )
    return out


def all_samples(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [rec, *rec.get("extra_samples", [])]


def run_figures(items: Sequence[Any], records: Mapping[str, dict[str, Any]], n: int) -> dict:
    recs = [records[it.id] for it in items if it.id in records]
    ok = [r for r in recs if r.get("status") != "error"]
    errors = [r for r in recs if r.get("status") == "error"]
    samples = [s for r in ok for s in all_samples(r)]
    chars = [len(s.get("response") or "") for s in samples]
    tokens = [s["tokens"] for s in samples if isinstance(s.get("tokens"), int)]
    finish = Counter(s.get("finish_reason") or "unknown" for s in samples)
    no_answer = sum(1 for r in ok if r.get("status") == "no_answer")
    figures: dict[str, Any] = {
        "items": len(items),
        "items_done": len(ok),
        "errors": len(errors),
        "missing": len(items) - len(recs),
        "complete": len(ok) == len(items),
        "samples_per_item": n,
        "status_counts": dict(Counter(r.get("status") for r in recs)),
        "no_answer_rate": round(100.0 * no_answer / len(ok), 2) if ok else None,
        "mean_response_chars": round(sum(chars) / len(chars), 1) if chars else None,
        "mean_response_tokens": round(sum(tokens) / len(tokens), 1) if tokens else None,
        "finish_reasons": dict(finish),
    }
    if errors:
        figures["error_examples"] = sorted({str(r.get("error"))[:200] for r in errors})[:3]
    if n > 1:
        # Over every item of the split, like accuracy: an error or missing item passes nothing.
        per_k = {}
        for k in ks_for(n):
            total = 0.0
            for r in ok:
                verdicts = [bool(s.get("correct")) for s in all_samples(r)]
                total += pass_at_k(len(verdicts), sum(verdicts), k)
            per_k[f"pass@{k}"] = round(100.0 * total / len(items), 2) if items else None
        figures["pass_at_k"] = per_k
    return figures


def judge_figures(
    rules_summary: dict[str, Any], judged_summary: dict[str, Any], records: Sequence[dict]
) -> dict[str, Any]:
    judged = [r for r in records if r.get("judge")]
    by_judge = [r for r in judged if r.get("verdict_source") == "judge"]
    figures = {
        "judged": len(judged),
        "judge_errors": sum(1 for r in judged if r["judge"].get("status") != "ok"),
        "flipped_to_correct": sum(
            1 for r in by_judge if r.get("final_correct") and not r.get("correct")
        ),
        "rules_only": {"accuracy": rules_summary.get("accuracy")},
        "rules_plus_judge": {
            "accuracy": judged_summary.get("accuracy"),
            "breakdown": judged_summary.get("breakdown"),
        },
    }
    # A judge that replaces every verdict (mathverse_reference_gpt4) can also overturn a
    # rules-correct item, and says per item which verdict it produced (yes / no / dropped).
    flipped_to_wrong = sum(1 for r in by_judge if r.get("correct") and not r.get("final_correct"))
    if flipped_to_wrong:
        figures["flipped_to_wrong"] = flipped_to_wrong
    verdicts = Counter(r["judge"]["verdict"] for r in judged if r["judge"].get("verdict"))
    if verdicts:
        figures["verdicts"] = dict(sorted(verdicts.items()))
    return figures


# What a reader of summary.json (`compare`) relies on: `benchmark` and `split`, and the type
# each key must have when present. A summary written by another tool or by hand may lack keys (shown as "—") but must
# not hold a value of another type, which would crash a report or show a wrong number.
_TEXT_KEYS = ("benchmark", "split", "protocol", "predictions_file")
_NUMBER_KEYS = ("n", "accuracy", "accuracy_reference", "accuracy_official", "accuracy_corrected")
_OBJECT_KEYS = ("run", "accuracy_by_verdict", "status_counts", "counts", "breakdown")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summary_problem(summary: Any) -> str | None:
    """Why `summary` (a parsed summary.json) cannot be reported, or None when it can."""
    if not isinstance(summary, dict):
        return f"a JSON {type(summary).__name__}, not an object"
    missing = [k for k in ("benchmark", "split") if k not in summary]
    if missing:  # every summary ovlt writes names them; without, a row says nothing
        return f"no {' or '.join(repr(k) for k in missing)} key"
    for keys, ok, what in (
        (_TEXT_KEYS, lambda v: isinstance(v, str), "text"),
        (_NUMBER_KEYS, _is_number, "a number"),
        (_OBJECT_KEYS, lambda v: isinstance(v, dict), "an object"),
    ):
        for key in keys:
            if summary.get(key) is not None and not ok(summary[key]):
                return f"'{key}' must be {what}, got {type(summary[key]).__name__}"
    pass_k = (summary.get("run") or {}).get("pass_at_k")
    if pass_k is not None and not isinstance(pass_k, dict):
        return "'run.pass_at_k' must be an object"
    for key, cells in (summary.get("breakdown") or {}).items():
        if not isinstance(cells, dict) or not all(
            isinstance(c, dict) and (c.get("accuracy") is None or _is_number(c["accuracy"]))
            for c in cells.values()
        ):
            return f"'breakdown.{key}' must map each value to {{'accuracy': number, 'n': ...}}"
    return None
