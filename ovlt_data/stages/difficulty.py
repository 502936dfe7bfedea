"""`difficulty`: pass@k of a policy model -> easy / medium / hard (GRPO curriculum).

`model: reuse` re-grades the samples the verify stage already drew (no extra model calls). Easy
items go to `rejected` (reason `easy`): GRPO learns nothing from items the policy always solves.

Pass rates are graded under the answer policy `policy`, by default `reward` — the GRPO reward's
own rule (ovlt_eval/grading/policy.py) — so "medium" and "hard" mean what GRPO optimises.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ovlt_data import prompts
from ovlt_data.schema import Row
from ovlt_data.stages import Stage, StageParams, register_stage
from ovlt_data.stages.verify import PolicyName, grade_batch


class DifficultyParams(StageParams):
    model: str = "policy"
    k: int = Field(4, gt=0, le=64)
    easy_at_least: float = Field(0.75, ge=0, le=1)  # pass rate >= this -> easy
    hard_at_most: float = Field(0.25, ge=0, le=1)  # pass rate <= this -> hard; between -> medium
    prompt: str = prompts.DISTILL_FROM_IMAGE
    policy: PolicyName = "reward"

    @model_validator(mode="after")
    def _ordered(self):
        if self.hard_at_most >= self.easy_at_least:
            raise ValueError("hard_at_most must be below easy_at_least")
        return self


def bucket(rate: float, p: DifficultyParams) -> str:
    if rate >= p.easy_at_least:
        return "easy"
    if rate <= p.hard_at_most:
        return "hard"
    return "medium"


class Difficulty(Stage):
    name = "difficulty"
    default_pools = ("grpo",)
    splits_grpo = True

    def requires(self) -> str | None:
        return "verify" if self.params.model == "reuse" else None  # grades verify's samples

    def calls_per_row(self) -> int:
        return 0 if self.params.model == "reuse" else self.params.k

    def apply(self, rows: list[Row]) -> list[Row]:
        p = self.params
        rates: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        if p.model == "reuse":
            # the verify stage's samples, graded under this stage's policy (cached verdicts)
            sampled = [r for r in rows if r.samples]
            graded = grade_batch(
                [(r.example, r.samples) for r in sampled], self.ctx.cache, p.policy
            )
            rates = {r.id: sum(c) / len(c) for r, (c, _, _) in zip(sampled, graded, strict=True)}
        else:
            msgs = [
                (
                    r.id,
                    prompts.image_message(
                        r.example,
                        p.prompt.format(question=prompts.question_block(r.example), caption=""),
                    ),
                    p.k,
                )
                for r in rows
            ]
            results = self.ctx.models[p.model].run(msgs)
            ok_rows = [r for r in rows if results[r.id].outputs is not None]
            for r in rows:
                if results[r.id].outputs is None:
                    errors[r.id] = results[r.id].error or "model error"
            graded = grade_batch(
                [(r.example, results[r.id].outputs) for r in ok_rows], self.ctx.cache, p.policy
            )
            for r, (correct, _, _) in zip(ok_rows, graded, strict=True):
                rates[r.id] = sum(correct) / len(correct)
        out = []
        for r in rows:
            if r.id in errors:
                out.append(self.drop(r, "model_error", errors[r.id]))
                continue
            rate = rates.get(r.id)
            if rate is None:
                out.append(
                    self.drop(r, "no_pass_rate", "model: reuse needs a verify stage on this pool")
                )
                continue
            b = bucket(rate, p)
            r = r.evolve(difficulty=b, policy_pass_rate=rate)
            out.append(self.drop(r, "easy", f"pass rate {rate:.2f}") if b == "easy" else r)
        return out


register_stage(Difficulty, DifficultyParams, "pass@k of a policy model -> easy/medium/hard")
