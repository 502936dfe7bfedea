"""Option-letter helpers shared by the multiple-choice benchmarks."""

from __future__ import annotations

import re

_PAREN_LETTER = re.compile(r"\(([A-Z])\)")
_LETTER_LIST = re.compile(
    r"\(?[A-Z]\)?(?:\s*(?:,|;|&|\band\b|\bor\b)\s*\(?[A-Z]\)?)+\.?", re.IGNORECASE
)


def names_several_options(pred: str) -> bool:
    """"(A), (B) and (E)" or "A, C": several options are not one answer (always wrong)."""
    s = pred.strip()
    if len(s) > 200:
        return False
    if len(set(_PAREN_LETTER.findall(s))) > 1:
        return True
    m = _LETTER_LIST.fullmatch(s)
    return bool(m) and len({c.upper() for c in re.findall(r"[A-Za-z]", s) if len(c) == 1}) > 1
