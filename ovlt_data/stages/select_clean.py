"""`select` one correct sample per item, then `clean` it into the training format.

Selection policies:
- `shortest_correct` (the paper, §4): the correct sample with the fewest words.
- `released` (generation/generate_reasoning_thinker.py:161-188, `select_best_reasoning`): sort
  the correct samples by words, drop the longest, keep the longest of the rest; with one correct
  sample, that one. With k = 4 and 4 correct this keeps the second-longest trace — systematically
  longer than the paper's rule. (Its docstring says "pop the two shortest"; the code, followed
  here, drops the longest.) `upstream` is the old name of the same rule.
Ties break on sample index (Python's stable sort does the same there), so both are deterministic.

`clean` with `verbatim: true` keeps the selected generation as it is — what the released
round-2/3 script stored (`'reasoning': chosen_correct_reasoning`, :240-245): no reflection
cutting, no rewriting, no length limit unless `max_words` is set.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from ovlt_data.schema import Row
from ovlt_data.stages import Stage, StageParams, register_stage


def words(text: str) -> int:
    return len(text.split())


def select_index(samples, correct, policy: str) -> int | None:
    cands = sorted(
        (words(s), i) for i, (s, ok) in enumerate(zip(samples, correct, strict=True)) if ok
    )
    if not cands:
        return None
    if policy == "shortest_correct" or len(cands) == 1:
        return cands[0][1]
    # released (and its old name, upstream): drop the longest, keep the next longest
    return cands[:-1][-1][1]


SELECT_POLICIES = ("shortest_correct", "released", "upstream")


class SelectParams(StageParams):
    policy: Literal["shortest_correct", "released", "upstream"] = "shortest_correct"


class Select(Stage):
    name = "select"
    default_pools = ("sft",)

    def requires(self) -> str | None:
        return "verify"

    def apply(self, rows: list[Row]) -> list[Row]:
        out = []
        for r in rows:
            i = select_index(r.samples, r.sample_correct, self.params.policy)
            out.append(self.drop(r, "no_correct_sample") if i is None else r.evolve(selected=i))
        return out


DEFAULT_CUTS = ["Wait,", "But wait", "But the question"]
_ANSWER_BLOCK = re.compile(r"<answer>.*?(</answer>|$)", re.S)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")


def split_think(text: str) -> tuple[str, str]:
    """(reasoning, after): R1 models write `<think>…</think>` then a summary; some omit `<think>`."""
    if "</think>" in text:
        think, after = text.split("</think>", 1)
        return think.replace("<think>", "").strip(), after.strip()
    return text.replace("<think>", "").strip(), ""


def cut_reflections(think: str, keywords: list[str]) -> tuple[str, bool]:
    positions = [p for p in (think.find(k) for k in keywords) if p > 0]
    if not positions:
        return think, False
    return think[: min(positions)].rstrip(), True


def format_trace(think: str, conclusion: str, answer: str) -> str:
    return f"<think>\n{think}\n</think>\n{conclusion}\n<answer>{answer}</answer>"


class CleanParams(StageParams):
    cut_at: list[str] = DEFAULT_CUTS  # reflection keywords; the reasoning is cut at the first one
    # traces longer than this (after cutting) are dropped; null: no limit
    max_words: int | None = Field(500, gt=0)
    # keep the selected generation as written (the released round-2/3 data): no cut, no rewrite
    verbatim: bool = False
    min_words: int = Field(1, ge=0)
    conclusion_max_words: int = Field(60, gt=0)


class Clean(Stage):
    name = "clean"
    default_pools = ("sft",)

    def requires(self) -> str | None:
        return "select"

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.truncated = 0

    def apply(self, rows: list[Row]) -> list[Row]:
        p = self.params
        out = []
        for r in rows:
            if r.selected is None:
                out.append(self.drop(r, "nothing_selected"))
                continue
            if p.verbatim:
                out.append(self._verbatim(r))
                continue
            think, after = split_think(r.samples[r.selected])
            think, cut = cut_reflections(think, p.cut_at)
            self.truncated += cut
            # keep the verified final answer, whatever the cut removed
            answer = r.sample_extracted[r.selected] if r.sample_extracted else None
            answer = (answer or r.example.answer).strip()
            # the trace's own summary, minus its answer block (we write our own, verified one)
            conclusion = _BOXED.sub(lambda m: m.group(1), _ANSWER_BLOCK.sub("", after)).strip()
            if (
                not conclusion
                or words(conclusion) > p.conclusion_max_words
                or "<think>" in conclusion
            ):
                conclusion = f"The answer is {answer}."
            n = words(think) + words(conclusion)
            if words(think) < p.min_words:
                out.append(self.drop(r, "empty_reasoning"))
            elif p.max_words is not None and n > p.max_words:
                out.append(self.drop(r, "too_long", f"{n} words > {p.max_words}"))
            else:
                out.append(r.evolve(response=format_trace(think, conclusion, answer)))
        return out

    def _verbatim(self, r: Row) -> Row:
        text = r.samples[r.selected]
        n = words(text)
        if n < self.params.min_words:
            return self.drop(r, "empty_reasoning")
        if self.params.max_words is not None and n > self.params.max_words:
            return self.drop(r, "too_long", f"{n} words > {self.params.max_words}")
        return r.evolve(response=text)

    def describe(self):
        return {**super().describe(), "truncated_reflections": self.truncated}


register_stage(Select, SelectParams, "pick one correct sample (shortest_correct | released)")
register_stage(Clean, CleanParams, "cut reflections, drop > max_words, format <think>/<answer>")
