"""What a warm rebuild reuses instead of recomputing: drawn source items, the benchmark index,
the dataset-card figures, and the parquet writer's own Arrow layout. Each reuse must give the
same bytes as the computation it replaces."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest

from ovlt_data import datacard, image_match
from ovlt_data.arrow_rows import table as arrow_table
from ovlt_data.artifact import arrow_schema, iter_config, read_manifest
from ovlt_data.bench_index import BenchIndex, BenchmarkRef
from ovlt_data.build import build
from ovlt_data.cache import CallCache
from ovlt_data.schema import Row
from ovlt_data.sources import SourceContext, get_source_kind, synthetic

from .helpers import SHARED, demo_card


def _open_synthetic(ctx, n=40, seed=5):
    k = get_source_kind("synthetic")
    return list(k.open("s", k.validate_options({"n": n, "seed": seed}, "test"), ctx))


def test_synthetic_items_come_back_from_the_cache_identical(tmp_path, monkeypatch):
    plain = _open_synthetic(SourceContext(20_000_000, Path(".")))
    ctx = SourceContext(20_000_000, Path("."), tmp_path / "cache.sqlite")
    first = _open_synthetic(ctx)
    assert first == plain  # caching changes nothing the rows carry
    assert [x.provenance for x in first] == [x.provenance for x in plain]
    assert CallCache(ctx.cache_path).db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 40

    def no_drawing(*a, **k):
        raise AssertionError("a cached item was drawn again")

    monkeypatch.setattr(synthetic, "_draw", no_drawing)
    again = _open_synthetic(ctx)
    assert again == plain and [x.images[0].data for x in again] == [x.images[0].data for x in plain]
    with pytest.raises(AssertionError, match="drawn again"):  # another seed is not in the cache
        _open_synthetic(ctx, seed=6)


@pytest.mark.skipif(
    not (SHARED / "benchmarks" / "mathvision").is_dir(), reason="../shared benchmarks missing"
)
def test_benchmark_index_part_is_cached_by_content(tmp_path, monkeypatch):
    ref = BenchmarkRef(
        name="mathvision", split="testmini", data=str(SHARED / "benchmarks" / "mathvision")
    )
    cache = CallCache(tmp_path / "cache.sqlite")
    fresh = BenchIndex(cache)
    n = fresh.add_benchmark(ref)
    monkeypatch.setattr(
        BenchIndex, "_benchmark_part", lambda self, ref: pytest.fail("benchmark parsed again")
    )
    warm = BenchIndex(cache)
    assert warm.add_benchmark(ref) == n > 0
    assert warm.entries == fresh.entries and warm.prints == fresh.prints
    assert warm.print_entries == fresh.print_entries and len(warm.prints) > 0
    assert dict(warm.by_shingle) == dict(fresh.by_shingle) and dict(warm.by_text) == dict(
        fresh.by_text
    )


def test_figures_are_drawn_once_per_content(tmp_path, monkeypatch):
    cache = CallCache(tmp_path / "cache.sqlite")
    stats = {"sft_lengths": {12: 3, 40: 1, 300: 2}, "pass_rate_by_source": {"a": 0.5, "b": 0.25}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    names = datacard.plot_figures(tmp_path / "a", stats, cache)
    assert names == ["figures/reasoning_length.png", "figures/pass_rate_by_source.png"]
    monkeypatch.setattr(datacard, "_draw", lambda *a: pytest.fail("figure drawn again"))
    assert datacard.plot_figures(tmp_path / "b", stats, cache) == names
    for name in names:
        png = (tmp_path / "a" / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 1000
        assert (tmp_path / "b" / name).read_bytes() == png
    drawn = []
    monkeypatch.setattr(datacard, "_draw", lambda name, spec: drawn.append(name) or b"png")
    datacard.plot_figures(tmp_path / "b", {**stats, "pass_rate_by_source": {"a": 1.0}}, cache)
    assert drawn == ["pass_rate_by_source"]  # other content, other figure; the histogram is reused


def test_arrow_layout_equals_from_pylist():
    schema = arrow_schema()
    base = {name: None for name in schema.names}
    rows = [
        {
            **base,
            "id": "a:1",
            "order": 3,
            "images": [{"bytes": b"\x89PNG..", "path": "ab.png"}, {"bytes": b"", "path": "c.png"}],
            "question": "héllo\n",
            "choices": ["1", "", "ü"],
            "samples": ["x" * 300, "y"],
            "sample_correct": [True, False, True],
            "pass_rate": 0.5,
        },
        {**base, "id": "b", "order": 4, "images": [], "choices": [], "pass_rate": float("nan")},
        {**base, "id": "", "order": -1, "images": [], "sample_correct": [False] * 9},
    ]
    mine, ref = arrow_table(rows, schema), pa.Table.from_pylist(rows, schema=schema)
    mine.validate(full=True)
    assert mine.schema == ref.schema and mine.schema.metadata == ref.schema.metadata
    for name in schema.names:
        if name != "pass_rate":  # NaN != NaN
            assert mine[name].equals(ref[name]), name
    got = mine.to_pylist()
    assert got[0] == rows[0] and math.isnan(got[1]["pass_rate"]) and got[2] == rows[2]


def test_row_evolve_checks_field_names():
    from ovlt_data.sources.synthetic import synthetic_example

    r = Row(synthetic_example("s", 0, 0, ["counting"], 0.0), "sft")
    r2 = r.evolve(caption="c", pass_rate=0.5)
    assert (r2.caption, r2.pass_rate, r.caption) == ("c", 0.5, None) and r2.example is r.example
    with pytest.raises(TypeError, match="captoin"):
        r.evolve(captoin="c")


def test_warm_rebuild_reuses_everything_and_keeps_the_fingerprint(loopback, tmp_path, monkeypatch):
    card = demo_card(loopback, sft=10, grpo=6, decontaminate=True)
    cold = read_manifest(build(card, out=tmp_path))
    monkeypatch.setattr(synthetic, "_draw", lambda *a: pytest.fail("item drawn again"))
    monkeypatch.setattr(datacard, "_draw", lambda *a: pytest.fail("figure drawn again"))
    monkeypatch.setattr(BenchIndex, "_benchmark_part", lambda *a: pytest.fail("bench re-indexed"))
    # issue 19 item 7: nor a training image fingerprinted, nor the image index built and searched
    monkeypatch.setattr(image_match, "row_print", lambda *a: pytest.fail("image printed again"))
    monkeypatch.setattr(
        image_match.ImageIndex, "__init__", lambda *a, **k: pytest.fail("image index rebuilt")
    )
    d = build(card, out=tmp_path, force=True)
    warm = read_manifest(d)
    assert warm["fingerprint"] == cold["fingerprint"] and warm["cache"]["misses"] == 0
    assert warm["stats"] == cold["stats"] and warm["decontamination"] == cold["decontamination"]
    assert len(list(iter_config(d, "rejected", ["id"]))) == cold["stats"]["counts"]["rejected"]


def test_an_old_caches_phash_table_becomes_image_prints(tmp_path):
    """Issue 19 item 9: the table is named for what it holds; a cache written before keeps its
    fingerprints (a warm rebuild stays warm) and loses the old table."""
    import sqlite3

    path = tmp_path / "old.sqlite"
    prints = {f"print16:{i:064x}": bytes([i]) * 200 + bytes(56) for i in range(3)}
    prints["print16:" + "f" * 64] = bytes(255) + b"\x07"  # leading zero bytes survive
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE phash (sha256 TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.executemany(
        "INSERT INTO phash VALUES (?, ?)",
        [(k, f"{int.from_bytes(v, 'big'):016x}") for k, v in prints.items()]
        + [("a" * 64, "8f00ff00ff00ff00"), ("print16:bad", "not-hex")],  # a real pHash; damage
    )
    db.commit()
    db.close()
    cache = CallCache(path)
    assert cache.image_prints_get(list(prints)) == prints
    tables = {r[0] for r in cache.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "phash" not in tables and "image_prints" in tables
    cache.db.close()
    assert CallCache(path).image_prints_get(list(prints)) == prints  # idempotent
