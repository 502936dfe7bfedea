"""`ovlt-eval run` records how texts were generated: pixel limits, dtype, batch size, reproducible.

Real runs of the tiny Qwen2.5-VL on real MATH-Vision items. Its saved processor carries a small
pixel budget, as an `ovlt-train` checkpoint carries its training budget; the run must evaluate
at the base processor's limits (eval_openvlthinker.py:346-349) and the card must say so.
"""

from __future__ import annotations

import json

import pytest

from ovlt_eval.cli import main
from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS
from tests.ovlt_eval.runs.scripted import MATHVISION_TESTMINI

pytestmark = pytest.mark.skipif(
    not MATHVISION_TESTMINI.exists(), reason="../shared benchmarks missing"
)


def _run(tiny_model_dir, out, *extra) -> int:
    argv = [
        "run", "--bench", "mathvision", "--split", "testmini", "--data", str(MATHVISION_TESTMINI),
        "--engine", "hf", "--model", str(tiny_model_dir), "--limit", "1", "--max-tokens", "2",
        "--out", str(out), "--no-progress", *extra,
    ]  # fmt: skip
    return main(argv)


def _card(out) -> dict:
    return json.loads((out / "eval_card.json").read_text())


def test_default_run_uses_the_base_processor_limits_and_the_card_says_so(
    tiny_model_dir, tmp_path, capsys
):
    out = tmp_path / "base-limits"
    assert _run(tiny_model_dir, out) == 0, capsys.readouterr().err
    card = _card(out)
    gen = card["generation"]
    assert (gen["min_pixels"], gen["max_pixels"]) == (3136, 12845056)
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in gen["pixel_limits_source"]
    assert gen["dtype"] == "float32" and gen["batch_size"] == 8 and gen["reproducible"] is False
    # the checkpoint's own budget is recorded beside the limits actually used
    pixels = card["engine"]["options"]["pixels"]
    assert pixels["checkpoint_processor"]["max_pixels"] == IMAGE_MAX_PIXELS
    # the limits are part of the run's identity: resuming with others is refused
    assert card["settings"]["engine"]["options"]["pixels"]["max_pixels"] == 12845056
    assert _run(tiny_model_dir, out, "--max-pixels", str(IMAGE_MAX_PIXELS)) == 2
    assert "other settings" in capsys.readouterr().err


def test_user_pixel_limits_and_reproducible_are_recorded(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "repro"
    rc = _run(tiny_model_dir, out, "--reproducible", "--max-pixels", str(IMAGE_MAX_PIXELS))
    assert rc == 0, capsys.readouterr().err
    gen = _card(out)["generation"]
    assert gen["reproducible"] is True and gen["batch_size"] == 1 and gen["dtype"] == "float32"
    assert gen["max_pixels"] == IMAGE_MAX_PIXELS and gen["pixel_limits_source"].startswith("user")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--reproducible", "--batch-size", "4"], "--reproducible means --batch-size 1"),
        (["--reproducible", "--dtype", "bfloat16"], "--reproducible means --batch-size 1"),
        (["--min-pixels", "0"], "--min-pixels must be at least 1"),
        (["--min-pixels", "5000", "--max-pixels", "4000"], "larger than --max-pixels"),
    ],
)
def test_contradictory_flags_are_one_line_errors(tiny_model_dir, tmp_path, capsys, extra, message):
    assert _run(tiny_model_dir, tmp_path / "bad", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_reproducible_is_refused_for_a_server(tmp_path, capsys):
    argv = [
        "run", "--bench", "mathvision", "--data", str(MATHVISION_TESTMINI), "--engine", "openai",
        "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--reproducible",
        "--out", str(tmp_path / "x"),
    ]  # fmt: skip
    assert main(argv) == 2
    assert "--reproducible is for --engine hf" in capsys.readouterr().err
