import json
import subprocess
import sys
from pathlib import Path

import pytest

from ovlt_eval.cli import main

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
DEMO = REPO / "ovlt_eval/demo_data/mathvision_testmini_predictions.jsonl"
pytestmark = pytest.mark.skipif(not (SHARED / "benchmarks").is_dir(), reason="../shared absent")


def _score(tmp_path, *extra, bench="mathvision", split="testmini", data=None, preds=None):
    data = data or SHARED / "benchmarks/mathvision/testmini.jsonl"
    argv = [
        "score",
        "--bench",
        bench,
        "--split",
        split,
        "--data",
        str(data),
        "--out",
        str(tmp_path / "out"),
    ]
    if preds is not None:
        argv += ["--predictions", str(preds)]
    return main(argv + list(extra))


def test_demo_sample_scores_end_to_end(tmp_path):
    assert _score(tmp_path, preds=DEMO) == 0
    samples = [
        json.loads(line) for line in (tmp_path / "out/samples.jsonl").read_text().splitlines()
    ]
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert len(samples) == summary["n"] == 304
    n_demo = len(DEMO.read_text().splitlines())
    assert summary["counts"]["missing_prediction"] == 304 - n_demo
    assert set(samples[0]) >= {"id", "extracted", "correct", "status", "meta"}
    assert summary["accuracy"] == round(100 * summary["correct"] / 304, 2)
    scored = [s for s in samples if s["status"] != "missing_prediction"]
    assert all("model" in s["meta"] for s in scored)  # other fields carried through untouched
    assert set(summary["breakdown"]) == {"subject", "level"}


def test_mathvista_dict_by_pid_file_as_published(tmp_path):
    preds = SHARED / "calibration/mathvista/output_claude.json"
    data = SHARED / "benchmarks/mathvista/testmini.json"
    assert _score(tmp_path, bench="mathvista", data=data, preds=preds) == 0
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["n"] == 1000 and summary["missing_predictions"] == 0
    assert {"task", "context", "grade", "skills", "source", "question_type"} == set(
        summary["breakdown"]
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "4", "response": "6"}\n{"id": "4", "response": "7"}\n', "duplicated id"),
        ('{"id": "nope", "response": "6"}\n', "not in mathvision testmini"),
        ('{"id": "4", "response": "6"\n', "not valid JSON"),
        ('{"id": "4"}\n', "no 'response' field"),
        ('[{"response": "6"}]', "no id"),
        ("", "no predictions"),
    ],
)
def test_bad_predictions_are_one_line_errors(tmp_path, capsys, content, message):
    f = tmp_path / "p.jsonl"
    f.write_text(content)
    assert _score(tmp_path, preds=f) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_unknown_bench_missing_file_and_no_hub(tmp_path, capsys):
    assert _score(tmp_path, bench="mmmu", preds=DEMO) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    assert _score(tmp_path, preds=tmp_path / "missing.jsonl") == 2
    assert "predictions file not found" in capsys.readouterr().err
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ovlt_eval.cli",
            "score",
            "--bench",
            "mathvision",
            "--split",
            "testmini",
            "--predictions",
            str(DEMO),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "--data" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_protocol_flag_records_both_verdicts(tmp_path):
    preds = SHARED / "calibration/mathvista/output_gpt4_2shot_solution.json"
    data = SHARED / "benchmarks/mathvista/testmini.json"
    summaries = {}
    for protocol in ("official", "corrected"):
        out = tmp_path / protocol
        argv = ["score", "--bench", "mathvista", "--data", str(data), "--predictions", str(preds)]
        assert main([*argv, "--out", str(out), "--protocol", protocol]) == 0
        summaries[protocol] = json.loads((out / "summary.json").read_text())
        samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
        row = next(s for s in samples if s["disagreement"])
        assert (
            row["correct"]
            == row[f"correct_{protocol}"]
            != row["correct_" + ("corrected" if protocol == "official" else "official")]
        )
        assert row["protocol"] == protocol
    off, cor = summaries["official"], summaries["corrected"]
    assert off["protocol"] == "official" and cor["protocol"] == "corrected"
    assert off["accuracy"] == off["accuracy_official"] == cor["accuracy_official"]
    assert cor["accuracy"] == cor["accuracy_corrected"] == off["accuracy_corrected"]
    assert off["accuracy_official"] != off["accuracy_corrected"]
    assert off["disagreements"] == cor["disagreements"]
    assert off["disagreements"]["official_nearest_option_on_refusal"] > 0


def test_hostile_responses_score_with_statuses(tmp_path):
    """Lone surrogates (invalid UTF-8 escapes), huge powers and long junk: the command
    finishes, writes readable JSON, and the bad items carry unparseable/timeout."""
    ids = [json.loads(x)["id"] for x in DEMO.read_text().splitlines()][:4]
    responses = [
        "\\boxed{9^{9^{9^{9}}}}",
        "The answer is " + "9" * 5000,  # past the official evaluator's length bound
        "\\boxed{5\udcff}",
        "\\boxed{" * 3000,
    ]
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"id": i, "response": r}) + "\n" for i, r in zip(ids, responses, strict=True)
        )
    )
    assert _score(tmp_path, preds=preds) == 0
    samples = {
        s["id"]: s
        for s in map(json.loads, (tmp_path / "out/samples.jsonl").read_text().splitlines())
    }
    assert len(samples) == 304 and samples[ids[2]]["status"] != "missing_prediction"
    bad = [samples[i]["status"] for i in (ids[0], ids[1])]
    assert all(s in ("unparseable", "timeout") for s in bad), bad


@pytest.mark.parametrize("name", ["output_bard", "output_claude", "output_gpt4_2shot_solution"])
def test_mathvista_published_extraction_rescores_exactly(tmp_path, capsys, name):
    """Published MathVista outputs carry GPT's `extraction`: under `official` it is normalised
    verbatim (calculate_score.py), so every published `true_false` is reproduced."""
    preds = SHARED / f"calibration/mathvista/{name}.json"
    data = SHARED / "benchmarks/mathvista/testmini.json"
    assert _score(tmp_path, bench="mathvista", data=data, preds=preds) == 0
    assert "normalise their published 'extraction'" in capsys.readouterr().err
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["official_from_published_extraction"] == 1000
    published = json.loads(preds.read_text())
    samples = [json.loads(x) for x in (tmp_path / "out/samples.jsonl").read_text().splitlines()]
    differ = [s["id"] for s in samples if s["correct_official"] != published[s["id"]]["true_false"]]
    assert differ == []
    assert all(s["extracted_official"] == published[s["id"]]["extraction"] for s in samples)
    assert all("extraction" not in s["meta"] for s in samples)  # read, not passed through
    assert summary["correct"] == sum(bool(r["true_false"]) for r in published.values())


def test_extraction_field_only_where_the_benchmark_has_that_step(tmp_path, capsys):
    # MathVision's official evaluator has no separate extraction step: the response is scored.
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "4", "response": "The answer is 6", "extraction": "7"}\n')
    assert _score(tmp_path, preds=f) == 0
    assert "is ignored and the responses are scored" in capsys.readouterr().err
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["official_from_published_extraction"] == 0
    sample = json.loads((tmp_path / "out/samples.jsonl").read_text().splitlines()[0])
    assert sample["extracted_official"] != "7"


def test_the_result_line_is_on_stdout_and_another_splits_file_is_refused(tmp_path, capsys):
    """Issue 19 item 5: the result went to stderr; `--split test` with the testmini file was
    scored and labelled "test"."""
    assert _score(tmp_path, preds=DEMO) == 0
    out, err = capsys.readouterr()
    assert "mathvision testmini (official): accuracy" in out and "accuracy" not in err
    mini = SHARED / "benchmarks/mathvision/testmini.jsonl"
    assert _score(tmp_path, split="test", data=mini, preds=DEMO) == 2
    err = capsys.readouterr().err
    assert "is mathvision's testmini file, but the split asked for is test" in err
