"""The engine interface: requests in, n responses per request out.

Messages use one neutral format that every engine converts:
    [{"role": "user", "content": [{"type": "image", "image": <path str | bytes | PIL.Image>},
                                  {"type": "text", "text": "..."}]}]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class SamplingParams:
    # The paper's evaluation defaults (near-greedy).
    max_tokens: int = 2048
    temperature: float = 0.01
    top_p: float = 0.001
    top_k: int = 1
    repetition_penalty: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, src: Any) -> SamplingParams:
        """From any object with the same attribute names (CLI args, a card's sampling block)."""
        return cls(
            max_tokens=src.max_tokens,
            temperature=src.temperature,
            top_p=src.top_p,
            top_k=src.top_k,
            repetition_penalty=src.repetition_penalty,
            seed=src.seed,
        )


# The other default samplings, declared here beside the evaluation's (`SamplingParams()`) so
# each is written once:
# - the data factory's model calls when a card's model gives no `sampling` (DeepSeek's
#   recommended sampling for R1 distills; the bundled round cards set theirs explicitly);
DATA_SAMPLING = SamplingParams(temperature=0.6, top_p=0.95, top_k=-1)
# - the rules-then-judge second look: deterministic, a short verdict;
JUDGE_SAMPLING = SamplingParams(max_tokens=512, temperature=0.0, top_p=1.0, top_k=-1, seed=0)
# - the paper's MathVerse judge asks for step-by-step reasoning before "Judgement: " and its
#   script set no token limit: room for the reasoning so the verdict is not cut off.
REFERENCE_JUDGE_SAMPLING = SamplingParams(
    max_tokens=2048, temperature=0.0, top_p=1.0, top_k=-1, seed=0
)


@dataclass(frozen=True)
class GenerationRequest:
    id: str
    messages: tuple[dict[str, Any], ...]
    n: int = 1
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True)
class GenerationResult:
    id: str
    outputs: tuple[str, ...]  # n texts when status == "ok"
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    finish_reasons: tuple[str, ...] = ()
    completion_tokens: tuple[int, ...] = ()
    # The prompt's length in tokens as the model saw it (image tokens included): what a reader
    # checks to see that an image arrived at the size meant. None where the engine cannot tell.
    prompt_tokens: int | None = None


class Engine(Protocol):
    name: str

    def describe(self) -> dict[str, Any]:
        """Everything about the engine that can move a number (for the eval card)."""

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        """Yield one result per request, in completion order (not request order)."""
