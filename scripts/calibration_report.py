"""Print Markdown tables: our `official` protocol vs the published per-item verdicts in
../shared/calibration, with our `corrected` accuracy beside it and the categories (with
examples) where the official verdict is itself wrong.

.venv/bin/python scripts/calibration_report.py [--shared PATH] [--examples N]
    [--mathvision-files FILE ...]   # more published MATH-V outputs (held out), e.g. the
                                    # per-model jsonl files under MATH-V's outputs/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ovlt_eval.benchmarks import get_benchmark  # noqa: E402
from ovlt_eval.benchmarks.calibration import (  # noqa: E402
    mathvision_agreement,
    mathvista_agreement,
)


def table(title: str, results, target: float) -> str:
    lines = [
        f"### {title} (target ≥ {target}% per file)",
        "",
        "| file | n | agreement % (official protocol) | ours official acc % | published acc % "
        "| Δ | ours corrected acc % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.file} | {r.n} | {r.agreement:.2f} | {r.ours_official:.2f} | {r.official:.2f} "
            f"| {r.ours_official - r.official:+.2f} | {r.ours_corrected:.2f} |"
        )
    return "\n".join(lines)


def mathvision_table(title: str, results) -> str:
    """Per file: agreement with every published verdict, and the stale ones named."""
    lines = [
        f"### {title} (target 100.00% per file, stale published verdicts named)",
        "",
        "| file | n | agreement % | stale (named) | agreement % less stale "
        "| ours official acc % | published acc % | ours corrected acc % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.file} | {r.n} | {r.agreement:.3f} | {r.stale} | "
            f"{r.agreement_without_stale:.3f} | {r.ours_official:.2f} | {r.official:.2f} "
            f"| {r.ours_corrected:.2f} |"
        )
    if results:
        mean = sum(r.agreement for r in results) / len(results)
        lines.append(f"\nMean agreement over {len(results)} files: {mean:.3f}%")
    for r in results:
        for d in r.disagreements:
            lines.append(
                f"- {r.file} id {d['id']}: published {d['published_verdict']} "
                f"(`{d['published']}`), ours {d['official_verdict']} — {d['reason']}"
            )
    return "\n".join(lines)


def _examples(lines, examples, n_examples, file):
    for ex in examples[:n_examples]:
        tail = ex["response_tail"].replace("\n", " ").replace("|", "/")
        lines.append(
            f"  - {file} id {ex['id']}: gold `{ex['gold']}`; official protocol "
            f"`{ex['official_extracted']}` ({ex['official_verdict']}), corrected "
            f"`{ex['corrected_extracted']}` ({ex['corrected_verdict']}), published "
            f"`{ex['published']}` ({ex['published_verdict']}); …{tail[-100:]}"
        )


def categories(results, n_examples: int, residual: bool) -> str:
    attr = "residual" if residual else "protocol"
    lines = ["| file | category | count |", "|---|---|---:|"]
    for r in results:
        for cat, cnt in getattr(r, f"{attr}_categories").most_common():
            lines.append(f"| {r.file} | {cat} | {cnt} |")
    if n_examples:
        lines.append("")
        seen = set()
        for r in results:
            for cat, exs in getattr(r, f"{attr}_examples").items():
                if cat in seen:
                    continue
                seen.add(cat)
                lines.append(f"- **{cat}**")
                _examples(lines, exs, n_examples, r.file)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--examples", type=int, default=2)
    ap.add_argument("--mathvision-files", nargs="*", default=[])
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

    print("## Calibration: `official` protocol vs the published per-item verdicts\n")
    print(mathvision_table("MathVision, from `response`", vision))
    held_out = []
    if args.mathvision_files:
        held_out = [mathvision_agreement(mv, mv_items, Path(p)) for p in args.mathvision_files]
        print()
        print(mathvision_table("MathVision, other published outputs (held out)", held_out))
    n = sum(r.n for r in vision)
    ours = sum(r.ours_official_correct for r in vision) / n * 100
    pub = sum(r.official_correct for r in vision) / n * 100
    corr = sum(r.ours_corrected_correct for r in vision) / n * 100
    print(
        f"\nOverall MathVision accuracy: official protocol {ours:.2f}%, published {pub:.2f}% "
        f"(Δ {ours - pub:+.2f}); corrected protocol {corr:.2f}%\n"
    )
    print(table("MathVista, `response` := published GPT `extraction`", vista_ext, 99.5))
    print()
    print(table("MathVista, raw `response`, rules only", vista_raw, 95.0))
    print("\n## Where the official verdict is itself wrong (official vs corrected protocol)\n")
    print(categories(vision + held_out + vista_raw, args.examples, residual=False))
    print("\n## Remaining disagreements with the published verdicts\n")
    print(categories(vision + vista_ext + vista_raw, args.examples, residual=True))
    return 0


if __name__ == "__main__":
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
