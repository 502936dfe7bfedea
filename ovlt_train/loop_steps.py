"""The loop's calls into the data factory and the evaluation harness (their public APIs)."""

from __future__ import annotations

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
    # Relative paths inside the card keep meaning what they mean in its file (its own folder).
    version = build(
        card,
        out_dir,
        cache_path=cache_path,
        force=True,
        base_dir=Path(card_path).resolve().parent,
    )
    from ovlt_data.artifact import read_manifest

    manifest = read_manifest(Path(version))
    info = {
        "data_card": card_path,
        "generator": generator_checkpoint,
        "fingerprint": manifest.get("fingerprint"),
        "stats": manifest.get("stats", {}),
    }
    return Path(version), info


# As the reference evaluates: the base model with eval_qwen.py (the `\boxed{}` instruction),
# every checkpoint with eval_openvlthinker.py (`<answer>` tags), both scored by the authors'
# rule (`--protocol reference`), so the loop's table can be set beside the paper's.
# `profile` / `protocol` in the loop card's `eval_options` override these.
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


def eval_calls(
    *, benches: list[str], out_dir: Path, options: dict[str, Any], profile: str
) -> list[tuple[dict[str, Any], list[BenchSpec]]]:
    """The `ovlt_eval.evaluate` calls for `benches`: one per split, each with its own run
    directory, as keyword arguments (the model aside).

    One split (the usual case) writes into `out_dir` as a plain `ovlt-eval run` would; with
    several (e.g. MathVision testmini and test), each split gets `out_dir/<split>/`. The card's
    `eval_options` win over the loop's profile and protocol.
    """
    from ovlt_eval.engines.types import SamplingParams

    specs = parse_benches(benches)
    by_split: dict[str, list[BenchSpec]] = {}
    for spec in specs:
        by_split.setdefault(spec.split, []).append(spec)
    options = dict(options)
    sampling = options.pop("sampling", None)
    if isinstance(sampling, dict):
        try:
            sampling = SamplingParams(**sampling)
        except TypeError as err:
            raise UserError(f"loop card: field eval_options.sampling: {err}") from None
    calls = []
    for split, group in by_split.items():
        kwargs = {"profile": profile, "protocol": LOOP_PROTOCOL, "progress": False, **options}
        names = [spec.name for spec in group]
        if isinstance(kwargs.get("data"), dict):  # {bench: path}: this call's benches only
            kwargs["data"] = {b: d for b, d in kwargs["data"].items() if b in names} or None
        kwargs.update(
            benches=names,
            split=split,
            sampling=sampling,
            out=out_dir if len(by_split) == 1 else out_dir / split,
        )
        calls.append((kwargs, group))
    return calls


def evaluate(
    *,
    model: str,
    benches: list[str],
    out_dir: Path,
    options: dict[str, Any],
    profile: str = CHECKPOINT_PROFILE,
) -> dict[str, Any]:
    """`ovlt_eval.evaluate` on the benches (in-process; resumable in its own run directories).
    Accuracies are percentages, as everywhere in ovlt."""
    from ovlt_eval import evaluate as run_eval

    scores: dict[str, Any] = {}
    for kwargs, group in eval_calls(
        benches=benches, out_dir=Path(out_dir), options=options, profile=profile
    ):
        # A key neither evaluate() nor the engine takes is the engine registry's one-line error.
        results = run_eval(str(model), **kwargs)
        for spec in group:
            result = results.get(spec.name)
            if result is None:
                scores[spec.key] = None
                continue
            figures = result.summary.get("run", {})
            scores[spec.key] = {
                "accuracy": result.accuracy,
                "protocol": result.protocol,
                # all three protocols, where the summary has them
                **{f"accuracy_{name}": value for name, value in result.by_protocol.items()},
                "n": result.n,
                "split": spec.split,
                "profile": kwargs["profile"],
                "items": figures.get("items"),
                "no_answer_rate": figures.get("no_answer_rate"),
                "summary": str(result.summary_path),
            }
    return scores
