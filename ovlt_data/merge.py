"""`ovlt-data merge`: join the shards of one card (`build --shard i/n`) into one version.

Rows are merged by their stream position (`order`), so the merged version has the same rows in
the same order — and the same fingerprint — as a build without shards.
"""

from __future__ import annotations

import heapq
import shutil
from collections import Counter
from pathlib import Path

from ovlt_data.artifact import VersionWriter, check_data, iter_config, read_manifest
from ovlt_data.paths import inside, plain_name
from ovlt_data.schema import CONFIGS
from ovlt_eval.atomic import write_json_atomic
from ovlt_eval.errors import UserError


def _shard_of(d: Path, m: dict) -> tuple[int, int]:
    """(i, n) of a shard's manifest field `shard` ("i/n"), or one UserError line."""
    try:
        i, n = (int(x) for x in str(m["shard"]).split("/"))
    except ValueError:
        raise UserError(f"{d}: manifest field shard {m['shard']!r}: expected I/N") from None
    return i, n


def merge(shard_dirs, out=None, force: bool = False) -> Path:
    dirs = [Path(d) for d in shard_dirs]
    mans = [read_manifest(d) for d in dirs]
    for d, m in zip(dirs, mans, strict=True):
        check_data(d, m)  # a truncated shard: refused before the merge writes anything
    first = mans[0]
    for d, m in zip(dirs, mans, strict=True):
        if m["card_sha256"] != first["card_sha256"] or m.get("limit") != first.get("limit"):
            raise UserError(f"{d}: built from another card (or --limit) than {dirs[0]}")
        if not m.get("shard"):
            raise UserError(f"{d}: not a shard (built without --shard)")
    shards = sorted(_shard_of(d, m) for d, m in zip(dirs, mans, strict=True))
    n = shards[0][1]
    if shards != [(i, n) for i in range(n)]:
        raise UserError(
            f"need shards 0..{n - 1} of {n} exactly once; got {', '.join(f'{i}/{k}' for i, k in shards)}"
        )
    if out:
        final = Path(out)
    else:  # the manifest's version is a string from a file, not a path: one plain name below
        version = plain_name(first.get("version"), f"{dirs[0]}: manifest field version")
        final = inside(dirs[0].parent, version, what=f"{dirs[0]}: manifest field version")
    here = final.resolve()
    for d in dirs:  # --force replaces `final`: a shard in it, or it in a shard, would be lost
        there = d.resolve()
        if here == there or here.is_relative_to(there) or there.is_relative_to(here):
            raise UserError(f"--out {final}: overlaps the shard folder {d}; choose another")
    if final.exists() and not force:
        raise UserError(f"{final} exists; use --force")
    if final.exists() and not (final.is_dir() and (final / "manifest.json").is_file()):
        raise UserError(f"{final} exists and is not a built version; --force replaces only one")
    staging = final.parent / f".{final.name}.merge-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        return _write_merged(dirs, mans, staging, final)
    except BaseException:  # a full disk, Ctrl-C: no stray staging folder
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_merged(dirs: list[Path], mans: list[dict], staging: Path, final: Path) -> Path:
    first = mans[0]
    writer = VersionWriter(staging)
    for config in CONFIGS:
        streams = [iter_config(d, config) for d in dirs]
        for rec in heapq.merge(*streams, key=lambda r: r["order"]):
            writer.add(config, rec)
    fingerprint = writer.close()
    stages = []
    for i, st in enumerate(first["stages"]):
        drops: Counter = Counter()
        for m in mans:
            drops.update(m["stages"][i]["dropped"])
        stages.append(
            {
                **st,
                "in": sum(m["stages"][i]["in"] for m in mans),
                "out": sum(m["stages"][i]["out"] for m in mans),
                "dropped": dict(sorted(drops.items())),
            }
        )
    stats = writer.stats.as_dict()
    matches = [x for m in mans for x in m.get("decontamination", {}).get("matches", [])]
    manifest = {
        **first,
        "shard": None,
        "merged_from": [str(d) for d in dirs],
        "stages": stages,
        "decontamination": {**first.get("decontamination", {}), "matches": matches},
        "stats": {k: v for k, v in stats.items() if k != "sft_lengths"},
        "fingerprint": fingerprint,
        "cache": {
            "hits": sum(m["cache"]["hits"] for m in mans),
            "misses": sum(m["cache"]["misses"] for m in mans),
        },
    }
    from ovlt_data.datacard import figure_label, plot_figures, write_readme

    manifest["figures"] = plot_figures(staging, stats, label=figure_label(manifest))
    write_json_atomic(staging / "manifest.json", manifest, indent=1)
    write_readme(staging, {**manifest, "stats": stats})
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return final
