"""MathVista's official pipeline (lupantech/MathVista `evaluation/extract_answer.py` then
`evaluation/calculate_score.py`), re-implemented for the `official` protocol.

Extraction, in the official order:
  1. an empty response extracts "";
  2. multiple choice: a response that *is* one of the option texts is its own extraction;
  3. integer answers: a response `int()` accepts extracts `str(int(response))`; float answers:
     a response `float()` accepts extracts `str(float(response))`;
  4. the official quick rule `The answer is "X".` extracts X;
  5. the official pipeline then asks GPT-4; we use our rule-based extractor instead and
     shape its result like GPT's few-shot examples do (ext_ans.py): an option letter for
     multiple choice, a plain number ("1,234 cm" -> "1234", "\\frac{1}{2}" -> "0.5") for
     numbers, the text otherwise.
     When the rules find no answer (a refusal, "I cannot tell from the image"), GPT-4's
     extraction is a non-answer such as "None" or "N/A" (that is what the published output
     files hold for refusals), so we feed the literal string "None". For multiple choice,
     `normalize_extracted_answer` then maps it to the option nearest by edit distance
     (the official behaviour our `corrected` protocol drops); for numbers it fails to parse
     and the item is wrong.
Scoring (`normalize_extracted_answer` + `safe_equal`):
  * multiple choice: the first "(x)" in the extraction becomes the letter X; a letter in
    range picks that option's text; anything else picks the option with the smallest
    Levenshtein distance (the first on ties). Correct when that text equals the gold text;
  * integer: `str(int(float(x)))` (so "3.7" -> "3"); float: `str(round(float(x), precision))`;
    list: `str(x)`; each compared as text with the gold.
"""

from __future__ import annotations

import math
import re

from ovlt_eval.benchmarks.choice_reading import is_refusal, read_choice, stated_value
from ovlt_eval.benchmarks.mathvista_reading import (
    asked_number,
    leading_letter,
    leaked_tail,
    only_asks,
    option_by_words,
    stated_letter,
)
from ovlt_eval.benchmarks.options import names_several_options
from ovlt_eval.grading.extract import extract_answer

REFUSAL_EXTRACTION = "N/A"
# GPT-4 copies a one-line reply it cannot read as an answer verbatim when it is short, and a
# one-line refusal that says what is missing ("The text does not provide information needed
# to answer the question.") up to about 100 characters; a reply that declines ("The solution
# cannot be provided …", "I can't answer this question") becomes "N/A". Published files
# differ in where the length line falls (one GPT-4 snapshot copies more than another).
_COPIED_ANY_CHARS = 50
_COPIED_REFUSAL_CHARS = 100
_DECLINES = re.compile(
    r"cannot be provided|can(?:no|')t (?:answer|provide)|unable to|not able to", re.IGNORECASE
)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Extractions that marked their answer explicitly; the GPT-like readings do not override them.
_MARKED = ("answer_tag", "boxed", "answer_is", "option_letter")
_QUICK = re.compile(r'The answer is "(.*)"\.')
_PAREN_LETTER = re.compile(r"\(([a-zA-Z])\)")
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_FRAC = re.compile(r"^(-?)\\[dt]?frac\{\s*(-?\d+(?:\.\d+)?)\s*\}\{\s*(-?\d+(?:\.\d+)?)\s*\}$")
_SLASH = re.compile(r"^(-?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)$")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_LEADING_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?=\s*(?:[^\d\s.,/^:\-–]|$))")


def official_extraction(
    response: str,
    question_type: str,
    answer_type: str,
    choices: tuple[str, ...] | None,
    *,
    unit: str | None = None,
    question: str = "",
) -> str:
    if response == "":
        return ""
    if question_type == "multi_choice" and choices and response in choices:
        return response
    if answer_type == "integer":
        try:
            return str(int(response))
        except (ValueError, OverflowError):
            pass
    if answer_type == "float":
        try:
            return str(float(response))
        except (ValueError, OverflowError):
            pass
    quick = _QUICK.search(response)
    if quick:
        return quick.group(1)
    return rules_extraction(
        response, question_type, answer_type, choices, unit=unit, question=question
    )


def rules_extraction(
    response: str,
    question_type: str,
    answer_type: str,
    choices: tuple[str, ...] | None,
    *,
    unit: str | None = None,
    question: str = "",
) -> str:
    """Our rules in place of the GPT-4 call, shaped like GPT's extraction (see
    mathvista_reading.py for the readings GPT makes that a plain extractor does not)."""
    numeric = answer_type in ("integer", "float") and question_type != "multi_choice"
    choice = question_type == "multi_choice" and bool(choices)
    tail = leaked_tail(response)
    if tail is not None:  # the reply ran on into a new exercise: its last answer is read
        read_tail = extract_answer(tail, None, last_number_fallback=True)
        if read_tail.how != "last_number" and read_tail.answer and not is_refusal(read_tail.answer):
            if numeric:
                return plain_number(read_tail.answer, unit) or read_tail.answer
            return leading_letter(read_tail.answer) or read_tail.answer
    found = extract_answer(response, choices, last_number_fallback=numeric)
    if choice and found.how not in _MARKED:
        letter = stated_letter(response)
        if letter is not None:  # "The correct option letter is D." (even out of range)
            return letter
    if found.answer is not None and found.how == "short_response" and is_refusal(found.answer):
        return refusal_extraction(response)  # "I can't process this file."
    if found.answer is not None:
        if numeric:
            if found.how not in _MARKED:
                asked = asked_number(response, question)
                if asked is not None:
                    return asked
            return plain_number(found.answer, unit) or found.answer
        if choice and found.answer not in (choices or ()):
            several = names_several_options(found.answer)  # "(A), (B)" stays as written
            letter = None if several else leading_letter(found.answer)
            if letter is not None:
                return letter
            if found.how == "short_response" and is_prose_statement(found.answer):
                found = found.__class__(None, found.how)  # a statement: read it below
        if found.answer is not None:
            return found.answer
    if choice and not is_refusal(response):
        if only_asks(response):
            return REFUSAL_EXTRACTION  # a reply that only asks back answers nothing
        read = read_choice(response, choices or (), question)
        if read is not None:
            return read[0]
        value = stated_value(response)
        if value is not None:
            return value
        by_words = option_by_words(response, choices or ())
        if by_words is not None:
            return _LETTERS[by_words]
    return refusal_extraction(response)


def is_prose_statement(answer: str) -> bool:
    """ "The pizza is not split in half": a sentence, not an answer value."""
    return len(re.findall(r"[A-Za-z]{2,}", answer)) >= 4


def refusal_extraction(response: str) -> str:
    """What GPT-4 writes as the extraction of a non-answer: a one-sentence reply is copied
    as it is ("Sorry, I can't help with images of people yet."); for longer ones the
    published files hold "Cannot be determined" / "Cannot be answered" where the response
    says so, and "N/A" for the rest ("the solution cannot be provided", an off-topic reply)."""
    bare = response.strip()
    one_line = bool(bare) and "\n" not in bare
    if one_line and len(bare) <= _COPIED_ANY_CHARS:
        return bare
    if (
        one_line
        and len(bare) <= _COPIED_REFUSAL_CHARS
        and is_refusal(bare)
        and not _DECLINES.search(bare)
    ):
        return bare  # "The text does not provide information needed to answer the question."
    low = response[-600:].lower()
    said = re.search(r"cannot be (determined|answered)", low)
    if said:
        return f"Cannot be {said.group(1)}"
    if re.search(r"(?:impossible|not possible) to determine", low):
        return "Cannot be determined"
    if re.search(r"(?:cannot|can't|unable to) determine", low):
        return "Cannot determine"
    return REFUSAL_EXTRACTION


def plain_number(answer: str, unit: str | None = None) -> str | None:
    """The bare number GPT would extract from "1,234 cm", "$5", "45%", "\\frac{1}{2}"."""
    s = answer.strip().strip("$").strip()
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:,|!|;|\s)", "", s)
    s = s.replace("\\%", "%").replace("\\$", "").replace("$", "")
    s = _THOUSANDS.sub("", s)
    s = re.sub(r"\^\{?\\circ\}?|°", "", s).strip()
    if _PLAIN_NUMBER.fullmatch(s):
        return s
    for m in (_FRAC.match(s), _SLASH.match(s)):
        if m:
            groups = m.groups()
            sign = groups[0] if len(groups) == 3 else ""
            num, den = float(groups[-2]), float(groups[-1])
            if den:
                value = num / den * (-1 if sign == "-" else 1)
                return _short(value)
            return None
    lead = _LEADING_NUMBER.match(s)
    if lead:  # "12 cm", "45%", "3 apples"
        return lead.group(0)
    return None


def _short(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(round(value, 6))


def normalize_extracted_answer(
    extraction: str,
    choices: tuple[str, ...] | None,
    question_type: str,
    answer_type: str,
    precision: int | None,
) -> str | None:
    if question_type == "multi_choice":
        s = extraction.strip()
        letters = _PAREN_LETTER.findall(s)
        if letters:
            s = letters[0].upper()
        options = choices or ()
        if not options:
            return None
        seq = _LETTERS[: len(options)]
        if len(s) == 1 and s in seq:
            return options[seq.index(s)]
        return nearest_option(s, options)
    # calculate_score.py wraps each conversion in `except Exception` -> None.
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            # `int(precision)`: a float item without a precision (None / NaN) never scores.
            return str(round(float(extraction), int(precision)))  # type: ignore[arg-type]
    except (ValueError, OverflowError, TypeError):
        return None
    if answer_type == "list":
        return str(extraction)
    # Other answer types: the official code leaves `normalized_extraction` unbound (it would
    # raise UnboundLocalError); none exist in testmini. Never equal here.
    return None


def nearest_option(answer: str, choices: tuple[str, ...]) -> str:
    """The option with the smallest Levenshtein distance (the first one on ties)."""
    best, best_d = choices[0], None
    for c in choices:
        d = edit_distance(answer, c)
        if best_d is None or d < best_d:
            best, best_d = c, d
    return best


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
