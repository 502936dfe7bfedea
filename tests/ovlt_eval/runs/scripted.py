"""Scripted model answers for MATH-Vision testmini items (real items from ../shared).

Item i (in file order) gets: i % 3 == 0 the gold answer in <answer> tags, i % 3 == 1 a wrong
answer, i % 3 == 2 no answer the rules can find (a judge that "understands" the reasoning
finds the gold). Deterministic, so an interrupted run and an
uninterrupted one must produce the same samples.
"""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
MATHVISION_TESTMINI = SHARED / "benchmarks" / "mathvision" / "testmini.jsonl"
MATHVISTA_TESTMINI = SHARED / "benchmarks" / "mathvista" / "testmini.json"
MATHVERSE_TEXT_ONLY = SHARED / "benchmarks" / "mathverse" / "testmini_text_only.json"


def wrong_answer(item) -> str:
    if item.choices:
        if item.gold in item.choices:  # gold given as the option's text (MathVista)
            return item.choices[(item.choices.index(item.gold) + 1) % len(item.choices)]
        letters = "ABCDEFGH"[: len(item.choices)]
        return letters[(letters.index(item.gold) + 1) % len(letters)]
    return "987654"


def encode_id(item_id: str) -> str:
    """An item id without digits (so no rule mistakes it for an answer)."""
    return "".join("abcdefghij"[int(c)] if c.isdigit() else c for c in item_id)


def decode_id(code: str) -> str:
    return "".join(str("abcdefghij".index(c)) if c in "abcdefghij" else c for c in code)


class Script:
    def __init__(self, items):
        self.items = list(items)
        self.by_question = {it.question: (i, it) for i, it in enumerate(self.items)}

    def item_for(self, prompt: str):
        if prompt in self.by_question:
            return self.by_question[prompt]
        for question, found in self.by_question.items():
            if question in prompt:
                return found
        raise KeyError(prompt[:80])

    def response(self, i: int, item) -> str:
        if i % 3 == 0:
            return f"<think>Reading the figure.</think><answer>{item.gold}</answer>"
        if i % 3 == 1:
            return f"<think>A guess.</think><answer>{wrong_answer(item)}</answer>"
        # No answer the rules can find (all inside <think>), but a judge "reading" it can.
        return f"<think>I keep going back and forth; undecided-ref-{encode_id(item.id)}.</think>"

    def __call__(self, prompt: str) -> str:
        try:
            i, item = self.item_for(prompt)
        except KeyError:  # an item of another benchmark
            return "<think>No script for this one.</think><answer>0</answer>"
        return self.response(i, item)
