"""Readings GPT-4 makes when it extracts a MathVista answer, done with rules.

These stand in for the GPT call of MathVista's `extract_answer.py` under the `official`
protocol only (the `corrected` protocol keeps its own, stricter extraction). Each rule names
a reading GPT's few-shot extraction prompt (`evaluation/prompts/ext_ans.py`) makes of any
reply, never a reading of one model's or one file's replies:
  * a stated option letter is copied as written, even one out of range ("The correct option
    letter is D." to a yes/no question extracts "D");
  * "C, Dark Gray" / "A (Yes)" / "B - text": the letter that leads an answer;
  * a reply that runs on into a new "Question: …" with its own solution (few-shot leakage)
    is read at its end, like any reply: the last solution's answer;
  * a numeric question is answered by the number it asks for: "how many … in each …" by the
    number counted per group ("4 dots divided into 2 groups, with 2 dots in each group" -> 2),
    "which year" by the year stated;
  * an option none of whose text is quoted is the one whose words the conclusion repeats
    ("… the adult spider population would decrease" -> "Adult spider population would
    decrease"), when exactly one option is repeated that way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_STATED_LETTER = re.compile(
    r"\b(?:correct|right|best)\s+(?:option|choice|answer)(?:\s+letter)?\s*(?:is|would be|:)\s*"
    r"\(?(?P<l>[A-Z])\)?(?![\w'])"
)
_LEADING_LETTER = re.compile(r"^\(?(?P<l>[A-Z])\)?(?:\s*[,:]\s*|\s+-\s+|\s+\()\S")
_QUESTION_LINE = re.compile(r"^\s*(?:\*\*)?Question\s*[:：]", re.MULTILINE)
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
_PER_GROUP = re.compile(
    rf"(?P<n>{_NUMBER})\s+(?:[A-Za-z]+\s+){{0,3}}?(?:in|on|per|for)\s+each\b", re.IGNORECASE
)
_EACH_HAS = re.compile(
    rf"\beach\s+(?:[A-Za-z]+\s+){{0,3}}?(?:has|have|contains?|containing|holds?|with|of)\s+"
    rf"(?P<n>{_NUMBER})\b",
    re.IGNORECASE,
)
_ASKS_YEAR = re.compile(r"\b(?:which|what|in which)\s+year\b|\bwhen\b", re.IGNORECASE)
_YEAR = re.compile(r"(?<![\d.,])(?:1[89]\d\d|20\d\d)(?![\d%]|[.,]\d)")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the of to in on at by for and or is are was were be will would would've it its this "
    "that these those as with from".split()
)
# At least this share of an option's content words must appear in the conclusion.
_MIN_WORD_SHARE = 0.75


def stated_letter(response: str, n_sentences: int = 3) -> str | None:
    """The letter a reply states as its option ("The correct option letter is D."), in its
    last sentences; the last one stated counts."""
    tail = " ".join(_sentences(response)[-n_sentences:])
    found = None
    for found in _STATED_LETTER.finditer(tail):  # noqa: B007 - the last one counts
        pass
    return found.group("l") if found else None


def leading_letter(answer: str) -> str | None:
    """ "C, Dark Gray", "A (Yes)", "B - text", "(D): 5" -> the letter; None otherwise."""
    m = _LEADING_LETTER.match(answer.strip())
    return m.group("l") if m else None


def leaked_tail(response: str) -> str | None:
    """The text after the last line that opens a new "Question:" (a reply that runs on into
    a made-up next exercise), when that question comes after some answer text and is itself
    followed by more lines (its solution); None otherwise."""
    starts = [m.start() for m in _QUESTION_LINE.finditer(response)]
    if not starts or not response[: starts[-1]].strip():
        return None
    block = response[starts[-1] :].strip()
    lines = [ln for ln in block.splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    return "\n".join(lines[1:])


def asked_number(response: str, question: str) -> str | None:
    """The number the question asks for, read from the reply's last sentence: the count per
    group when it asks about "each", the year when it asks which year."""
    sents = _sentences(response)
    if not sents:
        return None
    last = sents[-1]
    asked = question.rsplit("Question:", 1)[-1]
    if re.search(r"\beach\b", asked, re.IGNORECASE):
        for pattern in (_PER_GROUP, _EACH_HAS):
            m = pattern.search(last)
            if m:
                return m.group("n").replace(",", "")
    if _ASKS_YEAR.search(asked):
        years = _YEAR.findall(last)
        if len(set(years)) == 1:
            return years[0]
    return None


def option_by_words(response: str, choices: Sequence[str]) -> int | None:
    """Index of the one option (of two or more content words) whose words the reply's last two
    sentences repeat; None when none or several qualify."""
    text = " ".join(_sentences(response)[-2:]).lower()
    words = {_stem(w) for w in _WORD.findall(text)}
    best, best_share, tie = None, 0.0, False
    for i, option in enumerate(choices):
        content = [_stem(w) for w in _WORD.findall(str(option).lower()) if w not in _STOP]
        if len(content) < 2:
            continue
        share = sum(w in words for w in content) / len(content)
        if share > best_share:
            best, best_share, tie = i, share, False
        elif share == best_share and share > 0:
            tie = True
    if best is None or tie or best_share < _MIN_WORD_SHARE:
        return None
    return best


def only_asks(response: str) -> bool:
    """The whole reply is one question ("Is Sky Blue the minimum?"): it answers nothing."""
    sents = _sentences(response)
    return len(sents) == 1 and sents[0].rstrip().endswith("?")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _sentences(text: str) -> list[str]:
    tail = text[-3000:]
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", tail) if s and s.strip()]
