"""`verify`: grade every sample against the gold answer with the ovlt_eval verifier."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from ovlt_data.schema import Example, Row
from ovlt_data.stages import Stage, StageParams, register_stage


def grade_samples(ex: Example, outputs) -> tuple[tuple[bool, ...], tuple[str | None, ...], Counter]:
    from ovlt_eval.grading import grade

    correct, extracted, statuses = [], [], Counter()
    kind = ex.answer_type if ex.answer_type in ("multi_choice", "integer", "float", "text", "list", "auto") else "auto"
    for text in outputs:
        g = grade(text, ex.answer, kind, choices=ex.choices)
        correct.append(bool(g.correct))
        extracted.append(g.extracted)
        statuses[g.status] += 1
    return tuple(correct), tuple(extracted), statuses


class VerifyParams(StageParams):
    pass


class Verify(Stage):
    name = "verify"
    default_pools = ("sft",)

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.sample_status: Counter = Counter()  # ok / no_answer / timeout / unparseable

    def apply(self, rows: list[Row]) -> list[Row]:
        out = []
        for r in rows:
            if not r.samples:
                out.append(self.drop(r, "no_samples", "verify needs a distill stage first"))
                continue
            correct, extracted, statuses = grade_samples(r.example, r.samples)
            self.sample_status.update(statuses)
            r = replace(r, sample_correct=correct, sample_extracted=extracted, pass_rate=sum(correct) / len(correct))
            if not any(correct):
                r = self.drop(r, "no_correct_sample", f"0/{len(correct)} correct; statuses {dict(statuses)}")
            out.append(r)
        return out

    def describe(self):
        return {**super().describe(), "sample_status": dict(self.sample_status)}


register_stage(Verify, VerifyParams, "grade the k samples with ovlt_eval; keep per-item pass rate")
