"""Cards and small files for the data-factory tests."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from ovlt_data.card_io import resolve_card_path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
DEMO = REPO / "ovlt_cards" / "rounds" / "demo.yaml"


def demo_card(
    base_url: str,
    model: str = "loopback",
    *,
    engine: str = "openai",
    options=None,
    sft: int = 12,
    grpo: int = 8,
    decontaminate: bool = False,
    max_tokens: int | None = None,
) -> dict:
    """demo.yaml with its models pointed at one server (or an in-process engine)."""
    card = yaml.safe_load(DEMO.read_text())
    opts = options if options is not None else {"base_urls": [base_url]}
    for role, spec in card["models"].items():
        spec = copy.deepcopy(spec)
        spec.update(engine=engine, model=model, options=copy.deepcopy(opts), revision="test")
        if max_tokens:
            spec["sampling"]["max_tokens"] = max_tokens
        card["models"][role] = spec
    card["sources"][0]["n"] = sft
    card["sources"][1]["n"] = grpo
    if not decontaminate:
        card["stages"] = [s for s in card["stages"] if s["stage"] != "decontaminate"]
    for s in card["stages"]:  # a dict card has no folder: make the card's relative paths absolute
        for b in s.get("benchmarks", []):
            data = (
                b["data"].split(":-", 1)[-1].rstrip("}")
                if b["data"].startswith("${")
                else b["data"]
            )
            b["data"] = str(resolve_card_path(data, DEMO.parent).resolve())
    return card
