"""Print Markdown tables: our verdicts vs the official per-item verdicts in ../shared/calibration.

.venv/bin/python scripts/calibration_report.py [--shared PATH] [--examples N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ovlt_eval.benchmarks import get_benchmark  # noqa: E402
from ovlt_eval.benchmarks.calibration import (  # noqa: E402
    OFFICIAL_ERRORS,
    mathvision_agreement,
    mathvista_agreement,
)


def table(title: str, results, target: float) -> str:
    lines = [
        f"### {title} (target ≥ {target}% per file)",
        "",
        "| file | n | agreement % | excl. official errors % | ours acc % | official acc % | Δ acc |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.file} | {r.n} | {r.agreement:.2f} | {r.agreement_excluding_official_errors:.2f} "
            f"| {r.ours:.2f} | {r.official:.2f} | {r.ours - r.official:+.2f} |"
        )
    return "\n".join(lines)


def categories(results, n_examples: int) -> str:
    lines = ["| file | category | count |", "|---|---|---:|"]
    for r in results:
        for cat, cnt in r.categories.most_common():
            mark = " (official wrong)" if cat in OFFICIAL_ERRORS else ""
            lines.append(f"| {r.file} | {cat}{mark} | {cnt} |")
    if n_examples:
        lines.append("")
        seen = set()
        for r in results:
            for cat, exs in r.examples.items():
                if cat in seen:
                    continue
                seen.add(cat)
                lines.append(f"- **{cat}**")
                for ex in exs[:n_examples]:
                    tail = ex["response_tail"].replace("\n", " ").replace("|", "/")
                    lines.append(
                        f"  - {r.file} id {ex['id']}: gold `{ex['gold']}`, ours `{ex['ours']}` "
                        f"({ex['ours_correct']}), official `{ex['official']}` ({ex['official_correct']}); "
                        f"…{tail[-110:]}"
                    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--examples", type=int, default=2)
    args = ap.parse_args()
    shared = Path(args.shared)
    cal = shared / "calibration"
    if not cal.is_dir():
        print(f"no calibration files at {cal}", file=sys.stderr)
        return 2

    mv = get_benchmark("mathvision")
    mv_items = mv.load("test", shared / "benchmarks" / "mathvision")
    vision = [
        mathvision_agreement(mv, mv_items, p) for p in sorted((cal / "mathvision").glob("*.jsonl"))
    ]
    vista_b = get_benchmark("mathvista")
    vista_items = vista_b.load("testmini", shared / "benchmarks" / "mathvista")
    files = sorted((cal / "mathvista").glob("*.json"))
    vista_ext = [mathvista_agreement(vista_b, vista_items, p, "extraction") for p in files]
    vista_raw = [mathvista_agreement(vista_b, vista_items, p, "response") for p in files]

    print("## Calibration against official per-item verdicts\n")
    print(table("MathVision, from `response`", vision, 99.0))
    total_ours = sum(r.ours_correct for r in vision) / sum(r.n for r in vision) * 100
    total_off = sum(r.official_correct for r in vision) / sum(r.n for r in vision) * 100
    print(
        f"\nOverall MathVision accuracy: ours {total_ours:.2f}%, official {total_off:.2f}% (Δ {total_ours - total_off:+.2f})\n"
    )
    print(table("MathVista, `response` := official `extraction`", vista_ext, 99.5))
    print()
    print(table("MathVista, raw `response`, rules only", vista_raw, 95.0))
    print("\n## Disagreement categories\n")
    print(categories(vision + vista_ext + vista_raw, args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
