"""`ovlt-eval run` (also plain `ovlt-eval --model … --bench …`): generate, score, resume.

    ovlt-eval --model Qwen/Qwen2.5-VL-7B-Instruct --bench mathvista --bench mathverse \\
        --engine openai --base-url http://127.0.0.1:8000/v1 --profile qwen --out runs/qwen7b

One benchmark writes into --out; several write into --out/<bench>-<split>/. Re-running the
same command resumes: only items not yet in samples.jsonl (or that ended in `error`) are
generated again.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import sys
import threading
from pathlib import Path

from ovlt_eval.engines.types import SamplingParams
from ovlt_eval.errors import UserError

DEFAULT_PROFILE = "openvlthinker"
DEFAULT_SPLIT = "testmini"
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
        help="mathvista, mathverse or mathvision (repeatable)",
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
        help=f"prompting/extraction profile (default: {DEFAULT_PROFILE})",
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
    e.add_argument("--engine", default="hf", help="openai, hf or vllm (default: hf)")
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


def _safe_name(model: str) -> str:
    name = Path(model.rstrip("/")).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _data_by_bench(data: list[str] | None, benches: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {b: None for b in benches}
    for entry in data or []:
        bench, sep, path = entry.partition("=")
        if sep and bench in out:
            out[bench] = path
        elif len(benches) == 1:
            out[benches[0]] = entry
        else:
            raise UserError(
                f"--data {entry!r}: with several --bench, write --data BENCH=PATH "
                f"(BENCH one of {', '.join(benches)})"
            )
    return out


def _validate(args) -> None:
    if args.n < 1:
        raise UserError("--n must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    if args.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    if args.engine == "openai" and not args.base_url:
        raise UserError("--engine openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    if args.engine != "openai" and args.base_url:
        raise UserError(f"--base-url is for --engine openai, not {args.engine!r}")
    if args.engine == "openai" and args.revision:
        raise UserError("--revision is for --engine hf/vllm; a server decides what it serves")
    if bool(args.judge_base_url) != bool(args.judge_model):
        raise UserError("the judge needs both --judge-base-url and --judge-model")
    if getattr(args, "judge_protocol", None) and not args.judge_model:
        raise UserError("--judge-protocol needs a judge (--judge-base-url and --judge-model)")
    if len(set(args.bench)) != len(args.bench):
        raise UserError("--bench names a benchmark twice")
    for flag in ("min_pixels", "max_pixels"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.reproducible:
        if args.engine != "hf":
            raise UserError(
                f"--reproducible is for --engine hf (batch 1, float32); {args.engine!r} "
                "batches and picks its kernels itself"
            )
        if args.batch_size not in (None, 1) or args.dtype not in (None, "float32"):
            raise UserError(
                "--reproducible means --batch-size 1 and --dtype float32; drop the others"
            )


def _check_local_model(model: str, engine: str) -> None:
    """A path-looking --model that does not exist is a typo, not a Hub id to download."""
    if engine == "openai":
        return
    # Hub ids are "name" or "org/name"; anything else is meant as a path.
    looks_local = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_local or Path(model).expanduser().exists():
        path = Path(model).expanduser()
        if not path.exists():
            raise UserError(
                f"--model {model}: no such directory (give a checkpoint directory or a Hub id)"
            )
        if path.is_dir() and not (path / "config.json").exists():
            raise UserError(f"--model {model}: not a model checkpoint (no config.json in it)")


def sampling_from(args) -> SamplingParams:
    return SamplingParams.from_fields(args)


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def run(args) -> int:
    from ovlt_eval.benchmarks import get_benchmark
    from ovlt_eval.profiles import get_profile
    from ovlt_eval.runs.engine_adapter import make_engine
    from ovlt_eval.runs.judge import JudgeOptions, build_judge_engine
    from ovlt_eval.runs.runner import RunConfig, execute_bench, plan_bench, precheck_resume

    _validate(args)
    benches = list(args.bench)
    benchmarks = [get_benchmark(b) for b in benches]
    for bench in benchmarks:  # refused before any generation, not after the first item
        bench.check_protocol_available(args.protocol or bench.default_protocol)
    profile = get_profile(args.profile)
    _check_local_model(args.model, args.engine)
    data = _data_by_bench(args.data, benches)
    out_root = Path(args.out or Path("runs") / _safe_name(args.model))

    plans = []
    for name, bench in zip(benches, benchmarks, strict=True):
        split = args.split or getattr(bench, "default_split", None) or DEFAULT_SPLIT
        out_dir = out_root if len(benches) == 1 else out_root / f"{name}-{split}"
        plans.append(plan_bench(bench, split, data[name], out_dir, profile, args.limit))

    judge = None
    if args.judge_model:
        judge = JudgeOptions(
            base_urls=tuple(args.judge_base_url),
            model=args.judge_model,
            # The judge's own variable when set, else the engine's default (OPENAI_API_KEY).
            api_key_env=args.judge_api_key_env if os.environ.get(args.judge_api_key_env) else None,
            protocol=getattr(args, "judge_protocol", None),
            reference_policy=profile.reference_policy,
        )

    if args.n > 1 and args.temperature <= 0.05:
        print(
            f"note: --n {args.n} with temperature {args.temperature} gives near-identical samples; "
            "raise --temperature for a meaningful pass@k",
            file=sys.stderr,
        )

    cfg = RunConfig(
        model=args.model,
        engine_name=args.engine,
        profile_name=args.profile,
        protocol=args.protocol or "official",
        sampling=sampling_from(args),
        n=args.n,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        judge=judge,
        profile_describe=profile.describe(),
    )

    def cfg_for(plan):
        protocol = args.protocol or plan.benchmark.default_protocol
        return cfg if protocol == cfg.protocol else dataclasses.replace(cfg, protocol=protocol)

    for plan in plans:
        precheck_resume(plan, cfg_for(plan))

    # Engines check their endpoint / checkpoint when built (one-line errors on failure).
    engine = make_engine(args.engine, **_engine_options(args))
    judge_engine = build_judge_engine(judge) if judge is not None else None

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt) if in_main_thread else None
    incomplete = []
    try:
        for plan in plans:
            summary = execute_bench(plan, cfg_for(plan), engine, judge_engine)
            _print_summary(plan, summary)
            if not summary["run"]["complete"]:
                incomplete.append((plan, summary))
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        for eng in (engine, judge_engine):
            close = getattr(eng, "close", None)
            if close is not None:
                close()
    for plan, summary in incomplete:
        figures = summary["run"]
        first = (figures.get("error_examples") or ["?"])[0]
        print(
            f"ovlt-eval run: {plan.name}: {figures['errors']} items failed after retries "
            f"(e.g. {first}); run the same command again to retry them",
            file=sys.stderr,
        )
    return 1 if incomplete else 0


def _engine_options(args) -> dict:
    if args.engine == "openai":
        return {
            "model": args.model,
            "base_urls": list(args.base_url),
            # Only name the variable when it differs from the engine's default, which the
            # engine reads itself (an unset default means "no key", e.g. a local server).
            "api_key_env": None if args.api_key_env == DEFAULT_API_KEY_ENV else args.api_key_env,
            "concurrency": args.concurrency,
            "min_pixels": args.min_pixels,
            "max_pixels": args.max_pixels,
        }
    local = {
        "model": args.model,
        "revision": args.revision,
        "dtype": args.dtype,
        "min_pixels": args.min_pixels,
        "max_pixels": args.max_pixels,
    }
    if args.engine == "hf":
        local["batch_size"] = args.batch_size
        local["reproducible"] = args.reproducible or None  # None: left out, the engine default
    elif args.batch_size is not None:
        raise UserError(
            f"--batch-size is for --engine hf; {args.engine!r} schedules batches itself"
        )
    return local


def _print_summary(plan, summary: dict) -> None:
    figures = summary["run"]
    acc = summary.get("accuracy")
    line = (
        f"{plan.name} {plan.split}: accuracy {acc:.2f}% on {summary.get('n', len(plan.items))} items"
        if isinstance(acc, (int, float))
        else f"{plan.name} {plan.split}: accuracy n/a"
    )
    extras = (
        [f"no-answer {figures['no_answer_rate']}%"]
        if figures.get("no_answer_rate") is not None
        else []
    )
    if figures.get("errors"):
        extras.append(f"errors {figures['errors']}")
    if "pass_at_k" in figures:
        extras.append(", ".join(f"{k} {v}%" for k, v in figures["pass_at_k"].items()))
    if "accuracy_by_verdict" in summary:
        extras.append(f"rules+judge {summary['accuracy_by_verdict']['rules+judge']}%")
    print(line + (" (" + "; ".join(extras) + ")" if extras else "") + f" -> {plan.out_dir}")
