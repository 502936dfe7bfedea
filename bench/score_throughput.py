"""Throughput of `ovlt-eval score` on MATH-Vision test (3,040 items) vs a plain Math-Verify loop.

For each dev file in ../shared/calibration/mathvision: our scorer (extraction + verifier fast
path + symbolic workers) and, on the same items in the same run, a per-item
`math_verify.parse(gold)` / `parse(response)` / `verify` loop. Prints items/s and the ratio.

    .venv/bin/python bench/score_throughput.py [--shared PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ovlt_eval.benchmarks import get_benchmark  # noqa: E402
from ovlt_eval.benchmarks.scoring import score_predictions  # noqa: E402


def plain_math_verify(items, preds) -> float:
    from math_verify import parse, verify

    started = time.perf_counter()
    for it in items:
        try:
            gold = parse(it.gold, parsing_timeout=None)
            pred = parse(preds.get(it.id, ""), parsing_timeout=None)
            verify(gold, pred, timeout_seconds=None)
        except Exception:
            pass
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--limit", type=int, default=0, help="score only the first N items")
    args = ap.parse_args()
    shared = Path(args.shared)
    bench = get_benchmark("mathvision")
    items = bench.load("test", shared / "benchmarks/mathvision")
    if args.limit:
        items = items[: args.limit]
    # Warm the verifier's worker pool once so that start-up is not charged to the first file.
    score_predictions(bench, "test", items[:50], {})
    print("| file | items | ovlt items/s | plain math_verify items/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for path in sorted((shared / "calibration/mathvision").glob("*.jsonl")):
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        known = {it.id for it in items}
        preds = {str(r["id"]): r["response"] for r in rows if str(r["id"]) in known}
        t0 = time.perf_counter()
        score_predictions(bench, "test", items, preds)
        ours = time.perf_counter() - t0
        plain = plain_math_verify(items, preds)
        n = len(items)
        print(f"| {path.stem} | {n} | {n / ours:.0f} | {n / plain:.0f} | {plain / ours:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
