"""A gold answer parsed once (and cached) for `verify`: what kind it is, its number, which
option it names, the text the symbolic worker parses. Nothing here depends on a prediction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ovlt_eval.grading.normalize import (
    Number,
    parse_letter,
    parse_number,
    strip_assignment,
    strip_wrappers,
    text_key,
)

_SINGLE_LETTER = re.compile(r"[A-Z]")


@dataclass(frozen=True)
class Gold:
    raw: str
    key: str
    kind: (
        str  # resolved: multi_choice, letter (MC without choices), integer, float, text, list, auto
    )
    number: Number | None
    option: int | None  # index of the gold option (multi_choice with choices)
    choice_keys: tuple[str, ...]
    choice_numbers: tuple[Number | None, ...]
    precision: int | float | None
    unit: str | None
    symbolic: str  # what the worker parses for the gold


def letter_index(letter: str, n_choices: int) -> int | None:
    i = ord(letter.upper()) - ord("A")
    return i if 0 <= i < n_choices else None


@lru_cache(maxsize=65536)
def parse_gold(
    gold: str,
    kind: str,
    choices: tuple[str, ...] | None,
    precision: int | float | None,
    unit: str | None,
) -> Gold:
    """Everything about a gold answer that does not depend on the prediction; cached."""
    key = text_key(gold)
    choice_keys = tuple(text_key(c) for c in choices) if choices else ()
    choice_numbers = tuple(parse_number(c, unit) for c in choices) if choices else ()
    resolved = kind
    option = None
    if kind == "auto" and choices:
        resolved = "multi_choice"
    if resolved == "multi_choice" and choices:
        if key in choice_keys:
            option = choice_keys.index(key)
        else:
            letter = parse_letter(gold)
            if letter is not None and letter.rest is None:
                option = letter_index(letter.letter, len(choices))
        if option is None:
            g_num = parse_number(gold, unit)
            if g_num is not None:
                for i, c_num in enumerate(choice_numbers):
                    if c_num is not None and c_num.value == g_num.value:
                        option = i
                        break
    elif resolved in ("multi_choice", "auto") and _SINGLE_LETTER.fullmatch(strip_wrappers(gold)):
        resolved = "letter"
    number = parse_number(gold, unit) if resolved not in ("text", "list") else None
    symbolic = strip_assignment(strip_wrappers(gold))
    return Gold(
        gold, key, resolved, number, option, choice_keys, choice_numbers, precision, unit, symbolic
    )
