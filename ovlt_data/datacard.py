"""The dataset card (README.md with Hub YAML front matter) and its two figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ovlt_data.schema import CONFIGS

TASK_CATEGORIES = ["visual-question-answering", "image-text-to-text"]


def plot_figures(root: Path, stats: dict[str, Any]) -> list[str]:
    """Reasoning-length histogram (paper Fig. 10) and pass rate per source (Fig. 11).

    matplotlib is in the `data` extra; without it the card says so and the build goes on."""
    try:
        import matplotlib
    except ImportError:
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    (root / "figures").mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lengths = stats["sft_lengths"]
    ax.hist(lengths or [0], bins=min(40, max(5, len(set(lengths)))), color="#4a72c8")
    ax.set_xlabel("words per kept SFT trace")
    ax.set_ylabel("items")
    ax.set_title(f"Reasoning length (n={len(lengths)})")
    fig.tight_layout()
    fig.savefig(root / "figures" / "reasoning_length.png", dpi=90)
    plt.close(fig)
    out.append("figures/reasoning_length.png")

    rates = stats["pass_rate_by_source"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(rates) or ["(none)"]
    ax.bar(names, [rates.get(n, 0) for n in names], color="#c87a4a")
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean pass@k rate")
    ax.set_title("Pass rate per source")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(root / "figures" / "pass_rate_by_source.png", dpi=90)
    plt.close(fig)
    out.append("figures/pass_rate_by_source.png")
    return out


def _words(w: dict[str, Any]) -> str:
    if not w.get("n"):
        return "none kept"
    return f"n={w['n']}, mean {w['mean']}, median {w['median']}, max {w['max']}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def write_readme(root: Path, manifest: dict[str, Any]) -> None:
    card, stats = manifest["card"], manifest["stats"]
    sources = manifest["sources"]
    front = {
        "license": card.get("licence", "other"),
        "pretty_name": f"{card['name']} {card['version']}",
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

# {card["name"]} — {card["version"]} (round {card["round"]})

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
    (root / "README.md").write_text(text)
