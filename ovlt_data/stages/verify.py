"""`verify`: grade every sample against the gold answer under an ovlt_eval answer policy.

The policy (ovlt_eval/grading/policy.py) is named in the card: `corrected` (ovlt's extractor
and verifier, the default for distillation traces), `released_generation` (the round-2/3 check
of generation/generate_reasoning_thinker.py) or `reward` (what GRPO optimises; the difficulty
stage's default, so a pass rate means what the reward means)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Literal

from ovlt_data.schema import Example, Row
from ovlt_data.stages import Stage, StageParams, register_stage
from ovlt_eval.grading.types import KINDS

PolicyName = Literal["corrected", "reward", "released_generation", "reference"]


@functools.lru_cache(maxsize=1)
def grader_version() -> str:
    """A hash of the grading code: a verdict cached by another grader is not reused."""
    from importlib.util import find_spec

    # located, not imported: a rebuild whose verdicts are all cached never loads the grader
    (folder,) = find_spec("ovlt_eval.grading").submodule_search_locations
    h = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _verdict_keys(ex: Example, kind: str, texts, policy: str) -> list[str]:
    gold = json.dumps([grader_version(), policy, ex.answer, kind, ex.choices], ensure_ascii=False)
    # = sha256(f"{gold}\x00{t}"), with the gold prefix hashed once per item
    head = hashlib.sha256(f"{gold}\x00".encode())
    out = []
    for t in texts:
        h = head.copy()
        h.update(t.encode())
        out.append(h.hexdigest())
    return out


def grade_batch(
    items: list[tuple[Example, tuple[str, ...]]], cache=None, policy: str = "corrected"
):
    """[(correct, extracted, statuses)] per item under the answer policy `policy`. Verdicts
    are cached: a rebuild re-grades nothing."""
    keys = [
        _verdict_keys(ex, ex.answer_type if ex.answer_type in KINDS else "auto", outs, policy)
        for ex, outs in items
    ]
    raw = cache.kv_get("verdicts", [k for ks in keys for k in ks]) if cache is not None else {}
    # one C decode for the whole batch instead of one json.loads per sample
    known = dict(zip(raw, json.loads("[" + ",".join(raw.values()) + "]"), strict=True))
    fresh: dict[str, list] = {}
    out = []
    for (ex, outs), ks in zip(items, keys, strict=True):
        kind = ex.answer_type if ex.answer_type in KINDS else "auto"
        correct, extracted, statuses = [], [], Counter()
        for text, key in zip(outs, ks, strict=True):
            hit = known.get(key) or fresh.get(key)
            if hit is not None:
                ok, ext, status = hit
            else:
                from ovlt_eval.grading.policy import get_policy

                g = get_policy(policy).grade(text, ex.answer, kind, choices=ex.choices)
                ok, ext, status = bool(g.correct), g.extracted, g.status
                if status != "timeout":  # a timeout may pass next time: not cached
                    fresh[key] = [ok, ext, status]
            correct.append(ok)
            extracted.append(ext)
            statuses[status] += 1
        out.append((tuple(correct), tuple(extracted), statuses))
    if cache is not None:
        cache.kv_put("verdicts", {k: json.dumps(v) for k, v in fresh.items()})
    return out


class VerifyParams(StageParams):
    policy: PolicyName = "corrected"


class Verify(Stage):
    name = "verify"
    default_pools = ("sft",)

    def requires(self) -> str | None:
        return "distill"

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.sample_status: Counter = Counter()  # ok / no_answer / timeout / unparseable

    def apply(self, rows: list[Row]) -> list[Row]:
        graded = iter(
            grade_batch(
                [(r.example, r.samples) for r in rows if r.samples],
                self.ctx.cache,
                self.params.policy,
            )
        )
        out = []
        for r in rows:
            if not r.samples:
                out.append(self.drop(r, "no_samples", "verify needs a distill stage first"))
                continue
            correct, extracted, statuses = next(graded)
            self.sample_status.update(statuses)
            r = r.evolve(
                sample_correct=correct,
                sample_extracted=extracted,
                pass_rate=sum(correct) / len(correct),
            )
            if not any(correct):
                r = self.drop(
                    r, "no_correct_sample", f"0/{len(correct)} correct; statuses {dict(statuses)}"
                )
            out.append(r)
        return out

    def describe(self):
        return {**super().describe(), "sample_status": dict(self.sample_status)}


register_stage(
    Verify, VerifyParams, "grade the k samples under an answer policy; keep per-item pass rate"
)
