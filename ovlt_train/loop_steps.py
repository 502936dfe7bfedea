"""The loop's calls into the data factory and the evaluation harness (their public APIs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError
from ovlt_train.cards import apply_overrides, read_yaml


def round_data_card(
    card_path: str,
    *,
    generator_checkpoint: str | None,
    generator_version: str,
    generator_keys: list[str],
    generator_engine: str,
    generator_options: dict[str, Any],
    overrides: dict[str, Any],
) -> dict[str, Any]:
    """The data card for one round, as a dict: from round 2 on, the named models become the
    previous round's GRPO checkpoint (revision = its version, so cached calls never mix)."""
    raw = apply_overrides(read_yaml(card_path), overrides)
    if generator_checkpoint is not None:
        models = dict(raw.get("models") or {})
        for key in generator_keys:
            if key not in models:
                raise UserError(
                    f"{card_path}: no model '{key}' to replace with the GRPO checkpoint "
                    f"(card models: {', '.join(models) or 'none'}; set generator_model in the loop card)"
                )
            old = dict(models[key])
            models[key] = {
                "engine": generator_engine,
                "model": str(Path(generator_checkpoint).resolve()),
                "revision": generator_version,
                "options": dict(generator_options),
                **({"sampling": old["sampling"]} if "sampling" in old else {}),
            }
        raw["models"] = models
    return raw


def build_round_data(
    *,
    card_path: str,
    round_number: int,
    out_dir: Path,
    generator_checkpoint: str | None,
    generator_version: str = "",
    generator_key: str | list[str] = "generator",
    generator_engine: str = "hf",
    generator_options: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    cache_path: Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    from ovlt_data.build import build

    keys = [generator_key] if isinstance(generator_key, str) else list(generator_key)
    card = round_data_card(
        card_path,
        generator_checkpoint=generator_checkpoint,
        generator_version=generator_version,
        generator_keys=keys,
        generator_engine=generator_engine,
        generator_options=generator_options or {},
        overrides=overrides or {},
    )
    # Relative paths inside a card are relative to the card file, and the data factory resolves
    # a dict card's paths against the working directory: build from the card's folder.
    out_dir, cache_path = (
        Path(out_dir).resolve(),
        Path(cache_path).resolve() if cache_path else None,
    )
    here = os.getcwd()
    os.chdir(Path(card_path).resolve().parent)
    try:
        version = build(card, out_dir, cache_path=cache_path, force=True)
    finally:
        os.chdir(here)
    manifest = json.loads((Path(version) / "manifest.json").read_text())
    info = {
        "data_card": card_path,
        "generator": generator_checkpoint,
        "fingerprint": manifest.get("fingerprint"),
        "stats": manifest.get("stats", {}),
    }
    return Path(version), info


def _accuracy(summary: dict[str, Any]) -> float | None:
    """A fraction, from the counts (the summary's `accuracy` is a percentage)."""
    n, correct = summary.get("n"), summary.get("correct")
    if isinstance(n, int) and n > 0 and isinstance(correct, int):
        return correct / n
    value = summary.get("accuracy")
    return None if value is None else float(value) / 100.0


def evaluate(
    *, model: str, benches: list[str], out_dir: Path, extra_args: list[str]
) -> dict[str, Any]:
    """`ovlt-eval run` on the benches (in-process; resumable in its own run directory)."""
    from ovlt_eval.cli import main as eval_main

    argv = ["run", "--model", str(model), "--out", str(out_dir), "--no-progress"]
    for bench in benches:
        argv += ["--bench", bench]
    argv += list(extra_args)
    rc = eval_main(argv)
    if rc != 0:
        raise UserError(f"ovlt-eval run failed for {model} (exit {rc}); see its message above")
    scores: dict[str, Any] = {}
    for bench in benches:
        hits = (
            [out_dir / "summary.json"]
            if len(benches) == 1
            else sorted(out_dir.glob(f"{bench}-*/summary.json"))
        )
        if not hits or not hits[0].is_file():
            scores[bench] = None
            continue
        summary = json.loads(hits[0].read_text())
        scores[bench] = {
            "accuracy": _accuracy(summary),
            "items": summary.get("run", {}).get("items"),
            "no_answer_rate": summary.get("run", {}).get("no_answer_rate"),
            "summary": str(hits[0]),
        }
    return scores
