"""Throughput of the `openai` engine: concurrency 128 vs one request at a time.

A loopback OpenAI-compatible server (ovlt_eval.testing.openai_server, no faults), in its own
process as a real server would be, answers every chat completion after a fixed 100 ms. 1,000
requests go through the engine at concurrency 128; the one-at-a-time side (the reference
evaluation's pattern: a loop over items) is timed on a subset and extrapolated to 1,000, as
printed. Target ratio: >= 50x.

    python bench/engine_concurrency.py [--requests 1000] [--sequential-sample 50]
"""

from __future__ import annotations

import sys
from pathlib import Path

# runnable as `python bench/<name>.py` from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ovlt_eval.engines import GenerationRequest, SamplingParams, get_engine
from ovlt_eval.testing.openai_server import OpenAIServer


def _requests(n: int) -> list[GenerationRequest]:
    sampling = SamplingParams(max_tokens=16)
    return [
        GenerationRequest(
            id=str(i),
            messages=({"role": "user", "content": [{"type": "text", "text": f"item {i}"}]},),
            sampling=sampling,
        )
        for i in range(n)
    ]


def _timed(base_url: str, requests, concurrency: int) -> tuple[float, float, int]:
    engine = get_engine("openai", model="fake-model", base_urls=[base_url], concurrency=concurrency)
    start, cpu = time.perf_counter(), time.process_time()
    ok = sum(r.status == "ok" for r in engine.generate(requests))
    return time.perf_counter() - start, time.process_time() - cpu, ok


def _start_server(latency: float, in_process: bool):
    if in_process:
        server = OpenAIServer(latency=latency).start()
        return server.base_url, server.stop
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ovlt_eval.testing.openai_server",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--replies",
            "echo",
            "--model",
            "fake-model",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
        env=dict(os.environ, PYTHONPATH=str(repo)),
    )
    base_url = proc.stdout.readline().strip()  # the server's first line is its URL

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=10)

    return base_url, stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--sequential-sample", type=int, default=50)
    parser.add_argument("--server-in-process", action="store_true", help="share this process's GIL")
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    where = "in this process" if args.server_in_process else "in its own process"
    print(
        f"server: loopback, {where}, fixed latency {args.latency * 1000:.0f} ms per chat completion"
    )
    base_url, stop = _start_server(args.latency, args.server_in_process)
    try:
        _timed(base_url, _requests(20), args.concurrency)  # warm-up: imports, first connections
        conc_s, conc_cpu, conc_ok = _timed(base_url, _requests(args.requests), args.concurrency)
        seq_n = min(args.sequential_sample, args.requests)
        seq_s, _, seq_ok = _timed(base_url, _requests(seq_n), 1)
    finally:
        stop()
    conc_rate = args.requests / conc_s
    seq_rate = seq_n / seq_s
    print(
        f"concurrency {args.concurrency}: {args.requests} requests in {conc_s:.2f} s "
        f"= {conc_rate:.1f} req/s ({conc_ok} ok); client CPU {conc_cpu:.2f} s "
        f"({conc_cpu / args.requests * 1000:.2f} ms per request)"
    )
    print(
        f"one at a time: {seq_n} requests in {seq_s:.2f} s = {seq_rate:.2f} req/s ({seq_ok} ok); "
        f"extrapolated to {args.requests}: {args.requests / seq_rate:.1f} s"
    )
    ratio = conc_rate / seq_rate
    verdict = "meets" if ratio >= 50 else "BELOW"
    print(f"speed-up: {ratio:.1f}x ({verdict} the 50x target)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average at the end: {load:.1f} on {os.cpu_count()} CPUs (the concurrent side is bound "
        "by client CPU per request; other processes on the machine lower it)"
    )
    return 0


if __name__ == "__main__":
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
