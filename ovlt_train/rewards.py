"""GRPO rewards: an answer policy of ovlt_eval (grading/policy.py) turned into a scalar.

The default policy is `reward`, the released EasyR1 reward (train/easyr1/examples/
reward_function/r1v.py:27-45): the first one-line `<answer>…</answer>`, else the whole reply;
mathruler's `grade_answer` or lower-case equality; 1 − 0.5 when nothing is written between
`</think>` and `<answer>`. `corrected` swaps in ovlt's extractor and verifier. The difficulty
stage of the data factory uses the same policy by default, so a pass rate is a mean reward.

Reward callables are module-level classes (picklable) so trl can call them from threads or
ship them to worker processes; grading itself is thread- and process-safe (ovlt_eval).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ovlt_eval.grading.tags import is_think_answer_format

# r1v.py:22-24: the whole completion is <think>…</think> then <answer>…</answer>
# (`re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text, re.DOTALL)`, read in
# linear time by ovlt_eval.grading.tags: the regex is quadratic on repeated tags).


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
    """The answer the `reward` policy reads when the reply has a one-line answer tag."""
    from ovlt_eval.grading.tags import first_one_line_tag

    found = first_one_line_tag(text)
    return found.strip() if found is not None else None


def has_empty_conclusion(text: str) -> bool:
    from ovlt_eval.grading.policy import has_empty_conclusion as empty

    return empty(text)


def score_completion(
    text: str,
    gold: str,
    *,
    kind: str = "auto",
    choices: list[str] | None = None,
    empty_conclusion_penalty: float = 0.5,
    policy: str = "reward",
) -> RewardParts:
    from ovlt_eval.grading.policy import get_policy

    fmt = 1.0 if is_think_answer_format(text) else 0.0
    empty = has_empty_conclusion(text)
    try:
        graded = get_policy(policy).grade(
            text, str(gold), kind, choices=list(choices) if choices else None
        )
    except Exception:  # noqa: BLE001 - r1v.py:42-45: any failure is reward 0
        return RewardParts(0.0, fmt, "unparseable", empty)
    status = graded.status
    if policy == "reward" and answer_in_tags(text) is None:
        status = "no_answer_tag"  # graded on the whole reply, as upstream; logged apart
    acc = 1.0 if graded.correct else 0.0
    if acc and empty:
        acc -= empty_conclusion_penalty
    return RewardParts(acc, fmt, status, empty)


def _score_one(args: tuple) -> RewardParts:
    text, gold, kind, choices, penalty, policy = args
    return score_completion(
        text, gold, kind=kind, choices=choices, empty_conclusion_penalty=penalty, policy=policy
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
        policy: str = "reward",
    ):
        if part not in ("accuracy", "format"):
            raise ValueError(part)
        self.policy = policy
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
            return [1.0 if is_think_answer_format(t) else 0.0 for t in texts]
        kinds = kwargs.get("answer_type") or [self.kind] * len(texts)
        choices = kwargs.get("choices") or [None] * len(texts)
        jobs = [
            (t, g, k or self.kind, c, self.penalty, self.policy)
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
        policy=getattr(spec, "policy", "reward"),
    )
    funcs = [VerifierReward(part="accuracy", **common)]
    weights = [spec.accuracy_weight]
    # The format reward is always computed (logged); it only trains when weighted.
    funcs.append(VerifierReward(part="format", **common))
    weights.append(spec.format_weight)
    return funcs, weights
