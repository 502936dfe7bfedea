"""The whole offline demo (`make demo`, or `python -m ovlt_train.demo` from the repo root).

1-4. `ovlt_eval.demo`: builds the tiny random-weight Qwen2.5-VL (seconds, no download), runs
   `ovlt-eval` with it on the bundled MATH-Vision sample, scores published predictions, compares.
5. The self-improvement loop, exactly the README's `ovlt-train loop --card cards/loop_demo.yaml`
   (the card names everything: the tiny model at runs/tiny-model, the work dir runs/loop-demo):
   two rounds of data build → SFT from the base model → GRPO medium → hard → eval, each step
   versioned in a loop manifest and resumable. Round 1's captioner / R1 reasoner is the loopback
   "teacher" (`ovlt_eval.testing.openai_server`) on 127.0.0.1, a deterministic OpenAI-compatible stand-in,
   since no real teacher can be downloaded offline; round 2's data comes from the tiny model.
6. `ovlt-data inspect` of the round-1 data.

Every score here comes from a random tiny model and means nothing; the plumbing is real.
Run it again — or the README's command — and every finished step is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CARD = "cards/loop_demo.yaml"  # the bundled card (ovlt_cards/), as the README writes it
SECTIONS = 6


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def _place_base_model(cached: Path, card: Path) -> Path:
    """The card's `base_model` (runs/tiny-model), copied from the cached tiny model when absent:
    the same files `python -m ovlt_eval.testing.tiny_model runs/tiny-model` writes."""
    from ovlt_train.cards import LoopCard, load_card

    target = Path(load_card(LoopCard, card).base_model)
    if not (target / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(cached, target, dirs_exist_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ovlt_train.demo",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--out", default="runs/demo", help="where the evaluation part (sections 1-4) writes"
    )
    parser.add_argument("--skip-eval-demo", action="store_true", help="only the loop")
    args = parser.parse_args(argv)

    from ovlt_data.cli import main as ovlt_data
    from ovlt_eval import demo as eval_demo
    from ovlt_eval.testing.openai_server import serve
    from ovlt_train.cards import LoopCard, load_card
    from ovlt_train.cli import main as ovlt_train

    if Path.cwd().resolve() != REPO:
        print(f"run the demo from the repository root: cd {REPO}", file=sys.stderr)
        return 2
    first = 1
    if not args.skip_eval_demo:
        rc = eval_demo.main(["--out", args.out], first=1, total=SECTIONS)
        if rc:
            return rc
        first = eval_demo.SECTIONS + 1
    total = SECTIONS if first > 1 else 2
    cached = eval_demo.tiny_model(Path(".cache"))
    base = _place_base_model(cached, CARD)

    _banner(f"{first}/{total}  the self-improvement loop: data → SFT → GRPO → eval, two rounds")
    server, url = serve()
    os.environ["OVLT_DEMO_BASE_URL"] = url
    print(f"base model: {base} (the tiny random-weight model)")
    print(f"loopback teacher (round-1 captioner/reasoner stand-in) at {url}")
    argv_loop = ["loop", "--card", CARD]
    print("$ ovlt-train " + " ".join(argv_loop), flush=True)
    try:
        rc = ovlt_train(argv_loop)
    finally:
        server.shutdown()
    if rc:
        return rc

    _banner(
        f"{first + 1}/{total}  what the round-1 data holds and how it was made (ovlt-data inspect)"
    )
    manifest = Path(load_card(LoopCard, CARD).work_dir) / "loop_manifest.json"
    data_dir = json.loads(manifest.read_text())["steps"]["r1.data"]["output"]
    print(f"$ ovlt-data inspect {data_dir}", flush=True)
    ovlt_data(["inspect", data_dir])
    print(
        "\nNOTE: the tiny model has random weights; every accuracy above means nothing. "
        f"Run `ovlt-train loop --card {CARD}` again: every finished step is skipped. "
        "The paper recipe on real models: see README, 'Reproduce the paper'.",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
