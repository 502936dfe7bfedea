"""Shared test fixtures: a tiny offline Qwen2.5-VL and a real `transformers serve` for it.

Use them by naming them as test arguments (both are session-scoped: built/started once):

- `tiny_model_dir` -> `pathlib.Path` of a tiny random-weight Qwen2.5-VL checkpoint (real
  architecture, local BPE tokenizer, Qwen2.5-VL chat template, processor; fp32; ~3 MB). Load it
  with `AutoProcessor.from_pretrained(p)` / `AutoModelForImageTextToText.from_pretrained(p)`.
  Built by `ovlt_eval.testing.tiny_model.build_tiny_qwen2_5_vl` and cached under
  `.cache/tiny_qwen2_5_vl-v<builder version>/` so later sessions reuse it (delete to rebuild).
  Its outputs are random text.
- `tiny_server` -> object with `.base_url` ("http://127.0.0.1:PORT/v1"), `.model` (the id to
  put in requests), `.log_path`. It is the real `transformers serve` (OpenAI-compatible:
  `/v1/chat/completions`, `/v1/models`, `/health`) on a free loopback port, on the CPU in fp32,
  pinned to the tiny model; image content parts as base64 data URLs work. Known server quirks
  (transformers 5.x): it ignores `n` (one choice per call), answers 422 to unknown fields such as
  `top_k` / `repetition_penalty`, and answers 500 to `stop` with a VLM processor. Stopped at the
  end of the session. Takes ~6 s to start.
"""

from __future__ import annotations

import os

# The suite is offline by design: without these, a Hub load that must fail (no cache) retries
# the network for ~20 s first. Set before `datasets` / `huggingface_hub` read them at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from ovlt_eval.testing.tiny_model import cached_tiny_qwen2_5_vl

    return cached_tiny_qwen2_5_vl(REPO_ROOT / ".cache")


@dataclass(frozen=True)
class TinyServer:
    base_url: str
    model: str
    log_path: Path
    process: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("tiny_server") / "serve.log"
    cli = Path(sys.executable).parent / "transformers"
    cmd = [str(cli), "serve", str(tiny_model_dir), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--device", "cpu", "--dtype", "float32", "--log-level", "warning"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the server's lifetime
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not (_get_ok(f"{base}/health") and _get_ok(f"{base}/v1/models")):
            if proc.poll() is not None:
                pytest.fail(
                    f"transformers serve exited ({proc.returncode}): {log_path.read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"transformers serve not ready in 120 s: {log_path.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield TinyServer(
            base_url=f"{base}/v1", model=str(tiny_model_dir), log_path=log_path, process=proc
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
