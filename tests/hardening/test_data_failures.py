"""Issue 10 items 6 and 7, the data side: a build whose model requests failed is not reported as
built; a truncated parquet or a corrupt manifest is one line (exit 2), never normal stats or a
traceback, in `ovlt-data inspect/diff/export/merge` and `ovlt-train sft --data`."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ovlt_data.cli import main as data_cli
from ovlt_eval.testing.openai_server import OpenAIServer
from tests.ovlt_data.helpers import demo_card


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _card(tmp_path, url) -> Path:
    # no retries: a failed request fails at once (the retry budget is not what is tested here)
    card = demo_card(url, sft=4, grpo=3, options={"base_urls": [url], "max_retries": 0})
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def _build(card, out, *extra):
    return data_cli(["build", "--card", str(card), "--out", str(out), "--no-progress", *extra])


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "demo").iterdir() if p.name != ".v1.lock")


# ----- item 6: a build whose model requests failed -----


def test_a_build_whose_every_request_failed_exits_2_and_a_rerun_retries(tmp_path, capsys):
    broken = {"on": True}
    with OpenAIServer(
        replies="teacher", model="loopback", fail=lambda text: 500 if broken["on"] else None
    ) as srv:
        card, out = _card(tmp_path, srv.base_url), tmp_path / "out"
        assert _build(card, out) == 2
        err = _one_line(capsys)
        assert "all 7 model requests failed" in err and "HTTP 500" in err, err
        assert "stage caption, model captioner" in err, err
        assert _leftovers(out) == []  # nothing installed, no staging left
        broken["on"] = False  # the server is fixed: the failures were not cached
        assert _build(card, out) == 0
        assert (out / "demo" / "v1" / "manifest.json").is_file()
        assert "model requests failed" not in capsys.readouterr().out


def test_a_build_above_the_error_rate_says_so_and_a_rerun_retries_only_those(tmp_path, capsys):
    left = {"n": 3}

    def first_three_fail(text):
        left["n"] -= 1
        return 500 if left["n"] >= 0 else None

    with OpenAIServer(replies="teacher", model="loopback", fail=first_three_fail) as srv:
        card, out = _card(tmp_path, srv.base_url), tmp_path / "out"
        assert _build(card, out) == 2
        err = _one_line(capsys)
        assert "3 of " in err and "> --max-error-rate 0.1" in err, err
        assert "--max-error-rate 1" in err and "HTTP 500" in err, err
        assert _leftovers(out) == []
        first = srv.stats.requests
        assert _build(card, out) == 0
    # the first run's successes are replayed; the 3 failed (and what their rows go on to ask)
    # are sent again
    assert f"{first - 3} reused from the cache" in capsys.readouterr().out


def test_max_error_rate_1_accepts_failures_and_the_summary_counts_them(tmp_path, capsys):
    with OpenAIServer(replies="teacher", model="loopback", fail=lambda text: 500) as srv:
        card, out = _card(tmp_path, srv.base_url), tmp_path / "out"
        assert _build(card, out, "--max-error-rate", "1") == 0
    assert "model requests failed: 7" in capsys.readouterr().out


@pytest.mark.parametrize("rate", ["-0.5", "1.5"])
def test_max_error_rate_outside_0_1_is_refused(tmp_path, capsys, rate):
    card = _card(tmp_path, "http://127.0.0.1:9/v1")
    assert _build(card, tmp_path / "out", "--max-error-rate", rate) == 2
    assert "--max-error-rate" in _one_line(capsys)


# ----- item 6/7: a damaged version in inspect / diff / export / merge -----


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    root = tmp_path_factory.mktemp("built")
    with OpenAIServer(replies="teacher", model="loopback") as srv:
        assert _build(_card(root, srv.base_url), root / "out") == 0
    return root / "out" / "demo" / "v1"


def _commands(d: Path, good: Path, tmp: Path) -> dict[str, list[str]]:
    return {
        "inspect": ["inspect", str(d)],
        "inspect --json": ["inspect", str(d), "--json"],
        "diff": ["diff", str(good), str(d)],
        "export": ["export", str(d), "--format", "trl-sft", "--out", str(tmp / "export")],
        "merge": ["merge", str(d), str(d), "--out", str(tmp / "merged")],
    }


def _check_all_refuse(d, version, tmp_path, capsys, needle):
    for name, argv in _commands(d, version, tmp_path).items():
        assert data_cli(argv) == 2, name
        err = _one_line(capsys)
        assert needle in err, (name, err)
        assert capsys.readouterr().out == "", name  # no stats printed
    assert not (tmp_path / "merged").exists() and not (tmp_path / "export").exists()


def test_a_truncated_parquet_is_reported_not_summarised(version, tmp_path, capsys):
    d = tmp_path / "v1"
    shutil.copytree(version, d)
    part = d / "data" / "sft" / "train-00000.parquet"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])  # a download cut short
    _check_all_refuse(d, version, tmp_path, capsys, "corrupt or truncated parquet")


def test_rows_missing_against_the_manifest_are_reported(version, tmp_path, capsys):
    d = tmp_path / "v1"
    shutil.copytree(version, d)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["stats"]["counts"]["rejected"] > 0
    for p in (d / "data" / "rejected").glob("*.parquet"):
        p.unlink()
    assert data_cli(["inspect", str(d)]) == 2
    err = _one_line(capsys)
    assert "data/rejected holds 0 rows, the manifest says" in err, err


MANIFESTS = {
    "not JSON": (lambda m: "hello", "not JSON"),
    "truncated": (lambda m: json.dumps(m)[:200], "not JSON"),
    "a list": (lambda m: "[1, 2]", "a JSON list"),
    "a string": (lambda m: '"v1"', "a JSON str"),
    "no stats": (lambda m: json.dumps({k: v for k, v in m.items() if k != "stats"}), "stats"),
    "stages a string": (lambda m: json.dumps({**m, "stages": "x"}), "field stages"),
    "counts as text": (
        lambda m: json.dumps({**m, "stats": {**m["stats"], "counts": {"sft": "7"}}}),
        "field stats.counts.sft",
    ),
    "models a list": (lambda m: json.dumps({**m, "models": ["a"]}), "field models"),
    "not UTF-8": (lambda m: b'{"name": "\xff"}', "not JSON"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_a_corrupt_manifest_is_one_line(version, tmp_path, capsys, case):
    make, needle = MANIFESTS[case]
    d = tmp_path / "v1"
    shutil.copytree(version, d)
    text = make(json.loads((d / "manifest.json").read_text()))
    path = d / "manifest.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    _check_all_refuse(d, version, tmp_path, capsys, needle)


def test_the_intact_version_still_inspects(version, capsys):
    assert data_cli(["inspect", str(version)]) == 0
    assert "fingerprint" in capsys.readouterr().out


# ----- item 7: `ovlt-train sft --data` with a torn or truncated file -----

ROW = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


def _sft(data, model, tmp_path):
    from ovlt_train.cli import main as train_cli

    argv = ["sft", "--data", str(data), "--model", str(model), "--no-progress"]
    return train_cli([*argv, "--out", str(tmp_path / "ckpt")])


def _lines(n=5) -> bytes:
    return "".join(json.dumps(ROW) + "\n" for _ in range(n)).encode()


TRAIN_FILES = {
    "torn last line": (
        "d.jsonl",
        _lines() + json.dumps(ROW)[:20].encode(),
        "line 6: not valid JSON",
    ),
    "non-UTF-8 line": (
        "d.jsonl",
        _lines(2) + b'{"messages": "\xff"}\n' + _lines(2),
        "line 3: not UTF-8",
    ),
    "corrupt middle line": ("d.jsonl", _lines(2) + b'{"messages": [\n' + _lines(2), "line 3"),
    "a list line": ("d.jsonl", _lines(2) + b"[1, 2]\n", "line 3: a JSON list"),
}


@pytest.mark.parametrize("case", list(TRAIN_FILES))
def test_sft_with_a_torn_jsonl_is_one_line(tiny_model_dir, tmp_path, capsys, case):
    name, data, needle = TRAIN_FILES[case]
    path = tmp_path / name
    path.write_bytes(data)
    assert _sft(path, tiny_model_dir, tmp_path) == 2
    err = _one_line(capsys)
    assert str(path) in err and needle in err, err
    assert not (tmp_path / "ckpt").exists()


def test_sft_with_a_truncated_parquet_is_one_line(tiny_model_dir, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([ROW] * 50), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert _sft(path, tiny_model_dir, tmp_path) == 2
    assert "corrupt or truncated parquet" in _one_line(capsys)


@pytest.mark.parametrize("damage", ["truncated parquet", "manifest a list"])
def test_sft_on_a_damaged_version_folder_is_one_line(
    version, tiny_model_dir, tmp_path, capsys, damage
):
    d = tmp_path / "v1"
    shutil.copytree(version, d)
    if damage == "truncated parquet":
        part = d / "data" / "sft" / "train-00000.parquet"
        part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    else:
        (d / "manifest.json").write_text("[]")
    assert _sft(d, tiny_model_dir, tmp_path) == 2
    err = _one_line(capsys)
    assert "corrupt or truncated parquet" in err or "a JSON list" in err, err


def test_building_over_a_version_with_a_corrupt_manifest_is_one_line(tmp_path, capsys):
    """Without --force a build reads the existing version's manifest to see whether it was made
    from this card; a corrupt one is one line naming it, not a JSONDecodeError traceback."""
    with OpenAIServer(replies="teacher", model="loopback") as srv:
        card, out = _card(tmp_path, srv.base_url), tmp_path / "out"
        assert _build(card, out) == 0
        capsys.readouterr()
        (out / "demo" / "v1" / "manifest.json").write_text("{not json")
        assert _build(card, out) == 2
    err = _one_line(capsys)
    assert "manifest.json: not a valid manifest" in err, err
