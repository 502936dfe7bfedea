"""Agreement of the `official` protocol with the published per-item verdicts in
../shared/calibration (targets from issue 2), and the official errors the `corrected`
protocol fixes. One MathVision file and every MathVista file run by default; all MathVision
files (about half a minute more) are `-m slow`.
"""

import pytest

from ovlt_eval.benchmarks import get_benchmark
from ovlt_eval.benchmarks.calibration import mathvision_agreement, mathvista_agreement


@pytest.fixture(scope="module")
def vista(shared):
    b = get_benchmark("mathvista")
    return b, b.load("testmini", shared / "benchmarks/mathvista")


@pytest.fixture(scope="module")
def vision(shared):
    b = get_benchmark("mathvision")
    return b, b.load("test", shared / "benchmarks/mathvision")


def _vista_files(shared):
    files = sorted((shared / "calibration/mathvista").glob("*.json"))
    assert files
    return files


def test_mathvista_official_protocol_agreement(shared, vista):
    b, items = vista
    for path in _vista_files(shared):
        ext = mathvista_agreement(b, items, path, "extraction")
        assert ext.n == 1000
        assert ext.agreement >= 99.5, (path.name, ext.agreement, dict(ext.residual_categories))
        raw = mathvista_agreement(b, items, path, "response")
        assert raw.agreement >= 95.0, (path.name, raw.agreement, dict(raw.residual_categories))


def test_mathvista_corrected_protocol_names_the_official_errors(shared, vista):
    b, items = vista
    r = mathvista_agreement(
        b, items, shared / "calibration/mathvista/output_gpt4_2shot_solution.json", "response"
    )
    # Refusals ("the solution cannot be provided") earn options through the nearest-option rule.
    assert r.protocol_categories["official_nearest_option_on_refusal"] > 10
    assert r.ours_corrected < r.ours_official
    ex = r.protocol_examples["official_nearest_option_on_refusal"][0]
    assert ex["official_verdict"] and not ex["corrected_verdict"]


def test_mathvision_official_protocol_reproduces_llava(shared, vision):
    b, items = vision
    r = mathvision_agreement(b, items, shared / "calibration/mathvision/LLaVA-v1.5-7B.jsonl")
    assert r.n == 3040
    assert r.agreement >= 99.0, dict(r.residual_categories)
    assert abs(r.ours_official - r.official) <= 0.5
    # "(D) 105" read by MATH-V as "d105": counted, and fixed by the corrected protocol.
    assert r.protocol_categories["official_letter_with_text"] > 0
    assert r.ours_corrected > r.ours_official


@pytest.mark.slow
def test_mathvision_all_files(shared, vision):
    b, items = vision
    ours = official = n = 0
    for path in sorted((shared / "calibration/mathvision").glob("*.jsonl")):
        r = mathvision_agreement(b, items, path)
        assert r.agreement >= 99.0, (path.name, dict(r.residual_categories))
        ours, official, n = ours + r.ours_official_correct, official + r.official_correct, n + r.n
    assert abs(100 * (ours - official) / n) <= 0.5
