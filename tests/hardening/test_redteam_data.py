"""Red-team of `ovlt-data` and `ovlt-train` inputs beyond issue 10's list: hostile rows in a
local source, odd cards and flags, a broken cache, exports and merges aimed at their own inputs,
bad `--data` rows and loop manifests. Each is one line (exit 2) or one rejected row, never a
traceback, a hang, a damaged version or a row built from another row's results."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from ovlt_data.cli import main as data_cli
from ovlt_train.cli import main as train_cli
from tests.ovlt_train.conftest import REPO

BENCH = {"name": "mathvision", "split": "testmini", "data": "ovlt_eval/demo_data/mathvision_sample"}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _card(tmp_path: Path, source: dict, **fields) -> Path:
    """A model-free card: one source, the decontaminate stage only."""
    card = {
        "name": "rt",
        "version": "v1",
        "round": 1,
        "sources": [{"name": "s", "pool": "sft", **source}],
        "stages": [{"stage": "decontaminate", "benchmarks": [BENCH]}],
        **fields,
    }
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def _build(card: Path, out: Path, *extra: str) -> int:
    return data_cli(["build", "--card", str(card), "--out", str(out), "--no-progress", *extra])


def _rows(version: Path, config: str) -> list[dict]:
    return [
        r
        for f in sorted((version / "data" / config).glob("*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _png(path: Path) -> str:
    from PIL import Image

    Image.new("RGB", (8, 8), "white").save(path)
    return path.name


# ----- local source rows -----


def test_jsonl_lines_that_are_not_objects_are_rejected_rows(tmp_path, capsys):
    img = _png(tmp_path / "a.png")
    _jsonl(
        tmp_path / "rows.jsonl",
        [{"question": "q?", "answer": "1", "image": img}, "5", "[1, 2]", '"s"', "null"],
    )
    card = _card(tmp_path, {"kind": "local", "path": "rows.jsonl"})
    assert _build(card, tmp_path / "out") == 0, capsys.readouterr().err  # was: TypeError
    v = tmp_path / "out" / "rt" / "v1"
    assert len(_rows(v, "sft")) == 1
    rejected = _rows(v, "rejected")
    assert [r["reject_reason"] for r in rejected] == ["bad_record"] * 4
    assert "not an object" in rejected[0]["reject_detail"]


def test_duplicate_ids_are_rejected_not_given_one_another_s_results(tmp_path, capsys):
    img = _png(tmp_path / "a.png")
    rows = [
        {"id": "a", "question": "first?", "answer": "1", "image": img},
        {"id": "a", "question": "second?", "answer": "2", "image": img},
        {"id": "b", "question": "third?", "answer": "3", "image": img},
    ]
    _jsonl(tmp_path / "rows.jsonl", rows)
    card = _card(tmp_path, {"kind": "local", "path": "rows.jsonl", "fields": {"id": "id"}})
    assert _build(card, tmp_path / "out") == 0, capsys.readouterr().err
    v = tmp_path / "out" / "rt" / "v1"
    assert [r["id"] for r in _rows(v, "sft")] == ["s:a", "s:b"]
    (dup,) = _rows(v, "rejected")
    assert dup["id"] == "s:a" and dup["reject_reason"] == "duplicate_id"


def test_non_finite_answers_huge_questions_and_huge_lines_are_rejected_rows(
    tmp_path, capsys, monkeypatch
):
    import ovlt_data.sources.local as local

    img = _png(tmp_path / "a.png")
    rows = [
        {"question": "q?", "answer": "1", "image": img},
        '{"question": "q?", "answer": NaN, "image": "a.png"}',
        '{"question": "q?", "answer": 1e400, "image": "a.png"}',
        {"question": "x" * 200_000, "answer": "1", "image": img},  # 200 kB: a question too long
        {"question": "y" * 8000, "answer": "1", "image": img, "pad": "z"},  # > the 4 kB line cap
        {"question": "q2?", "answer": "2", "image": img},
    ]
    monkeypatch.setattr(local, "MAX_LINE_BYTES", 300_000, raising=False)  # the 200 kB row fits
    _jsonl(tmp_path / "rows.jsonl", rows[:4] + rows[5:])
    card = _card(tmp_path, {"kind": "local", "path": "rows.jsonl"})
    assert _build(card, tmp_path / "out") == 0, capsys.readouterr().err
    v = tmp_path / "out" / "rt" / "v1"
    assert [r["question"] for r in _rows(v, "sft")] == ["q?", "q2?"]
    reasons = [r["reject_reason"] for r in _rows(v, "rejected")]
    assert reasons == ["bad_answer", "bad_answer", "question_too_long"]
    # a line over the cap is one rejected row, and reading goes on after it
    monkeypatch.setattr(local, "MAX_LINE_BYTES", 4096, raising=False)
    _jsonl(tmp_path / "rows.jsonl", [rows[0], rows[4], rows[5]])
    assert _build(card, tmp_path / "out2") == 0, capsys.readouterr().err
    v = tmp_path / "out2" / "rt" / "v1"
    assert [r["question"] for r in _rows(v, "sft")] == ["q?", "q2?"]
    (long,) = _rows(v, "rejected")
    assert long["reject_reason"] == "bad_record" and "longer than" in long["reject_detail"]


def test_a_local_source_that_is_a_fifo_is_one_line(tmp_path, capsys):
    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)

    def writer():  # before the fix the build read this; it must not open the pipe at all
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return
        os.write(fd, b'{"question": "q?", "answer": "1", "image": null}\n')
        os.close(fd)

    card = _card(tmp_path, {"kind": "local", "path": "rows.jsonl", "fields": {"images": None}})
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            writer()
            stop.wait(0.05)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        assert _build(card, tmp_path / "out") == 2
    finally:
        stop.set()
        t.join()
    assert "not a regular file" in _one_line(capsys)


# ----- cards and flags -----


@pytest.mark.parametrize(
    ("source", "fields", "extra", "expect"),
    [
        ({"kind": "synthetic", "n": 10**12}, {}, ["--dry-run"], "sources[0].n"),
        ({"kind": "synthetic", "n": 4}, {"batch_size": 10**21}, [], "field batch_size"),
        ({"kind": "synthetic", "n": 4, "limit": 10**20}, {}, [], "sources[0].limit"),
        ({"kind": "synthetic", "n": 4}, {}, ["--limit", str(10**20)], "--limit"),
        ({"kind": "synthetic", "n": 4}, {}, ["--dry-run", "--shard", "5/4"], "--shard"),
    ],
)
def test_absurd_sizes_and_shards_are_one_line(tmp_path, capsys, source, fields, extra, expect):
    # were: islice's ValueError traceback, a plan for 10^12 items (whose build never ends), and
    # a dry run that accepted a shard the build refuses
    card = _card(tmp_path, source, **fields)
    assert _build(card, tmp_path / "out", *extra) == 2
    assert expect in _one_line(capsys)


def test_a_binary_card_is_one_line(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    card.write_bytes(b"\x00\x01\x02")
    assert _build(card, tmp_path / "out") == 2
    assert "invalid YAML" in _one_line(capsys)


# ----- the cache -----


def test_a_corrupt_cache_or_a_folder_as_cache_is_one_line(tmp_path, capsys):
    card = _card(tmp_path, {"kind": "synthetic", "n": 4})
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(4096))
    assert _build(card, tmp_path / "out", "--cache", str(garbage)) == 2
    assert "not a readable SQLite cache" in _one_line(capsys)
    folder = tmp_path / "cachedir"
    folder.mkdir()
    assert _build(card, tmp_path / "out", "--cache", str(folder)) == 2
    assert "a folder, not a cache file" in _one_line(capsys)  # was: "Permission denied"


def test_a_cache_locked_by_another_process_is_one_line(tmp_path, capsys, monkeypatch):
    import ovlt_data.cache as cache

    monkeypatch.setattr(cache, "BUSY_TIMEOUT", 0.2, raising=False)
    card = _card(tmp_path, {"kind": "synthetic", "n": 4})
    path = tmp_path / "cache.sqlite"
    cache.CallCache(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another build in the middle of a write
    try:
        assert _build(card, tmp_path / "out", "--cache", str(path)) == 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "locked by another process" in _one_line(capsys)


# ----- export, diff, merge -----


@pytest.fixture(scope="module")
def version(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("version")
    card = _card(tmp, {"kind": "synthetic", "n": 6})
    assert _build(card, tmp / "out") == 0
    return tmp / "out" / "rt" / "v1"


def _tree(p: Path) -> dict[str, int]:
    return {str(f.relative_to(p)): f.stat().st_size for f in p.rglob("*") if f.is_file()}


@pytest.mark.parametrize("where", [".", "data/sft", "figures/sub"])
def test_export_into_the_version_folder_is_refused(version, capsys, where):
    before = _tree(version)
    out = version / where
    fmt = "llamafactory" if where == "data/sft" else "trl-sft"
    assert data_cli(["export", str(version), "--format", fmt, "--out", str(out)]) == 2
    assert "inside the version folder" in _one_line(capsys)
    assert _tree(version) == before  # was: an export file inside the version (or its data)


def test_export_to_a_file_is_one_line(version, tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("keep")
    assert data_cli(["export", str(version), "--format", "trl-sft", "--out", str(target)]) == 2
    assert "not a folder" in _one_line(capsys)  # was: FileExistsError traceback
    assert target.read_text() == "keep"


def test_diff_against_a_version_without_its_data_is_one_line(version, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "manifest.json").write_bytes((version / "manifest.json").read_bytes())
    assert data_cli(["diff", str(version), str(bare)]) == 2  # was: every row listed as removed
    assert "holds 0 rows, the manifest says" in _one_line(capsys)


@pytest.fixture
def shards(tmp_path) -> list[Path]:
    card = _card(tmp_path, {"kind": "synthetic", "n": 6})
    for i in range(2):
        assert _build(card, tmp_path / "out", "--shard", f"{i}/2") == 0
    return [tmp_path / "out" / "rt" / f"v1-shard-{i}-of-2" for i in range(2)]


@pytest.mark.parametrize("target", ["shard", "parent", "inside"])
def test_merge_never_writes_over_its_own_shards(shards, capsys, target):
    before = [_tree(s) for s in shards]
    out = {"shard": shards[0], "parent": shards[0].parent, "inside": shards[1] / "m"}[target]
    args = ["merge", *map(str, shards), "--out", str(out), "--force"]
    assert data_cli(args) == 2  # was: the shard (or, for the parent, both) replaced by the merge
    assert "overlaps the shard folder" in _one_line(capsys)
    assert [_tree(s) for s in shards] == before


def test_merge_force_replaces_only_a_version_folder(shards, tmp_path, capsys):
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert data_cli(["merge", *map(str, shards), "--out", str(other), "--force"]) == 2
    assert "not a built version" in _one_line(capsys)
    assert (other / "notes.txt").read_text() == "mine"
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert data_cli(["merge", *map(str, shards), "--out", str(afile), "--force"]) == 2
    assert "not a built version" in _one_line(capsys)  # was: NotADirectoryError traceback
    merged = tmp_path / "merged"
    assert data_cli(["merge", *map(str, shards), "--out", str(merged)]) == 0
    capsys.readouterr()
    assert data_cli(["merge", *map(str, shards), "--out", str(merged), "--force"]) == 0


# ----- ovlt-train -----


@pytest.mark.parametrize("cmd", ["sft", "grpo"])
@pytest.mark.parametrize("world", ["0", "-1"])
def test_print_config_refuses_a_world_size_below_1(cmd, world, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    # was: 0 silently became 1; -1 printed a config with negative gradient accumulation
    assert train_cli([cmd, "--print-config", "--world-size", world]) == 2
    assert "--world-size" in _one_line(capsys)


@pytest.mark.parametrize("env", ["abc", "0", "-2"])
def test_a_bad_world_size_environment_variable_is_one_line(env, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("WORLD_SIZE", env)
    assert train_cli(["sft", "--print-config"]) == 2  # was: ValueError / ZeroDivisionError
    assert "$WORLD_SIZE" in _one_line(capsys)


GOOD = [
    {"role": "user", "content": [{"type": "text", "text": "q"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
]


def test_sft_data_rows_that_are_not_conversations_are_dropped(tmp_path):
    from ovlt_train.data import load_training_data, parse_spec

    bad = [
        {"messages": [{"role": "user"}]},  # a turn without content (arrow fills None)
        {"messages": [{"content": "x", "role": None}]},
        {"messages": []},
    ]
    path = _jsonl(tmp_path / "rows.jsonl", [{"messages": GOOD}, *bad])
    ds = load_training_data(parse_spec(str(path)), "trl-sft")  # was: KeyError 'content'
    assert len(ds) == 1 and ds[0]["messages"][1]["role"] == "assistant"


def _sft(data, model, tmp_path) -> int:
    return train_cli(
        ["sft", "--data", str(data), "--model", str(model), "--out", str(tmp_path / "ck")]
    )


@pytest.mark.parametrize(
    "row",
    [{"messages": 5}, {"messages": "hi"}, {"messages": None}, {"messages": [1, 2]}],
)
def test_sft_data_where_every_row_is_malformed_is_one_line(tmp_path, capsys, row, tiny_model_dir):
    path = _jsonl(tmp_path / "rows.jsonl", [row])
    # was: accepted (a crash at the first batch), or a TypeError traceback
    assert _sft(path, tiny_model_dir, tmp_path) == 2
    assert "every row was malformed" in _one_line(capsys)


def test_sft_data_images_that_are_numbers_is_one_line(tmp_path, capsys, tiny_model_dir):
    path = _jsonl(tmp_path / "rows.jsonl", [{"messages": GOOD, "images": [5]}])
    assert _sft(path, tiny_model_dir, tmp_path) == 2  # was: ArrowNotImplementedError traceback
    assert "column images is not a list of image paths" in _one_line(capsys)


@pytest.mark.parametrize(
    "content",
    [
        b"[1, 2]",
        b'{"steps": [1]}',
        b'{"steps": {"r1.data": 5}}',
        b"\xff\xfe{",
        b'{"card_digest": null}',
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_loop_manifest_of_another_shape_is_one_line(tmp_path, capsys, content, dry_run):
    work = tmp_path / "work"
    work.mkdir()
    (work / "loop_manifest.json").write_bytes(content)
    args = ["loop", "--card", str(REPO / "ovlt_cards/loop_demo.yaml"), "--set", f"work_dir={work}"]
    assert train_cli(args + (["--dry-run"] if dry_run else [])) == 2  # was: AttributeError etc.
    err = _one_line(capsys)
    assert "not a loop manifest" in err or "unreadable manifest" in err, err
    assert (work / "loop_manifest.json").read_bytes() == content  # left for the user to move


def test_a_done_step_without_an_output_is_not_done(tmp_path, monkeypatch):
    from ovlt_train.manifest import Manifest, digest

    m = Manifest.open(tmp_path, name="x", card={}, card_digest=digest({}))
    m.data["steps"]["r1.data"] = {"status": "done"}  # no output: Path("") is the cwd, which exists
    m.data["steps"]["r1.sft"] = {"status": "done", "output": 5}
    monkeypatch.chdir(tmp_path)
    assert not m.is_done("r1.data") and not m.is_done("r1.sft")


def test_set_values_are_bounded_like_card_files(tmp_path, capsys):
    card = _card(tmp_path, {"kind": "synthetic", "n": 4})
    levels = ["&a [1,1,1,1,1,1,1,1,1]"] + [
        f"&{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdef", "bcdefg", strict=True)
    ]
    bomb = f"models.m.options.junk=[{', '.join(levels)}]"  # 9^7 values from one short line
    model = "models.m={engine: openai, model: x}"
    assert _build(card, tmp_path / "out", "--dry-run", "--set", model, "--set", bomb) == 2
    assert "YAML aliases expand it past" in _one_line(capsys)  # was: seconds and 170 MB per level
    deep = ".".join(["x"] * 3000) + "=1"
    assert _build(card, tmp_path / "out", "--dry-run", "--set", deep) == 2
    assert "dotted parts" in _one_line(capsys)  # was: RecursionError traceback


def test_merge_of_a_manifest_with_a_malformed_shard_field_is_one_line(shards, capsys):
    path = shards[1] / "manifest.json"
    m = json.loads(path.read_text())
    m["shard"] = "a/b"
    path.write_text(json.dumps(m))
    assert data_cli(["merge", *map(str, shards), "--out", str(shards[0].parent.parent / "m")]) == 2
    assert "manifest field shard 'a/b'" in _one_line(capsys)  # was: ValueError traceback


def test_a_sparse_json_source_is_refused_before_it_is_read(tmp_path, capsys):
    """A `.json` source is parsed whole; a 2 GB sparse file (all NUL) is refused by its size
    and first block instead of being read into memory."""
    rows = tmp_path / "rows.json"
    with open(rows, "wb") as fh:
        fh.truncate(2 << 30)  # no disk used
    card = _card(tmp_path, {"kind": "local", "path": "rows.json", "fields": {"images": None}})
    assert _build(card, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(rows) in err and "MiB" in err, err


def test_an_export_cut_short_leaves_no_parquet(tmp_path):
    """The export's parquet goes through the one atomic writer: a failure part-way (a corrupt
    row, Ctrl-C, a full disk) leaves neither a truncated file nor a temp file in --out."""
    import datasets

    from ovlt_data.export import BATCH, _write_parquet

    features = datasets.Features({"q": datasets.Value("string")})

    def rows():
        for i in range(BATCH + 5):  # one full batch is written before the failure
            yield {"q": str(i)}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _write_parquet(tmp_path / "sft.parquet", features, rows())
    assert list(tmp_path.iterdir()) == []
    assert _write_parquet(tmp_path / "sft.parquet", features, iter([{"q": "a"}])) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["sft.parquet"]
