"""Hedged answers: a reply that names two or more candidate answers is no answer at all.

`<answer>7 or 9</answer>` on options 3/5/7/9/11 used to read as C (it starts with option C's
text), `3, 5, 7, 9, 11` as A, and `Yes/No` as Yes; under `corrected` (and in the data factory's
`verify` stage, which uses the same policy) each then scored right whenever the gold was the
first-named candidate, so hedged traces became training data. One rule, used by the extractor
(which must not collapse a hedge into its first option) and by the verifier (which refuses it):

* with options: two or more distinct options named as the parts of an answer split at
  " or ", "/", ", " or ";" ("7 or 9", "3, 5, 7, 9, 11", "(A) or (C)", "Yes/No");
* without options: two different parts joined by " or " ("12 or 15"), or an answer that is
  just two words joined by "/" ("Yes/No"; not "km/h"). Commas are left alone there: "2, 3" is
  a list answer.

A gold that is itself written that way ("x<2 or x>3") turns the rule off for its item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# ", " and ";" separate candidates; "1,000" (no space) stays one number.
_SPLIT_WITH_OPTIONS = re.compile(r"\s+or\s+|(?<=\D)\s*/\s*(?=\D)|,\s+|\s*;\s*", re.IGNORECASE)
_SPLIT_FREE = re.compile(r"\s+or\s+", re.IGNORECASE)
# "yes/no", "true/false": two words and nothing else ("60 km/h" and "m/s" are units)
_WORD_SLASH_WORD = re.compile(r"\s*([A-Za-z]{2,})\s*/\s*([A-Za-z]{2,})\s*[.]?\s*")
_EITHER = re.compile(r"^(?:either|maybe|perhaps|possibly)\s+", re.IGNORECASE)
_LETTER = re.compile(r"\(?\s*([a-z])\s*\)?\.?")
_WRAP = " \t\n*$.:"
# Past this length a reply is prose, not a list of candidates: the rule stays linear and short.
_MAX_CHARS = 300


def _part_key(part: str) -> str:
    part = part.strip(_WRAP)
    part = re.sub(r"^\\text\{(.*)\}$", r"\1", part)
    return " ".join(part.lower().split())


def _parts(answer: str, splitter: re.Pattern) -> list[str]:
    text = _EITHER.sub("", answer.strip())
    return [k for k in (_part_key(p) for p in splitter.split(text)) if k]


def is_written_as_alternatives(text: str) -> bool:
    """True for a gold such as "x<2 or x>3" or "red/blue", where the rule must not apply."""
    return len(_parts(text, _SPLIT_FREE)) > 1 or bool(_WORD_SLASH_WORD.fullmatch(text))


def hedged(answer: str, options: Sequence[str] | None = None, gold: str | None = None) -> bool:
    """True when `answer` names two or more candidate answers (see the module docstring)."""
    if not answer or len(answer) > _MAX_CHARS:
        return False
    # most answers name no separator at all: decided without a regex (verify's fast path)
    low = answer.lower()
    if "or" not in low and "/" not in low and not (options and ("," in low or ";" in low)):
        return False
    if gold is not None and is_written_as_alternatives(gold):
        return False
    if options:
        keys = [_part_key(str(o)) for o in options]
        if _part_key(answer) in keys:
            return False  # an option's own text ("either of them") is one answer
        named = set()
        for part in _parts(answer, _SPLIT_WITH_OPTIONS):
            if part in keys:
                named.add(keys.index(part))
                continue
            letter = _LETTER.fullmatch(part)
            if letter is not None:
                index = ord(letter.group(1)) - ord("a")
                if 0 <= index < len(keys):
                    named.add(index)
        return len(named) > 1
    pair = _WORD_SLASH_WORD.fullmatch(_EITHER.sub("", answer.strip()))
    if pair is not None:
        return pair.group(1).lower() != pair.group(2).lower()
    parts = _parts(answer, _SPLIT_FREE)
    return len(parts) > 1 and len(set(parts)) > 1
