"""The optional LLM judge: a second look at the items the rules call no-answer or incorrect.

It talks to any OpenAI-compatible model through the `openai` engine. The protocol follows the
benchmark (see `judge_prompts`): MathVerse extract → 0/1 judgement; MathVista (and MathVision)
extract → the benchmark's own rules on the extracted answer. A judge that fails (request error,
no parseable judgement after a retry) leaves the rules' verdict in place and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ovlt_eval.engines.types import GenerationRequest, SamplingParams
from ovlt_eval.runs import judge_prompts as P

JUDGE_SAMPLING = SamplingParams(max_tokens=512, temperature=0.0, top_p=1.0, top_k=-1, seed=0)
SCORE_RETRIES = 1  # the official script asks again while the judgement is not 0/1


@dataclass(frozen=True)
class JudgeOptions:
    base_urls: tuple[str, ...]
    model: str
    api_key_env: str | None = None  # None: the openai engine's default (OPENAI_API_KEY)
    concurrency: int = 16

    def describe(self) -> dict[str, Any]:
        # Endpoints are not identity (replicas of one model); the model and prompts are.
        return {"model": self.model, "prompt_version": P.PROMPT_VERSION}


def protocol_for(benchmark: str) -> str:
    return {"mathverse": "mathverse_two_step", "mathvista": "mathvista_extract"}.get(
        benchmark, "extract_then_rules"
    )


def needs_judge(record: dict[str, Any], options: JudgeOptions) -> bool:
    if record.get("status") == "error" or record.get("correct"):
        return False
    judged = record.get("judge") or {}
    return not (
        judged.get("model") == options.model
        and judged.get("prompt_version") == P.PROMPT_VERSION
        and judged.get("status") == "ok"
    )


def build_judge_engine(options: JudgeOptions):
    from ovlt_eval.runs.engine_adapter import make_engine

    return make_engine(
        "openai",
        model=options.model,
        base_urls=options.base_urls,
        concurrency=options.concurrency,
        api_key_env=options.api_key_env,
        # A judge model id may be an alias the server maps; do not insist it is listed.
        check_model=False,
    )


def _request(rid: str, prompt: str) -> GenerationRequest:
    return GenerationRequest(
        id=rid,
        messages=({"role": "user", "content": [{"type": "text", "text": prompt}]},),
        n=1,
        sampling=JUDGE_SAMPLING,
    )


@dataclass
class _Job:
    record: dict[str, Any]
    item: Any
    extracted: str | None = None
    raw: list[str] = field(default_factory=list)
    verdict: bool | None = None
    judge_extracted: str | None = None
    status: str = "pending"
    error: str | None = None


def _ask(engine, prompts: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """{request id: (text, error)} for a batch of prompts."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for res in engine.generate(_request(rid, p) for rid, p in prompts.items()):
        if res.status == "ok" and res.outputs:
            out[res.id] = (res.outputs[0], None)
        else:
            out[res.id] = (None, res.error or "judge request failed")
    return out


def judge_records(
    engine,
    options: JudgeOptions,
    benchmark,
    jobs: Sequence[tuple[dict[str, Any], Any]],
    on_done: Callable[[dict[str, Any]], None],
) -> None:
    """Judge (record, item) pairs; `on_done(updated_record)` is called once per record."""
    protocol = protocol_for(benchmark.name)
    pending = [_Job(record=r, item=it) for r, it in jobs]
    if not pending:
        return

    # Step 1: extraction.
    prompts = {}
    for i, job in enumerate(pending):
        response = job.record.get("response") or ""
        if protocol == "mathvista_extract":
            prompts[f"x{i}"] = P.mathvista_extract_prompt(job.item.question, response)
        else:
            prompts[f"x{i}"] = P.mathverse_extract_prompt(response)
    answers = _ask(engine, prompts)
    for i, job in enumerate(pending):
        text, err = answers.get(f"x{i}", (None, "no reply"))
        if err is not None:
            job.status, job.error = "error", err
            continue
        job.raw.append(text or "")
        job.extracted = P.clean_extraction(text or "")

    # Step 2: the verdict.
    if protocol == "mathverse_two_step":
        _score_two_step(engine, [j for j in pending if j.status == "pending"])
    else:
        for job in pending:
            if job.status != "pending":
                continue
            if job.extracted is None:
                job.verdict, job.status = False, "ok"
                continue
            scored = benchmark.score(job.item, job.extracted)
            job.verdict = bool(scored.correct)
            job.judge_extracted = scored.extracted
            job.status = "ok"

    for job in pending:
        on_done(_updated(job, options, protocol))


def _score_two_step(engine, jobs: Iterable[_Job]) -> None:
    todo = []
    for job in jobs:
        if job.extracted is None:  # official: a null extraction scores 0
            job.verdict, job.status = False, "ok"
        else:
            todo.append(job)
    for attempt in range(1 + SCORE_RETRIES):
        if not todo:
            return
        prompts = {
            f"s{attempt}-{i}": P.mathverse_score_prompt(_question(j.item), j.item.gold, j.extracted)
            for i, j in enumerate(todo)
        }
        answers = _ask(engine, prompts)
        retry = []
        for i, job in enumerate(todo):
            text, err = answers.get(f"s{attempt}-{i}", (None, "no reply"))
            if err is not None:
                job.status, job.error = "error", err
                continue
            job.raw.append(text or "")
            verdict = P.parse_judgement(text or "")
            if verdict is None:
                retry.append(job)
            else:
                job.verdict, job.status = verdict, "ok"
        todo = retry
    for job in todo:
        job.status, job.error = "error", "judge gave no 0/1 judgement"


def _question(item) -> str:
    # The official score step shows the bare question, not the full prompt (query_cot).
    raw = getattr(item, "raw", None) or {}
    return str(raw.get("question") or item.question)


def _updated(job: _Job, options: JudgeOptions, protocol: str) -> dict[str, Any]:
    record = dict(job.record)
    record["judge"] = {
        **options.describe(),
        "protocol": protocol,
        "status": "ok" if job.status == "ok" else "error",
        "extracted": job.extracted,
        "correct": job.verdict if job.status == "ok" else None,
        "raw": job.raw,
        **({"error": job.error} if job.error else {}),
    }
    apply_verdict_source(record)
    return record


def apply_verdict_source(record: dict[str, Any]) -> None:
    """Which verdict counts for rules+judge: the judge's where it answered, else the rules'."""
    judged = record.get("judge") or {}
    if judged.get("status") == "ok" and not record.get("correct"):
        record["verdict_source"] = "judge"
        record["final_correct"] = bool(judged.get("correct"))
    else:
        record["verdict_source"] = "rules"
        record["final_correct"] = bool(record.get("correct"))
