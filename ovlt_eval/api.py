"""The Python API of the harness: `ovlt_eval.evaluate(...)`; `ovlt-eval run` is thin over it.

    import ovlt_eval
    results = ovlt_eval.evaluate("ckpt/", ["mathvista"], engine="hf", out="runs/ckpt", limit=20)
    results["mathvista"].accuracy          # the headline accuracy, a percentage
    results["mathvista"].by_protocol       # {"reference": .., "official": .., "corrected": ..}

A run is resumable exactly as the CLI's: calling again with the same arguments generates only
what is missing. Heavy libraries load only inside `evaluate` (the engine asked for).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ovlt_eval.errors import UserError

DEFAULT_PROFILE = "openvlthinker"
DEFAULT_SPLIT = "testmini"
PROTOCOLS = ("reference", "official", "corrected")


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """One benchmark's outcome: what `summary.json` in `run_dir` says, with the figures named."""

    bench: str
    split: str
    run_dir: Path
    summary: Mapping[str, Any]
    protocol: str  # the headline verdict's protocol
    accuracy: float | None  # the headline accuracy, a percentage (None: nothing scored)
    by_protocol: Mapping[str, float | None]  # every protocol's accuracy, percentages
    n: int  # items scored
    complete: bool  # False: some items (or their judge calls) failed; call again to retry them

    @property
    def summary_path(self) -> Path:
        return self.run_dir / "summary.json"

    @classmethod
    def from_summary(cls, bench: str, split: str, run_dir: Path, summary: Mapping[str, Any]):
        acc = summary.get("accuracy")
        return cls(
            bench=bench,
            split=split,
            run_dir=Path(run_dir),
            summary=summary,
            protocol=str(summary.get("protocol") or ""),
            accuracy=float(acc) if isinstance(acc, (int, float)) else None,
            by_protocol={p: summary.get(f"accuracy_{p}") for p in PROTOCOLS},
            n=int(summary.get("n") or 0),
            # A judge call that failed leaves its item at the rules' verdict in `rules+judge`,
            # and a rerun retries it: the run is not complete either.
            complete=bool(summary.get("run", {}).get("complete", True))
            and not (summary.get("judge") or {}).get("judge_errors"),
        )


@dataclasses.dataclass(frozen=True)
class Judge:
    """The optional LLM judge (re-checks what the rules reject); see `ovlt_eval.runs.judge`."""

    base_urls: tuple[str, ...] | list[str] | str
    model: str
    api_key_env: str | None = None  # None: the openai engine's default (OPENAI_API_KEY)
    protocol: str | None = None  # None: the benchmark's own


def evaluate(
    model: str | os.PathLike,
    benches: str | Sequence[str],
    *,
    engine: str = "hf",
    out: str | os.PathLike | None = None,
    profile: str = DEFAULT_PROFILE,
    protocol: str | None = None,
    split: str | None = None,
    data: str | os.PathLike | Mapping[str, str | os.PathLike] | None = None,
    limit: int | None = None,
    judge: Judge | Mapping[str, Any] | None = None,
    n: int = 1,
    sampling: Any = None,
    overwrite: bool = False,
    progress: bool = True,
    **engine_options: Any,
) -> dict[str, EvalResult]:
    """Generate with `model` on `benches`, score, write each run directory; return the results.

    model: a checkpoint directory or Hub id (for engine "openai": the served model id).
    benches: a benchmark name or several (mathvista, mathverse, mathvision).
    engine: a name from the engine registry (`ovlt_eval.engines.engine_names()`).
    out: the run directory (default runs/<model name>); with several benches each writes
        into out/<bench>-<split>/.
    profile / protocol: the prompting profile; the headline verdict's protocol (reference,
        official or corrected; None: each benchmark's default). All three are always recorded.
    split: the benchmarks' split (None: each benchmark's default, else testmini).
    data: local official files instead of the Hub: a path (one bench) or {bench: path}.
    limit: only the first `limit` items.
    judge: a `Judge` (or a mapping with its fields) to re-check items the rules reject.
    n / sampling: samples per item (pass@k when > 1); a `SamplingParams` (None: the paper's).
    overwrite: discard an existing run in `out` instead of resuming it.
    engine_options: the engine's own keyword arguments, e.g. base_urls=[...], api_key_env,
        concurrency, request_timeout (seconds per HTTP attempt; default 60 + 0.1 x max_tokens),
        retry_budget (seconds per request, all attempts; default 3 x request_timeout) (openai);
        revision, dtype, batch_size, reproducible (hf/vllm);
        min_pixels, max_pixels (all).

    Prints one summary line per benchmark (stdout), as `ovlt-eval run` does.
    Returns {bench: EvalResult}, in the order given. A run with items that failed after
    retries is returned with `complete=False` (calling again retries them). User mistakes raise
    `UserError` (one line, naming the options as `ovlt-eval run` spells them).
    """
    from ovlt_eval.benchmarks import get_benchmark
    from ovlt_eval.engines.types import SamplingParams
    from ovlt_eval.profiles import get_profile, reference_split_note
    from ovlt_eval.progress import quiet_progress
    from ovlt_eval.runs.engine_adapter import make_engine
    from ovlt_eval.runs.judge import build_judge_engine
    from ovlt_eval.runs.runner import RunConfig, execute_bench, plan_bench, precheck_resume

    model = str(model)
    bench_names = [benches] if isinstance(benches, str) else list(benches)
    sampling = sampling if sampling is not None else SamplingParams()
    options = {k: v for k, v in engine_options.items() if v is not None}
    _validate(bench_names, engine, options, n=n, limit=limit, sampling=sampling, judge=judge)
    benchmarks = [get_benchmark(b) for b in bench_names]
    for bench in benchmarks:  # refused before any generation, not after the first item
        bench.check_protocol_available(protocol or bench.default_protocol)
    prof = get_profile(profile)
    _check_local_model(model, engine)
    data_paths = _data_by_bench(data, bench_names)
    out_root = Path(out) if out is not None else Path("runs") / _safe_name(model)

    plans = []
    for name, bench in zip(bench_names, benchmarks, strict=True):
        # No --split: a local official file names its own split (MathVerse's
        # testmini_text_only.json is that split, not testmini); an explicit --split that
        # contradicts the file is refused when the file is read.
        bench_split = (
            split
            or bench.split_named_by(data_paths[name])
            or getattr(bench, "default_split", None)
            or DEFAULT_SPLIT
        )
        note = reference_split_note(bench, bench_split, profile, protocol or bench.default_protocol)
        if note:
            print(note, file=sys.stderr)
        out_dir = out_root if len(bench_names) == 1 else out_root / f"{name}-{bench_split}"
        _check_out_dir(out_dir)
        plans.append(plan_bench(bench, bench_split, data_paths[name], out_dir, prof, limit))

    judge_options = _judge_options(judge, prof)
    if n > 1 and sampling.temperature <= 0.05:
        print(
            f"note: --n {n} with temperature {sampling.temperature} gives near-identical "
            "samples; raise --temperature for a meaningful pass@k",
            file=sys.stderr,
        )

    cfg = RunConfig(
        model=model,
        engine_name=engine,
        profile_name=profile,
        protocol=protocol or "official",
        sampling=sampling,
        n=n,
        overwrite=overwrite,
        progress=progress,
        judge=judge_options,
        profile_describe=prof.describe(),
    )

    def cfg_for(plan):
        chosen = protocol or plan.benchmark.default_protocol
        return cfg if chosen == cfg.protocol else dataclasses.replace(cfg, protocol=chosen)

    for plan in plans:
        precheck_resume(plan, cfg_for(plan))

    if engine == "openai":
        options["model"] = model
    else:
        options = {"model": model, **options}
    # progress=False: every library's bars too (transformers' "Loading weights"), restored after.
    with quiet_progress(not progress):
        # Engines check their endpoint / checkpoint when built (one-line errors on failure).
        gen_engine = make_engine(engine, **options)
        judge_engine = build_judge_engine(judge_options) if judge_options is not None else None

        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt) if in_main_thread else None
        results: dict[str, EvalResult] = {}
        try:
            for plan in plans:
                summary = execute_bench(plan, cfg_for(plan), gen_engine, judge_engine)
                result = EvalResult.from_summary(plan.name, plan.split, plan.out_dir, summary)
                print(summary_line(result))
                results[plan.name] = result
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
            for eng in (gen_engine, judge_engine):
                close = getattr(eng, "close", None)
                if close is not None:
                    close()
        return results


def summary_line(result: EvalResult) -> str:
    """One line a person reads: accuracy, n, extras, where the run is."""
    figures = result.summary.get("run", {})
    line = (
        f"{result.bench} {result.split}: accuracy {result.accuracy:.2f}% on {result.n} items"
        if result.accuracy is not None
        else f"{result.bench} {result.split}: accuracy n/a"
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
    if "accuracy_by_verdict" in result.summary:
        extras.append(f"rules+judge {result.summary['accuracy_by_verdict']['rules+judge']}%")
    counts = result.summary.get("counts") or {}
    # every protocol's timeouts (a timed-out comparison counts wrong in that protocol's accuracy)
    extras += [
        f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if k.startswith("timeout_") and v
    ]
    return line + (" (" + "; ".join(extras) + ")" if extras else "") + f" -> {result.run_dir}"


# Options the CLI has flags for that only some engines take (others pass through as given).
_ENGINE_ONLY = {
    "api_key_env": ("openai",),
    "concurrency": ("openai",),
    "request_timeout": ("openai",),
    "retry_budget": ("openai",),
    "dtype": ("hf", "vllm"),
}


def _check_out_dir(out_dir: Path) -> None:
    """A run directory must be a folder or not exist yet (one line, before any generation)."""
    for folder in (*reversed(out_dir.parents), out_dir):
        if folder.is_symlink() and not folder.exists():
            raise UserError(f"--out: {folder} is a symlink to a missing folder; create it first")
        if folder.exists() and not folder.is_dir():
            raise UserError(f"--out: {folder} is a file, not a folder; choose another --out")


def _validate(benches, engine, options, *, n, limit, sampling, judge) -> None:
    from ovlt_eval.engines.registry import engine_names

    if not benches:
        raise UserError("--bench: name at least one benchmark")
    if engine not in engine_names():
        raise UserError(f"unknown engine {engine!r}; known engines: {', '.join(engine_names())}")
    if n < 1:
        raise UserError("--n must be at least 1")
    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1")
    if sampling.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    for flag, value in (("--temperature", sampling.temperature), ("--top-p", sampling.top_p)):
        # nan/inf go out as `NaN`/`Infinity`, which is not JSON: every request would fail
        if value is not None and not (isinstance(value, int | float) and 0 <= value < float("inf")):
            raise UserError(f"{flag} must be a finite number >= 0, got {value!r}")
    base_urls = options.get("base_urls")
    if isinstance(base_urls, str):
        options["base_urls"] = [base_urls]
    if engine == "openai" and not base_urls:
        raise UserError("--engine openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    if engine == "openai":  # before the benchmarks load: a key in a URL is refused at once
        from ovlt_eval.engines.openai_urls import check_base_url

        for url in options["base_urls"]:
            check_base_url(url)
    if engine != "openai" and base_urls:
        raise UserError(f"--base-url is for --engine openai, not {engine!r}")
    if engine == "openai" and options.get("revision"):
        raise UserError("--revision is for --engine hf/vllm; a server decides what it serves")
    if engine != "hf" and options.get("batch_size") is not None:
        raise UserError(f"--batch-size is for --engine hf; {engine!r} schedules batches itself")
    for key, engines in _ENGINE_ONLY.items():  # a flag that would do nothing is a mistake
        if options.get(key) is not None and engine not in engines:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"{flag} is for --engine {'/'.join(engines)}, not {engine!r}")
    if judge is not None:
        fields = judge if isinstance(judge, Mapping) else dataclasses.asdict(judge)
        if not fields.get("base_urls") or not fields.get("model"):
            raise UserError("the judge needs both --judge-base-url and --judge-model")
    if len(set(benches)) != len(benches):
        raise UserError("--bench names a benchmark twice")
    for key in ("min_pixels", "max_pixels"):
        value = options.get(key)
        if value is not None and value < 1:
            raise UserError(f"--{key.replace('_', '-')} must be at least 1")
    value = options.get("request_timeout")
    if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
        raise UserError(f"--request-timeout must be a positive number of seconds, got {value!r}")
    if options.get("reproducible"):
        if engine != "hf":
            raise UserError(
                f"--reproducible is for --engine hf (batch 1, float32); {engine!r} "
                "batches and picks its kernels itself"
            )
        if options.get("batch_size") not in (None, 1) or options.get("dtype") not in (
            None,
            "float32",
        ):
            raise UserError(
                "--reproducible means --batch-size 1 and --dtype float32; drop the others"
            )


def _judge_options(judge, profile):
    from ovlt_eval.runs.judge import JudgeOptions

    if judge is None:
        return None
    fields = dict(judge) if isinstance(judge, Mapping) else dataclasses.asdict(judge)
    unknown = set(fields) - {f.name for f in dataclasses.fields(Judge)}
    if unknown:
        raise UserError(f"judge: unknown field(s) {', '.join(sorted(unknown))}")
    urls = fields["base_urls"]
    return JudgeOptions(
        base_urls=(urls,) if isinstance(urls, str) else tuple(urls),
        model=fields["model"],
        api_key_env=fields.get("api_key_env"),
        protocol=fields.get("protocol"),
        reference_policy=profile.reference_policy,
    )


def _safe_name(model: str) -> str:
    name = Path(model.rstrip("/")).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _data_by_bench(data, benches: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {b: None for b in benches}
    if data is None:
        return out
    if isinstance(data, Mapping):
        for bench, path in data.items():
            if bench not in out:
                raise UserError(f"--data {bench}=…: {bench} is not one of the benches run")
            out[bench] = str(path)
        return out
    if len(benches) != 1:
        raise UserError(
            f"--data {str(data)!r}: with several --bench, write --data BENCH=PATH "
            f"(BENCH one of {', '.join(benches)})"
        )
    out[benches[0]] = str(data)
    return out


def _check_local_model(model: str, engine: str) -> None:
    """A path-looking model that does not exist is a typo, not a Hub id to download; a Hub id
    that cannot be loaded here fails in seconds (`hub_access`)."""
    if engine == "openai":
        return
    from ovlt_eval.hub_access import check_model_ref

    check_model_ref(model)


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt
