"""One benchmark run: items → requests → engine → verdicts → samples.jsonl, summary, card.

The order of work is what makes a run resumable: the card (settings) is written before any
generation, every finished item is appended and fsync'ed on its own, and the summary is
rebuilt from `samples.jsonl` at the end, so a run killed at any point resumes with exactly the
items that are not yet on disk (plus the ones that ended in `error`).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ovlt_eval.benchmarks.summary import scorer_version
from ovlt_eval.engines.types import GenerationRequest, GenerationResult, SamplingParams
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import reference_policy_for
from ovlt_eval.runs import card as C
from ovlt_eval.runs.engine_adapter import build_messages
from ovlt_eval.runs.fingerprint import (
    canonical_json,
    combined_digest,
    data_fingerprint,
    image_hashes,
)
from ovlt_eval.runs.judge import (
    JudgeOptions,
    apply_verdict_source,
    judge_records,
    needs_judge,
    protocol_for,
)
from ovlt_eval.runs.store import RunLock, SampleStore
from ovlt_eval.runs.summary import judge_figures, run_figures, scored_from_records

SAMPLES_NAME = "samples.jsonl"
SUMMARY_NAME = "summary.json"


@dataclass(frozen=True)
class BenchPlan:
    """Everything about one benchmark of a run that is known before the engine loads."""

    name: str
    split: str
    data: str | None
    out_dir: Path
    benchmark: Any
    items: list  # the items this run evaluates (after --limit)
    all_items: list  # the whole split (the data fingerprint is over these)
    messages: dict[str, list[dict[str, Any]]]
    prompt_sha256: str
    data_fingerprint: str
    images: dict[str, list[str]]


@dataclass(frozen=True)
class RunConfig:
    model: str
    engine_name: str
    profile_name: str
    sampling: SamplingParams
    n: int = 1
    overwrite: bool = False
    progress: bool = True
    judge: JudgeOptions | None = None
    profile_describe: dict[str, Any] | None = None
    protocol: str = "official"  # which scoring protocol is the headline `correct`


def prompt_digest(messages: dict[str, list[dict[str, Any]]]) -> str:
    """Hash of every prompt, with image parts reduced to a placeholder (images hash apart)."""
    h = hashlib.sha256()
    for item_id in sorted(messages):
        stripped = []
        for msg in messages[item_id]:
            content = msg.get("content")
            if isinstance(content, list):
                content = [
                    {"type": "image"} if part.get("type") == "image" else part for part in content
                ]
            stripped.append({**msg, "content": content})
        h.update(canonical_json([item_id, stripped]))
    return h.hexdigest()


def plan_bench(
    benchmark, split: str, data: str | None, out_dir: Path, profile, limit: int | None
) -> BenchPlan:
    all_items = list(benchmark.load(split, data))
    if not all_items:
        raise UserError(f"{benchmark.name} {split}: no items loaded from {data or 'the Hub'}")
    items = all_items[:limit] if limit else all_items
    messages = {it.id: build_messages(profile, it, benchmark) for it in all_items}
    images = image_hashes(all_items)
    return BenchPlan(
        name=benchmark.name,
        split=split,
        data=data,
        out_dir=out_dir,
        benchmark=benchmark,
        items=items,
        all_items=all_items,
        messages=messages,
        prompt_sha256=prompt_digest(messages),
        data_fingerprint=data_fingerprint(all_items),
        images=images,
    )


def settings_for(plan: BenchPlan, cfg: RunConfig, engine_describe: dict[str, Any]) -> C.RunSettings:
    return C.RunSettings(
        model=cfg.model,
        benchmark=plan.name,
        benchmark_version=str(getattr(plan.benchmark, "version", "")),
        split=plan.split,
        data_fingerprint=plan.data_fingerprint,
        images_fingerprint=combined_digest(plan.images),
        profile=cfg.profile_name,
        prompt_sha256=plan.prompt_sha256,
        engine=C.engine_identity(engine_describe),
        sampling=asdict(cfg.sampling) | {"stop": list(cfg.sampling.stop)},
        n=cfg.n,
        protocol=cfg.protocol,
    )


def check_resume(plan: BenchPlan, settings: C.RunSettings, overwrite: bool) -> C.EvalCard | None:
    """The existing card when resuming; raises when the settings differ (unless overwrite)."""
    out = plan.out_dir
    samples = out / SAMPLES_NAME
    if overwrite:
        for name in (SAMPLES_NAME, SUMMARY_NAME, C.CARD_NAME):
            path = out / name
            if path.is_dir() and not path.is_symlink():  # never a folder's contents
                raise UserError(
                    f"{path} is a folder, not a file of a run; move it away or choose another --out"
                )
            if path.exists() or path.is_symlink():
                path.unlink()
        return None
    old = C.read_card(out)
    if old is None:
        if samples.exists() and samples.stat().st_size > 0:
            raise UserError(
                f"{out} has {SAMPLES_NAME} but no {C.CARD_NAME}, so it cannot be resumed safely; "
                "pass --overwrite or choose another --out"
            )
        return None
    diff = C.settings_diff(old.settings, settings)
    if diff:
        raise UserError(
            f"{out} holds a run with other settings ({C.describe_diff(old.settings, settings, diff)}); "
            "use --overwrite to discard it or choose another --out"
        )
    return old


def precheck_resume(plan: BenchPlan, cfg: RunConfig) -> None:
    """Refuse a mismatched resume before an expensive engine loads (engine fields come later)."""
    if cfg.overwrite:
        return
    old = C.read_card(plan.out_dir)
    if old is None:
        return
    new = settings_for(plan, cfg, old.settings.engine)
    diff = C.settings_diff(old.settings, new)
    if diff:
        check_resume(plan, new, overwrite=False)  # raises with the one-line explanation


class _Progress:
    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = None
        if enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True
            )

    def update(self, errors: int) -> None:
        if self.bar is not None:
            if errors:
                self.bar.set_postfix(errors=errors, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def record_from_result(
    benchmark,
    item,
    result: GenerationResult,
    protocol: str = "official",
    reference_policy: str = "reference",
) -> dict[str, Any]:
    if result.status != "ok" or not result.outputs:
        return {
            "id": item.id,
            "status": "error",
            "error": C.redact_text(str(result.error or "no output")),
            "response": None,
            "extracted": None,
            "correct": False,
            "verdict_source": "rules",
            "final_correct": False,
            "prompt_tokens": result.prompt_tokens,
        }
    samples = []
    for i, text in enumerate(result.outputs):
        scored = benchmark.score(item, text, protocol=protocol, reference_policy=reference_policy)
        samples.append(
            {
                "response": text,
                "extracted": scored.extracted,
                "correct": bool(scored.correct),
                # every protocol's verdict, so the summary can show them side by side
                "correct_reference": scored.correct_reference,
                "status_reference": scored.status_reference,
                "status_official": scored.status_official,
                "status_corrected": scored.status_corrected,
                "correct_official": scored.correct_official,
                "correct_corrected": scored.correct_corrected,
                "disagreement": scored.disagreement,
                "status": scored.status,
                "how": scored.how,
                "tokens": _at(result.completion_tokens, i),
                "finish_reason": _at(result.finish_reasons, i),
            }
        )
    # The prompt's length in tokens as the model saw it (images included), once per item: all
    # its samples share the prompt. None where the engine cannot tell.
    record = {"id": item.id, **samples[0], "prompt_tokens": result.prompt_tokens}
    if len(samples) > 1:
        record["extra_samples"] = samples[1:]
    apply_verdict_source(record)
    return record


def _at(seq, i):
    return seq[i] if seq is not None and i < len(seq) else None


def execute_bench(
    plan: BenchPlan,
    cfg: RunConfig,
    engine,
    judge_engine=None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> dict[str, Any]:
    """Generate what is missing, judge if asked, write summary and card; return the summary."""
    with RunLock(plan.out_dir):
        return _execute_locked(plan, cfg, engine, judge_engine, log)


def _execute_locked(plan: BenchPlan, cfg: RunConfig, engine, judge_engine, log) -> dict[str, Any]:
    engine_describe = C.scrub(engine.describe())
    settings = settings_for(plan, cfg, engine_describe)
    old_card = check_resume(plan, settings, cfg.overwrite)
    plan.out_dir.mkdir(parents=True, exist_ok=True)

    store = SampleStore(plan.out_dir / SAMPLES_NAME)
    if store.torn_bytes:
        log(f"{plan.out_dir}: dropped a torn last line ({store.torn_bytes} bytes) left by a kill")
    by_id = {it.id: it for it in plan.items}
    pending = [
        it for it in plan.items if (rec := store.get(it.id)) is None or rec.get("status") == "error"
    ]
    retried = sum(1 for it in pending if it.id in store)

    session = {"started_at": C.utc_now(), "to_generate": len(pending), "retried_errors": retried}
    batch_size = C.generation_settings(engine_describe).get("batch_size")
    if batch_size is not None and pending:  # only a session that generates used its batch size
        session["batch_size"] = batch_size
        earlier = {s.get("batch_size") for s in (old_card.sessions if old_card else [])} - {None}
        if earlier and earlier != {batch_size}:
            log(
                f"{plan.out_dir}: warning: resuming with batch size {batch_size}, earlier "
                f"sessions used {', '.join(map(str, sorted(earlier)))}; on a GPU in bf16 the "
                "batch changes outputs (resume with the same --batch-size, or --reproducible)"
            )
    card = old_card or C.EvalCard(settings=settings, started_at=session["started_at"])
    for earlier in card.sessions:
        earlier.setdefault("outcome", "killed")  # it never got to write how it ended
    card.status = "running"
    card.settings = settings
    card.harness = C.harness_info()
    card.benchmark = {
        "name": plan.name,
        "version": settings.benchmark_version,
        "split": plan.split,
        "data": plan.data or "hub",
        "items_in_split": len(plan.all_items),
        "items_evaluated": len(plan.items),
        "data_fingerprint": plan.data_fingerprint,
        "images_fingerprint": settings.images_fingerprint,
        "scorer_version": scorer_version(plan.benchmark),
    }
    card.profile = {
        **(cfg.profile_describe or {"name": cfg.profile_name}),
        "prompt_sha256": plan.prompt_sha256,
    }
    card.engine = engine_describe
    card.judge = (
        {**cfg.judge.describe(), "protocol": protocol_for(plan.name, cfg.judge)}
        if cfg.judge is not None
        else None
    )
    card.image_hashes = plan.images
    card.sessions = [*card.sessions, session]
    C.write_card(plan.out_dir, card)

    if old_card is not None:
        log(
            f"{plan.out_dir}: resuming: {len(plan.items) - len(pending)} of {len(plan.items)} items "
            f"done, {len(pending)} to generate" + (f" ({retried} failed before)" if retried else "")
        )

    t0 = time.monotonic()
    errors = 0
    progress = _Progress(len(pending), f"{plan.name}-{plan.split}", cfg.progress)
    requests = (
        GenerationRequest(
            id=it.id, messages=tuple(plan.messages[it.id]), n=cfg.n, sampling=cfg.sampling
        )
        for it in pending
    )
    finished = False
    gen = engine.generate(requests)
    try:
        try:
            for result in gen:
                item = by_id.get(result.id)
                if item is None:
                    continue
                record = record_from_result(
                    plan.benchmark,
                    item,
                    result,
                    cfg.protocol,
                    reference_policy_for(cfg.profile_name),
                )
                errors += record["status"] == "error"
                store.append(record)
                progress.update(errors)
        finally:
            progress.close()
            close = getattr(gen, "close", None)
            if close is not None:
                close()
        session["generate_s"] = round(time.monotonic() - t0, 2)
        if cfg.judge is not None and judge_engine is not None:
            run_judge(plan, cfg, judge_engine, store, by_id, log)
        finished = True
    finally:
        store.close()
        if not finished:  # Ctrl-C, SIGTERM or a crash: say so; the samples on disk stay valid
            session.update(finished_at=C.utc_now(), outcome="interrupted")
            card.status = "interrupted"
            card.counts = dict(Counter(r.get("status") for r in store.values()))
            C.write_card(plan.out_dir, card)

    summary = write_summary(plan, cfg, store.records)
    counts = dict(
        Counter(store.records[it.id].get("status") for it in plan.items if it.id in store)
    )
    card.counts = counts
    card.engine = C.scrub(engine.describe())  # now with what the engine learned while running
    card.status = "complete" if summary["run"]["complete"] else "incomplete"
    card.finished_at = C.utc_now()
    session.update(finished_at=card.finished_at, outcome=card.status, errors=errors)
    C.write_card(plan.out_dir, card)
    return summary


def run_judge(
    plan: BenchPlan, cfg: RunConfig, judge_engine, store: SampleStore, by_id, log
) -> None:
    jobs = [
        (rec, by_id[rid])
        for rid, rec in store.records.items()
        if rid in by_id and needs_judge(rec, cfg.judge, plan.name)
    ]
    if jobs:
        log(f"{plan.name}: judge {cfg.judge.model} re-checks {len(jobs)} items")
    judge_records(judge_engine, cfg.judge, plan.benchmark, jobs, store.append)


def write_summary(plan: BenchPlan, cfg: RunConfig, records: dict[str, dict[str, Any]]) -> dict:
    from ovlt_eval.benchmarks.summary import summarize

    def summarize_records(with_judge: bool) -> dict:
        scored = scored_from_records(plan.items, records, with_judge=with_judge)
        summary = summarize(plan.benchmark, plan.split, plan.items, scored, protocol=cfg.protocol)
        summary["reference_policy"] = reference_policy_for(cfg.profile_name)
        return summary

    rules = summarize_records(with_judge=False)
    summary = dict(rules)
    summary["run"] = run_figures(plan.items, records, cfg.n)
    if cfg.judge is not None:
        judged = summarize_records(with_judge=True)
        recs = [records[it.id] for it in plan.items if it.id in records]
        summary["judge"] = {**cfg.judge.describe(), **judge_figures(rules, judged, recs)}
        summary["accuracy_by_verdict"] = {
            "rules": rules.get("accuracy"),
            "rules+judge": judged.get("accuracy"),
        }
    text = C.redact_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    C.write_text_atomic(plan.out_dir / SUMMARY_NAME, text + "\n")
    return summary
