"""Option-letter helpers shared by the multiple-choice benchmarks."""

from __future__ import annotations

import re

_PAREN_LETTER = re.compile(r"\(([A-Z])\)")
_LETTER_LIST = re.compile(
    r"\(?[A-Z]\)?(?:\s*(?:,|;|&|\band\b|\bor\b)\s*\(?[A-Z]\)?)+\.?", re.IGNORECASE
)
_WORD = re.compile(r"[A-Za-z]{2,}")
# An "answer" with this many words is prose (an explanation, a refusal), not a value.
PROSE_WORDS = 6


def names_several_options(pred: str) -> bool:
    """ "(A), (B) and (E)" or "A, C": several options are not one answer (always wrong)."""
    s = pred.strip()
    if len(s) > 200:
        return False
    if len(set(_PAREN_LETTER.findall(s))) > 1:
        return True
    m = _LETTER_LIST.fullmatch(s)
    return bool(m) and len({c.upper() for c in re.findall(r"[A-Za-z]", s) if len(c) == 1}) > 1


def is_prose(pred: str) -> bool:
    """True for a sentence rather than an answer; such text is never sent to the verifier."""
    return len(_WORD.findall(pred)) >= PROSE_WORDS


def option_key(s: str) -> str:
    """Loose text key for matching a written answer to an option's text."""
    t = s.strip().strip("$").strip().rstrip(".").lower()
    return " ".join(t.split())
