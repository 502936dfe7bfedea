"""Agreement of `--protocol reference` with the reference rules derived independently.

    python scripts/reference_agreement.py --bench mathvision --data ../shared/benchmarks/mathvision \
        --split test ../shared/calibration/mathvision/*.jsonl
    python scripts/reference_agreement.py --bench mathvista --data ../shared/benchmarks/mathvista \
        ../shared/calibration/mathvista/output_*.json

Prints per-file agreement and per-shape counts (see ovlt_eval/benchmarks/reference_check.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ovlt_eval.benchmarks import get_benchmark  # noqa: E402
from ovlt_eval.benchmarks.reference_check import agreement, published_pairs  # noqa: E402
from ovlt_eval.errors import at_least  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="testmini")
    ap.add_argument("--limit", type=at_least(1), default=None, help="first N items of each file")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    bench = get_benchmark(args.bench)
    items = bench.load(args.split, data=args.data)
    print("| file | cases | agreement | " + " | ".join(["shapes (agree/n)"]) + " |")
    print("|---|---:|---:|---|")
    for f in args.files:
        t0 = time.perf_counter()
        pairs = published_pairs(f)[: args.limit]
        res = agreement(bench, items, pairs)
        shapes = ", ".join(f"{s} {v['agree']}/{v['n']}" for s, v in res["by_shape"].items())
        print(f"| {Path(f).name} | {res['cases']} | {res['agreement']:.3f} % | {shapes} |")
        for m in res["mismatches"][:10]:
            print("   mismatch:", m, file=sys.stderr)
        print(f"   ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
