"""Executing a build: rows stream from the sources through the stages into a writer.

Rows move a batch at a time; every model call goes through the cache and a batch's calls are
committed before the next batch starts, so a killed build resumes from the cache.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from itertools import islice

from ovlt_data.artifact import VersionWriter, rejected_record, route, row_record
from ovlt_data.card import Card
from ovlt_data.planning import Shard
from ovlt_data.schema import Rejected, Row
from ovlt_data.sources import SourceContext, get_source_kind
from ovlt_data.stages import Stage
from ovlt_eval.thread_queue import drain

ORDER_STRIDE = 1_000_000_000  # order = source index * stride + record index


@dataclass
class RunResult:
    rows: int = 0  # records read from the sources, rejected ones included
    source_rejects: dict[str, int] = field(default_factory=dict)
    wait_sources: float = 0.0  # seconds the stages waited for source rows
    write: float = 0.0  # seconds spent handing rows to the writer


def open_records(card: Card, ctx: SourceContext, limit: int | None, shard: Shard | None):
    """(order, pool, Example | Rejected) over all sources, in card order."""
    opened = []
    for s_idx, spec in enumerate(card.sources):
        kind = get_source_kind(spec.kind)
        opts = kind.validate_options(spec.options, where=f"card: field sources[{s_idx}]")
        opened.append((s_idx, spec, kind.open(spec.name, opts, ctx)))  # eager: errors now
    # the stages key model results by row id: a second row with an id already seen would get
    # the first one's captions, traces or pass rate; it is rejected instead
    seen: set[str] = set()
    for s_idx, spec, it in opened:
        cap = (
            min(x for x in (spec.limit, limit) if x is not None) if (spec.limit or limit) else None
        )
        for i, rec in enumerate(islice(it, cap) if cap else it):
            if shard is None or shard.owns(rec.id):
                if not isinstance(rec, Rejected):
                    if rec.id in seen:
                        rec = Rejected(
                            rec.id,
                            rec.source,
                            "duplicate_id",
                            "an earlier row of the source has this id",
                            rec.question,
                            rec.answer,
                        )
                    else:
                        seen.add(rec.id)
                yield s_idx * ORDER_STRIDE + i, spec.pool, rec


def prefetch(it, depth: int):
    """Read the sources on a thread: decoding / drawing images (PIL releases the GIL) overlaps
    with model calls and the stages. The queue is bounded, so memory stays at `depth` rows."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for rec in it:
                while not stop.is_set():
                    try:
                        q.put(rec, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # re-raised in the consumer, with its message intact
            q.put(e)

    # opening happens here, on the caller's thread: a missing file or an offline Hub is
    # reported before any model call
    first = next(it, done)
    if first is done:
        return
    yield first
    t = threading.Thread(target=produce, name="ovlt-data-source", daemon=True)
    t.start()
    try:
        yield from drain(q, done)
    finally:
        stop.set()


def _batches(it, size):
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk


def run_stages(
    records, stages: list[Stage], writer: VersionWriter, batch_size: int, progress: bool
) -> RunResult:
    """Every record through the stages, a batch at a time, into `writer` (kept or rejected)."""
    result = RunResult()
    bars = _bars(stages, progress)
    try:
        batches = _batches(records, batch_size)
        while True:
            t_wait = time.perf_counter()
            batch = next(batches, None)
            result.wait_sources += time.perf_counter() - t_wait
            if batch is None:
                return result
            rows: list[tuple[int, Row]] = []
            for order, pool, rec in batch:
                if isinstance(rec, Rejected):
                    writer.add("rejected", rejected_record(rec, pool, order))
                    result.source_rejects[rec.reason] = result.source_rejects.get(rec.reason, 0) + 1
                else:
                    rows.append((order, Row(rec, pool)))
            result.rows += len(batch)
            current = [r for _, r in rows]
            for st, bar in zip(stages, bars, strict=True):
                seen = st.stats.rows_in
                current = st(current)
                if bar is not None:  # rows this stage worked on, and how many it kept
                    bar.update(st.stats.rows_in - seen)
                    bar.set_postfix(
                        kept=st.stats.rows_out,
                        dropped=st.stats.rows_in - st.stats.rows_out,
                        refresh=False,
                    )
            t_write = time.perf_counter()
            for (order, _), row in zip(rows, current, strict=True):
                writer.add(route(row), row_record(row, order))
            result.write += time.perf_counter() - t_write
    finally:
        for b in bars:
            if b is not None:
                b.close()


def _bars(stages, progress: bool):
    if not progress:
        return [None] * len(stages)
    from tqdm import tqdm

    return [
        tqdm(desc=f"{st.name:>13}", unit="row", position=i, leave=True, file=sys.stderr)
        for i, st in enumerate(stages)
    ]
