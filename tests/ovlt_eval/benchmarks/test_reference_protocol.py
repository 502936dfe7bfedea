"""`--protocol reference` reproduces the OpenVLThinker evaluation scripts on real items.

Verdicts are checked against an independent, line-by-line derivation of
evaluation/eval_openvlthinker.py:296-309,379-392 (reference_check.derived_verdict, mathruler
in-process) over published output files turned into `<answer>` replies of many shapes.
"""

from __future__ import annotations

import json

import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.benchmarks.reference_check import agreement, published_pairs
from ovlt_eval.benchmarks.scoring import score_predictions
from ovlt_eval.cli import main

# A slice per file keeps the default suite fast; scripts/reference_agreement.py runs them whole.
LIMIT = 120


@pytest.fixture(scope="module")
def mathvision_test(shared):
    bench = get_benchmark("mathvision")
    return bench, bench.load("test", data=shared / "benchmarks/mathvision")


@pytest.fixture(scope="module")
def mathvista(shared):
    bench = get_benchmark("mathvista")
    return bench, bench.load("testmini", data=shared / "benchmarks/mathvista")


@pytest.mark.parametrize("name", ["Gemini-Pro-CoT", "LLaVA-v1.5-7B", "Qwen-VL-Max-CoT"])
def test_agrees_with_derived_reference_verdicts_mathvision(shared, mathvision_test, name):
    bench, items = mathvision_test
    pairs = published_pairs(shared / f"calibration/mathvision/{name}.jsonl")[:LIMIT]
    res = agreement(bench, items, pairs)
    assert res["cases"] >= 7 * LIMIT
    assert res["agreement"] >= 99.9, res["mismatches"][:5]
    shapes = res["by_shape"]
    # the check is not vacuous: both verdicts occur, and a reply without </answer> never scores
    assert 0 < shapes["closed_tag"]["reference_correct"] < shapes["closed_tag"]["n"]
    assert shapes["unclosed_tag"]["reference_correct"] == 0
    assert shapes["option_text"]["n"] > 0


@pytest.mark.parametrize("name", ["bard", "gpt4_2shot_solution"])
def test_agrees_with_derived_reference_verdicts_mathvista(shared, mathvista, name):
    bench, items = mathvista
    pairs = published_pairs(shared / f"calibration/mathvista/output_{name}.json")[:LIMIT]
    res = agreement(bench, items, pairs)
    assert res["agreement"] >= 99.9, res["mismatches"][:5]
    # option text written for a letter: wrong in the reference (its golds become letters)
    shape = res["by_shape"]["option_text"]
    assert shape["n"] > 0 and shape["reference_correct"] < shape["n"] / 10


def test_gold_option_text_becomes_its_letter(mathvista):
    bench, items = mathvista
    item = next(
        it for it in items if it.raw.get("choices") and it.raw["answer"] in it.raw["choices"]
    )
    letter = "ABCDEFGHIJ"[list(item.raw["choices"]).index(item.raw["answer"])]
    assert bench.reference_gold(item) == letter  # eval_openvlthinker.py:296-302
    right = bench.score(item, f"<think>x</think><answer>{letter}</answer>", protocol="reference")
    assert right.correct and right.correct_reference
    # the reply's option *text* is not mapped back: wrong in the reference script
    text = bench.score(
        item, f"<think>x</think><answer>{item.raw['answer']}</answer>", protocol="reference"
    )
    assert text.correct_reference is False and text.correct_corrected is True


def test_samples_and_summary_carry_all_three_protocols(mathvision_test):
    bench, items = mathvision_test
    items = items[:40]
    preds = {
        it.id: f"<think>t</think> ok <answer>{bench.reference_gold(it)}</answer>" for it in items
    }
    preds[items[0].id] = "<think>t</think> no closing tag <answer>" + bench.reference_gold(items[0])
    samples, summary = score_predictions(bench, "test", items, preds, protocol="reference")
    assert summary["protocol"] == "reference"
    assert summary["accuracy"] == summary["accuracy_reference"] == 97.5
    assert summary["reference_failed_to_extract"] == 1
    assert {"accuracy_official", "accuracy_corrected", "reference_policy"} <= set(summary)
    first = samples[0]
    assert first["correct"] is False and first["status"] == "no_answer"
    assert first["correct_reference"] is False and first["status_reference"] == "no_answer"
    assert all(s["correct_reference"] for s in samples[1:])


def test_score_cli_reference_and_qwen_profile(shared, tmp_path):
    items = get_benchmark("mathvision").load("testmini", data=shared / "benchmarks/mathvision")
    rows = [{"id": it.id, "response": f"so \\boxed{{{it.gold}}}"} for it in items]
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["score", "--bench", "mathvision", "--data", str(shared / "benchmarks/mathvision")]
    base += ["--predictions", str(preds), "--protocol", "reference"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    thinker = json.loads((tmp_path / "a/summary.json").read_text())
    assert thinker["accuracy_reference"] == 0.0  # no </answer>: every item fails to extract
    assert main([*base, "--profile", "qwen", "--out", str(tmp_path / "b")]) == 0
    qwen = json.loads((tmp_path / "b/summary.json").read_text())
    assert qwen["reference_policy"] == "reference_qwen" and qwen["accuracy_reference"] > 90
