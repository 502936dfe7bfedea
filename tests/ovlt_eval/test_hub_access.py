"""Issue 19 item 2: a missing local folder or a Hub id that cannot be loaded is one line, in
seconds, in every CLI, with no "Retrying…" storm; HF_HUB_OFFLINE is honoured.

"Unreachable" is real here: HF_ENDPOINT points at a loopback port nothing listens on (the
connection is refused), and the Hub cache is a real folder in the Hub's own layout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ovlt_eval import hub_access
from ovlt_eval.errors import UserError

BIN = Path(sys.executable).parent


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed once the socket is: connections are refused


@pytest.fixture
def unreachable_hub(monkeypatch, tmp_path):
    """No HF_HUB_OFFLINE, a Hub endpoint that refuses connections, an empty Hub cache."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", _closed_port_url())
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_access, "_probe_result", {})
    return tmp_path / "hub"


def _cache_snapshot(cache: Path, repo: str, kind: str = "model") -> None:
    snap = cache / f"{kind}s--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")


def test_a_missing_folder_is_named_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()  # `checkpoints/sft-iter1`: a path, not owner/name
    for ref in ("checkpoints/sft-iter1", "./ckpt", "runs/a/b", "~/nowhere-ovlt-test"):
        with pytest.raises(UserError, match=r"no such folder \(give a checkpoint folder"):
            hub_access.check_model_ref(ref)
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        hub_access.check_model_ref("notamodel")


def test_offline_hub_id_not_cached_is_one_line_naming_hf_hub_offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set and the model is not in the local"):
        hub_access.check_model_ref("Qwen/Qwen2.5-VL-7B-Instruct")
    _cache_snapshot(tmp_path, "Qwen/Qwen2.5-VL-7B-Instruct")
    hub_access.check_model_ref("Qwen/Qwen2.5-VL-7B-Instruct")  # cached: loads offline


def test_unreachable_hub_fails_once_in_seconds(unreachable_hub):
    t = time.perf_counter()
    with pytest.raises(UserError) as err:
        hub_access.check_model_ref("checkpoints/sft-iter1")  # no `checkpoints/` here: ambiguous
    assert time.perf_counter() - t < 10
    msg = str(err.value)
    assert "checkpoints/sft-iter1: no such folder here" in msg and "unreachable" in msg
    assert "\n" not in msg


def test_unreachable_hub_with_a_cached_copy_goes_offline(unreachable_hub, monkeypatch):
    from huggingface_hub import constants

    _cache_snapshot(unreachable_hub, "org/model")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    hub_access.check_model_ref("org/model")
    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True


@pytest.mark.parametrize(
    "argv",
    [
        [
            "ovlt-train",
            "sft",
            "--data",
            "ydeng9/OpenVLThinker-sft-iter3",
            "--model",
            "Qwen/Qwen2.5-VL-7B-Instruct",
        ],
        ["ovlt-train", "grpo", "--data", "some/local-dir", "--model", "checkpoints/sft-iter1"],
        ["ovlt-eval", "run", "--model", "Qwen/Qwen2.5-VL-7B-Instruct", "--bench", "mathvista"],
    ],
    ids=["train-sft-hub-ids", "train-grpo-missing-ckpt", "eval-run-hub-id"],
)
def test_every_cli_fails_fast_without_retries(argv, tmp_path):
    env = dict(os.environ, HF_ENDPOINT=_closed_port_url(), HF_HOME=str(tmp_path / "hf"))
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_DATASETS_OFFLINE", None)
    argv = [str(BIN / argv[0]), *argv[1:], "--out", str(tmp_path / "out")]
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    seconds = time.perf_counter() - t
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    assert "Retrying" not in proc.stderr and "Traceback" not in proc.stderr
    assert "no such folder here" in proc.stderr and "unreachable" in proc.stderr
    assert seconds < 30, seconds  # was 148-179 s with ~133 "Retrying" lines (issue 19)
