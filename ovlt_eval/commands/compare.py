"""`ovlt-eval compare RUN_DIR …`: one Markdown table across runs and benchmarks.

A RUN_DIR is a run (or `score`) directory with a summary.json, or a directory of
`<bench>-<split>/` runs. The table shows the headline accuracy and the three protocols side by
side (reference / official / corrected; "—" where a run has none), and warns when runs of one
benchmark were generated differently (dtype, batch size, --reproducible, image pixel limits).
`--html FILE` also writes the tables with plots (accuracy by category, response-length
histogram) embedded as images.

A run whose summary.json is unreadable or not a summary is skipped with one warning line; the
others are still compared and the exit status is 1 (2 when no run is left to compare).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories to compare")
    parser.add_argument(
        "--html", default=None, metavar="FILE", help="also write an HTML report with plots"
    )


def run(args) -> int:
    from ovlt_eval.atomic import write_atomic
    from ovlt_eval.runs.report import find_runs, html_report, markdown_report

    skipped: list[str] = []
    try:
        runs = find_runs(args.runs, skipped)
    finally:  # also when no run is left: say why each was skipped
        for why in skipped:
            print(f"ovlt-eval compare: warning: skipped {why}", file=sys.stderr)
    print(markdown_report(runs), end="")
    if args.html:
        path = Path(args.html)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, html_report(runs))  # never a half-written report
        print(f"\nwrote {path}")
    return 1 if skipped else 0
