"""`ovlt-eval compare` over real run directories (made by `ovlt-eval run` against a loopback server)."""

from __future__ import annotations

import json

import pytest

from ovlt_eval.cli import main
from ovlt_eval.testing.openai_server import OpenAIServer
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
        with OpenAIServer(replies=responder, model=f"model-{name}") as server:
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


def test_compare_html_says_what_is_compared_and_draws_zero_bars(two_runs, tmp_path):
    """The report has a title naming the benchmark, a sentence saying which models and how many
    items, and every bar carries its value and n, so a 0 % category is visible."""
    pytest.importorskip("matplotlib")
    from ovlt_eval.runs.report import find_runs, what_is_compared

    html_path = tmp_path / "report.html"
    argv = [
        "compare",
        str(two_runs / "scripted"),
        str(two_runs / "oracle"),
        "--html",
        str(html_path),
    ]
    assert main(argv) == 0
    html = html_path.read_text()
    assert "<title>ovlt-eval compare: mathvision-testmini</title>" in html
    assert "<h1>ovlt-eval compare: mathvision-testmini</h1>" in html
    assert "2 runs of 2 models (model-scripted, model-oracle)" in html
    assert "n=12" in html

    # A category the scripted model gets entirely wrong has a 0 % bar; its label is drawn.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ovlt_eval.runs import report

    runs = find_runs([str(two_runs / "scripted"), str(two_runs / "oracle")])
    zero = [
        (key, v)
        for key, cells in runs[0].summary["breakdown"].items()
        for v, cell in cells.items()
        if cell["accuracy"] == 0
    ]
    assert zero, "the scripted run should have a 0 % category for this test to mean anything"
    labels: list[str] = []
    real_close = plt.close

    def keep_labels(fig):
        labels.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        real_close(fig)

    plt.close = keep_labels
    try:
        report._plots(runs)
    finally:
        plt.close = real_close
    assert any(label.startswith("0\nn=") for label in labels)
    assert what_is_compared(runs)[0].startswith("2 runs of 2 models")


def test_compare_parent_directory_and_missing_dir(two_runs, capsys):
    assert main(["compare", str(two_runs)]) == 0
    out = capsys.readouterr().out
    assert "scripted" in out and "oracle" in out
    assert main(["compare", str(two_runs / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_compare_shows_all_three_protocols_and_a_dash_for_old_runs(two_runs, tmp_path, capsys):
    import shutil

    old = tmp_path / "old-run"  # a run scored before the reference protocol existed
    shutil.copytree(two_runs / "scripted", old)
    summary = json.loads((old / "summary.json").read_text())
    del summary["accuracy_reference"]
    (old / "summary.json").write_text(json.dumps(summary))

    assert main(["compare", str(two_runs / "oracle"), str(old)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("| run |"))
    cols = [c.strip() for c in header.split("|")]
    assert {"protocol", "reference", "official", "corrected"} <= set(cols)
    oracle = [
        c.strip()
        for c in next(li for li in lines if li.startswith("|") and "model-oracle" in li).split("|")
    ]
    fresh = json.loads((two_runs / "oracle" / "summary.json").read_text())
    for key in ("reference", "official", "corrected"):
        assert oracle[cols.index(key)] == f"{fresh[f'accuracy_{key}']:.2f}"
    stale = [
        c.strip()
        for c in next(li for li in lines if li.startswith("|") and str(old) in li).split("|")
    ]
    assert stale[cols.index("reference")] == "—"
    assert stale[cols.index("official")] == f"{summary['accuracy_official']:.2f}"
    assert "warning" not in "\n".join(lines)  # both served: no dtype/batch known, nothing to warn


def test_compare_warns_when_runs_differ_in_batch_size_or_dtype(tiny_model_dir, tmp_path, capsys):
    from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS

    def run(name, *extra):
        argv = [
            "run", "--bench", "mathvision", "--data", str(MATHVISION_TESTMINI), "--limit", "2",
            "--engine", "hf", "--model", str(tiny_model_dir), "--max-tokens", "2",
            "--max-pixels", str(IMAGE_MAX_PIXELS), "--out", str(tmp_path / name), "--no-progress",
            *extra,
        ]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err

    run("batched", "--batch-size", "2")
    run("repro", "--reproducible")
    run("batched-again", "--batch-size", "2")
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "batched"), str(tmp_path / "repro")]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if "warning" in line]
    assert any("batch_size" in w and ": 2" in w and ": 1" in w for w in warnings), out
    assert any("reproducible" in w for w in warnings)
    assert not any("dtype" in w for w in warnings)  # both float32 on the CPU
    html_path = tmp_path / "r.html"
    pytest.importorskip("matplotlib")
    main(["compare", str(tmp_path / "batched"), str(tmp_path / "repro"), "--html", str(html_path)])
    assert "class='warning'" in html_path.read_text() and "batch_size" in html_path.read_text()
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "batched"), str(tmp_path / "batched-again")]) == 0
    assert "warning" not in capsys.readouterr().out


def test_compare_finds_run_directories_at_any_depth(two_runs, tmp_path, capsys):
    # A loop's work dir holds its evaluations at round*/eval-*/ (issue 11: "compare finds
    # summaries at any depth"); hidden folders and symlinks are not followed.
    import shutil

    work = tmp_path / "loop"
    shutil.copytree(two_runs / "scripted", work / "round0" / "eval-base")
    shutil.copytree(two_runs / "oracle", work / "round1" / "eval-grpo")
    shutil.copytree(two_runs / "oracle", work / ".hidden" / "eval-x")
    (work / "link").symlink_to(two_runs / "oracle", target_is_directory=True)
    assert main(["compare", str(work)]) == 0
    out = capsys.readouterr().out
    assert "loop/round0/eval-base" in out and "loop/round1/eval-grpo" in out
    assert ".hidden" not in out and "loop/link" not in out


def test_a_run_resumed_with_another_batch_size_says_so(tiny_model_dir, tmp_path, capsys):
    """The batch size is not part of a run's identity, but it changes bf16 outputs: a resume
    with another one warns, the card records "mixed", and compare warns against a clean run."""
    from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS

    def run(name, batch):
        argv = [
            "run", "--bench", "mathvision", "--data", str(MATHVISION_TESTMINI), "--limit", "2",
            "--engine", "hf", "--model", str(tiny_model_dir), "--max-tokens", "2",
            "--max-pixels", str(IMAGE_MAX_PIXELS), "--out", str(tmp_path / name), "--no-progress",
            "--batch-size", str(batch),
        ]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        return capsys.readouterr().err

    run("clean", 2)
    run("resumed", 2)

    def fail_first(name):  # a failed item: the resume generates it again
        samples = tmp_path / name / "samples.jsonl"
        lines = samples.read_text().splitlines()
        first = json.loads(lines[0])
        first["status"] = "error"
        samples.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")

    fail_first("resumed")
    err = run("resumed", 1)
    assert "resuming with batch size 1, earlier sessions used 2" in err, err
    card = json.loads((tmp_path / "resumed" / "eval_card.json").read_text())
    assert card["generation"]["batch_size"] == "mixed: 1, 2"
    assert main(["compare", str(tmp_path / "clean"), str(tmp_path / "resumed")]) == 0
    out = capsys.readouterr().out
    assert any("batch_size" in line and "mixed: 1, 2" in line for line in out.splitlines()), out
    # a resume with the same batch size says nothing, and the card keeps one value
    fail_first("clean")
    err = run("clean", 2)
    assert "resuming" in err and "batch size" not in err, err
    assert (
        json.loads((tmp_path / "clean" / "eval_card.json").read_text())["generation"]["batch_size"]
        == 2
    )
