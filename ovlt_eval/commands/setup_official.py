"""`ovlt-eval setup-official`: install MATH-V's own LaTeX parser beside the environment.

MathVision's official evaluator parses answers with latex2sympy2 1.9.1 on the ANTLR 4.7.2 runtime
it pins; Math-Verify needs ANTLR 4.13, so the two cannot share site-packages. This installs
the pinned pair into `<sys.prefix>/mathv-latex2sympy2` (or `--target`), where the official
evaluator's worker processes find it (mathvision_official.parser_dir). `make setup` runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ovlt_eval.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument(
        "--target",
        default=None,
        help="folder to install into (default: <sys.prefix>/mathv-latex2sympy2; another folder "
        "must then be named in $OVLT_MATHV_LATEX2SYMPY2)",
    )


def run(args) -> int:
    from ovlt_eval.benchmarks.mathvision_official import PARSER_PINS, parser_dir

    target = Path(args.target) if args.target else Path(sys.prefix) / "mathv-latex2sympy2"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade"]
    cmd += ["--target", str(target), *PARSER_PINS]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UserError(f"pip could not run: {err}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise UserError(f"pip failed to install {' '.join(PARSER_PINS)}: {last}")
    from ovlt_eval.benchmarks.mathvision_parser import write_fingerprint

    try:  # what the official evaluator checks before each use (mathvision_parser.py)
        n_files = write_fingerprint(target)
    except OSError as err:
        raise UserError(f"cannot fingerprint the parser in {target}: {err}") from None
    found = parser_dir()
    where = f"installed in {target} ({n_files} files fingerprinted)"
    if found is None or found.resolve() != target.resolve():
        where += " (name it in $OVLT_MATHV_LATEX2SYMPY2 so the evaluator finds it)"
    print(f"MATH-V's official LaTeX parser {where}", file=sys.stderr)
    return 0
