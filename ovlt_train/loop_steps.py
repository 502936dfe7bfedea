"""The loop's calls into the data factory and the evaluation harness (their public APIs)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
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


# As the reference evaluates: the base model with eval_qwen.py (the `\boxed{}` instruction),
# every checkpoint with eval_openvlthinker.py (`<answer>` tags), both scored by the authors'
# rule (`--protocol reference`), so the loop's table can be set beside the paper's.
# `--profile` / `--protocol` in the loop card's `eval_args` override these (they come later).
BASE_PROFILE = "qwen"
CHECKPOINT_PROFILE = "openvlthinker"
LOOP_PROTOCOL = "reference"
DEFAULT_SPLIT = "testmini"


@dataclass(frozen=True)
class BenchSpec:
    """One entry of the loop card's `benches`: `NAME` (its default split) or `NAME:SPLIT`."""

    key: str  # as written in the card: the column of the loop's table
    name: str
    split: str


def parse_bench(spec: str) -> BenchSpec:
    """`mathvision` -> testmini; `mathvision:test` -> MathVision's full test set (the paper
    reports both). An unknown benchmark or split is a one-line error, before any training."""
    from ovlt_eval.benchmarks import get_benchmark

    name, sep, split = str(spec).strip().partition(":")
    bench = get_benchmark(name)
    if sep and not split.strip():
        raise UserError(f"benches: {spec!r} names no split after ':' (e.g. mathvision:test)")
    split = split.strip() or getattr(bench, "default_split", None) or DEFAULT_SPLIT
    if split not in bench.splits:
        raise UserError(
            f"benches: {spec!r}: {bench.name} has no split {split!r}; known: {', '.join(bench.splits)}"
        )
    return BenchSpec(key=str(spec).strip(), name=bench.name, split=split)


def parse_benches(specs: list[str]) -> list[BenchSpec]:
    parsed = [parse_bench(s) for s in specs]
    seen = set()
    for b in parsed:
        if (b.name, b.split) in seen:
            raise UserError(f"benches: {b.name} {b.split} is listed twice")
        seen.add((b.name, b.split))
    return parsed


def eval_profile(target: str) -> str:
    """The profile the reference evaluates `target` with ("base" = the base model)."""
    return BASE_PROFILE if target == "base" else CHECKPOINT_PROFILE


def eval_runs(
    *, model: str, benches: list[str], out_dir: Path, extra_args: list[str], profile: str
) -> list[tuple[list[str], list[BenchSpec], Path]]:
    """The `ovlt-eval run` calls for `benches`: one per split, each with its own run directory.

    One split (the usual case) writes into `out_dir` as a plain `ovlt-eval run` would; with
    several (e.g. MathVision testmini and test), each split gets `out_dir/<split>/`.
    """
    specs = parse_benches(benches)
    by_split: dict[str, list[BenchSpec]] = {}
    for spec in specs:
        by_split.setdefault(spec.split, []).append(spec)
    calls = []
    for split, group in by_split.items():
        where = out_dir if len(by_split) == 1 else out_dir / split
        argv = ["run", "--model", str(model), "--out", str(where), "--no-progress"]
        argv += ["--split", split, "--profile", profile, "--protocol", LOOP_PROTOCOL]
        for spec in group:
            argv += ["--bench", spec.name]
        argv += list(extra_args)  # the card's own flags win (argparse keeps the last)
        calls.append((argv, group, where))
    return calls


def evaluate(
    *,
    model: str,
    benches: list[str],
    out_dir: Path,
    extra_args: list[str],
    profile: str = CHECKPOINT_PROFILE,
) -> dict[str, Any]:
    """`ovlt-eval run` on the benches (in-process; resumable in its own run directories)."""
    from ovlt_eval.cli import main as eval_main

    scores: dict[str, Any] = {}
    for argv, group, where in eval_runs(
        model=model, benches=benches, out_dir=Path(out_dir), extra_args=extra_args, profile=profile
    ):
        rc = eval_main(argv)
        if rc != 0:
            raise UserError(f"ovlt-eval run failed for {model} (exit {rc}); see its message above")
        for spec in group:
            path = (
                where / "summary.json"
                if len(group) == 1
                else where / f"{spec.name}-{spec.split}" / "summary.json"
            )
            if not path.is_file():
                scores[spec.key] = None
                continue
            summary = json.loads(path.read_text())
            scores[spec.key] = {
                "accuracy": _accuracy(summary),
                "protocol": summary.get("protocol"),
                # all three protocols, as fractions, where the summary has them
                **{
                    key: None if summary.get(key) is None else float(summary[key]) / 100.0
                    for key in ("accuracy_reference", "accuracy_official", "accuracy_corrected")
                },
                "split": spec.split,
                "profile": profile_of(argv),
                "items": summary.get("run", {}).get("items"),
                "no_answer_rate": summary.get("run", {}).get("no_answer_rate"),
                "summary": str(path),
            }
    return scores


def profile_of(argv: list[str]) -> str | None:
    """The `--profile` that `ovlt-eval run` will use: the last one given."""
    found = None
    for i, arg in enumerate(argv):
        if arg == "--profile" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--profile="):
            found = arg.split("=", 1)[1]
    return found
