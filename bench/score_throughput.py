"""Throughput of `ovlt-eval score` on MATH-Vision test (3,040 items) vs a plain Math-Verify loop.

For each dev file in ../shared/calibration/mathvision, in the same run:
  * `score`: the whole `score_predictions` call behind `ovlt-eval score` (all three protocols:
    reference, the official evaluator with MATH-V's own parser, corrected; summary included);
  * `ours`: the corrected protocol alone (`score_response`: extraction + verifier fast path +
    symbolic workers), i.e. what `ovlt_eval.grading` costs;
  * `plain`: a per-item `math_verify.parse(gold)` / `parse(response)` / `verify` loop.
Prints items/s of each and the ratios to the plain loop, plus how many verifier calls reached
the symbolic worker processes. Each file is scored twice: as published, and rewritten as
R1-style replies (`<think>response</think> … <answer>model_answer</answer>`), the long
chain-of-thought shape OpenVLThinker writes and the reference protocol grades with mathruler.

    .venv/bin/python bench/score_throughput.py [--shared PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ovlt_eval.benchmarks import get_benchmark  # noqa: E402
from ovlt_eval.benchmarks.scoring import score_predictions  # noqa: E402
from ovlt_eval.errors import at_least  # noqa: E402
from ovlt_eval.grading.timeout import pool  # noqa: E402


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


def corrected_only(bench, items, preds, threads: int = 8) -> float:
    """The corrected protocol alone, threaded like score_predictions."""

    def one(it):
        return bench.score_response(it, preds.get(it.id) or "")

    # Chunks, as score_predictions does: ThreadPoolExecutor.map ignores `chunksize`.
    chunks = [items[i : i + 64] for i in range(0, len(items), 64)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as ex:
        list(ex.map(lambda c: [one(it) for it in c], chunks))
    return time.perf_counter() - started


def forget_predictions() -> None:
    """Drop what the verifier remembers about *predictions* (worker replies, closed-form
    values), so that no file is scored faster for having been scored before. Gold answers
    stay cached: parsing them once is part of the design."""
    import ovlt_eval.grading.verify  # noqa: F401

    mod = sys.modules["ovlt_eval.grading.verify"]
    getattr(mod, "_REPLY_CACHE", {}).clear()
    value = getattr(mod, "closed_form_value", None)
    if value is not None:
        value.cache_clear()


def _reply(row: dict, tagged: bool) -> str:
    """The published response, or (tagged) the same text as an R1-style reasoning reply with
    the published answer in an answer tag — what OpenVLThinker writes and the reference
    protocol reads (so mathruler runs on every item)."""
    if not tagged:
        return row["response"]
    return (
        f"<think>\n{row['response']}\n</think>\nSo:\n<answer>{row.get('model_answer', '')}</answer>"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument(
        "--limit", type=at_least(0), default=0, help="score only the first N items (0: all)"
    )
    args = ap.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout is disabled" spam
    shared = Path(args.shared)
    bench = get_benchmark("mathvision")
    items = bench.load("test", shared / "benchmarks/mathvision")
    if args.limit:
        items = items[: args.limit]
    # Warm the verifier's worker pools (Math-Verify's, and MATH-V's own parser's for the
    # official protocol) once so that start-up is not charged to the first file.
    score_predictions(bench, "test", items[:200], {it.id: "\\frac{1}{3}" for it in items[:8]})
    from ovlt_eval.grading.verify import verify

    with ThreadPoolExecutor(max_workers=pool().size) as ex:  # start every worker process
        list(ex.map(lambda i: verify("\\sqrt{2}", f"x^{i + 2}", "auto"), range(pool().size)))
    print(
        "| file | items | score items/s | ours items/s | plain math_verify items/s "
        "| score ratio | ours ratio | worker calls |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path, tagged in [
        (p, t)
        for t in (False, True)
        for p in sorted((shared / "calibration/mathvision").glob("*.jsonl"))
    ]:
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        known = {it.id for it in items}
        preds = {str(r["id"]): _reply(r, tagged) for r in rows if str(r["id"]) in known}
        forget_predictions()
        calls_before = pool().stats["calls"]
        ours = corrected_only(bench, items, preds)
        calls = pool().stats["calls"] - calls_before
        forget_predictions()
        t0 = time.perf_counter()
        score_predictions(bench, "test", items, preds)
        full = time.perf_counter() - t0
        plain = plain_math_verify(items, preds)
        n = len(items)
        print(
            f"| {path.stem}{' (R1 tags)' if tagged else ''} | {n} | {n / full:.0f} | {n / ours:.0f} | {n / plain:.0f} "
            f"| {plain / full:.1f}x | {plain / ours:.1f}x | {calls} |"
        )
    threads_figure()
    return 0


SIMPLE = [
    ("5", "5", "auto", None),
    ("1,000", "1000", "auto", None),
    ("25%", "0.25", "auto", None),
    ("A", "(B)", "multi_choice", None),
    ("12 cm", "12", "float", None),
    ("3.14", "3.141", "float", 2),
    ("\\frac{\\pi}{4}", "\\frac{21\\pi}{64}", "auto", None),
    ("19.09", "\\frac{27}{\\sqrt{2}}", "auto", 2),
    ("150", "None of the above", "auto", 2),
    ("A", "(A), (B)", "multi_choice", None),
]


def threads_figure(threads: int = 8, per_thread: int = 500) -> None:
    """Simple verify calls from many threads at once: they must not queue on the worker pool."""
    from ovlt_eval.grading.verify import verify

    def run(n: int) -> None:
        for i in range(n):
            g, p, k, prec = SIMPLE[i % len(SIMPLE)]
            verify(g, p, k, precision=prec)

    forget_predictions()
    calls_before = pool().stats["calls"]
    t0 = time.perf_counter()
    run(threads * per_thread)
    serial = time.perf_counter() - t0
    forget_predictions()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as ex:
        list(ex.map(run, [per_thread] * threads))
    threaded = time.perf_counter() - t0
    n = threads * per_thread
    print(
        f"\nsimple verify calls: 1 thread {n / serial:.0f} calls/s, {threads} threads x "
        f"{per_thread}: {n / threaded:.0f} calls/s; worker calls {pool().stats['calls'] - calls_before}"
    )
    print(f"worker pool: {pool().size} processes, stats {pool().stats}")


if __name__ == "__main__":
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
