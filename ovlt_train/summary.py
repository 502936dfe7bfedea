"""The table across rounds (the paper's Fig. 4 as numbers) and its plot."""

from __future__ import annotations

import json
from typing import Any

from ovlt_train.manifest import atomic_write_json


def rows_from_manifest(manifest, steps) -> list[dict[str, Any]]:
    rows = []
    for step in steps:
        if step.kind != "eval":
            continue
        rec = manifest.step(step.id)
        if rec.get("status") != "done":
            continue
        result = rec.get("result", {})
        rows.append(
            {
                "label": result.get("label", step.label),
                "round": step.round,
                "scores": result.get("scores", {}),
            }
        )
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("accuracy")
    return "—" if value is None else f"{100 * float(value):.1f}"


def render_table(rows: list[dict[str, Any]], benches: list[str]) -> str:
    head = ["model"] + list(benches)
    lines = [head] + [[r["label"]] + [_fmt(r["scores"].get(b)) for b in benches] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append(
            "| "
            + " | ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
            + " |"
        )
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], benches: list[str], path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows) + 2), 3.6))
    xs = list(range(len(rows)))
    for bench in benches:
        ys = []
        for r in rows:
            v = r["scores"].get(bench)
            v = v.get("accuracy") if isinstance(v, dict) else v
            ys.append(None if v is None else 100 * float(v))
        ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=bench)
    ax.set_xticks(xs, [r["label"] for r in rows], rotation=20)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy across SFT / GRPO rounds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_summary(manifest, steps, benches: list[str]) -> str:
    rows = rows_from_manifest(manifest, steps)
    table = render_table(rows, benches)
    work = manifest.work_dir
    (work / "loop_summary.md").write_text(table + "\n")
    atomic_write_json(work / "loop_summary.json", {"benches": benches, "rows": rows})
    if rows:
        plot(rows, benches, work / "loop_summary.png")
    return table


def load_rows(work_dir) -> list[dict[str, Any]]:
    return json.loads((work_dir / "loop_summary.json").read_text())["rows"]
