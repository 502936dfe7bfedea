"""`build(card)`: plan, execute, write: sources -> stages -> a versioned dataset folder.

- planning (`planning.py`): the card, its stages and sources checked, the target folder chosen;
- execution (`execute.py`): rows stream through the stages, model calls through the cache;
- writing (here): rows go to a staging folder, the manifest and dataset card are added, and the
  folder is renamed into place, so a killed build leaves either the previous version or
  nothing, and re-running it replays the cache (same rows, same fingerprint).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from ovlt_data import __version__
from ovlt_data.artifact import VersionWriter
from ovlt_data.cache import CallCache
from ovlt_data.card import Card, load_card
from ovlt_data.execute import RunResult, open_records, prefetch, run_stages
from ovlt_data.models import open_models
from ovlt_data.planning import (  # noqa: F401 — re-exported: callers import them from here
    Shard,
    card_dir,
    check_card,
    check_existing,
    make_stages,
    plan,
    version_dir,
)
from ovlt_data.sources import SourceContext, get_source_kind
from ovlt_data.stages import BuildContext, Stage
from ovlt_eval.atomic import write_json_atomic
from ovlt_eval.runs.store import RunLock

# the share of a build's model requests that may fail (their rows dropped as `model_error`)
# before the build is refused: above it, the server or the card is wrong, not one odd item
MAX_ERROR_RATE = 0.1


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


def build(
    card_arg,
    out: str | os.PathLike = "out/data",
    *,
    limit: int | None = None,
    shard: Shard | str | None = None,
    cache_path: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
    overrides: list[str] | None = None,
    base_dir: str | os.PathLike | None = None,
    max_error_rate: float = MAX_ERROR_RATE,
) -> Path:
    """Build a card; return the version folder. Same card + same cache -> same fingerprint.

    `overrides`: `--set key=value` onto the card. `base_dir`: where a dict card's relative
    paths resolve (a card file's are its own folder's). `max_error_rate`: the share of model
    requests that may fail (rows dropped as `model_error`) before the build is refused."""
    check_error_rate_option(max_error_rate)
    t0 = time.time()
    # planning: nothing is called or written until the card, stages and target are checked
    card = load_card(card_arg, overrides)
    if isinstance(shard, str):
        shard = Shard.parse(shard)
    final = version_dir(out, card, shard)
    # two builds of one version into one --out would each replace the other's folder, both
    # exiting 0: the second refuses while the first holds this lock (dropped if a build dies)
    busy = f"another ovlt-data build is writing {final}; wait for it or bump `version`"
    with RunLock(final.parent, name=f".{final.name}.lock", busy=busy):
        check_existing(final, card, limit, force)
        folder = card_dir(card_arg, base_dir)
        cache = CallCache(cache_path or Path(out) / "cache.sqlite")
        models = open_models(card.models, cache)  # one engine per distinct model
        stages = make_stages(card, BuildContext(card, cache, models, folder))
        check_card(card, stages)
        for st in stages:
            st.prepare()  # e.g. benchmark indexes: before any model call
        src_ctx = SourceContext(card.max_image_pixels, folder, cache.path)
        records = prefetch(open_records(card, src_ctx, limit, shard), depth=2 * card.batch_size)

        # execution, into a staging folder
        _remove_dead_staging(final)
        staging = final.parent / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        writer = VersionWriter(staging)
        errors = _ModelErrors(writer, models)
        prepare_s = round(time.time() - t0, 2)
        try:
            run = run_stages(records, stages, errors, card.batch_size, progress)
            errors.check(cache.hits + cache.misses, max_error_rate, final, stages)
            fingerprint = writer.close()
            # writing
            stats = writer.stats.as_dict()
            manifest = _manifest(card, limit, shard, src_ctx, models, stages, run, cache)
            manifest["stats"] = {k: v for k, v in stats.items() if k != "sft_lengths"}
            manifest["fingerprint"] = fingerprint
            manifest["build_seconds"] = None  # set once the dataset card is written
            manifest["timing_seconds"] = {
                "prepare": prepare_s,
                "wait_sources": round(run.wait_sources, 2),
                "write": round(run.write, 2),
            }
            _write_version(staging, final, manifest, stats, cache, t0)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            cache.close()
        return final


def check_error_rate_option(rate: float) -> None:
    from ovlt_eval.errors import UserError

    if not 0.0 <= rate <= 1.0:
        raise UserError(f"--max-error-rate {rate}: must be between 0 and 1")


class _ModelErrors:
    """The writer, counting rows a model request failed for (`model_error` drops, never cached,
    so a re-run retries them) and keeping the first failure's text: a build whose requests all
    (or mostly) failed must not be installed and reported as built."""

    def __init__(self, writer: VersionWriter, models: dict[str, Any]):
        self.writer = writer
        self.models = models  # role -> CachedModel, to name the failing model
        self.failed = 0
        self.first: tuple[str, str] | None = None  # (stage, detail) of the first failure

    def add(self, config: str, rec: dict[str, Any]) -> None:
        if config == "rejected" and rec.get("reject_reason") == "model_error":
            self.failed += 1
            if self.first is None:
                self.first = (str(rec.get("reject_stage")), rec.get("reject_detail") or "no detail")
        self.writer.add(config, rec)

    def check(self, requests: int, max_rate: float, final: Path, stages: list[Stage]) -> None:
        """Raise (nothing installed; the successful calls stay cached) above `max_rate`."""
        from ovlt_eval.errors import UserError

        if not self.failed or not requests or self.failed / requests <= max_rate:
            return
        stage, detail = self.first or ("", "")
        role = next((st.model_role() for st in stages if st.name == stage), None)
        model = self.models.get(role)
        who = f"stage {stage}, model {role} ({model.spec.model})" if model else f"stage {stage}"
        first = f"{who}: {' '.join(detail.split())[:300]}"
        if self.failed >= requests:
            raise UserError(
                f"all {requests} model requests failed (first error: {first}); {final} was not "
                "written: re-run once the model server answers (failures are never cached)"
            )
        raise UserError(
            f"{self.failed} of {requests} model requests failed ({self.failed / requests:.0%} > "
            f"--max-error-rate {max_rate:g}; first error: {first}); {final} was not written: "
            "re-run to retry the failed ones (the others are cached), or accept them with "
            "--max-error-rate 1"
        )


def _manifest(
    card: Card,
    limit: int | None,
    shard: Shard | None,
    src_ctx: SourceContext,
    models: dict[str, Any],
    stages: list[Stage],
    run: RunResult,
    cache: CallCache,
) -> dict[str, Any]:
    """What a version records about how it was made (rows and stats are added by the caller)."""
    manifest: dict[str, Any] = {
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
                "in": run.rows,
                "out": run.rows - sum(run.source_rejects.values()),
                "dropped": run.source_rejects,
            }
        ]
        + [
            {
                **{k: v for k, v in st.describe().items() if k not in ("matches", "prompt")},
                **st.stats.as_dict(),
            }
            for st in stages
        ],
    }
    for st in stages:  # sections a stage adds (decontamination's benchmarks and matches)
        manifest.update(st.report())
    manifest["cache"] = {
        "path": str(Path(cache.path).resolve()),
        "hits": cache.hits,
        "misses": cache.misses,
        "engine_requests": {role: m.calls for role, m in models.items()},
    }
    from ovlt_eval.redact import redact  # the card as its `${VAR}` template, URLs masked

    return redact(manifest)


def _write_version(
    staging: Path, final: Path, manifest: dict[str, Any], stats: dict, cache, t0: float
) -> None:
    """Dataset card, figures and manifest into staging, then staging renamed into place."""
    from ovlt_data.datacard import figure_label, plot_figures, write_readme

    t_card = time.time()
    manifest["figures"] = plot_figures(staging, stats, cache, label=figure_label(manifest))
    write_readme(staging, {**manifest, "stats": stats})
    manifest["timing_seconds"]["dataset_card"] = round(time.time() - t_card, 2)
    manifest["build_seconds"] = round(time.time() - t0, 2)
    write_json_atomic(staging / "manifest.json", manifest, indent=1)
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)


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
