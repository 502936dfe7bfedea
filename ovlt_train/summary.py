"""The table across rounds (the paper's Fig. 4 as numbers) and its plot. Accuracies are
percentages, as in every summary ovlt writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ovlt_train.manifest import atomic_write_json

# The tiny random-weight model (ovlt_eval.testing.tiny_model) leaves this file in its folder.
RANDOM_MODEL_MARKER = "ovlt_tiny_model.json"


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


def _accuracy(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("accuracy")
    return None if value is None else float(value)


def _fmt(value: Any) -> str:
    acc = _accuracy(value)
    return "—" if acc is None else f"{acc:.1f}"


def items_per_bench(rows: list[dict[str, Any]], benches: list[str]) -> dict[str, int | None]:
    """n of each bench (the largest scored, so a partly failed run does not hide it)."""
    out: dict[str, int | None] = {}
    for bench in benches:
        ns = [
            s.get("n")
            for r in rows
            if isinstance(s := r["scores"].get(bench), dict) and isinstance(s.get("n"), int)
        ]
        out[bench] = max(ns) if ns else None
    return out


def render_table(rows: list[dict[str, Any]], benches: list[str]) -> str:
    n = items_per_bench(rows, benches)
    head = ["model"] + [b if n[b] is None else f"{b} (n={n[b]})" for b in benches]
    lines = [head] + [[r["label"]] + [_fmt(r["scores"].get(b)) for b in benches] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for i, line in enumerate(lines):
        out.append(
            "| "
            + " | ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
            + " |"
        )
        if i == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out) + "\n\naccuracy in %"


def is_random_model(model: str | Path) -> bool:
    return (Path(model) / RANDOM_MODEL_MARKER).is_file()


def plot(
    rows: list[dict[str, Any]], benches: list[str], path, *, k: int = 1, random: bool = False
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig = figure(plt, rows, benches, k=k, random=random)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


def figure(
    plt, rows: list[dict[str, Any]], benches: list[str], *, k: int = 1, random: bool = False
):
    """The accuracy-across-rounds figure (paper Fig. 4), not yet saved."""
    n = items_per_bench(rows, benches)
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows) + 2), 4.0))
    xs = list(range(len(rows)))
    for bench in benches:
        ys = [_accuracy(r["scores"].get(bench)) for r in rows]
        label = bench if n[bench] is None else f"{bench} (n={n[bench]})"
        ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=label)
        for x, y in zip(xs, ys, strict=True):
            if y is not None:
                ax.annotate(
                    f"{y:.1f}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 5),
                    fontsize=7,
                    ha="center",
                )
    ax.set_xticks(xs, [r["label"] for r in rows], rotation=20, ha="right")
    # A percentage axis, always 0-100: all-zero scores stay at 0 (matplotlib's autoscale
    # would spread them over -0.04..0.04) and rounds stay comparable between plots.
    ax.set_ylim(-3, 105)  # a 0 % point is drawn whole, above the axis line
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("accuracy (%)")
    title = f"accuracy across SFT / GRPO rounds (k={k} sample{'s' if k != 1 else ''} per item)"
    if random:
        title += "\nrandom-weight model: these numbers mean nothing"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()  # after the labels are set, so none is clipped
    return fig


def write_summary(manifest, steps, benches: list[str], *, k: int = 1, random: bool = False) -> str:
    rows = rows_from_manifest(manifest, steps)
    table = render_table(rows, benches)
    if random:
        table += " (random-weight model: these numbers mean nothing)"
    work = manifest.work_dir
    (work / "loop_summary.md").write_text(table + "\n")
    atomic_write_json(
        work / "loop_summary.json",
        {"benches": benches, "unit": "percent", "k": k, "random_model": random, "rows": rows},
    )
    if rows:
        plot(rows, benches, work / "loop_summary.png", k=k, random=random)
    return table
