"""Is the MATH-V parser folder the one `setup-official` installed, and does it work?

A damaged folder changed the official MathVision score without a word: with
`gen/PSParser.py` deleted (or truncated, or `antlr4/` a link elsewhere) the parser's worker
could not start, every comparison that needed it became "unparseable", and 300 published
items scored 1.45 % instead of 1.61 % with exit 0. So before the parser is used:

1. its files are compared with the fingerprint `setup-official` wrote (`FINGERPRINT`: the
   SHA-256 of every file, no links, nothing added or missing; `__pycache__` aside);
2. a worker is started and answers a few strings whose official values are known (the
   self-test), which also proves that the process can start at all.

Any mismatch is a one-line reason (`parser_problem`), which the `official` protocol turns
into a refusal before scoring; the other protocols then record no official verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

FINGERPRINT = "ovlt-parser-fingerprint.json"
_SKIP_DIRS = frozenset(("__pycache__",))
_MAX_FILES = 2000  # the pinned pair holds about 100 files

# (LaTeX, the value MATH-V's evaluate.py gets from eval(str(latex2sympy(s)))) with
# latex2sympy2 1.9.1 on ANTLR 4.7.2: a fraction of powers, a power of a power, the
# longest-parsable-prefix quirk. Each needs the generated parser and the runtime.
SELF_TEST = (
    ("\\frac{3^{1008}-1}{3^{1009}}", 0.3333333333333333),
    ("(2^{10})^{3}", 1073741824),
    ("\\sqrt{2}+1", 2.414213562373095),
    ("5.so,even", 5),
)
_SELF_TEST_DEADLINE_S = 30.0


def _files(folder: Path) -> tuple[dict[str, str], list[str]]:
    """({relative path: sha256}, [problems]) of everything under `folder`."""
    digests: dict[str, str] = {}
    problems: list[str] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        here = Path(root)
        for d in list(dirs):
            if (here / d).is_symlink():
                problems.append(f"{(here / d).relative_to(folder)} is a link")
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not (here / d).is_symlink())
        for name in sorted(names):
            path = here / name
            rel = path.relative_to(folder).as_posix()
            if rel == FINGERPRINT:
                continue
            if path.is_symlink() or not path.is_file():
                problems.append(f"{rel} is not a regular file")
                continue
            if len(digests) >= _MAX_FILES:
                problems.append(f"more than {_MAX_FILES} files")
                return digests, problems
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests, problems


def write_fingerprint(folder: Path) -> int:
    """Record the installed files (called by `setup-official`); the number of files."""
    digests, problems = _files(folder)
    if problems:
        raise OSError(f"{folder}: {problems[0]}")
    text = json.dumps({"version": 1, "files": digests}, indent=1, sort_keys=True) + "\n"
    (folder / FINGERPRINT).write_text(text, encoding="utf-8")
    return len(digests)


def fingerprint_problem(folder: Path) -> str | None:
    """Why the files under `folder` are not the ones `setup-official` installed, or None."""
    try:
        recorded = json.loads((folder / FINGERPRINT).read_text(encoding="utf-8"))["files"]
        if not isinstance(recorded, dict):
            raise ValueError
    except FileNotFoundError:
        return "it has no install fingerprint (installed by an older ovlt, or by hand)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its fingerprint {FINGERPRINT} is unreadable"
    found, problems = _files(folder)
    if problems:
        return problems[0]
    missing = sorted(set(recorded) - set(found))
    if missing:
        return f"{missing[0]} is missing" + (
            f" (and {len(missing) - 1} more)" if missing[1:] else ""
        )
    changed = sorted(k for k in recorded if found[k] != recorded[k])
    if changed:
        return f"{changed[0]} was changed since it was installed"
    added = sorted(set(found) - set(recorded))
    if added:
        return f"{added[0]} was added since it was installed"
    return None


def self_test_problem(folder: Path) -> str | None:
    """Why MATH-V's parser does not give its known values in a worker process, or None."""
    from ovlt_eval.grading.timeout import run_symbolic_mode

    for expr, expected in SELF_TEST:
        reply = run_symbolic_mode(
            ("--mathv-latex2sympy2", str(folder)),
            {"op": "official_latex_value", "expr": expr, "max_printed": 16000},
            _SELF_TEST_DEADLINE_S,
        )
        if reply.get("status") != "ok":
            detail = reply.get("detail") or reply.get("status")
            return f"its worker failed the self-test on {expr!r} ({detail})"
        if reply.get("value") != expected:
            return f"it reads {expr!r} as {reply.get('value')!r}, not {expected!r}"
    return None


@lru_cache(maxsize=8)
def parser_problem(folder: Path) -> str | None:
    """Why the parser in `folder` must not be used, or None; checked once per process."""
    why = fingerprint_problem(folder) or self_test_problem(folder)
    if why is None:
        return None
    return (
        f"MATH-V's LaTeX parser in {folder} fails its check: {why}; "
        "reinstall it with `ovlt-eval setup-official`"
    )
