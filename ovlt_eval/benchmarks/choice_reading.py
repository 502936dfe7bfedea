"""Reading a multiple-choice answer out of prose when no explicit answer is marked.

MathVista's official pipeline asks GPT-4 to extract the answer; a response such as
"Based on the image, Sky Blue is less than Web Maroon." to "Is Sky Blue less than Web
Maroon? (A) yes (B) no" is read by GPT-4 as "yes". These rules do the same readings without
an LLM, only where the extractor found no marked answer:
  * a refusal ("cannot be determined", "not enough information") is recognised as such;
  * yes/no options: a declarative final sentence answers "yes", a negated one "no";
  * otherwise the last sentence (then the ones before it) that mentions exactly one
    option's text, or states a number equal to exactly one option's number, names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_REFUSAL = re.compile(
    r"\b(?:cannot|can ?not|can't|unable to|impossible|not possible|not enough|insufficient|"
    r"not (?:provided|given|specified|clear|sure|visible|available)|no (?:information|data|context)|"
    r"(?:does|do)(?: not|n't) (?:provide|specify|include|give|contain|show)|please provide|"
    r"without (?:the|specific|more|additional|further|any|this|that|knowing|information)|"
    r"unclear|not valid|no way to)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|neither|nor|none|nothing|nobody|cannot)\b|n't\b", re.IGNORECASE
)
_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)|\n+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_YES, _NO = "yes", "no"
# How many final sentences are searched for a mentioned option.
_TAIL_SENTENCES = 3


def is_refusal(text: str) -> bool:
    """The response's conclusion declines to answer."""
    return bool(_REFUSAL.search(last_sentences(text, 2)))


def last_sentences(text: str, k: int) -> str:
    return " ".join(sentences(text)[-k:])


def sentences(text: str) -> list[str]:
    tail = text[-3000:]
    return [s.strip() for s in _SENTENCE_END.split(tail) if s and s.strip()]


def read_choice(
    response: str, choices: Sequence[str], question: str = ""
) -> tuple[str, str] | None:
    """(option letter, how) read from prose, or None. Call only when no marked answer exists
    and the response is not a refusal. `question` lets a yes/no comparison be read ("Are
    there fewer X than Y?" answered "there are more X than Y" is "no")."""
    if not choices:
        return None
    lowered = [str(c).strip().lower() for c in choices]
    sents = sentences(response)
    if not sents:
        return None
    if set(lowered) == {_YES, _NO}:
        word = _yes_no(conclusion(response), question)
        return _LETTERS[lowered.index(word)], "yes_no_statement"
    for sent in reversed(sents[-_TAIL_SENTENCES:]):
        low = sent.lower()
        hits = {
            i
            for i, opt in enumerate(lowered)
            if opt and re.search(r"(?<![\w.])" + re.escape(opt) + r"(?![\w]|\.\d)", low)
        }
        # drop options that are only found inside a longer found option ("2" in "2 cm")
        hits = {i for i in hits if not any(j != i and lowered[i] in lowered[j] for j in hits)}
        if len(hits) == 1:
            return _LETTERS[hits.pop()], "option_in_sentence"
        if len(hits) > 1:
            return None
        numbers = [float(n) for n in _NUMBER.findall(sent)]
        if numbers:
            value = numbers[-1]
            matching = [i for i, opt in enumerate(lowered) if _lead_number(opt) == value]
            if len(matching) == 1:
                return _LETTERS[matching[0]], "number_in_sentence"
            return None
    return None


_CONCLUSION_LEAD = re.compile(
    r"^(?:based on|according to|from the|in the (?:image|graph|figure|picture|chart|plot)|"
    r"therefore|thus|so,|in conclusion|yes\b|no\b)",
    re.IGNORECASE,
)
_COMPARATIVES = (
    re.compile(r"\b(?:fewer|less|smaller|lower|shorter)\b", re.IGNORECASE),
    re.compile(r"\b(?:more|greater|larger|bigger|higher|taller)\b", re.IGNORECASE),
)


def conclusion(response: str) -> str:
    """The sentence that answers: in the last paragraph, the first one that opens like a
    conclusion ("Based on the image, …", "Therefore, …"), else the last sentence."""
    paragraphs = [p for p in re.split(r"\n\s*\n", response[-3000:].strip()) if p.strip()]
    sents = sentences(paragraphs[-1]) if paragraphs else []
    if not sents:
        return ""
    for sent in sents:
        if _CONCLUSION_LEAD.match(sent):
            return sent
    return sents[-1]


def _yes_no(statement: str, question: str) -> str:
    starts = re.match(r"\W*(yes|no)\b", statement, re.IGNORECASE)
    if starts:
        return starts.group(1).lower()
    if _NEGATION.search(statement):
        return _NO
    # "Are there fewer X than Y?" answered "there are more X than Y".
    q = question.rsplit("Question:", 1)[-1].split("Choices:", 1)[0]
    for asked, other in (_COMPARATIVES, _COMPARATIVES[::-1]):
        if asked.search(q) and not other.search(q):
            if other.search(statement) and not asked.search(statement):
                return _NO
    return _YES


def stated_value(response: str) -> str | None:
    """The last number of the final sentence, as GPT extracts a value that is no option."""
    sents = sentences(response)
    if not sents:
        return None
    nums = _NUMBER.findall(sents[-1])
    return nums[-1] if nums else None


def _lead_number(option: str) -> float | None:
    m = re.match(r"\s*\$?\s*(-?\d+(?:\.\d+)?)", option)
    if not m:
        return None
    rest = option[m.end() :].strip()
    if rest and (rest[0].isdigit() or rest[0] in "/:"):
        return None  # "3/4", "4:30" are not the number 3 or 4
    return float(m.group(1))
