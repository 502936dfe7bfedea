"""Issue 10 item 1: a card, a manifest or a row never turns into a write path outside --out."""

import json

import pytest

from ovlt_data.artifact import COLUMNS, VersionWriter
from ovlt_data.card import Card, load_card
from ovlt_data.cli import main as data_cli
from ovlt_data.export import export_dataset
from ovlt_data.planning import version_dir
from ovlt_eval.errors import UserError
from ovlt_eval.testing.openai_server import serve
from tests.ovlt_data.helpers import demo_card

BAD_NAMES = ["", ".", "..", "a/b", "../x", "a\\b"]


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("field", ["name", "version"])
@pytest.mark.parametrize("value", BAD_NAMES)
def test_card_name_and_version_are_plain_names(field, value):
    card = demo_card("http://127.0.0.1:9/v1")
    card[field] = value
    with pytest.raises(UserError) as err:
        load_card(card)
    assert f"field {field}:" in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def loopback():
    server, url = serve()  # a live server: before the fix, these builds ran and then deleted
    yield url
    server.shutdown()


def test_build_with_dotdot_and_force_deletes_nothing(loopback, tmp_path, capsys):
    import yaml

    out, sibling = tmp_path / "out", tmp_path / "keep"
    (out / "other").mkdir(parents=True)
    sibling.mkdir()
    (sibling / "precious.txt").write_text("x")
    (out / "cache.sqlite").write_text("x")
    before = _files(tmp_path)
    card = demo_card(loopback, sft=2, grpo=2)
    for name, version in ((".", "."), ("..", "keep"), ("demo", "..")):
        card.update(name=name, version=version)
        path = tmp_path / "card.yaml"
        path.write_text(yaml.safe_dump(card))
        argv = ["build", "--card", str(path), "--out", str(out), "--force", "--no-progress"]
        assert data_cli(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "field" in err, err
        path.unlink()
        assert _files(tmp_path) == before


def test_version_folder_is_checked_even_for_an_unvalidated_card(tmp_path):
    card = Card.model_construct(name="..", version="..")  # what validation would refuse
    with pytest.raises(UserError, match="outside"):
        version_dir(tmp_path / "out", card)


def _manifest(d, **fields):
    d.mkdir(parents=True, exist_ok=True)
    base = {"name": "demo", "version": "v1", "card_sha256": "x", "limit": None, "shard": None}
    # the rest of a manifest's shape (read_manifest checks it), with nothing in it
    base |= {"round": 1, "fingerprint": "x", "stats": {"counts": {}}, "stages": []}
    base |= {"cache": {"hits": 0, "misses": 0}}
    (d / "manifest.json").write_text(json.dumps({**base, **fields}))
    return d


def test_merge_refuses_a_manifest_version_that_escapes(tmp_path, capsys):
    root = tmp_path / "out" / "demo"
    shards = [
        _manifest(root / f"s{i}", version="../../sandbox/escape", shard=f"{i}/2") for i in (0, 1)
    ]
    assert data_cli(["merge", *map(str, shards)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "manifest field version" in err, err
    assert not (tmp_path / "sandbox").exists()
    assert _files(tmp_path) == [
        "out",
        "out/demo",
        *[f"out/demo/s{i}{f}" for i in (0, 1) for f in ("", "/manifest.json")],
    ]


def _version_with_image(d, image_path, **manifest):
    writer = VersionWriter(d)
    rec = {name: None for name, _ in COLUMNS}
    rec.update(
        id="r0",
        order=0,
        source="s",
        pool="sft",
        images=[{"bytes": b"EVIL", "path": image_path}],
        question="q",
        prompt="q",
        answer="1",
        response="<answer>1</answer>",
        provenance="{}",
    )
    writer.add("sft", rec)
    writer.close()
    return _manifest(d, **manifest)


def test_export_refuses_a_row_image_path_that_escapes(tmp_path, capsys):
    vd = _version_with_image(tmp_path / "v", "../../x/EVIL.txt")
    out = tmp_path / "deep" / "lf"
    (tmp_path / "deep" / "x").mkdir(parents=True)  # where ../../x/EVIL.txt would land
    argv = ["export", str(vd), "--format", "llamafactory", "--out", str(out)]
    assert data_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "row r0 image path" in err, err
    assert not list(tmp_path.rglob("EVIL.txt"))
    assert not list(out.glob("*.json")) and not list(out.glob(".*.tmp"))


def test_export_refuses_a_manifest_name_that_escapes(tmp_path, capsys):
    vd = _version_with_image(tmp_path / "v", "0123456789abcdef.png", name="../sandbox/escape")
    out = tmp_path / "lf"
    (tmp_path / "sandbox").mkdir()  # where ../sandbox/escape_v1_sft.json would land
    assert data_cli(["export", str(vd), "--format", "llamafactory", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "manifest name/version" in err, err
    assert list((tmp_path / "sandbox").iterdir()) == []


def test_export_of_plain_names_still_writes(tmp_path):
    vd = _version_with_image(tmp_path / "v", "0123456789abcdef.png")
    paths = export_dataset(vd, "llamafactory", tmp_path / "lf")
    assert [p.name for p in paths] == ["demo_v1_sft.json", "dataset_info.json"]
    assert (tmp_path / "lf" / "images" / "0123456789abcdef.png").read_bytes() == b"EVIL"
