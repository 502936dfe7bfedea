"""`--no-progress` silences every bar, transformers' "Loading weights" included (it is drawn by
transformers, not by us, so only its global switch turns it off). A subprocess: the switch is
process-wide and must not leak into other tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRESS_ENV = ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")
DEMO = Path(__file__).resolve().parents[3] / "ovlt_eval" / "demo_data" / "mathvision_sample"


@pytest.mark.parametrize("flag", [[], ["--no-progress"]])
def test_no_progress_silences_the_weight_loading_bar(tiny_model_dir, tmp_path, flag):
    argv = [
        sys.executable, "-m", "ovlt_eval.cli", "run", "--bench", "mathvision", "--data", str(DEMO),
        "--limit", "1", "--engine", "hf", "--model", str(tiny_model_dir), "--max-tokens", "2",
        "--out", str(tmp_path / "run"), *flag,
    ]  # fmt: skip
    # Other tests in this process may have silenced bars process-wide (a CLI's --no-progress).
    env = {k: v for k, v in os.environ.items() if k not in PROGRESS_ENV}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    bars = [w for w in ("Loading weights", "it/s]") if w in done.stderr]
    if flag:
        assert bars == [], done.stderr
    else:  # the control: without the flag the bars are there, so the check above means something
        assert bars, done.stderr


def test_the_api_silences_bars_only_for_the_call(tiny_model_dir, tmp_path, monkeypatch):
    """evaluate(progress=False) must not leave the caller's process without bars."""
    import ovlt_eval

    transformers_logging = pytest.importorskip("transformers.utils.logging")
    for name in PROGRESS_ENV:
        monkeypatch.delenv(name, raising=False)
    transformers_logging.enable_progress_bar()
    seen = {}
    # execute_bench is imported inside evaluate(): spy on it in the runner module
    from ovlt_eval.runs import runner

    original = runner.execute_bench

    def spy(*args, **kwargs):
        seen["during"] = (
            os.environ.get("TQDM_DISABLE"),
            transformers_logging.is_progress_bar_enabled(),
        )
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "execute_bench", spy)
    ovlt_eval.evaluate(
        tiny_model_dir, "mathvision", data=DEMO, limit=1, out=tmp_path / "run",
        sampling=None, progress=False, max_pixels=None,
    )  # fmt: skip
    assert seen["during"] == ("1", False)
    assert "TQDM_DISABLE" not in os.environ and transformers_logging.is_progress_bar_enabled()
