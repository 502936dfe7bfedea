"""Reports across run directories: one Markdown table with breakdowns, optionally HTML + plots.

The overview shows the headline accuracy (the run's `--protocol`) and all three protocols side
by side: `reference` (the OpenVLThinker authors' script: the paper's table), `official` (the
benchmark's own evaluator: the leaderboards) and `corrected` (our verifier). A run made before a
protocol existed, or a benchmark without an official evaluator, shows "—" there.

Runs of the same benchmark that were generated differently (dtype, batch size, the reproducible
setting, image pixel limits; read from each eval card) get a warning under the table: on a GPU
in bf16 the batch size alone changes outputs, so such a difference is not only the models'.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError
from ovlt_eval.runs.card import generation_settings

SUMMARY = "summary.json"
CARD = "eval_card.json"
SAMPLES = "samples.jsonl"


@dataclass
class RunResult:
    label: str
    path: Path
    summary: dict[str, Any]
    card: dict[str, Any] | None
    lengths: list[int] = field(default_factory=list)
    length_unit: str = "chars"

    @property
    def bench(self) -> str:
        return f"{self.summary.get('benchmark', '?')}-{self.summary.get('split', '?')}"

    @property
    def model(self) -> str:
        if self.card:
            return str(self.card.get("settings", {}).get("model", ""))
        if self.summary.get("predictions_file"):  # an `ovlt-eval score` directory
            return "predictions: " + Path(self.summary["predictions_file"]).name
        return ""


# How deep `compare` looks under a folder for run directories (a loop's work dir holds them
# at round*/eval-*/, a multi-benchmark run at <bench>-<split>/).
_MAX_DEPTH = 6


def _run_dirs(root: Path) -> list[Path]:
    """Run directories (holding summary.json) under `root`, at any depth up to _MAX_DEPTH;
    symlinks and hidden folders are not followed, and a run directory's own sub-folders are
    not searched."""
    found: list[Path] = []
    for here, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(here).relative_to(root).parts)
        if SUMMARY in files and Path(here) != root:
            found.append(Path(here))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < _MAX_DEPTH else []
    return sorted(found)


def find_runs(paths: list[str], skipped: list[str] | None = None) -> list[RunResult]:
    """Each path is a run directory, or a folder holding run directories at any depth (a
    multi-benchmark run's `<bench>-<split>/`, a loop's `round*/eval-*/`).

    A run whose summary.json cannot be read or is not a summary: with a `skipped` list, one
    line saying why is added there and the other runs are still compared; without, it raises."""
    runs: list[RunResult] = []

    def add(path: Path, label: str) -> None:
        try:
            runs.append(load_run(path, label))
        except UserError as err:
            if skipped is None:
                raise
            skipped.append(str(err))

    for arg in paths:
        root = Path(arg)
        if not root.exists():
            raise UserError(f"{arg}: no such run directory")
        if (root / SUMMARY).is_file():
            add(root, arg)
            continue
        subs = _run_dirs(root)
        if not subs:
            raise UserError(
                f"{arg}: no {SUMMARY} here or in its sub-directories; is the run finished?"
            )
        for p in subs:
            add(p, str(Path(arg) / p.relative_to(root)))
    if not runs:
        raise UserError("no runs to compare" + (" (every one was skipped)" if skipped else ""))
    return runs


def load_run(path: Path, label: str) -> RunResult:
    from ovlt_eval.runs.summary import summary_problem

    file = path / SUMMARY
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as err:  # UnicodeDecodeError included
        raise UserError(f"{file}: not valid JSON ({err})") from None
    except OSError as err:
        raise UserError(f"{file}: cannot read it ({err.strerror or err})") from None
    problem = summary_problem(summary)
    if problem:
        raise UserError(f"{file}: not a run summary: {problem}")
    result = RunResult(label=label, path=path, summary=summary, card=_read_card(path / CARD))
    result.lengths, result.length_unit = _response_lengths(path / SAMPLES)
    return result


def _read_card(path: Path) -> dict[str, Any] | None:
    """The eval card, or None when absent or not of the shape the report reads (the card only
    adds the model name and the generation-settings warnings, so a bad one is left out)."""
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    if not isinstance(card, dict) or any(
        card.get(k) is not None and not isinstance(card[k], dict)
        for k in ("settings", "generation", "engine")
    ):
        return None
    return card


def _response_lengths(samples: Path) -> tuple[list[int], str]:
    if not samples.is_file():
        return [], "chars"
    latest: dict[str, dict] = {}
    # Only the histogram reads this: a line it cannot use is left out of the plot.
    with open(samples, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of a killed run
            if isinstance(rec, dict):
                latest[str(rec.get("id"))] = rec
    recs = [r for r in latest.values() if r.get("status") != "error" and "response" in r]
    tokens = [r.get("tokens") for r in recs]
    if recs and all(isinstance(t, int) for t in tokens):
        return tokens, "tokens"
    return [len(r["response"]) if isinstance(r["response"], str) else 0 for r in recs], "chars"


MISSING = "—"
# summary.json key -> column name; the headline `accuracy` is one of them, by the run's protocol.
PROTOCOL_COLUMNS = (
    ("accuracy_reference", "reference"),
    ("accuracy_official", "official"),
    ("accuracy_corrected", "corrected"),
)
# eval-card `generation` fields that change what a model answers, not only how fast.
GENERATION_FIELDS = ("dtype", "batch_size", "reproducible", "min_pixels", "max_pixels")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _run_fig(run: RunResult, key: str) -> Any:
    return (run.summary.get("run") or {}).get(key)


def overview_rows(runs: list[RunResult]) -> tuple[list[str], list[list[str]]]:
    any_judge = any("accuracy_by_verdict" in r.summary for r in runs)
    any_pass = any(_run_fig(r, "pass_at_k") for r in runs)
    head = ["run", "model", "benchmark", "n", "protocol", "accuracy"]
    head += [name for _, name in PROTOCOL_COLUMNS]
    if any_judge:
        head.append("rules+judge")
    if any_pass:
        head.append("pass@k")
    head += ["no-answer %", "mean length", "errors"]
    rows = []
    for r in runs:
        row = [
            r.label,
            r.model or MISSING,
            r.bench,
            _fmt(r.summary.get("n")),
            _fmt(r.summary.get("protocol")),
            _fmt(r.summary.get("accuracy")),
        ]
        row += [_fmt(r.summary.get(key)) for key, _ in PROTOCOL_COLUMNS]
        if any_judge:
            row.append(_fmt((r.summary.get("accuracy_by_verdict") or {}).get("rules+judge")))
        if any_pass:
            pk = _run_fig(r, "pass_at_k") or {}
            row.append(", ".join(f"{k} {_fmt(v)}" for k, v in pk.items()) or MISSING)
        length = _run_fig(r, "mean_response_tokens")
        unit = "tok"
        if length is None:
            length, unit = _run_fig(r, "mean_response_chars"), "chars"
        errors = _run_fig(r, "errors")
        if errors is None:  # a `score` directory: missing predictions are its errors
            errors = (r.summary.get("status_counts") or r.summary.get("counts") or {}).get(
                "missing_prediction"
            )
        row += [
            _fmt(_run_fig(r, "no_answer_rate")),
            f"{_fmt(length, 1)} {unit}" if length is not None else MISSING,
            _fmt(errors),
        ]
        rows.append(row)
    return head, rows


def breakdown_tables(runs: list[RunResult]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per benchmark and breakdown key; one column per run."""
    tables = []
    benches: dict[str, list[RunResult]] = {}
    for r in runs:
        benches.setdefault(r.bench, []).append(r)
    for bench, group in benches.items():
        keys: list[str] = []
        for r in group:
            for k in r.summary.get("breakdown") or {}:
                if k not in keys:
                    keys.append(k)
        for key in keys:
            values: list[str] = []
            for r in group:
                for v in (r.summary.get("breakdown") or {}).get(key, {}):
                    if v not in values:
                        values.append(v)
            head = [key] + [r.label for r in group]
            rows = []
            for v in values:
                row = [v or "(none)"]
                for r in group:
                    cell = (r.summary.get("breakdown") or {}).get(key, {}).get(v)
                    if cell is None:
                        row.append(MISSING)
                    else:
                        row.append(f"{_fmt(cell.get('accuracy'))} ({cell.get('n', '?')})")
                rows.append(row)
            tables.append((f"{bench} by {key}", head, rows))
    return tables


def generation_of(run: RunResult) -> dict[str, Any] | None:
    """The card's `generation` block (derived from its `engine` for cards written before it)."""
    if not run.card:
        return None
    block = run.card.get("generation") or generation_settings(run.card.get("engine") or {})
    return block or None


def generation_warnings(runs: list[RunResult]) -> list[str]:
    """One line per benchmark whose runs differ in dtype, batch size, reproducible or pixels."""
    benches: dict[str, list[RunResult]] = {}
    for r in runs:
        benches.setdefault(r.bench, []).append(r)
    warnings = []
    for bench, group in benches.items():
        caps = {r.label: c for r in group if (c := max_tokens_of(r)) is not None}
        if len(set(caps.values())) > 1:
            shown = ", ".join(f"{label}: {c}" for label, c in caps.items())
            warnings.append(
                f"{bench}: the runs differ in max_tokens ({shown}): a reply cut shorter is "
                "scored on less, so accuracies and lengths are not comparable"
            )
        known = [(r, g) for r in group if (g := generation_of(r)) is not None]
        if len(known) < 2:
            continue
        for name in GENERATION_FIELDS:
            values = {r.label: g.get(name) for r, g in known}
            if len({json.dumps(v, sort_keys=True) for v in values.values()}) > 1:
                shown = ", ".join(f"{label}: {_fmt(v)}" for label, v in values.items())
                warnings.append(
                    f"{bench}: the runs differ in {name} ({shown}), so their accuracies may "
                    f"differ for that reason too{_WHY.get(name, '')}"
                )
    return warnings


_WHY = {
    "batch_size": " (on a GPU in bf16, outputs depend on the batch; use --reproducible)",
    "dtype": " (use --reproducible, float32, for outputs that do not depend on it)",
    "min_pixels": " (the model saw the images at other sizes)",
    "max_pixels": " (the model saw the images at other sizes)",
}


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(runs: list[RunResult]) -> str:
    head, rows = overview_rows(runs)
    parts = ["## Runs", "", *what_is_compared(runs), "", _md_table(head, rows)]
    warnings = generation_warnings(runs)
    if warnings:
        for w in warnings:  # one quoted paragraph each
            parts += ["", f"> **warning:** {w}"]
    for title, bhead, brows in breakdown_tables(runs):
        parts += ["", f"### {title} (accuracy %, n)", "", _md_table(bhead, brows)]
    return "\n".join(parts) + "\n"


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(runs: list[RunResult]) -> list[tuple[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise UserError(
            "--html needs matplotlib (pip install 'ovlt[data]' or pip install matplotlib)"
        ) from err

    images = []
    benches: dict[str, list[RunResult]] = {}
    for r in runs:
        benches.setdefault(r.bench, []).append(r)
    for bench, group in benches.items():
        for key in dict.fromkeys(k for r in group for k in (r.summary.get("breakdown") or {})):
            values = list(
                dict.fromkeys(
                    v for r in group for v in (r.summary.get("breakdown") or {}).get(key, {})
                )
            )
            if not values:
                continue
            fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(values) * len(group)), 3.2))
            width = 0.8 / len(group)
            for i, r in enumerate(group):
                cells = (r.summary.get("breakdown") or {}).get(key, {})
                accs = [float((cells.get(v) or {}).get("accuracy") or 0.0) for v in values]
                ns = [(cells.get(v) or {}).get("n") for v in values]
                bars = ax.bar(
                    [x + i * width for x in range(len(values))],
                    accs,
                    width,
                    label=r.label,
                    edgecolor="black",  # an outline keeps a 0 % bar visible as a line
                    linewidth=0.6,
                )
                # The value and n on every bar: a 0 % bar is otherwise indistinguishable
                # from a category the run does not have.
                ax.bar_label(
                    bars,
                    labels=[
                        f"{a:.0f}\nn={n}" if n is not None else "—"
                        for a, n in zip(accs, ns, strict=True)
                    ],
                    fontsize=6,
                    padding=1,
                )
            ax.set_ylim(0, 115)  # room for the labels above a 100 % bar
            ax.set_xticks([x + 0.4 - width / 2 for x in range(len(values))])
            ax.set_xticklabels([str(v) or "(none)" for v in values], rotation=45, ha="right")
            ax.set_ylabel("accuracy %")
            ax.set_title(f"{bench}: accuracy by {key}")
            ax.legend(fontsize="small")
            images.append((f"{bench}: accuracy by {key}", _png(fig)))
            plt.close(fig)
    for unit in dict.fromkeys(r.length_unit for r in runs if r.lengths):
        images.append(
            _length_histogram(plt, [r for r in runs if r.lengths and r.length_unit == unit], unit)
        )
    return images


def max_tokens_of(run: RunResult) -> int | None:
    """The generation cap a run's replies were cut at (None: not a generation run, e.g. a
    scored predictions file)."""
    sampling = ((run.card or {}).get("settings") or {}).get("sampling") or {}
    value = sampling.get("max_tokens")
    return value if isinstance(value, int) else None


def length_bins(runs: list[RunResult], bins: int = 30):
    """One set of histogram edges, 0 to the longest reply of any run."""
    import numpy as np

    longest = max((v for r in runs for v in r.lengths), default=1)
    return np.histogram_bin_edges([0], bins=bins, range=(0, max(longest, 1)))


def _length_histogram(plt, runs: list[RunResult], unit: str) -> tuple[str, str]:
    """One set of bins for every run (a run of 46-token replies next to one of 2,000-token
    replies is a bar at the left, not a sliver of its own 30 bins), a log count axis so a
    small run is not flattened by a large one, and each run's max_tokens drawn and named."""
    edges = length_bins(runs)
    caps = {r.label: max_tokens_of(r) for r in runs}
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for i, r in enumerate(runs):
        cap = caps[r.label]
        label = f"{r.label} (n={len(r.lengths)}" + (f", max_tokens {cap})" if cap else ")")
        ax.hist(
            r.lengths,
            bins=edges,
            alpha=0.55,
            label=label,
            color=f"C{i}",
            edgecolor="black",
            linewidth=0.4,
        )
        if cap and unit == "tokens":
            ax.axvline(cap, color=f"C{i}", linestyle="--", linewidth=1)
    title = f"response length ({unit}), same bins for every run"
    if len({c for c in caps.values() if c}) > 1:
        title += "\nruns differ in max_tokens: lengths (and accuracies) are not comparable"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"response length ({unit})")
    ax.set_ylabel("items")
    ax.set_yscale("log")
    ax.legend(fontsize="small")
    png = _png(fig)
    plt.close(fig)
    return f"response length ({unit})", png


def what_is_compared(runs: list[RunResult]) -> list[str]:
    """Plain sentences for the top of a report: which models on which benchmarks, and what
    each accuracy column means, so a reader need not know the tool to read the table."""
    models = list(dict.fromkeys(r.model or MISSING for r in runs))
    benches = list(dict.fromkeys(r.bench for r in runs))
    protocols = list(dict.fromkeys(str(r.summary.get("protocol") or MISSING) for r in runs))
    sizes = ", ".join(f"{r.label}: n={_fmt(r.summary.get('n'))}" for r in runs)
    lines = [
        f"{len(runs)} run{'s' if len(runs) != 1 else ''} of "
        f"{len(models)} model{'s' if len(models) != 1 else ''} ({', '.join(models)}) on "
        f"{len(benches)} benchmark split{'s' if len(benches) != 1 else ''} "
        f"({', '.join(benches)}); items scored per run: {sizes}.",
        "accuracy is each run's headline protocol ("
        + ", ".join(protocols)
        + "); reference = the OpenVLThinker authors' script (the paper's table), official = "
        "the benchmark's own evaluator (the leaderboards), corrected = ovlt's verifier. "
        "All accuracies are percentages; — means the protocol was not computed for that run.",
    ]
    if len(benches) > 1 and len(models) > 1:
        lines.append(
            "Runs on different benchmarks are not comparable with each other; compare rows of "
            "the same benchmark."
        )
    return lines


def html_report(runs: list[RunResult]) -> str:
    head, rows = overview_rows(runs)
    title = "ovlt-eval compare: " + ", ".join(dict.fromkeys(r.bench for r in runs))
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".warning{color:#8a4b00}.what{max-width:60em}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p class='what'>{html.escape(line)}</p>" for line in what_is_compared(runs)]
    parts += ["<h2>Runs</h2>", _html_table(head, rows)]
    parts += [
        f"<p class='warning'><strong>warning:</strong> {html.escape(w)}</p>"
        for w in generation_warnings(runs)
    ]
    for title, bhead, brows in breakdown_tables(runs):
        parts += [f"<h3>{html.escape(title)} (accuracy %, n)</h3>", _html_table(bhead, brows)]
    for title, png in _plots(runs):
        parts += [
            f"<h3>{html.escape(title)}</h3>",
            f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
