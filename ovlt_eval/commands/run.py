"""`ovlt-eval run` (also plain `ovlt-eval --model … --bench …`): generate, score, resume.

    ovlt-eval --model Qwen/Qwen2.5-VL-7B-Instruct --bench mathvista --bench mathverse \\
        --engine openai --base-url http://127.0.0.1:8000/v1 --profile qwen --out runs/qwen7b

One benchmark writes into --out; several write into --out/<bench>-<split>/. Re-running the
same command resumes: only items not yet in samples.jsonl (or that ended in `error`) are
generated again.
"""

from __future__ import annotations

import argparse
import os
import sys

from ovlt_eval.api import DEFAULT_PROFILE, DEFAULT_SPLIT
from ovlt_eval.benchmarks import BENCHMARKS
from ovlt_eval.engines.registry import ENGINES, engine_names
from ovlt_eval.engines.types import SamplingParams
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import profile_names

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SamplingParams()
    g = parser.add_argument_group("what to evaluate")
    g.add_argument(
        "--model",
        required=True,
        help="local checkpoint path or Hub id (for openai: the served model id)",
    )
    g.add_argument(
        "--bench",
        action="append",
        required=True,
        metavar="NAME",
        help=f"one of {', '.join(sorted(BENCHMARKS))} (repeatable)",
    )
    g.add_argument(
        "--revision", default=None, help="hf/vllm: the model's Hub revision (branch, tag or commit)"
    )
    g.add_argument("--split", default=None, help=f"benchmark split (default: {DEFAULT_SPLIT})")
    g.add_argument(
        "--data",
        action="append",
        default=None,
        metavar="[BENCH=]PATH",
        help="local official files instead of the Hub; BENCH=PATH when several benches",
    )
    g.add_argument("--limit", type=int, default=None, help="evaluate only the first N items")
    g.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        # listed, not argparse `choices`: an unknown name stays get_profile's one-line error
        metavar="{" + ",".join(profile_names()) + "}",
        help=f"prompting/extraction profile, one of {', '.join(profile_names())} "
        f"(default: {DEFAULT_PROFILE})",
    )
    g.add_argument(
        "--protocol",
        default=None,
        choices=("reference", "official", "corrected"),
        help="which verdict is the headline `correct` (all three are always recorded): the "
        "OpenVLThinker reference script (the paper's table), the benchmark's official "
        "evaluator (the leaderboards; the default where ovlt has it, else reference) or our "
        "corrected extractor + verifier",
    )
    g.add_argument("--out", default=None, help="run directory (default: runs/<model name>)")
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="discard an existing run in --out instead of resuming it",
    )

    e = parser.add_argument_group("engine")
    e.add_argument(
        "--engine",
        default="hf",
        choices=engine_names(),
        help="generation backend (default: hf): "
        + "; ".join(f"{name}: {ENGINES[name][2]}" for name in engine_names()),
    )
    e.add_argument(
        "--base-url",
        action="append",
        default=None,
        help="OpenAI-compatible endpoint (repeatable: replicas share the load)",
    )
    e.add_argument(
        "--api-key-env",
        default=DEFAULT_API_KEY_ENV,
        help=f"environment variable holding the endpoint's API key (default: {DEFAULT_API_KEY_ENV})",
    )
    e.add_argument("--concurrency", type=int, default=None, help="openai: requests in flight")
    e.add_argument(
        "--request-timeout",
        type=float,  # checked by evaluate(): one line, where argparse prints its usage
        default=None,
        metavar="SECONDS",
        help="openai: limit on one HTTP attempt (default: 60 + 0.1 x --max-tokens); each item's "
        "retries together stop after 3 x this, and the item becomes an error a rerun retries",
    )
    e.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="hf: items per generate() batch (on a GPU in bf16 outputs then depend on it; "
        "see --reproducible)",
    )
    e.add_argument(
        "--dtype", default=None, help="hf/vllm: model dtype (bfloat16, float16, float32, auto)"
    )
    e.add_argument(
        "--reproducible",
        action="store_true",
        help="hf: batch size 1 in float32 (TF32 off): outputs that do not depend on batching "
        "or reduced precision; slower. Recorded in the eval card",
    )
    e.add_argument(
        "--min-pixels",
        type=int,
        default=None,
        help="image pixel lower bound (default: the base Qwen2.5-VL-7B-Instruct processor's "
        "3136, as the reference evaluates every model, whatever the checkpoint saved)",
    )
    e.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="image pixel upper bound (default: the base processor's 12845056)",
    )

    s = parser.add_argument_group("sampling (defaults: the paper's evaluation)")
    s.add_argument("--n", type=int, default=1, help="samples per item (pass@k when > 1)")
    s.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    s.add_argument("--temperature", type=float, default=defaults.temperature)
    s.add_argument("--top-p", type=float, default=defaults.top_p)
    s.add_argument("--top-k", type=int, default=defaults.top_k)
    s.add_argument("--repetition-penalty", type=float, default=defaults.repetition_penalty)
    s.add_argument("--seed", type=int, default=defaults.seed)

    j = parser.add_argument_group("optional LLM judge (re-checks items the rules reject)")
    j.add_argument(
        "--judge-base-url",
        action="append",
        default=None,
        help="OpenAI-compatible endpoint of the judge (repeatable)",
    )
    j.add_argument("--judge-model", default=None, help="the judge's model id")
    j.add_argument(
        "--judge-api-key-env",
        default="OVLT_JUDGE_API_KEY",
        help="environment variable with the judge's key (falls back to OPENAI_API_KEY)",
    )
    j.add_argument(
        "--judge-protocol",
        default=None,
        choices=(
            "mathverse_two_step",
            "mathvista_extract",
            "extract_then_rules",
            "mathverse_reference_gpt4",
        ),
        help="default: the benchmark's own (MathVerse two-step, MathVista extraction, else "
        "extraction + rules); mathverse_reference_gpt4: the OpenVLThinker paper's MathVerse "
        "judge (verify_mathverse_gpt4.py), whose yes/no verdict replaces the rules' on every item",
    )

    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _data_by_bench(data: list[str] | None, benches: list[str]) -> dict[str, str] | str | None:
    """`--data [BENCH=]PATH` entries as `evaluate`'s `data`: one path, or {bench: path}."""
    if not data:
        return None
    by_bench: dict[str, str] = {}
    for entry in data:
        bench, sep, path = entry.partition("=")
        if sep and bench in benches:
            by_bench[bench] = path
        elif len(benches) == 1:
            by_bench[benches[0]] = entry
        else:
            raise UserError(
                f"--data {entry!r}: with several --bench, write --data BENCH=PATH "
                f"(BENCH one of {', '.join(benches)})"
            )
    return by_bench


def sampling_from(args) -> SamplingParams:
    return SamplingParams.from_fields(args)


def _judge(args):
    from ovlt_eval.api import Judge

    if not args.judge_base_url and not args.judge_model:
        if getattr(args, "judge_protocol", None):
            raise UserError("--judge-protocol needs a judge (--judge-base-url and --judge-model)")
        return None
    if not (args.judge_base_url and args.judge_model):
        raise UserError("the judge needs both --judge-base-url and --judge-model")
    return Judge(
        base_urls=tuple(args.judge_base_url),
        model=args.judge_model,
        # The judge's own variable when set, else the engine's default (OPENAI_API_KEY).
        api_key_env=args.judge_api_key_env if os.environ.get(args.judge_api_key_env) else None,
        protocol=getattr(args, "judge_protocol", None),
    )


def run(args) -> int:
    """The same call a Python user makes: `ovlt_eval.evaluate(...)` with the flags' values."""
    from ovlt_eval.api import evaluate

    results = evaluate(
        args.model,
        list(args.bench),
        engine=args.engine,
        out=args.out,
        profile=args.profile,
        protocol=args.protocol,
        split=args.split,
        data=_data_by_bench(args.data, list(args.bench)),
        limit=args.limit,
        judge=_judge(args),
        n=args.n,
        sampling=sampling_from(args),
        overwrite=args.overwrite,
        progress=not args.no_progress,
        **_engine_options(args),
    )
    incomplete = [r for r in results.values() if not r.complete]
    for result in incomplete:
        figures = result.summary["run"]
        judge_errors = (result.summary.get("judge") or {}).get("judge_errors") or 0
        if judge_errors:
            print(
                f"ovlt-eval run: {result.bench}: the judge failed on {judge_errors} items, which "
                "rules+judge counts by the rules' verdict; run the same command again to retry "
                "them",
                file=sys.stderr,
            )
        if figures.get("complete", True):  # only the judge's calls failed
            continue
        first = (figures.get("error_examples") or ["?"])[0]
        # A bad image file fails the same way on every retry; once the files are fixed the
        # data's fingerprint differs, so the resume is refused and --overwrite is the way on.
        then = (
            "fix those image files, then run again with --overwrite"
            if any(str(e).startswith("image") for e in figures.get("error_examples") or [])
            else "run the same command again to retry them"
        )
        print(
            f"ovlt-eval run: {result.bench}: {figures['errors']} items failed after retries "
            f"(e.g. {first}); {then}",
            file=sys.stderr,
        )
    return 1 if incomplete else 0


def _engine_options(args) -> dict:
    """The engine's keyword arguments from the flags (None: the engine's default)."""
    return {
        "base_urls": list(args.base_url) if args.base_url else None,
        # Only name the variable when it differs from the engine's default, which the
        # engine reads itself (an unset default means "no key", e.g. a local server).
        "api_key_env": None if args.api_key_env == DEFAULT_API_KEY_ENV else args.api_key_env,
        "concurrency": args.concurrency,
        "request_timeout": args.request_timeout,
        "revision": args.revision,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "reproducible": args.reproducible or None,  # None: left out, the engine default
        "min_pixels": args.min_pixels,
        "max_pixels": args.max_pixels,
    }
