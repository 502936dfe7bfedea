"""`ovlt-eval compare` over real run directories (made by `ovlt-eval run` against a loopback server)."""

from __future__ import annotations

import json

import pytest

from ovlt_eval.cli import main
from tests.ovlt_eval.runs.fake_openai import FakeOpenAI
from tests.ovlt_eval.runs.scripted import MATHVISION_TESTMINI, Script

pytestmark = pytest.mark.skipif(
    not MATHVISION_TESTMINI.exists(), reason="../shared benchmarks missing"
)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from ovlt_eval.benchmarks import get_benchmark

    items = get_benchmark("mathvision").load("testmini", str(MATHVISION_TESTMINI))
    root = tmp_path_factory.mktemp("compare")
    always_right = lambda prompt: f"<answer>{Script(items).item_for(prompt)[1].gold}</answer>"  # noqa: E731
    for name, responder in (("scripted", Script(items)), ("oracle", always_right)):
        with FakeOpenAI(responder, model=f"model-{name}") as server:
            argv = [
                "run", "--bench", "mathvision", "--data", str(MATHVISION_TESTMINI), "--limit", "12",
                "--engine", "openai", "--base-url", server.base_url, "--model", f"model-{name}",
                "--out", str(root / name), "--no-progress",
            ]  # fmt: skip
            assert main(argv) == 0
    return root


def test_compare_prints_one_table_with_breakdowns(two_runs, capsys):
    rc = main(["compare", str(two_runs / "scripted"), str(two_runs / "oracle")])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("| run |"))
    assert "accuracy" in header and "no-answer %" in header
    scripted = next(line for line in lines if line.startswith(f"| {two_runs / 'scripted'} |"))
    oracle = next(line for line in lines if line.startswith(f"| {two_runs / 'oracle'} |"))
    acc_col = header.split("|").index(" accuracy ")
    assert scripted.split("|")[acc_col].strip() == "33.33"
    assert oracle.split("|")[acc_col].strip() == "100.00"
    assert "model-oracle" in oracle
    summary = json.loads((two_runs / "scripted" / "summary.json").read_text())
    for key in summary["breakdown"]:
        assert f"### mathvision-testmini by {key}" in out


def test_compare_html_embeds_plots(two_runs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    html_path = tmp_path / "report.html"
    assert (
        main(
            [
                "compare",
                str(two_runs / "scripted"),
                str(two_runs / "oracle"),
                "--html",
                str(html_path),
            ]
        )
        == 0
    )
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") >= 2  # accuracy by category + lengths
    assert "response length" in html and "<table>" in html


def test_compare_parent_directory_and_missing_dir(two_runs, capsys):
    assert main(["compare", str(two_runs)]) == 0
    out = capsys.readouterr().out
    assert "scripted" in out and "oracle" in out
    assert main(["compare", str(two_runs / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err
