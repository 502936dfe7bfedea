"""The dataset card (README.md with Hub YAML front matter) and its two figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ovlt_data.schema import CONFIGS
from ovlt_eval.atomic import write_atomic
from ovlt_eval.redact import redact

TASK_CATEGORIES = ["visual-question-answering", "image-text-to-text"]


FIGURES_VERSION = "3"  # bump when the drawing code changes: cached PNGs are keyed by it


def figure_label(manifest: dict[str, Any]) -> str:
    """Which dataset a figure belongs to, in its title: a PNG is looked at apart from its
    folder (the Hub card, a slide), so it says `name vN, round R` itself."""
    card = manifest.get("card") or {}
    name, version, rnd = (manifest.get(k, card.get(k)) for k in ("name", "version", "round"))
    label = f"{name} {version}"
    return f"{label}, round {rnd}" if rnd is not None else label


def _figure_specs(stats: dict[str, Any], label: str) -> dict[str, dict[str, Any]]:
    """What each figure shows, from aggregates only (words -> traces, mean pass rate per source)."""
    return {
        "reasoning_length": {
            "lengths": {str(k): v for k, v in stats["sft_lengths"].items()},
            "label": label,
        },
        "pass_rate_by_source": {"rates": stats["pass_rate_by_source"], "label": label},
    }


def _draw(name: str, spec: dict[str, Any]) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if name == "reasoning_length":
        lengths = {int(k): v for k, v in spec["lengths"].items()}
        n = sum(lengths.values())
        ax.hist(
            list(lengths) or [0],
            weights=list(lengths.values()) or None,
            bins=min(40, max(5, len(lengths))),
            color="#4a72c8",
        )
        ax.set_xlabel("words per kept SFT trace")
        ax.set_ylabel("items")
        ax.set_title(f"{spec['label']}: reasoning length (n={n})", fontsize=10)
    else:
        rates = spec["rates"]
        names = list(rates) or ["(none)"]
        ax.bar(names, [rates.get(n, 0) for n in names], color="#c87a4a")
        ax.set_ylim(0, 1)
        ax.set_ylabel("mean pass@k rate")
        ax.set_title(f"{spec['label']}: pass rate per source", fontsize=10)
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def plot_figures(root: Path, stats: dict[str, Any], cache=None, *, label: str = "") -> list[str]:
    """Reasoning-length histogram (paper Fig. 10) and pass rate per source (Fig. 11).

    A figure is a function of its aggregates, so with a cache (`CallCache`) it is drawn once per
    distinct content: a rebuild copies the PNG and does not even import matplotlib.
    matplotlib is in the `data` extra; without it the card says so and the build goes on."""
    import hashlib
    import json
    from importlib import metadata

    try:
        mpl_version = metadata.version("matplotlib")
    except metadata.PackageNotFoundError:
        return []
    out = []
    (root / "figures").mkdir(exist_ok=True)
    for name, spec in _figure_specs(stats, label).items():
        key = hashlib.sha256(
            json.dumps(
                ["figure", FIGURES_VERSION, mpl_version, name, spec], sort_keys=True
            ).encode()
        ).hexdigest()
        png = cache.blob_get(key) if cache is not None else None
        if png is None:
            png = _draw(name, spec)
            if cache is not None:
                cache.blob_put(key, png)
        (root / "figures" / f"{name}.png").write_bytes(png)
        out.append(f"figures/{name}.png")
    return out


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def write_readme(root: Path, manifest: dict[str, Any]) -> None:
    # the README is pushed to the Hub: card templates, never `${VAR}` values or URL credentials
    manifest = redact(manifest)
    card, stats = manifest["card"], manifest["stats"]
    # name/version/round from the manifest's own fields: the card's may be `${VAR}` templates
    title = {k: manifest.get(k, card.get(k)) for k in ("name", "version", "round")}
    sources = manifest["sources"]
    front = {
        "license": card.get("licence", "other"),
        "pretty_name": f"{title['name']} {title['version']}",
        "task_categories": TASK_CATEGORIES,
        "language": ["en"],
        "tags": ["reasoning", "multimodal", "openvlthinker", "ovlt"],
        "source_datasets": sorted(
            {s.get("hub_id") or f"{s['kind']}:{name}" for name, s in sources.items()}
        ),
        "configs": [
            {"config_name": c, "data_files": [{"split": "train", "path": f"data/{c}/*.parquet"}]}
            for c in CONFIGS
            if stats["counts"].get(c)  # `datasets` refuses a config with an empty split
        ],
    }
    counts = stats["counts"]
    by_source = stats["by_source"]
    stage_rows = [
        [
            s["stage"],
            ", ".join(s.get("pools", [])),
            s["in"],
            s["out"],
            ", ".join(f"{k}: {v}" for k, v in s["dropped"].items()) or "-",
        ]
        for s in manifest["stages"]
    ]
    model_rows = [
        [
            role,
            m["engine"],
            m["model"],
            m["revision"],
            f"T={m['sampling']['temperature']}, top_p={m['sampling']['top_p']}, max_tokens={m['sampling']['max_tokens']}",
        ]
        for role, m in manifest["models"].items()
    ]
    licences = [
        [name, s.get("hub_id") or s.get("path") or s["kind"], s.get("licence", "see source")]
        for name, s in sources.items()
    ]
    decon = manifest.get("decontamination", {})
    figures = "\n".join(
        f"![{Path(f).stem.replace('_', ' ')}]({f})" for f in manifest.get("figures", [])
    ) or ("(figures not drawn: install the `data` extra for matplotlib)")
    text = f"""---
{yaml.safe_dump(front, sort_keys=False).strip()}
---

# {title["name"]} — {title["version"]} (round {title["round"]})

{card.get("description") or ""}

Built by `ovlt-data build` (ovlt {manifest["code_version"]}). Dataset fingerprint
`{manifest["fingerprint"]}`; card sha256 `{manifest["card_sha256"][:16]}`.

## Configs

{_table(["config", "rows"], [[c, counts.get(c, 0)] for c in CONFIGS])}

`sft`: conversational traces `<think>…</think>` + conclusion + `<answer>…</answer>` in `response`.
`grpo_medium` / `grpo_hard`: prompts with gold `answer`, split by the policy's pass rate.
`rejected`: every dropped row with `reject_stage`, `reject_reason`, `reject_detail`.

## Per source

{_table(["source"] + list(CONFIGS) + ["mean pass rate"], [[s] + [c.get(k, 0) for k in CONFIGS] + [stats["pass_rate_by_source"].get(s, "-")] for s, c in by_source.items()])}

## Stages

{_table(["stage", "pools", "in", "out", "dropped (reason: count)"], stage_rows)}

## Models

{_table(["role", "engine", "model", "revision", "sampling"], model_rows) if model_rows else "No model calls."}

## Decontamination

Benchmarks indexed: {", ".join(f"{k} ({v} items)" for k, v in decon.get("benchmarks", {}).items()) or "none"}.
Rows dropped: {len(decon.get("matches", []))} (each listed in `manifest.json` with the item it matched).

## Reasoning length and pass rate

SFT trace words: {stats["sft_words"]}

{figures}

## Sources and licences

{_table(["source", "origin", "licence"], licences)}

Check each upstream licence before redistributing; this card inherits their terms.
"""
    write_atomic(root / "README.md", text)  # every string in it came from the redacted manifest
