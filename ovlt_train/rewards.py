"""GRPO rewards: the same verifier that scores benchmarks, applied to the `<answer>` content.

Reward callables are module-level classes (picklable) so trl can call them from threads or
ship them to worker processes; grading itself is thread- and process-safe (ovlt_eval).
"""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
FORMAT_RE = re.compile(r"\s*<think>.*?</think>\s*.*?<answer>.*?</answer>\s*", re.DOTALL)


@dataclass(frozen=True)
class RewardParts:
    accuracy: float  # 0/1 minus the empty-conclusion penalty when it applies
    format: float  # 0/1
    status: str  # verifier status, or "no_answer_tag"
    empty_conclusion: bool


def completion_text(completion: Any) -> str:
    """trl passes conversational completions as [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "")
        if isinstance(content, list):
            return "".join(
                block.get("text", "") or "" for block in content if isinstance(block, dict)
            )
        return content or ""
    return ""


def answer_in_tags(text: str) -> str | None:
    # The first closed tag, as upstream's reward does: later tags cannot rescue a wrong first one.
    match = ANSWER_RE.search(text)
    return match.group(1).strip() if match else None


def has_empty_conclusion(text: str) -> bool:
    """Upstream penalty: nothing written between the last </think> and the <answer>."""
    if "</think>" not in text or "<answer>" not in text:
        return False
    tail = text.rsplit("</think>", 1)[1]
    return not tail.split("<answer>", 1)[0].strip()


def score_completion(
    text: str,
    gold: str,
    *,
    kind: str = "auto",
    choices: list[str] | None = None,
    empty_conclusion_penalty: float = 0.5,
) -> RewardParts:
    from ovlt_eval.grading import verify

    fmt = 1.0 if FORMAT_RE.fullmatch(text) else 0.0
    pred = answer_in_tags(text)
    empty = has_empty_conclusion(text)
    if pred is None or pred == "":
        return RewardParts(0.0, fmt, "no_answer_tag", empty)
    verdict = verify(str(gold), pred, kind, choices=list(choices) if choices else None)
    acc = 1.0 if verdict.correct else 0.0
    if acc and empty:
        acc -= empty_conclusion_penalty
    return RewardParts(acc, fmt, verdict.status, empty)


def _score_one(args: tuple) -> RewardParts:
    text, gold, kind, choices, penalty = args
    return score_completion(
        text, gold, kind=kind, choices=choices, empty_conclusion_penalty=penalty
    )


class VerifierReward:
    """Accuracy (and optionally format) reward for trl's GRPOTrainer.

    Dataset columns reach the reward as keyword lists: `solution` (gold), and optionally
    `answer_type` / `choices` per item.
    """

    def __init__(
        self,
        *,
        part: str = "accuracy",
        kind: str = "auto",
        empty_conclusion_penalty: float = 0.5,
        workers: int = 0,
        worker_kind: str = "thread",
    ):
        if part not in ("accuracy", "format"):
            raise ValueError(part)
        self.part = part
        self.kind = kind
        self.penalty = empty_conclusion_penalty
        self.workers = workers
        self.worker_kind = worker_kind
        self.__name__ = part  # trl names the logged reward column after this

    def __call__(self, prompts=None, completions=None, solution=None, **kwargs) -> list[float]:
        if solution is None:
            raise ValueError("the GRPO dataset needs a `solution` column (the gold answer)")
        texts = [completion_text(c) for c in completions]
        if self.part == "format":  # no verifier call: the tags' shape only
            return [1.0 if FORMAT_RE.fullmatch(t) else 0.0 for t in texts]
        kinds = kwargs.get("answer_type") or [self.kind] * len(texts)
        choices = kwargs.get("choices") or [None] * len(texts)
        jobs = [
            (t, g, k or self.kind, c, self.penalty)
            for t, g, k, c in zip(texts, solution, kinds, choices, strict=True)
        ]
        parts = self._run(jobs)
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            n = max(len(parts), 1)
            log_metric(
                "reward_detail/no_answer_tag", sum(p.status == "no_answer_tag" for p in parts) / n
            )
            log_metric("reward_detail/timeout", sum(p.status == "timeout" for p in parts) / n)
            log_metric("reward_detail/empty_conclusion", sum(p.empty_conclusion for p in parts) / n)
            log_metric("reward_detail/format", sum(p.format for p in parts) / n)
        return [p.accuracy for p in parts]

    def _run(self, jobs: list[tuple]) -> list[RewardParts]:
        if self.workers <= 1 or len(jobs) < 2:
            return [_score_one(j) for j in jobs]
        pool_cls = ProcessPoolExecutor if self.worker_kind == "process" else ThreadPoolExecutor
        with pool_cls(max_workers=self.workers) as pool:
            return list(pool.map(_score_one, jobs))


def build_reward_funcs(spec) -> tuple[list[VerifierReward], list[float]]:
    """From a card's RewardSpec → (reward functions, weights) for GRPOConfig."""
    common = dict(
        kind=spec.answer_kind,
        empty_conclusion_penalty=spec.empty_conclusion_penalty,
        workers=spec.workers,
        worker_kind=spec.worker_kind,
    )
    funcs = [VerifierReward(part="accuracy", **common)]
    weights = [spec.accuracy_weight]
    # The format reward is always computed (logged); it only trains when weighted.
    funcs.append(VerifierReward(part="format", **common))
    weights.append(spec.format_weight)
    return funcs, weights
