"""Issue 10 item 6: a score never lands in a generation run's folder; two builds of one version
into one --out never both write it."""

import fcntl
import json
from pathlib import Path

import pytest

from ovlt_data.artifact import read_manifest
from ovlt_data.build import build
from ovlt_data.cli import main as data_cli
from ovlt_eval.cli import main as eval_cli
from ovlt_eval.testing.openai_server import serve
from tests.ovlt_data.helpers import demo_card

DEMO = Path(__file__).resolve().parents[2] / "ovlt_eval" / "demo_data"


def _score(out):
    return eval_cli(
        [
            "score",
            "--bench",
            "mathvision",
            "--split",
            "testmini",
            "--data",
            str(DEMO / "mathvision_sample"),
            "--predictions",
            str(DEMO / "mathvision_testmini_predictions.jsonl"),
            "--out",
            str(out),
        ]
    )


@pytest.mark.parametrize("marker", ["eval_card.json", ".lock"])
def test_score_refuses_a_generation_run_folder(tmp_path, capsys, marker):
    out = tmp_path / "run"
    out.mkdir()
    (out / marker).write_text("{}")
    samples = '{"id": "1", "response": "generated", "status": "ok"}\n'
    (out / "samples.jsonl").write_text(samples)
    assert _score(out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds an `ovlt-eval run`" in err, err
    assert (out / "samples.jsonl").read_text() == samples
    assert not (out / "summary.json").exists()


def test_score_still_rescores_its_own_folder(tmp_path):
    out = tmp_path / "scored"
    assert _score(out) == 0
    first = json.loads((out / "summary.json").read_text())
    assert _score(out) == 0  # a folder `score` wrote is no run: scoring again is fine
    assert json.loads((out / "summary.json").read_text())["n"] == first["n"]


@pytest.fixture(scope="module")
def loopback():
    server, url = serve()
    yield url
    server.shutdown()


def test_a_second_build_of_one_version_refuses_while_the_first_holds_it(loopback, tmp_path, capsys):
    import yaml

    out = tmp_path / "out"
    card = demo_card(loopback, sft=2, grpo=2)
    first = build(card, out=out)
    before = read_manifest(first)
    inode = (first / "manifest.json").stat().st_ino
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    argv = ["build", "--card", str(path), "--out", str(out), "--force", "--no-progress"]
    # another build of demo/v1 is running: it holds the version's lock (as a process would)
    with open(first.parent / ".v1.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert data_cli(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "another ovlt-data build is writing" in err, err
        assert (first / "manifest.json").stat().st_ino == inode  # the folder was not replaced
        assert [p.name for p in first.parent.iterdir() if ".tmp-" in p.name] == []
    # the lock ends with its holder: the same build then runs (and a shard is another folder)
    assert data_cli(argv) == 0
    assert read_manifest(first)["fingerprint"] == before["fingerprint"]
