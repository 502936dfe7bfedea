"""Hostile scoring files (issue 18 items 4-5): wall time and peak memory of `ovlt-eval score`.

    .venv/bin/python bench/hostile_scoring.py [--n 10] [--kinds tower,nested_fact,...]
        [--protocol official] [--budget S]

For each kind, writes a predictions file answering the first N MathVision test items with
the same hostile reply, scores it with the real CLI under `/usr/bin/time -v`, and prints
wall seconds, peak RSS (of the CLI process and its largest child as reported by time),
exit status and the status counts. Normal files: scripts/reference_agreement.py and
bench/score_throughput.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from timed import run_timed  # noqa: E402

DATA = ROOT.parent / "shared" / "benchmarks" / "mathvision" / "test.jsonl"
if not DATA.exists():
    DATA = Path("/work/shared/benchmarks/mathvision/test.jsonl")

KINDS = {
    "tower": lambda k: f"<answer>10**10**{k}</answer>",
    "latex_tower": lambda k: f"<answer>10^{{10^{{{k}}}}}</answer>",
    "paren_power": lambda k: f"<answer>(9^9)^{{(9^{{{k}}})}}</answer>",
    "nested_fact": lambda k: f"<answer>({k + 3}!)!</answer>",  # (8!)!, (9!)!, (10!)!
    "sum_1mb": lambda k: "<answer>" + "+".join([str(k)] * 250_000) + "</answer>",
    "open_tags": lambda k: "<answer>" * 32_000 + "x",
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--protocol", default="official")
    ap.add_argument("--budget", default=None)
    args = ap.parse_args()
    ids = [json.loads(line)["id"] for line in DATA.open() if line.strip()][: args.n]
    for kind in args.kinds.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            preds = Path(tmp) / "p.jsonl"
            with preds.open("w") as fh:
                for i, id_ in enumerate(ids):
                    fh.write(json.dumps({"id": id_, "response": KINDS[kind](5 + i % 3)}) + "\n")
            cmd = [sys.executable, "-m", "ovlt_eval.cli", "score", "--bench", "mathvision"]
            cmd += ["--split", "test", "--data", str(DATA), "--predictions", str(preds)]
            cmd += ["--out", str(Path(tmp) / "out"), "--protocol", args.protocol]
            if args.budget:
                cmd += ["--time-budget", args.budget]
            done, wall, rss = run_timed(cmd)  # the code of the current folder is scored
            err = done.stderr
            line = next((ln for ln in err.splitlines() if "accuracy" in ln), err.strip()[-300:])
            print(
                f"{kind:12s} n={args.n} rc={done.returncode} wall={wall} peak_rss_mb={rss}"
                f" | {line[:400]}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
