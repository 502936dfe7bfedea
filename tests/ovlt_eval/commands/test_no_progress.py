"""`--no-progress` silences every bar, transformers' "Loading weights" included (it is drawn by
transformers, not by us, so only its global switch turns it off). A subprocess: the switch is
process-wide and must not leak into other tests."""

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[3] / "ovlt_eval" / "demo_data" / "mathvision_sample"


@pytest.mark.parametrize("flag", [[], ["--no-progress"]])
def test_no_progress_silences_the_weight_loading_bar(tiny_model_dir, tmp_path, flag):
    argv = [
        sys.executable, "-m", "ovlt_eval.cli", "run", "--bench", "mathvision", "--data", str(DEMO),
        "--limit", "1", "--engine", "hf", "--model", str(tiny_model_dir), "--max-tokens", "2",
        "--out", str(tmp_path / "run"), *flag,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    bars = [w for w in ("Loading weights", "it/s]") if w in done.stderr]
    if flag:
        assert bars == [], done.stderr
    else:  # the control: without the flag the bars are there, so the check above means something
        assert bars, done.stderr
