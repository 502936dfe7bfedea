"""Find the final answer in raw model text, with rules only (no LLM).

Order of evidence, strongest first: `<answer>…</answer>` (last), the last `\\boxed{}` /
`\\fbox{}`, the last "the (final) answer is …" / "Answer: …" phrase, an option letter written
as `(B)`, `B.`, `B)`, `**B**`, an option's text, then a short bare response. `<think>`
sections never count: a model's scratch work often boxes intermediate values.

Every search is either `str.rfind` or a regex whose pattern starts with a literal and has
no nested quantifiers, so a 100k-character adversarial string costs linear time. Nothing
here raises on model output: odd input gives `Extraction(None, reason)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ovlt_eval.grading.hedges import hedged
from ovlt_eval.grading.normalize import brace_end
from ovlt_eval.grading.types import Extraction

# Bare responses up to this length (one line) are taken as the answer itself, like the
# official MATH-V evaluator does for models that reply "A" or "80".
_SHORT_RESPONSE = 40
# A phrase answer longer than this is prose, not an answer.
_MAX_PHRASE = 200

_ANSWER_PHRASE = re.compile(
    r"(?:final answer|correct answer|correct option|correct choice|the answer|answer)"
    r"(?:\s*(?:is|should be|would be|will be)\s*[:：]?|\s*[=:：]|\s*\*\*\s*:|:\s*\*\*)"
    r"[ \t]*(?P<ans>[^\n]*)",
    re.IGNORECASE,
)
# Chinese answer phrases ("所以，答案是D。", "答案为：25°").
_ANSWER_PHRASE_ZH = re.compile(
    r"(?:最终答案|正确答案|答案)\s*(?:是|为|應為|应为)?\s*[:：]?[ \t]*(?P<ans>[^\n。；]*)"
)
# A markdown/heading answer whose value sits on the next line ("**Answer:**\n\n42").
_ANSWER_HEADER = re.compile(
    r"(?:final answer|answer)(?:[ \t]+is)?[ \t*]*[:：][ \t*]*\n\s*(?P<ans>[^\n]+)",
    re.IGNORECASE,
)
_LETTER_ONLY = re.compile(
    r"^(?:option|choice)?\s*[\(\[]?\s*(?P<l>[A-Z])\s*[\)\]]?\s*[.:)]?$", re.IGNORECASE
)
# "(B) 8/11", "B. 8/11", "B) 8/11", "B: 8/11", "**B**" at the start of an answer phrase.
_LETTER_LEAD = re.compile(r"^(?:\(\s*(?P<a>[A-Z])\s*\)|(?P<b>[A-Z])\s*[.):](?=\s|$))")
_LETTER_BOLD = re.compile(r"\*\*\s*\(?(?P<l>[A-Z])\)?[.)]?\s*\*\*")
_LETTER_PAREN = re.compile(r"\((?P<l>[A-Z])\)")
_LETTER_WORD = re.compile(r"\b(?:option|choice)\s+\(?(?P<l>[A-Z])\b\)?", re.IGNORECASE)
_LETTER_DOT_END = re.compile(r"(?:^|\s)(?P<l>[A-Z])[.)]\s*$")
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*%)?|-?\.\d+")


def extract_answer(
    response: str | None,
    choices: Sequence[str] | None = None,
    *,
    last_number_fallback: bool = False,
) -> Extraction:
    """The answer in `response`, or `Extraction(None, reason)`; never raises.

    `choices` (option texts, in letter order) lets a written option text or a bare letter
    count. `last_number_fallback` takes the last number of the final lines when nothing
    else is found (for numeric questions answered in prose).
    """
    try:
        return _extract(response, choices, last_number_fallback)
    except Exception as err:  # model text must never crash a scorer or an RL worker
        return Extraction(None, f"extraction_error:{type(err).__name__}")


def _extract(response, choices, last_number_fallback) -> Extraction:
    if response is None:
        return Extraction(None, "empty_response")
    if not isinstance(response, str):
        response = str(response)
    text = _drop_think(response)
    if text is None:
        return Extraction(None, "unclosed_think")
    if not text.strip():
        return Extraction(None, "empty_response")
    n_choices = len(choices) if choices else 0

    tagged = _answer_tag(text)
    if tagged is not None:
        inner = tagged.strip()
        boxed = _last_boxed(inner)
        if boxed is not None and boxed.strip():
            return Extraction(_refine(boxed, choices, n_choices), "answer_tag")
        refined = _refine(inner, choices, n_choices)
        if refined:
            return Extraction(refined, "answer_tag")
        return Extraction(None, "empty_answer_tag")

    boxed = _last_boxed(text)
    if boxed is not None:
        if boxed.strip():
            return Extraction(_refine(boxed, choices, n_choices), "boxed")

    phrase = _answer_phrase(text)
    if phrase is not None:
        refined = _refine(phrase, choices, n_choices)
        if refined:
            return _sentence_to_number(refined, "answer_is", "answer_is", last_number_fallback)

    letter = _option_letter(text, n_choices)
    if letter is not None:
        return Extraction(letter, "option_letter")

    if choices:
        picked = _option_text(text, choices)
        if picked is not None:
            return Extraction(picked, "option_text")

    bare = text.strip()
    if len(bare) <= _SHORT_RESPONSE and "\n" not in bare:
        refined = _refine(bare, choices, n_choices)
        if refined:
            return _sentence_to_number(
                refined, "short_response", "stated_number", last_number_fallback
            )

    if last_number_fallback:
        stated = _stated_number(_last_lines(text, 1))
        if stated is not None:
            return Extraction(stated, "stated_number")
        number = _last_number(text)
        if number is not None:
            return Extraction(number, "last_number")
    return Extraction(None, "no_answer_found")


def _drop_think(text: str) -> str | None:
    """Text outside `<think>` sections; None when a `<think>` never closes (no answer yet)."""
    lower = text.lower()
    close = lower.rfind("</think>")
    if close >= 0:
        # Everything up to the last close tag is thinking, including an unopened one
        # (chat templates often put `<think>` in the prompt).
        text, lower = text[close + len("</think>") :], lower[close + len("</think>") :]
    start = lower.find("<think>")
    if start >= 0:
        head = text[:start]
        return head if head.strip() else None
    return text


def _answer_tag(text: str) -> str | None:
    lower = text.lower()
    end = lower.rfind("</answer>")
    if end >= 0:
        start = lower.rfind("<answer>", 0, end)
        if start >= 0:
            return text[start + len("<answer>") : end]
        return None
    start = lower.rfind("<answer>")
    if start >= 0:  # truncated after the opening tag: take what is there
        return text[start + len("<answer>") :]
    return None


def _sentence_to_number(refined: str, how: str, stated_how: str, numeric: bool) -> Extraction:
    """On a numeric item, a sentence-like answer gives way to the number it states."""
    if numeric and _is_sentence(refined):
        stated = _stated_number(refined)
        if stated is not None:
            return Extraction(stated, stated_how)
    return Extraction(refined, how)


def _last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{…}` / `\\fbox{…}` (nested braces), or None."""
    # Each command's previous occurrence is looked up only when that one was used: one
    # `rfind` per step over both would rescan the whole prefix for the absent command
    # ("\\boxed \n" * 10000: seconds, quadratic).
    boxed, fbox = text.rfind("\\boxed"), text.rfind("\\fbox")
    start = max(boxed, fbox)
    while start >= 0:
        i = start + (6 if text.startswith("\\boxed", start) else 5)
        n = len(text)
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == "{":
            j = brace_end(text, i)
            return text[i + 1 : j] if j >= 0 else text[i + 1 :]  # unbalanced: keep what's there
        if i < n and i > start + 5 and text[i - 1] in " \t":
            m = re.match(r"[^\s$]+", text[i : i + _MAX_PHRASE])  # "\boxed 5"
            if m:
                return m.group(0)
        if start == boxed:
            boxed = text.rfind("\\boxed", 0, start)
        else:
            fbox = text.rfind("\\fbox", 0, start)
        start = max(boxed, fbox)
    return None


def _answer_phrase(text: str) -> str | None:
    best_pos, best = -1, None
    for pattern in (_ANSWER_PHRASE, _ANSWER_HEADER, _ANSWER_PHRASE_ZH):
        last = None
        for last in pattern.finditer(text):  # noqa: B007 - only the last match matters
            pass
        if last is not None and last.group("ans").strip(" *:$.") and last.start() > best_pos:
            best_pos, best = last.start(), last.group("ans")
    if best is None:
        return None
    boxed = _last_boxed(best)
    if boxed is not None and boxed.strip():
        return boxed
    # The answer ends with its sentence; "3.5." keeps its decimal point.
    cut = re.search(
        r"\.(?:\s|$)|;\s|,\s(?:so|since|because|which|as)\b|\s(?:because|since)\s", best
    )
    if cut:
        best = best[: cut.start()]
    return best if len(best) <= _MAX_PHRASE else None


def _option_letter(text: str, n_choices: int) -> str | None:
    letters = _valid_letters(n_choices)
    bare = text.strip().strip("*").strip()
    m = _LETTER_ONLY.match(bare) if len(bare) <= 20 else None
    if m and m.group("l").isupper() and m.group("l") in letters:
        return m.group("l")
    tail = _last_lines(text, 2)
    for pattern in (_LETTER_BOLD, _LETTER_WORD, _LETTER_PAREN):
        found = {x.group("l") for x in pattern.finditer(tail)}
        found = {x for x in found if x.isupper() and x in letters}
        if len(found) == 1:  # "(A) and (D)" names no single answer
            return found.pop()
        if found:
            return None
    m = _LETTER_DOT_END.search(tail)  # "... the answer: B."
    if m and n_choices and m.group("l") in letters:
        return m.group("l")
    return None


def _option_text(text: str, choices: Sequence[str]) -> str | None:
    """Letter of the one option whose text the final line states, if exactly one does."""
    bare = _clean(text).lower()
    options = [_clean(str(c)).lower() for c in choices]
    for i, opt in enumerate(options):
        if opt and bare == opt:
            return chr(ord("A") + i)
    last = _clean(_last_lines(text, 1)).lower()
    hits = set()
    for i, opt in enumerate(options):
        if not opt or len(opt) > _MAX_PHRASE or len(opt) == 1:
            continue  # one-letter options ("A".."E") are letters, found above
        if _contains_word(last, opt):
            hits.add(i)
    # An option contained in another one ("2" in "12"; "no" in "no change") is ambiguous.
    if len(hits) == 1:
        return chr(ord("A") + hits.pop())
    return None


# Option texts differ per item, so a regex built per option and call would overflow `re`'s
# compiled-pattern cache (thousands of recompiles per benchmark pass); these two helpers do
# the same matching with string methods. `\w` is str.isalnum() or "_", `\d` isdecimal().


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _contains_word(text: str, opt: str) -> bool:
    r"""re.search(r"(?<![\w.])" + re.escape(opt) + r"(?![\w]|\.\d)", text)"""
    i = text.find(opt)
    while i != -1:
        before = text[i - 1] if i else ""
        end = i + len(opt)
        after = text[end : end + 1]
        if not (before and (before == "." or _is_word_char(before))) and not (
            (after and _is_word_char(after))
            or (after == "." and text[end + 1 : end + 2].isdecimal())
        ):
            return True
        i = text.find(opt, i + 1)
    return False


def _leads_with(text: str, opt: str) -> bool:
    r"""re.match(re.escape(opt) + r"(?:[ ,;:!]|$)(?!\d)", text)"""
    if not text.startswith(opt):
        return False
    rest = text[len(opt) :]
    if rest in ("", "\n"):  # `$` also matches before a final newline
        return True
    return rest[0] in " ,;:!" and not rest[1:2].isdecimal()


def _refine(candidate: str, choices: Sequence[str] | None, n_choices: int) -> str | None:
    """Tidy a found answer: markdown, `$…$`, `\\text{}`, "(B) text" → "B"."""
    s = _clean(candidate)
    if not s:
        return None
    if len({m.group("l") for m in _LETTER_PAREN.finditer(s)}) > 1:
        return s  # "(A), (C) and (E)": several options are not one answer
    letters = _valid_letters(n_choices)
    m = _LETTER_ONLY.match(s) if len(s) <= 20 else None
    if m:
        letter = m.group("l")
        if n_choices and letter.upper() in letters:
            return letter.upper()
        if not n_choices and letter.isupper():
            return letter
    m = _LETTER_LEAD.match(s)
    if m and n_choices:
        letter = (m.group("a") or m.group("b")).upper()
        if letter in letters:
            return letter
    if m and m.group("a"):  # "(B) 8/11" even without the option list
        return m.group("a")
    if choices:
        if hedged(s, choices):
            return s  # "7 or 9" names two options: never read as the first one (hedges.py)
        lowered = s.lower()
        options = [_clean(str(c)).lower() for c in choices]
        for i, opt in enumerate(options):
            if opt == lowered and i < len(letters):
                return letters[i]
        parens = {x.group("l") for x in _LETTER_PAREN.finditer(s)}
        if len(parens) == 1 and len(s) <= _MAX_PHRASE:  # "therefore (B)", "∠2 = (C) 15°"
            letter = parens.pop()
            if letter in letters:
                return letter
        # "no, there are not fewer …": the answer starts with exactly one option's text.
        led = [i for i, opt in enumerate(options) if opt and _leads_with(lowered, opt)]
        if len(led) == 1 and led[0] < len(letters):
            return letters[led[0]]
    return s


def _clean(s: str) -> str:
    s = s.strip()
    s = re.sub(r"^\\\[|\\\]$|^\\\(|\\\)$", "", s).strip()
    s = s.strip("*").strip()
    if len(s) >= 2 and s[0] == "$" and s[-1] == "$":
        s = s.strip("$").strip()
    text_cmd = re.fullmatch(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}", s)
    if text_cmd:
        s = text_cmd.group(1).strip()
    s = s.rstrip(".").strip() if not re.search(r"\d\.$", s[-3:] or "") else s.rstrip(".")
    return s.strip("*").strip()


def _valid_letters(n_choices: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: n_choices or 5]


def _last_lines(text: str, k: int) -> str:
    lines = [ln for ln in text[-4000:].splitlines() if ln.strip()]
    return "\n".join(lines[-k:])


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
        " fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_STATED = re.compile(
    r"\b(?:is|are|was|were|be|equals|has|have|of)\s+(?:about\s+|approximately\s+|around\s+|roughly\s+|only\s+)?"
    r"(?P<n>-?\$?\d[\d,]*(?:\.\d+)?%?|" + "|".join(_NUMBER_WORDS) + r")\b",
    re.IGNORECASE,
)


def _is_sentence(s: str) -> bool:
    return len(re.findall(r"[A-Za-z]{2,}", s)) >= 3


_EQUALS_NUMBER = re.compile(r"=\s*\$?(?P<n>-?\d[\d,]*(?:\.\d+)?%?)(?![\d.]*\s*[-+*/×÷^(])")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def _stated_number(text: str) -> str | None:
    """ "There are two red balls" → 2; "The degree of the function is 2." → 2; in
    "… 4 dots in 2 groups. There are 4/2 = 2 dots in each group." the last sentence counts,
    and within it a computed "= 2" beats a stated "are 4"."""
    for sentence in reversed(_SENTENCE_SPLIT.split(text[-_MAX_PHRASE * 2 :])):
        last_eq = None
        for last_eq in _EQUALS_NUMBER.finditer(sentence):  # noqa: B007
            pass
        m = last_eq or _STATED.search(sentence)
        if m:
            n = m.group("n")
            return _NUMBER_WORDS.get(n.lower(), n.replace(",", "").lstrip("$"))
    return None


def _last_number(text: str) -> str | None:
    found = None
    for found in _NUMBER.finditer(_last_lines(text, 3)):  # noqa: B007
        pass
    return found.group(0).replace(",", "").replace(" ", "") if found else None


def final_text(response: str) -> str:
    """What an official evaluator should read from a reasoning model's reply.

    Official evaluators (MATH-V, MathVista) were written for plain replies: they know nothing
    of `<think>` or `<answer>` tags. A reasoning profile's reply is reduced to its answer-tag
    content (as the OpenVLThinker reference evaluation does), else to the text after the
    thinking; a plain reply is returned unchanged, so published outputs score as published.
    """
    outside = _drop_think(response)
    if outside is None:  # still thinking when it stopped: no final text
        return ""
    tagged = _answer_tag(outside)
    return tagged.strip() if tagged is not None else outside
