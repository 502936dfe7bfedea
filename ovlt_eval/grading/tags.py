"""Linear-time readers of the reasoning tags that the released reward code finds with regexes.

EasyR1's reward (r1v.py:22-29) uses `<answer>(.*?)</answer>` and the fullmatch of
`<think>.*?</think>\\s*<answer>.*?</answer>`. Python's `re` retries a lazy group at every
candidate start and rescans to the end each time, so text made of repeated open tags costs
quadratic time: `"<answer>" * 32000` (256 KB, far under the reply cap) took 101 s, in-process,
in the GRPO reward and the demo build alike. These functions give the same answers with
`str.find` scans that never revisit a character more than a constant number of times.
tests/ovlt_eval/grading/test_tags.py checks them against the regexes on every shape.
"""

from __future__ import annotations

_OPEN, _CLOSE = "<answer>", "</answer>"
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


def first_one_line_tag(text: str) -> str | None:
    """The group of `re.search(r"<answer>(.*?)</answer>", text)` (no DOTALL), or None.

    The regex's match is the first `<answer>` whose line (up to the next "\\n") holds a
    `</answer>` after it, ending at the first such `</answer>`; a later `<answer>` on the
    same line can only match where the first one did, so each line is searched once."""
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        if start < 0:
            return None
        body = start + len(_OPEN)
        eol = text.find("\n", body)
        if eol < 0:
            eol = len(text)
        end = text.find(_CLOSE, body, eol)
        if end >= 0:
            return text[body:end]
        pos = eol + 1


def last_closed_tag(text: str) -> str | None:
    """The last item of `re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL)`, or None:
    matches do not overlap, each from an `<answer>` to the first `</answer>` after it."""
    found, pos = None, 0
    while True:
        start = text.find(_OPEN, pos)
        if start < 0:
            return found
        end = text.find(_CLOSE, start + len(_OPEN))
        if end < 0:  # no later `<answer>` can close either
            return found
        found, pos = text[start + len(_OPEN) : end], end + len(_CLOSE)


def is_think_answer_format(text: str) -> bool:
    """`re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)` as a
    bool: the text opens with `<think>`, closes with `</answer>`, and some `</think>` after
    the opening tag is followed by optional whitespace and an `<answer>` that ends before the
    final `</answer>` begins. The earliest such `<answer>` decides, so one pass suffices."""
    if not (text.startswith(_THINK_OPEN) and text.endswith(_CLOSE)):
        return False
    last_open = len(text) - len(_CLOSE) - len(_OPEN)  # the latest an `<answer>` may start
    pos = len(_THINK_OPEN)
    while True:
        close = text.find(_THINK_CLOSE, pos)
        if close < 0:
            return False
        i = close + len(_THINK_CLOSE)
        while i < len(text) and text[i].isspace():  # `\s` is str.isspace() for str patterns
            i += 1
        if text.startswith(_OPEN, i):
            return i <= last_open
        # The whitespace runs after two `</think>`s do not overlap: linear in all.
        pos = close + 1
