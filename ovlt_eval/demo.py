"""The offline demo (`make demo`, or `python -m ovlt_eval.demo`).

1. Builds a tiny random-weight Qwen2.5-VL into `.cache/` (seconds, no download) unless there.
2. Runs `ovlt-eval run --engine hf` with it on the bundled MATH-Vision sample (the first 40
   testmini items with their images; MIT, see ovlt_eval/demo_data/mathvision_sample/NOTICE.md).
3. Scores the bundled predictions (Qwen-VL-Max's published answers to the same 40 items) with
   `ovlt-eval score` (no model involved).
4. Shows both in one `ovlt-eval compare` table.

The tiny model writes random text: its score means nothing. The demo shows the machinery
(resumable samples, summary, eval card, scoring), not a result. Run it again and the run
resumes: nothing is generated twice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
SAMPLE = DEMO_DATA / "mathvision_sample" / "testmini.jsonl"
PREDICTIONS = DEMO_DATA / "mathvision_testmini_predictions.jsonl"


def tiny_model(cache: Path) -> Path:
    from ovlt_eval.testing.tiny_model import cached_tiny_qwen2_5_vl

    return cached_tiny_qwen2_5_vl(cache, announce=True)


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


# Its four sections; a caller that runs more (ovlt_train.demo) numbers them within its own.
SECTIONS = 4


def main(argv: list[str] | None = None, *, first: int = 1, total: int = SECTIONS) -> int:
    from ovlt_eval.cli import main as ovlt_eval

    parser = argparse.ArgumentParser(
        prog="python -m ovlt_eval.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--out", default="runs/demo", help="where the demo writes (default: runs/demo)"
    )
    parser.add_argument("--cache", default=".cache", help="where the tiny model is built")
    parser.add_argument("--max-tokens", type=int, default=48, help="new tokens per answer")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = Path(args.out)

    _banner(f"{first}/{total}  tiny model")
    model = tiny_model(Path(args.cache))
    print(model)

    _banner(
        f"{first + 1}/{total}  ovlt-eval run --engine hf on the bundled MATH-Vision sample (40 items)"
    )
    from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS as TINY_MAX_PIXELS

    run_dir = out / "tiny-mathvision"
    run_argv = [
        "run", "--model", str(model), "--engine", "hf", "--dtype", "float32",
        "--bench", "mathvision", "--split", "testmini", "--data", str(SAMPLE),
        "--max-tokens", str(args.max_tokens), "--batch-size", "8", "--out", str(run_dir),
        # the tiny model's own budget: the default (the base Qwen2.5-VL processor's limits,
        # up to 16,384 image tokens) is right for real models and slow for a CPU demo
        "--max-pixels", str(TINY_MAX_PIXELS),
    ]  # fmt: skip
    print("$ ovlt-eval " + " ".join(run_argv), flush=True)
    rc = ovlt_eval(run_argv)
    if rc not in (0, 1):
        return rc
    summary = json.loads((run_dir / "summary.json").read_text())
    print(f"files: {run_dir}/samples.jsonl, summary.json, eval_card.json")
    print(
        "by subject:",
        json.dumps(
            {
                k: v.get("accuracy")
                for k, v in summary.get("breakdown", {}).get("subject", {}).items()
            }
        ),
    )

    compare = [str(run_dir)]
    if PREDICTIONS.is_file():
        _banner(
            f"{first + 2}/{total}  ovlt-eval score on the bundled predictions sample (no model)"
        )
        score_dir = out / "score-mathvision"
        score_argv = [
            "score", "--bench", "mathvision", "--split", "testmini", "--data", str(SAMPLE),
            "--predictions", str(PREDICTIONS), "--out", str(score_dir),
            # Qwen-VL-Max answered in \boxed{} (no <answer> tags): the reference protocol reads
            # such replies as eval_qwen.py does, not as eval_openvlthinker.py (which finds none)
            "--profile", "qwen",
        ]  # fmt: skip
        print("$ ovlt-eval " + " ".join(score_argv), flush=True)
        rc = ovlt_eval(score_argv)
        if rc != 0:
            return rc
        compare.append(str(score_dir))
    else:
        _banner(f"{first + 2}/{total}  skipped: no bundled predictions at {PREDICTIONS}")

    _banner(f"{first + 3}/{total}  ovlt-eval compare")
    ovlt_eval(["compare", *compare])
    print(
        "\nNOTE: the tiny model has random weights and writes random text, so its score means "
        "nothing.\nThe `score` row is Qwen-VL-Max's published answers to the same 40 items, "
        "scored offline with the `qwen` profile (its \\boxed{} answers).\nThe demo shows the machinery: resumable samples.jsonl, summary.json, "
        "eval_card.json, official-protocol scoring.\nFor a real number: ovlt-eval --model "
        "<checkpoint> --bench mathvision (GPU, or --engine openai against a served model)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
