"""Adversarial grading bench: 10,000 hostile responses graded against real MathVision golds.

    .venv/bin/python bench/adversarial.py [--mode score|grade] [--n 10000] [--out DIR]

Default (`--mode score`): the responses go into prediction files with unique ids (file k holds
the k-th response for each MathVision test id: 4 files for 10,000) and each file is scored by
the real `ovlt-eval score` command (both protocols per item); prints per-file elapsed time,
exit status and counts by status. `--mode grade` [--threads 4] [--timeout 5]:
writes DIR/adversarial_responses.jsonl ({"id", "sample", "response"}; ids are MathVision test
ids, so `ovlt-eval score` can read the file too) and DIR/adversarial_graded.jsonl, then prints
elapsed time, items/s, the slowest items and the counts by status. It must finish, with no
exception and no hang. Last, it shows what the naive route does with the same inputs (Math-Verify
called from a thread raises; with its signal timeout off, a power tower never comes back) —
each naive attempt runs in a child process with a time and memory limit, so the bench is safe.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ovlt_eval.grading import grade  # noqa: E402
from ovlt_eval.grading.timeout import pool  # noqa: E402

DEFAULT_BENCH = ROOT.parent / "shared" / "benchmarks" / "mathvision" / "test.jsonl"
if not DEFAULT_BENCH.exists():
    DEFAULT_BENCH = Path("/work/shared/benchmarks/mathvision/test.jsonl")


def _towers(rng: random.Random, gold: str) -> str:
    forms = [
        "9^{9^{9^{9}}}",
        "10**10**10",
        "10^{10^{10}}",
        "2^{2^{2^{2^{2^{2}}}}}",
        "(10^{10})^{10^{10}}",
        "2^{99999999}",
        "99999999!",
        "10^{-10^{10}}",
        "e^{e^{e^{e^{100}}}}",
        "\\underbrace{9^{9^{\\cdot^{\\cdot^{9}}}}}_{100}",
    ]
    f = rng.choice(forms)
    return rng.choice([f"\\boxed{{{f}}}", f"<answer>{f}</answer>", f"The answer is {f}."])


def _nesting(rng: random.Random, gold: str) -> str:
    d = rng.choice([20, 200, 2000, 5000])
    opener = rng.choice(["{", "(", "[", "\\left(", "\\sqrt{", "\\frac{1}{", "\\boxed{"])
    closer = {"{": "}", "(": ")", "[": "]", "\\left(": "\\right)"}.get(opener, "}")
    body = opener * d + gold + closer * (d if rng.random() < 0.7 else d // 2)
    return rng.choice([f"<answer>{body}</answer>", f"\\boxed{{{body}}}", body])


def _long(rng: random.Random, gold: str) -> str:
    n = rng.choice([1_000, 2_000, 10_000, 10_000, 30_000, 100_000])
    unit = rng.choice(["a", "1", "x+", "\\frac{1}{2}", "wait, ", "🙂", "\\\\", "$"])
    body = (unit * (n // len(unit)))[:n]
    return rng.choice(
        [body, f"<answer>{body}</answer>", f"\\boxed{{{body}}}", body + f" \\boxed{{{gold}}}"]
    )


def _encoding(rng: random.Random, gold: str) -> str:
    junk = rng.choice(
        [
            "\udcff",
            "\ud800",
            "\udfff\ud800",
            "\x00",
            "\x00" * 100,
            "\u202e",
            "\u200b" * 50,
            "\ufeff",
            "\x1b[31m",
            "\ufffd" * 10,
            "\x0c\x08\x07",
        ]
    )
    where = rng.randrange(3)
    if where == 0:
        return f"<answer>{junk}{gold}{junk}</answer>"
    if where == 1:
        return f"\\boxed{{{gold}{junk}}}"
    return junk * rng.choice([1, 10, 1000])


def _spam(rng: random.Random, gold: str) -> str:
    k = rng.choice([100, 1000, 3000])
    return rng.choice(
        [
            "<answer>" * k,
            "</answer>" * k + gold,
            "\\boxed{" * k,
            f"\\boxed{{{gold}}}" * k,
            "The answer is " * k,
            "(" * k + "A",
            "$" * k,
            "<answer>" + "\\boxed{A}" * k + "</answer>",
            "<think>" * k + "</think>",
        ]
    )


def _latex_junk(rng: random.Random, gold: str) -> str:
    items = [
        "\\begin{array}{c} 1 \\\\ 2",
        "\\left( x",
        "\\frac{}{}",
        "\\frac{1}{0}",
        "0/0",
        "\\sqrt{-1}",
        "\\infty - \\infty",
        "1e999999999",
        "-1e-999999999",
        "nan",
        "inf",
        "0x1F",
        "1_000_000",
        "\\int_0^1 x^{x}\\,dx",
        "\\sum_{n=1}^{\\infty} \\frac{1}{n^{s}}",
        "\\prod_{k=1}^{10^{9}} k",
        "\\lim_{x\\to 0} \\frac{\\sin x}{x}",
        "\\begin{pmatrix}" + "1&" * 999 + "1\\end{pmatrix}",
        ",".join(str(i) for i in range(3000)),
        "x^{" + "x^{" * 30 + "}" * 31,
        "\\mathrm{" * 40 + "cm" + "}" * 40,
        "{{{{" + gold + "}}",
        "\\text{\\text{\\text{" + gold,
        "__import__('os').system('true')",
        "lambda: 0",
        "Symbol('x')**Symbol('x')**Symbol('x')",
        "x" * 500 + "=" + "y" * 500,
        "\\x\\y\\z" * 200,
    ]
    f = rng.choice(items)
    return rng.choice([f"\\boxed{{{f}}}", f"<answer>{f}</answer>", f"so the answer is {f}"])


def _plausible(rng: random.Random, gold: str, options: list[str]) -> str:
    if options:
        letter = gold if rng.random() < 0.5 else rng.choice("ABCDE")
        return rng.choice(
            [
                f"<think>reasoning</think><answer>{letter}</answer>",
                f"Thus the answer is ({letter}).",
                f"\\boxed{{{letter}}}",
            ]
        )
    value = gold if rng.random() < 0.5 else str(rng.randint(0, 100))
    return rng.choice(
        [f"<answer>{value}</answer>", f"The answer is \\boxed{{{value}}}.", f"so we get {value}"]
    )


GENERATORS = {
    "towers": _towers,
    "nesting": _nesting,
    "long": _long,
    "encoding": _encoding,
    "spam": _spam,
    "latex_junk": _latex_junk,
}


def make_items(bench_file: Path, n: int, seed: int) -> tuple[list[dict], dict[str, dict]]:
    rows = [json.loads(line) for line in bench_file.read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in rows}
    rng = random.Random(seed)
    names = list(GENERATORS) + ["plausible"]
    items, seen = [], Counter()
    for i in range(n):
        row = rows[i % len(rows)]
        family = names[i % len(names)]
        if family == "plausible":
            response = _plausible(rng, row["answer"], row["options"])
        else:
            response = GENERATORS[family](rng, row["answer"])
        items.append(
            {"id": row["id"], "sample": seen[row["id"]], "family": family, "response": response}
        )
        seen[row["id"]] += 1
    return items, by_id


def grade_one(item: dict, row: dict, timeout_s: float) -> tuple[dict, float]:
    options = row["options"]
    start = time.perf_counter()
    g = grade(
        item["response"],
        row["answer"],
        "multi_choice" if options else "auto",
        choices=options or None,
        timeout_s=timeout_s,
    )
    elapsed = time.perf_counter() - start
    return {"id": item["id"], "sample": item["sample"], "status": g.status, "correct": g.correct}, (
        elapsed
    )


def _naive_in_child(code: str, limit_s: float) -> str:
    """Run a snippet in a child with a wall-clock and a 2 GiB memory limit; describe the outcome."""

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=limit_s,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        return f"no answer after {limit_s:.0f} s (killed)"
    took = time.monotonic() - start
    tail = done.stdout.strip() or done.stderr.strip().splitlines()[-1:] or ["?"]
    tail = tail if isinstance(tail, str) else tail[0]
    return f"exit {done.returncode} after {took:.1f} s: {tail[:160]}"


def naive_comparison(limit_s: float) -> None:
    print("\nnaive Math-Verify, for comparison (each in a child process, limited):")
    thread_code = (
        "import threading, logging; logging.disable(logging.CRITICAL)\n"
        "from math_verify import parse, verify\n"
        "out = {}\n"
        "def work():\n"
        "    try:\n"
        "        out['r'] = verify(parse('$x^2+2x+1$'), parse('$(x+1)^2$'))\n"
        "    except BaseException as e:\n"
        "        out['r'] = f'{type(e).__name__}: {e}'\n"
        "t = threading.Thread(target=work); t.start(); t.join()\n"
        "print('in a thread, default timeouts ->', str(out['r'])[:120])\n"
    )
    print("  ", _naive_in_child(thread_code, limit_s))
    for expr in ("10**10**10", "9^{9^{9^{9}}}"):
        code = (
            "import logging; logging.disable(logging.CRITICAL)\n"
            "from math_verify import parse, verify\n"
            f"g = parse('$1$', parsing_timeout=None); p = parse({expr!r}, parsing_timeout=None)\n"
            "print('timeouts off ->', verify(g, p, timeout_seconds=None))\n"
        )
        print(f"   {expr!r} with timeouts off (the thread-safe setting):", end=" ")
        print(_naive_in_child(code, limit_s))


def score_mode(items: list[dict], bench_file: Path, out: Path, limit_s: float) -> int:
    """Write the responses as prediction files with unique ids (file k holds the k-th response
    for each MathVision test id) and run the real `ovlt-eval score` on each, in a child
    process with a wall-clock limit, so a hang shows up as "killed" instead of a stuck bench."""
    files: dict[int, list[dict]] = {}
    for it in items:
        files.setdefault(it["sample"], []).append(it)
    cli = [sys.executable, "-c", "import sys; from ovlt_eval.cli import main; sys.exit(main())"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    by_status: Counter = Counter()
    by_family: Counter = Counter()
    total, n_total, failures = 0.0, 0, 0
    print("| file | items | exit | elapsed s | items/s | scorer s | statuses |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for k in sorted(files):
        preds = out / f"adversarial_predictions_{k}.jsonl"
        with preds.open("w", encoding="utf-8") as f:
            for it in files[k]:
                f.write(json.dumps({"id": it["id"], "response": it["response"]}) + "\n")
        dest = out / f"scored_{k}"
        args = ["score", "--bench", "mathvision", "--split", "test"]
        args += ["--data", str(bench_file), "--predictions", str(preds), "--out", str(dest)]
        start = time.perf_counter()
        try:
            done = subprocess.run(
                cli + args, env=env, capture_output=True, text=True, timeout=limit_s
            )
            code, tail = done.returncode, (done.stderr.strip().splitlines() or ["?"])[-1]
        except subprocess.TimeoutExpired:
            code, tail = "killed", f"no answer after {limit_s:.0f} s"
        took = time.perf_counter() - start
        total += took
        if code != 0:
            failures += 1
            print(
                f"| {preds.name} | {len(files[k])} | {code} | {took:.1f} | - | - | {tail[:200]} |"
            )
            continue
        family = {it["id"]: it["family"] for it in files[k]}
        samples = [json.loads(x) for x in (dest / "samples.jsonl").read_text().splitlines()]
        summary = json.loads((dest / "summary.json").read_text())
        counts = Counter(x["status"] for x in samples)
        by_status.update(counts)
        by_family.update((family[x["id"]], x["status"]) for x in samples if x["id"] in family)
        n_total += len(samples)
        print(
            f"| {preds.name} | {len(samples)} | 0 | {took:.1f} | {len(samples) / took:.0f} "
            f"| {summary.get('seconds')} | {dict(sorted(counts.items()))} |"
        )
    print(f"\nscored {n_total} items in {len(files)} files, {total:.1f} s in all (process start,")
    print("data loading and writing included; the CLI records no per-item time, so the slowest")
    print(f"item is bounded by the verifier's deadlines); failed runs: {failures}")
    print("by status:", dict(sorted(by_status.items())))
    for fam in list(GENERATORS) + ["plausible"]:
        row = {s: c for (f, s), c in by_family.items() if f == fam}
        print(f"  {fam:<11} {dict(sorted(row.items()))}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--mode",
        choices=("score", "grade"),
        default="score",
        help="score: prediction files through the real `ovlt-eval score` (default); "
        "grade: grade() from threads, in process",
    )
    ap.add_argument("--limit", type=float, default=600.0, help="seconds per `score` run")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--bench-file", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--out", type=Path, default=None, help="folder for the JSONL files")
    ap.add_argument("--threads", type=int, default=4, help="grade from this many threads")
    ap.add_argument("--timeout", type=float, default=5.0, help="verify timeout_s per item")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--naive-limit", type=float, default=20.0, help="seconds per naive demo")
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args(argv)

    if args.out is None:  # nothing left behind (it was ~370 MB in /tmp per run)
        with tempfile.TemporaryDirectory(prefix="ovlt_adversarial_") as tmp:
            rc = run(args, Path(tmp))
        print("(the files were in a temporary folder, now removed; --out DIR keeps them)")
        return rc
    args.out.mkdir(parents=True, exist_ok=True)
    return run(args, args.out)


def run(args: argparse.Namespace, out: Path) -> int:
    items, by_id = make_items(args.bench_file, args.n, args.seed)
    responses = out / "adversarial_responses.jsonl"
    with responses.open("w", encoding="utf-8") as f:
        for it in items:
            record = {"id": it["id"], "sample": it["sample"], "response": it["response"]}
            f.write(json.dumps(record, ensure_ascii=True) + "\n")
    size_mb = responses.stat().st_size / 1e6
    print(f"wrote {len(items)} responses ({size_mb:.1f} MB) to {responses}")
    if args.mode == "score":
        return score_mode(items, args.bench_file, out, args.limit)

    # Start the symbolic workers before the clock, as a long-running evaluator would have.
    warm = time.perf_counter()
    grade("\\boxed{x+x}", "2x")
    print(f"symbolic worker warm-up: {time.perf_counter() - warm:.2f} s")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as ex:
        results = list(ex.map(lambda it: grade_one(it, by_id[it["id"]], args.timeout), items))
    elapsed = time.perf_counter() - start

    graded = out / "adversarial_graded.jsonl"
    with graded.open("w", encoding="utf-8") as f:
        for (rec, _), it in zip(results, items, strict=True):
            f.write(json.dumps(dict(rec, family=it["family"])) + "\n")
    times = sorted(t for _, t in results)
    by_status = Counter(rec["status"] for rec, _ in results)
    by_family = Counter(
        (it["family"], rec["status"]) for (rec, _), it in zip(results, items, strict=True)
    )
    slowest = max(range(len(results)), key=lambda i: results[i][1])
    print(f"graded {len(items)} items with {args.threads} threads, timeout_s={args.timeout}")
    print(f"elapsed {elapsed:.2f} s, {len(items) / elapsed:.0f} items/s")
    print(
        f"per item: median {times[len(times) // 2] * 1e3:.2f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1e3:.1f} ms, max {times[-1]:.2f} s "
        f"(family {items[slowest]['family']}, id {items[slowest]['id']})"
    )
    print("by status:", dict(sorted(by_status.items())))
    print("correct:", sum(rec["correct"] for rec, _ in results))
    for fam in list(GENERATORS) + ["plausible"]:
        row = {s: c for (f, s), c in by_family.items() if f == fam}
        print(f"  {fam:<11} {dict(sorted(row.items()))}")
    print("symbolic worker stats:", pool().stats)
    print(f"graded file: {graded}")
    if not args.skip_naive:
        naive_comparison(args.naive_limit)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
