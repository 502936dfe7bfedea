"""`ovlt-eval` entry point.

Sub-commands live in `ovlt_eval.commands.<name>`, each exposing `add_arguments(parser)` and
`run(args) -> int`. `ovlt-eval --model X --bench Y` (no sub-command) means `ovlt-eval run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ovlt_eval.errors import OneLineParser

COMMANDS = {
    "score": "Score a predictions file against a benchmark's official protocol (no model).",
    "run": "Generate with a model on benchmarks, then score (resumable).",
    "compare": "Compare several run directories in one table.",
    "setup-official": "Install MATH-V's own LaTeX parser for MathVision's official protocol.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ovlt-eval", description="OpenVLThinker evaluation harness")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"ovlt_eval.commands.{name.replace('-', '_')}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    from ovlt_eval.errors import run_command

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "run")  # `ovlt-eval --model ckpt --bench mathverse`
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    module = importlib.import_module(f"ovlt_eval.commands.{args.command.replace('-', '_')}")
    return run_command(
        f"ovlt-eval {args.command}",
        args,
        lambda: module.run(args),
        on_interrupt="the run directory is resumable",
    )


if __name__ == "__main__":
    sys.exit(main())
