"""`ovlt-eval score`: score a predictions file under a benchmark's scoring protocol.

    ovlt-eval score --bench mathvision --split testmini --data PATH --predictions FILE --out DIR
        [--protocol official|corrected]

`official` (default) reproduces the benchmark's own evaluator; `corrected` fixes its known
defects (see ovlt_eval/benchmarks/protocols.py). Both verdicts are written for every item.

A prediction row may carry `extraction`, the answer the benchmark's own pipeline already
extracted (MathVista's published output files hold GPT-4's): the official verdict then
normalises it verbatim instead of re-extracting, so published outputs re-score exactly.
summary.json says how many rows did (`official_from_published_extraction`).

Writes DIR/samples.jsonl (one line per item of the split) and DIR/summary.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ovlt_eval.errors import UserError


def add_arguments(parser) -> None:
    from ovlt_eval.benchmarks import BENCHMARKS

    splits = sorted({s for b in BENCHMARKS.values() for s in b.splits})
    parser.add_argument("--bench", required=True, help=f"one of: {', '.join(sorted(BENCHMARKS))}")
    parser.add_argument(
        "--split",
        default=None,
        help=f"one of: {', '.join(splits)} (default: the benchmark's, testmini for the math three)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="local official benchmark file or folder (default: load from the Hugging Face Hub)",
    )
    parser.add_argument(
        "--predictions",
        required=True,
        help="JSONL / JSON list / JSON object keyed by id; records need the native id and 'response'",
    )
    parser.add_argument(
        "--out", required=True, help="output folder for samples.jsonl and summary.json"
    )
    parser.add_argument(
        "--protocol",
        default=None,
        choices=("reference", "official", "corrected"),
        help="reference: the OpenVLThinker authors' evaluation script (the paper's table); "
        "official: the benchmark's own evaluator (the leaderboards; the default where ovlt has "
        "it, else reference); corrected: ours, "
        "fixing the evaluators' known defects. All three verdicts are recorded per item",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the most seconds scoring the file may take; items not scored by then are "
        "`timeout` (default: 30 + 0.25 per prediction, or $OVLT_SCORE_BUDGET_S)",
    )
    parser.add_argument(
        "--profile",
        default="openvlthinker",
        help="the model family whose replies these are; picks the reference rule "
        "(openvlthinker: eval_openvlthinker.py, last <answer>; qwen: eval_qwen.py, \\boxed{}; "
        "openvlthinker-v1.2 / qwen-v1.2: run_evaluation.py)",
    )


def run(args) -> int:
    from ovlt_eval.benchmarks import get_benchmark
    from ovlt_eval.benchmarks.scoring import score_predictions
    from ovlt_eval.predictions import load_predictions

    bench = get_benchmark(args.bench)
    args.split = args.split or bench.default_split
    protocol = bench.check_protocol_available(args.protocol or bench.default_protocol)
    if args.split not in bench.splits:
        raise UserError(
            f"{bench.name} has no split {args.split!r}; known: {', '.join(bench.splits)}"
        )
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    _refuse_generation_run(out)
    predictions = load_predictions(args.predictions, id_fields=(bench.id_field,))
    items = bench.load(split=args.split, data=args.data)
    started = time.perf_counter()
    from ovlt_eval.profiles import get_profile, reference_split_note

    profile = get_profile(getattr(args, "profile", "openvlthinker"))
    note = reference_split_note(bench, args.split, profile.name, protocol)
    if note:
        print(note, file=sys.stderr)
    samples, summary = score_predictions(
        bench,
        args.split,
        items,
        predictions,
        protocol=protocol,
        reference_policy=profile.reference_policy,
        budget_s=_budget(getattr(args, "time_budget", None)),
    )
    elapsed = time.perf_counter() - started
    summary["predictions_file"] = str(Path(args.predictions).resolve())
    summary["data"] = str(Path(args.data).resolve()) if args.data else bench.hub_id
    summary["n_predictions"] = len(predictions)
    summary["seconds"] = round(elapsed, 3)
    published = _published_extractions(bench, predictions)
    if published is not None:
        summary["official_from_published_extraction"] = published
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(
            out / "samples.jsonl",
            "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples),
        )
        _write_atomic(
            out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
        )
    except OSError as err:
        raise UserError(f"cannot write to {out}: {err.strerror or err}") from None
    counts = summary["counts"]
    print(
        f"{bench.name} {args.split} ({summary['protocol']}): accuracy "
        f"{summary['accuracy']:.2f}% ({summary['correct']}/{summary['n']}; "
        + ", ".join(
            f"{name} " + ("n/a" if acc is None else f"{acc:.2f}%")
            for name in ("reference", "official", "corrected")
            for acc in [summary.get(f"accuracy_{name}")]
        )
        + "); "
        + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        + f"; {len(samples) / max(elapsed, 1e-9):.0f} items/s -> {out}"
    )  # the result: stdout (notes and errors go to stderr)
    if summary.get("budget_timeouts"):
        print(
            f"note: the scoring budget ({summary['budget_s']:g} s) ran out: "
            f"{summary['budget_timeouts']} item(s) not scored, counted as timeout "
            "(raise it with --time-budget)",
            file=sys.stderr,
        )
    return 0


def _budget(value: float | None) -> float | None:
    if value is not None and not value > 0:  # also NaN
        raise UserError(f"--time-budget must be a positive number of seconds, not {value}")
    return value


def _refuse_generation_run(out: Path) -> None:
    """`ovlt-eval run` keeps its generations in the same samples.jsonl this command writes:
    scoring into a run's folder would replace them, and the resumed run would then report the
    scored file's number as its own. A run's folder has its eval card or its lock file."""
    from ovlt_eval.runs.card import CARD_NAME

    for name in (CARD_NAME, ".lock"):
        if (out / name).exists():
            raise UserError(
                f"--out {out} holds an `ovlt-eval run` ({name}); scoring would overwrite its "
                "samples.jsonl: choose another --out"
            )


def _published_extractions(bench, predictions) -> int | None:
    """How many rows' official verdicts come from their published `extraction` (None: no row
    has one). A benchmark without an extraction step scores the response and says so."""
    from ovlt_eval.benchmarks.base import Benchmark

    n = sum(1 for p in predictions.values() if getattr(p, "extraction", None) is not None)
    if not n:
        return None
    if type(bench).score_official_extraction is Benchmark.score_official_extraction:
        print(
            f"note: {n} prediction row(s) carry 'extraction'; {bench.name}'s official evaluator "
            "has no separate extraction step, so it is ignored and the responses are scored",
            file=sys.stderr,
        )
        return 0
    print(
        f"note: official verdicts of {n} row(s) normalise their published 'extraction' "
        "verbatim (not re-extracted from the response)",
        file=sys.stderr,
    )
    return n


def _write_atomic(path: Path, text: str) -> None:
    from ovlt_eval.atomic import write_atomic

    # A response may hold lone surrogates (invalid UTF-8 escapes in its JSON): written as
    # "\udcff" they stay valid JSON escapes and read back as the same string.
    write_atomic(path, text, errors="backslashreplace")
