"""The optional LLM judge: a second look at the items the rules call no-answer or incorrect.

It talks to any OpenAI-compatible model through the `openai` engine. By default the protocol
follows the benchmark (see `judge_prompts`): MathVerse extract → 0/1 judgement; MathVista (and
MathVision) extract → the benchmark's own rules on the extracted answer. A judge that fails
(request error, no parseable judgement after a retry) leaves the rules' verdict in place and
says so.

`mathverse_reference_gpt4` (chosen with `--judge-protocol`) is the OpenVLThinker paper's
MathVerse judge, `evaluation/verify_mathverse_gpt4.py`: every item — right or wrong by the rules
— is judged once, with that script's prompt, over the answer the reference evaluation reads in
the reply ("Failed to extract." when there is none), and the judge's verdict replaces the rules'
for every item it answered. Its reply is read as the script reads it: "Yes"/"No" after
"Judgement: ", or exactly "Yes"/"No". A reply with neither is *dropped* by the script (left out
of its output but still in the denominator, verify_mathverse_gpt4.py:82-92), so here it counts
wrong and is recorded as `judge.verdict == "dropped"`; each judged record says which verdict the
judge produced (`judge.verdict`: "yes", "no" or "dropped") and the summary counts them.
Differences that cannot be reproduced: the script called OpenAI's "gpt-4" with its default
sampling; here the judge model and endpoint are the user's and sampling is near-greedy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ovlt_eval.engines.types import (
    JUDGE_SAMPLING,
    REFERENCE_JUDGE_SAMPLING,
    GenerationRequest,
    SamplingParams,
)
from ovlt_eval.errors import UserError
from ovlt_eval.runs import judge_prompts as P

SCORE_RETRIES = 1  # the official script asks again while the judgement is not 0/1

REFERENCE_GPT4 = "mathverse_reference_gpt4"
JUDGE_PROTOCOLS = ("mathverse_two_step", "mathvista_extract", "extract_then_rules", REFERENCE_GPT4)
# Protocols whose verdict replaces the rules' on every item (not only on the rules' negatives).
REPLACING_PROTOCOLS = frozenset({REFERENCE_GPT4})


@dataclass(frozen=True)
class JudgeOptions:
    base_urls: tuple[str, ...]
    model: str
    api_key_env: str | None = None  # None: the openai engine's default (OPENAI_API_KEY)
    concurrency: int = 16
    protocol: str | None = None  # None: the benchmark's own (`protocol_for`)
    # The answer policy of the reference protocol for this run's profile (profiles.py): what
    # the reference evaluation stored as the answer, which `mathverse_reference_gpt4` judges.
    reference_policy: str = "reference"

    def __post_init__(self) -> None:
        if self.protocol is not None and self.protocol not in JUDGE_PROTOCOLS:
            raise UserError(
                f"unknown judge protocol {self.protocol!r}; known: {', '.join(JUDGE_PROTOCOLS)}"
            )

    def describe(self) -> dict[str, Any]:
        # Endpoints are not identity (replicas of one model); the model and prompts are.
        out: dict[str, Any] = {"model": self.model, "prompt_version": P.PROMPT_VERSION}
        if self.protocol is not None:
            out["protocol"] = self.protocol
        if self.protocol in REPLACING_PROTOCOLS:
            out["reference_policy"] = self.reference_policy
        return out


def protocol_for(benchmark: str, options: JudgeOptions | None = None) -> str:
    if options is not None and options.protocol is not None:
        return options.protocol
    return {"mathverse": "mathverse_two_step", "mathvista": "mathvista_extract"}.get(
        benchmark, "extract_then_rules"
    )


def needs_judge(
    record: dict[str, Any], options: JudgeOptions, benchmark: str | None = None
) -> bool:
    """Whether `record` still needs this judge's verdict. Without `benchmark`, a record judged
    under any non-replacing protocol counts as judged when the options name none."""
    if record.get("status") == "error":
        return False
    judged = record.get("judge") or {}
    replacing = options.protocol in REPLACING_PROTOCOLS
    if record.get("correct") and not replacing and not judged:
        return False
    if options.protocol is not None or benchmark is not None:
        same_protocol = judged.get("protocol") == protocol_for(benchmark or "", options)
    else:
        same_protocol = judged.get("protocol") not in REPLACING_PROTOCOLS
    if same_protocol and replacing:
        same_protocol = judged.get("reference_policy") == options.reference_policy
    if record.get("correct") and not replacing and same_protocol:
        return False
    return not (
        same_protocol
        and judged.get("model") == options.model
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


def _request(rid: str, prompt: str, sampling: SamplingParams = JUDGE_SAMPLING) -> GenerationRequest:
    return GenerationRequest(
        id=rid,
        messages=({"role": "user", "content": [{"type": "text", "text": prompt}]},),
        n=1,
        sampling=sampling,
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
    said: str | None = None  # the reference judge's verdict: "yes", "no" or "dropped"


def _ask(
    engine, prompts: dict[str, str], sampling: SamplingParams = JUDGE_SAMPLING
) -> dict[str, tuple[str | None, str | None]]:
    """{request id: (text, error)} for a batch of prompts."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for res in engine.generate(_request(rid, p, sampling) for rid, p in prompts.items()):
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
    protocol = protocol_for(benchmark.name, options)
    pending = [_Job(record=r, item=it) for r, it in jobs]
    if not pending:
        return
    if protocol == REFERENCE_GPT4:
        _judge_reference(engine, benchmark.name, options.reference_policy, pending)
        for job in pending:
            on_done(_updated(job, options, protocol))
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


def _judge_reference(engine, bench: str, policy: str, jobs: Sequence[_Job]) -> None:
    """verify_mathverse_gpt4.py:51-83: one request per item, no retry."""
    prompts = {}
    for i, job in enumerate(jobs):
        job.extracted = reference_prediction(job.record.get("response"), policy)
        instruction, gold = reference_fields(job.item, bench)
        prompts[f"r{i}"] = P.mathverse_reference_prompt(instruction, gold, job.extracted)
    answers = _ask(engine, prompts, REFERENCE_JUDGE_SAMPLING)
    for i, job in enumerate(jobs):
        text, err = answers.get(f"r{i}", (None, "no reply"))
        if err is not None:
            job.status, job.error = "error", err
            continue
        job.raw.append(text or "")
        verdict = P.parse_reference_judgement(text or "")
        job.said = "dropped" if verdict is None else ("yes" if verdict else "no")
        job.verdict, job.status = bool(verdict), "ok"


def reference_prediction(response: str | None, policy_name: str) -> str:
    """The `answer` the reference evaluation stored for a reply, which its judge is shown: the
    reference policy's answer, else the script's failure text."""
    from ovlt_eval.grading.policy import get_policy

    policy = get_policy(policy_name)
    found = policy.extract(response)
    if found.answer is not None:
        return found.answer
    if policy.answer == "boxed_and_whole_reply":  # eval_qwen.py:393,420: an empty reply
        return P.REFERENCE_FAILED_GENERATION
    return P.REFERENCE_FAILED_EXTRACTION  # eval_openvlthinker.py:395-396


# The evaluation output's `instruction` is the dataset field the reference prompts with, before
# any hint is added (eval_openvlthinker.py:150-251, 266, 400); `response` is the raw gold field.
_REFERENCE_INSTRUCTION_FIELD = {"mathvista": "query", "mathverse": "query_cot"}
_REFERENCE_GOLD_FIELD = {"hallusionbench": "gt_answer"}


def reference_fields(item, bench: str) -> tuple[str, str]:
    """(instruction, ground truth) as the reference's output file holds them for `item`."""
    raw = getattr(item, "raw", None) or {}
    if bench == "mmmu-pro-vision":  # its config names no instruction field (:226-233)
        instruction = ""
    else:
        field_name = _REFERENCE_INSTRUCTION_FIELD.get(bench, "question")
        instruction = raw.get(field_name)
        instruction = item.question if instruction is None else instruction
    gold = raw.get(_REFERENCE_GOLD_FIELD.get(bench, "answer"), item.gold)
    return str(instruction), "" if gold is None else str(gold)


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
        **({"verdict": job.said} if job.said else {}),
        **({"reference_policy": options.reference_policy} if protocol == REFERENCE_GPT4 else {}),
        **({"error": job.error} if job.error else {}),
    }
    apply_verdict_source(record)
    return record


def apply_verdict_source(record: dict[str, Any]) -> None:
    """Which verdict counts for rules+judge: the judge's where it answered (on every item for a
    replacing protocol, else on the rules' negatives), else the rules'."""
    judged = record.get("judge") or {}
    replaces = judged.get("protocol") in REPLACING_PROTOCOLS
    if judged.get("status") == "ok" and (replaces or not record.get("correct")):
        record["verdict_source"] = "judge"
        record["final_correct"] = bool(judged.get("correct"))
    else:
        record["verdict_source"] = "rules"
        record["final_correct"] = bool(record.get("correct"))
