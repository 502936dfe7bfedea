"""`build(card)`: sources -> stages -> a versioned dataset folder.

Rows stream through the stages a batch at a time; every model call goes through the cache and a
batch's calls are committed before the next batch starts. The output is written to a staging
folder and renamed into place at the end, so a killed build leaves either the previous version
or nothing, and re-running it replays the cache (same rows, same fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from ovlt_data import __version__
from ovlt_data.artifact import VersionWriter, rejected_record, route, row_record
from ovlt_data.cache import CallCache
from ovlt_data.card import Card, load_card
from ovlt_data.models import open_models
from ovlt_data.schema import Rejected, Row
from ovlt_data.sources import SourceContext, get_source_kind
from ovlt_data.stages import BuildContext, get_stage_kind
from ovlt_eval.errors import UserError

ORDER_STRIDE = 1_000_000_000  # order = source index * stride + record index


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise UserError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
        if n < 1 or not 0 <= i < n:
            raise UserError(f"--shard {text!r}: need 0 <= I < N")
        return cls(i, n)

    def owns(self, row_id: str) -> bool:
        h = int.from_bytes(hashlib.sha1(row_id.encode()).digest()[:8], "big")
        return h % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def code_version() -> str:
    try:
        here = Path(__file__).resolve().parent
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if sha.returncode == 0:
            return f"{__version__}+g{sha.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


def _card_dir(card_arg) -> Path:
    if isinstance(card_arg, (str, os.PathLike)):
        return Path(card_arg).resolve().parent
    return Path.cwd()


def make_stages(card: Card, ctx: BuildContext) -> list:
    stages = []
    for i, spec in enumerate(card.stages):
        kind = get_stage_kind(spec.stage, where=f"card: field stages[{i}].stage")
        params = kind.validate_params(spec.params, where=f"card: field stages[{i}]")
        stages.append(kind.factory(params, ctx))
    return stages


def check_card(card: Card, stages: list) -> None:
    pools = {s.pool for s in card.sources}
    if "grpo" in pools and not any(st.name == "difficulty" for st in stages):
        raise UserError(
            "card: field stages: a grpo source needs a `difficulty` stage (medium/hard split)"
        )
    for st in stages:
        role = st.model_role()
        if role and role != "reuse" and role not in card.models:
            raise UserError(f"card: field stages: stage {st.name} names unknown model '{role}'")
    # what each stage reads must be written by an earlier stage on the same pools
    needs = {"verify": "distill", "select": "verify", "clean": "select"}
    for i, st in enumerate(stages):
        need = needs.get(st.name)
        if st.name == "distill" and st.params.mode == "caption":
            need = "caption"
        if st.name == "difficulty" and st.params.model == "reuse":
            need = "verify"
        if need and not any(p.name == need and set(st.pools) <= set(p.pools) for p in stages[:i]):
            raise UserError(
                f"card: field stages[{i}]: stage {st.name} needs a `{need}` stage before it"
            )


def source_plan(card: Card, ctx: SourceContext, limit: int | None) -> list[dict[str, Any]]:
    """Rows per source without opening the Hub (dry run)."""
    out = []
    for spec in card.sources:
        kind = get_source_kind(spec.kind)
        opts = kind.validate_options(spec.options, where=f"card: field sources.{spec.name}")
        cap = (
            min(x for x in (spec.limit, limit) if x is not None) if (spec.limit or limit) else None
        )
        n: int | str | None = None  # rows before drops
        if spec.kind == "synthetic":
            n = opts.n
        elif spec.kind == "hub":
            from ovlt_data.sources.hub import resolve

            n = resolve(opts).rows  # the catalogue's size; the Hub is not opened for a plan
        elif spec.kind in ("local", "tabmwp_local"):
            try:
                n = sum(1 for _ in kind.open(spec.name, opts, ctx))
            except UserError as e:
                n = f"unavailable ({e})"
        if isinstance(n, int) and cap is not None:
            n = min(n, cap)
        if isinstance(n, int) and spec.kind == "hub":
            n = f"~{n}"  # catalogue size, not counted
        elif n is None:
            n = f"<= {cap}" if cap else "all (Hub, size unknown offline)"
        fp = kind.fingerprint(spec.name, opts, ctx)
        out.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "pool": spec.pool,
                "rows": n,
                "origin": fp.get("hub_id") or fp.get("path") or spec.kind,
            }
        )
    return out


def plan(card_arg, *, limit: int | None = None) -> dict[str, Any]:
    card = load_card(card_arg)
    ctx = SourceContext(card.max_image_pixels, _card_dir(card_arg))
    stages = make_stages(card, BuildContext(card, None, {}))
    check_card(card, stages)
    sources = source_plan(card, ctx, limit)
    rows_by_pool: dict[str, int | None] = {"sft": 0, "grpo": 0}
    for s in sources:
        n = s["rows"]
        if isinstance(n, str) and n[:1] in "~<":
            n = int(n.lstrip("~<= "))
        if isinstance(n, int) and rows_by_pool[s["pool"]] is not None:
            rows_by_pool[s["pool"]] += n
        else:
            rows_by_pool[s["pool"]] = None  # unknown: the plan says so rather than guess
    stage_plan = []
    total = 0
    for st in stages:
        known = [rows_by_pool[p] for p in st.pools]
        calls = st.calls_per_row() * sum(known) if None not in known else None
        total = None if total is None or calls is None else total + calls
        role = st.model_role()
        model = card.models[role].model if role and role in card.models else None
        stage_plan.append(
            {
                "stage": st.name,
                "pools": list(st.pools),
                "model": model,
                "samples_per_row": st.calls_per_row(),
                "max_generations": calls,
                "benchmarks": [
                    f"{b.name}/{b.split} ({b.data or 'Hub'})"
                    for b in getattr(st.params, "benchmarks", [])
                ],
            }
        )
    return {
        "card": card.name,
        "version": card.version,
        "round": card.round,
        "card_sha256": card.digest(),
        "sources": sources,
        "stages": stage_plan,
        "max_generations": total,
        "note": "generations are an upper bound: rows dropped upstream and cached calls cost nothing",
    }


def _records(card: Card, ctx: SourceContext, limit: int | None, shard: Shard | None):
    """(order, pool, Example | Rejected) over all sources, in card order."""
    opened = []
    for s_idx, spec in enumerate(card.sources):
        kind = get_source_kind(spec.kind)
        opts = kind.validate_options(spec.options, where=f"card: field sources[{s_idx}]")
        opened.append(
            (s_idx, spec, kind.open(spec.name, opts, ctx))
        )  # eager: errors now, before models
    for s_idx, spec, it in opened:
        cap = (
            min(x for x in (spec.limit, limit) if x is not None) if (spec.limit or limit) else None
        )
        for i, rec in enumerate(islice(it, cap) if cap else it):
            if shard is None or shard.owns(rec.id):
                yield s_idx * ORDER_STRIDE + i, spec.pool, rec


def _prefetch(it, depth: int):
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
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _batches(it, size):
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk


def version_dir(out: str | os.PathLike, card: Card, shard: Shard | None = None) -> Path:
    name = card.version if shard is None else f"{card.version}-shard-{shard.index}-of-{shard.count}"
    return Path(out) / card.name / name


def build(
    card_arg,
    out: str | os.PathLike = "out/data",
    *,
    limit: int | None = None,
    shard: Shard | str | None = None,
    cache_path: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
) -> Path:
    """Build a card; return the version folder. Same card + same cache -> same fingerprint."""
    from ovlt_data.datacard import plot_figures, write_readme

    t0 = time.time()
    card = load_card(card_arg)
    if isinstance(shard, str):
        shard = Shard.parse(shard)
    final = version_dir(out, card, shard)
    if final.exists() and not force:
        old = (
            json.loads((final / "manifest.json").read_text())
            if (final / "manifest.json").exists()
            else {}
        )
        if old.get("card_sha256") != card.digest() or old.get("limit") != limit:
            raise UserError(
                f"{final} exists and was built from another card or --limit; use --force or bump `version`"
            )
    cache = CallCache(cache_path or Path(out) / "cache.sqlite")
    models = open_models(card.models, cache)  # one engine per distinct model
    ctx = BuildContext(card, cache, models, _card_dir(card_arg))
    stages = make_stages(card, ctx)
    check_card(card, stages)
    for st in stages:
        if hasattr(st, "prepare"):
            st.prepare()  # benchmark indexes: before any model call
    src_ctx = SourceContext(card.max_image_pixels, _card_dir(card_arg), cache.path)
    records = _prefetch(_records(card, src_ctx, limit, shard), depth=2 * card.batch_size)

    _remove_dead_staging(final)
    staging = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    writer = VersionWriter(staging)
    source_rejects: dict[str, int] = {}
    bars = _bars(stages, progress)
    n_rows = 0
    timing = {"prepare": round(time.time() - t0, 2), "wait_sources": 0.0, "write": 0.0}
    try:
        batches = _batches(records, card.batch_size)
        while True:
            t_wait = time.perf_counter()
            batch = next(batches, None)
            timing["wait_sources"] += time.perf_counter() - t_wait
            if batch is None:
                break
            rows: list[tuple[int, Row]] = []
            for order, pool, rec in batch:
                if isinstance(rec, Rejected):
                    writer.add("rejected", rejected_record(rec, pool, order))
                    source_rejects[rec.reason] = source_rejects.get(rec.reason, 0) + 1
                else:
                    rows.append((order, Row(rec, pool)))
            n_rows += len(batch)
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
            timing["write"] += time.perf_counter() - t_write
        fingerprint = writer.close()
    except BaseException:
        for b in bars:
            if b is not None:
                b.close()
        shutil.rmtree(staging, ignore_errors=True)
        cache.close()
        raise
    for b in bars:
        if b is not None:
            b.close()

    stats = writer.stats.as_dict()
    decon = [st for st in stages if st.name == "decontaminate"]
    manifest = {
        "name": card.name,
        "version": card.version,
        "round": card.round,
        "card": card.model_dump(mode="json"),
        "card_sha256": card.digest(),
        "code_version": code_version(),
        "created_unix": int(time.time()),
        "limit": limit,
        "shard": str(shard) if shard else None,
        "sources": {
            s.name: get_source_kind(s.kind).fingerprint(
                s.name, get_source_kind(s.kind).validate_options(s.options, "card"), src_ctx
            )
            for s in card.sources
        },
        "models": {role: m.describe() for role, m in models.items()},
        "stages": [
            {
                "stage": "source",
                "pools": ["sft", "grpo"],
                "in": n_rows,
                "out": n_rows - sum(source_rejects.values()),
                "dropped": source_rejects,
            }
        ]
        + [
            {
                **{k: v for k, v in st.describe().items() if k not in ("matches", "prompt")},
                **st.stats.as_dict(),
            }
            for st in stages
        ],
        "decontamination": {
            "benchmarks": decon[0].loaded if decon else {},
            "matches": decon[0].matches if decon else [],
        },
        "cache": {
            "path": str(Path(cache.path).resolve()),
            "hits": cache.hits,
            "misses": cache.misses,
            "engine_requests": {role: m.calls for role, m in models.items()},
        },
        "stats": {k: v for k, v in stats.items() if k != "sft_lengths"},
        "fingerprint": fingerprint,
        "build_seconds": None,  # set below, once the card and figures are written
        "timing_seconds": {k: round(v, 2) for k, v in timing.items()},
    }
    t_card = time.time()
    manifest["figures"] = plot_figures(staging, stats, cache)
    write_readme(staging, {**manifest, "stats": stats})
    manifest["timing_seconds"]["dataset_card"] = round(time.time() - t_card, 2)
    manifest["build_seconds"] = round(time.time() - t0, 2)
    (staging / "manifest.json").write_text(
        json.dumps(manifest, indent=1, sort_keys=False, default=str)
    )
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    cache.close()
    return final


def _remove_dead_staging(final: Path) -> None:
    """A killed build leaves `.<version>.tmp-<pid>`; remove those whose process is gone."""
    for p in final.parent.glob(f".{final.name}.tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
            os.kill(pid, 0)  # alive (maybe a concurrent build): leave it alone
        except (ValueError, ProcessLookupError):
            shutil.rmtree(p, ignore_errors=True)
        except PermissionError:
            pass


def _bars(stages, progress: bool):
    if not progress:
        return [None] * len(stages)
    from tqdm import tqdm

    return [
        tqdm(desc=f"{st.name:>13}", unit="row", position=i, leave=True, file=sys.stderr)
        for i, st in enumerate(stages)
    ]
