"""`ovlt-train` entry point: `sft`, `grpo`, `loop`.

ovlt-train sft  --data DIR_OR_HUB_ID[@ref] --model BASE --card cards/train/sft.yaml [--set k=v ...] [--out DIR]
ovlt-train grpo --data DIR_OR_HUB_ID[@grpo_medium] --model SFT_CKPT --card cards/train/grpo.yaml
                [--curriculum medium,hard] [--set k=v ...] [--out DIR]
ovlt-train sft|grpo --print-config [--card ...] [--set k=v ...]   (the resolved trl config as JSON)
ovlt-train loop --card cards/loop.yaml [--rounds 3] [--set k=v ...]
ovlt-train cards [--copy DIR]                        (the bundled default cards)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from ovlt_eval.errors import DefaultsHelpFormatter as HelpFormatter
from ovlt_eval.errors import OneLineParser


def _overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a card field (dotted keys, YAML values); repeatable",
    )


def _no_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars at all (trainer, model loading, datasets, data build, eval)",
    )


def _common(p: argparse.ArgumentParser, kind: str) -> None:
    card_default = f"cards/train/{kind}.yaml"
    p.add_argument(
        "--data",
        help="training data: a local dir/file or Hub id, optional @config / @split / @revision "
        "/ @rev:config (required unless --print-config)",
    )
    p.add_argument(
        "--model", help="model directory or Hub id to start from (required unless --print-config)"
    )
    p.add_argument("--card", default=card_default, help="training card (YAML)")
    p.add_argument(
        "--allow-absolute-images",
        action="store_true",
        help="let --data rows name images by absolute paths outside the data folder "
        "(LLaMA-Factory-style data); otherwise such a row is refused",
    )
    _overrides(p)
    p.add_argument(
        "--out",
        default=None,
        help=f"output checkpoint directory (default: checkpoints/{kind}-<model name>)",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the fully resolved trl config as JSON and exit",
    )
    p.add_argument(
        "--world-size",
        type=int,
        default=None,
        metavar="N",
        help="with --print-config: resolve for N processes (default: $WORLD_SIZE or 1)",
    )
    _no_progress(p)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ovlt-train",
        description="OpenVLThinker training: trl SFT / GRPO and the round loop",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log INFO messages (default: warnings only)"
    )
    sub = parser.add_subparsers(dest="command", metavar="{sft,grpo,loop,cards}")
    sft = sub.add_parser(
        "sft",
        help="supervised fine-tuning on a round's SFT data (trl SFTTrainer)",
        description="Supervised fine-tuning on a round's SFT data (trl SFTTrainer); the "
        "checkpoint folder holds weights, processor, chat template and ovlt_train.json.",
        formatter_class=HelpFormatter,
    )
    _common(sft, "sft")
    grpo = sub.add_parser(
        "grpo",
        help="GRPO with the verifier reward (trl GRPOTrainer)",
        description="GRPO with the verifier reward (trl GRPOTrainer), one checkpoint folder "
        "per curriculum stage under --out.",
        formatter_class=HelpFormatter,
    )
    _common(grpo, "grpo")
    grpo.add_argument(
        "--curriculum",
        default=None,
        help="stages in order, e.g. medium,hard (configs grpo_medium, grpo_hard); default: "
        "the card's curriculum, or the one stage --data names",
    )
    loop = sub.add_parser(
        "loop",
        help="data → SFT → GRPO medium → hard → eval, for several rounds; resumable",
        description="The self-improvement rounds: data → SFT → GRPO medium → hard → eval. "
        "Resumable: run the same command again and every finished step is skipped.",
        formatter_class=HelpFormatter,
    )
    loop.add_argument(
        "--card",
        default="cards/loop.yaml",
        help="loop card (YAML): base model, work dir, data / training cards, benches",
    )
    loop.add_argument(
        "--rounds", type=int, default=None, help="number of rounds (default: the card's)"
    )
    _overrides(loop)
    loop.add_argument(
        "--dry-run", action="store_true", help="print the plan and each step's state, run nothing"
    )
    _no_progress(loop)
    cards = sub.add_parser(
        "cards",
        help="list the default cards shipped in the package (`cards/...` in any command)",
        description="The default cards, shipped inside the package: `cards/loop.yaml` in any "
        "command (or card) means the bundled one unless that file exists where you run it. "
        "--copy DIR copies them all into DIR/cards/ to edit (your copy then wins there).",
        formatter_class=HelpFormatter,
    )
    cards.add_argument(
        "--copy", metavar="DIR", help="copy the cards into DIR/cards/ (not over a file)"
    )
    return parser


def _cards(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from ovlt_cards import CARDS_DIR, list_cards

    for path in list_cards():
        name = Path("cards") / path.relative_to(CARDS_DIR)
        if args.copy:
            dest = Path(args.copy) / name
            if dest.exists():
                print(f"kept    {dest} (exists)")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            print(f"copied  {dest}")
        else:
            print(f"{str(name):44s} {path}")
    return 0


def _print_config(args: argparse.Namespace) -> int:
    if args.world_size is not None and args.world_size < 1:
        from ovlt_eval.errors import UserError

        raise UserError(f"--world-size {args.world_size}: must be >= 1")
    if args.command == "sft":
        from ovlt_train.sft import print_sft_config

        resolved = print_sft_config(
            card_path=args.card, overrides=args.overrides, world=args.world_size
        )
    else:
        from ovlt_train.grpo import print_grpo_config

        resolved = print_grpo_config(
            card_path=args.card,
            overrides=args.overrides,
            data=args.data,
            curriculum=args.curriculum,
            world=args.world_size,
        )
    print(json.dumps(resolved, indent=2, sort_keys=True, default=str))
    return 0


def _check_refs(args: argparse.Namespace) -> None:
    """Before trl / transformers are imported (seconds): a missing folder or an unreachable Hub
    id is one line, not minutes of the libraries' retries."""
    from pathlib import Path

    from ovlt_eval.hub_access import check_hub_ref, check_model_ref, looks_local

    if not Path(args.model).expanduser().exists():  # a folder is checked where it is loaded,
        check_model_ref(args.model)  # after the card (its mistakes are named first)
    source = args.data.split("@", 1)[0]
    if not Path(source).expanduser().exists() and not looks_local(source) and "/" in source:
        check_hub_ref(source, repo_type="dataset", what="--data")


def run(args: argparse.Namespace) -> int:
    if args.command == "cards":
        return _cards(args)
    if args.command in ("sft", "grpo"):
        if args.print_config:
            return _print_config(args)
        missing = [f"--{k}" for k in ("data", "model") if not getattr(args, k)]
        if missing:
            from ovlt_eval.errors import UserError

            raise UserError(f"{' and '.join(missing)} required (or --print-config)")
        _check_refs(args)
    if args.command == "sft":
        from ovlt_train.sft import run_sft

        out = run_sft(
            data=args.data,
            model=args.model,
            card_path=args.card,
            overrides=args.overrides,
            out_dir=args.out,
            progress=not args.no_progress,
        )
        print(f"ovlt-train sft: checkpoint at {out}")
    elif args.command == "grpo":
        from ovlt_train.grpo import run_grpo

        out = run_grpo(
            data=args.data,
            model=args.model,
            card_path=args.card,
            overrides=args.overrides,
            out_dir=args.out,
            curriculum=args.curriculum,
            progress=not args.no_progress,
        )
        print(f"ovlt-train grpo: checkpoint at {out}")
    elif args.command == "loop":
        from ovlt_train.loop import run_loop

        overrides = list(args.overrides)
        if args.rounds is not None:
            overrides.append(f"rounds={args.rounds}")
        run_loop(
            card_path=args.card,
            overrides=overrides,
            dry_run=args.dry_run,
            progress=not args.no_progress,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    from ovlt_eval.errors import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "allow_absolute_images", False):
        from ovlt_train.image_rows import ALLOW_ABSOLUTE_ENV

        os.environ[ALLOW_ABSOLUTE_ENV] = "1"  # read where the data is loaded (image_rows.py)
    if getattr(args, "no_progress", False):
        from ovlt_eval.progress import silence_progress

        silence_progress()
    return run_command(
        f"ovlt-train {args.command}",
        args,
        lambda: run(args),
        on_interrupt="re-run the same command; a loop resumes from its manifest",
    )


if __name__ == "__main__":
    sys.exit(main())
