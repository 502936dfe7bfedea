"""Agreement with the official per-item verdicts in ../shared/calibration.

The fast files run by default; the whole set (about a minute) is `-m slow`.
Official verdicts that are themselves wrong are counted by rule in named categories
(ovlt_eval.benchmarks.calibration.OFFICIAL_ERRORS) instead of being copied.
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
    return sorted((shared / "calibration/mathvista").glob("*.json"))


def test_mathvista_normalisation_from_official_extraction(shared, vista):
    b, items = vista
    for path in _vista_files(shared):
        r = mathvista_agreement(b, items, path, "extraction")
        assert r.n == 1000
        assert r.agreement >= 99.5, (path.name, r.agreement, dict(r.categories))


def test_mathvision_llava_agreement(shared, vision):
    b, items = vision
    r = mathvision_agreement(b, items, shared / "calibration/mathvision/LLaVA-v1.5-7B.jsonl")
    assert r.agreement_excluding_official_errors >= 99.0, dict(r.categories)
    assert r.agreement >= 97.0


@pytest.mark.slow
def test_mathvision_all_files(shared, vision):
    b, items = vision
    ours = official = n = 0
    for path in sorted((shared / "calibration/mathvision").glob("*.jsonl")):
        r = mathvision_agreement(b, items, path)
        assert r.agreement_excluding_official_errors >= 99.0, (path.name, dict(r.categories))
        ours, official, n = ours + r.ours_correct, official + r.official_correct, n + r.n
    # Our accuracy is higher than the official one only by the official errors we fix.
    assert abs(100 * (ours - official) / n) < 2.5


@pytest.mark.slow
def test_mathvista_rules_only_from_raw_response(shared, vista):
    b, items = vista
    for path in _vista_files(shared):
        r = mathvista_agreement(b, items, path, "response")
        # Target is 95 %; see the calibration report for the files below it and why.
        assert r.agreement_excluding_official_errors >= 92.0, (path.name, dict(r.categories))
