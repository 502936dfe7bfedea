"""Engine throughput on a CUDA GPU with a ~1B-parameter random-weight Qwen2.5-VL.

Prepared for a GPU machine; without CUDA it prints a message and exits 0. Measures, on the same
MathVision items (question + image, from ../shared/benchmarks/mathvision):

1. the `hf` engine, batch 16 vs batch 1 (greedy; bf16): rate, ratio, identical outputs;
2. the `hf` engine's reproducible setting (`reproducible=True`: batch 1, fp32, TF32 off) run
   twice: rate and identical outputs between the two runs;
3. `transformers serve --continuous-batching` driven by the `openai` engine (concurrency 64)
   vs sequential `generate` (the `hf` engine at batch 1, the reference's loop): ratio;
4. the `vllm` engine, when vllm is installed.

What it found on an H200 (32 items, 64 new tokens): hf batch 16 = 3.8-4.3x batch 1, but only 0
and 2 of 32 outputs identical to batch 1's in bf16 (two runs): batch invariance holds in fp32
on a CPU, not in bf16 on a GPU. `transformers serve --continuous-batching` ran at 0.9x the
sequential loop (its continuous batching does not engage for this VLM): it is a reference
server, not a fast path. For speed use vLLM or SGLang servers behind `--engine openai`, or
`--engine vllm`.

Every engine here runs at the random checkpoint's own pixel budget (`--max-pixels`, default
256 x 28 x 28 = the "1b" processor's), so all of them, the server included, see the same images;
`ovlt-eval` itself defaults to the base Qwen2.5-VL processor's limits.

The model is random (its texts mean nothing); only the shapes (~1B parameters: 20 layers of
1536, a 8-layer 1280-wide vision tower) matter for speed. Prints the device.

    python bench/gpu_engines.py [--items 64] [--new-tokens 128] [--batch 16] [--repro-items 16]
"""

from __future__ import annotations

import sys
from pathlib import Path

# runnable as `python bench/<name>.py` from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MATHVISION = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "mathvision"
DEMO_SAMPLE = Path(__file__).resolve().parents[1] / "ovlt_eval" / "demo_data" / "mathvision_sample"


def _items_dir() -> Path:
    for d in (MATHVISION, DEMO_SAMPLE):
        if (d / "testmini.jsonl").is_file():
            return d
    raise SystemExit(
        "no MathVision items found (../shared/benchmarks/mathvision or the demo sample)"
    )


def _requests(n_items: int, new_tokens: int):
    from ovlt_eval.engines import GenerationRequest, SamplingParams
    from ovlt_eval.profiles import get_profile

    root = _items_dir()
    rows = [json.loads(line) for line in open(root / "testmini.jsonl")]
    rows = [r for r in rows if (root / r["image"]).is_file()]
    rows = (rows * (n_items // max(1, len(rows)) + 1))[:n_items]
    profile = get_profile("openvlthinker")
    sampling = SamplingParams(max_tokens=new_tokens)
    return [
        GenerationRequest(
            id=f"{i}-{row['id']}",
            messages=profile.build_messages(row["question"], [str(root / row["image"])]),
            sampling=sampling,
        )
        for i, row in enumerate(rows)
    ]


def _timed(engine, requests):
    start = time.perf_counter()
    results = {r.id: r for r in engine.generate(requests)}
    return time.perf_counter() - start, results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bench_serve_cb(model: str, requests, seq_s: float, timeout_s: float) -> None:
    from ovlt_eval.engines import get_engine

    port = _free_port()
    cli = Path(sys.executable).parent / "transformers"
    cmd = [str(cli), "serve", model, "--continuous-batching", "--device", "cuda"]
    cmd += ["--dtype", "bfloat16", "--host", "127.0.0.1", "--port", str(port)]
    log = tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-1500:]
                    print(
                        f"transformers serve --continuous-batching did not come up; log tail:\n{tail}"
                    )
                    return
                time.sleep(0.5)
        engine = get_engine(
            "openai", model=model, base_urls=f"http://127.0.0.1:{port}/v1", concurrency=64
        )
        _timed(engine, requests[:4])  # warm-up
        cb_s, cb_out = _timed(engine, requests)
        ok = sum(r.status == "ok" for r in cb_out.values())
        print(
            f"transformers serve --continuous-batching (openai engine, concurrency 64): {cb_s:.1f} s "
            f"= {len(requests) / cb_s:.2f} items/s ({ok}/{len(requests)} ok)"
        )
        print(
            f"  vs sequential generate: {seq_s / cb_s:.1f}x (1.0x = no gain; a reference server, "
            f"not a fast path); notes: {engine.describe()['server_notes']}"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repro-items", type=int, default=16, help="0 skips the fp32 check")
    parser.add_argument("--max-pixels", type=int, default=None)
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--serve-start-timeout", type=float, default=180)
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to measure (install the [hf] extra)")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device: the GPU engine bench was skipped (run it on a GPU machine)")
        return 0

    from ovlt_eval.engines import get_engine
    from ovlt_eval.testing.tiny_model import SIZES, build_random_qwen2_5_vl

    max_pixels = args.max_pixels or SIZES["1b"]["max_pixels"]

    props = torch.cuda.get_device_properties(0)
    print(
        f"device: {torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = str(
            build_random_qwen2_5_vl(
                Path(tmp) / "qwen2_5_vl_1b", size="1b", dtype="bfloat16", device="cuda"
            )
        )
        torch.cuda.empty_cache()
        requests = _requests(args.items, args.new_tokens)

        batched = get_engine(
            "hf", model=model, batch_size=args.batch, dtype="bfloat16", max_pixels=max_pixels
        )
        n_params = sum(p.numel() for p in batched.model.parameters())
        print(
            f"model: random Qwen2.5-VL, {n_params / 1e9:.2f}B parameters, bf16 (built in {time.perf_counter() - t0:.0f} s)"
        )
        print(
            f"workload: {len(requests)} MathVision items with images (<= {max_pixels} px), "
            f"{args.new_tokens} new tokens, greedy"
        )
        _timed(batched, requests[:2])
        b_s, b_out = _timed(batched, requests)
        del batched
        torch.cuda.empty_cache()
        single = get_engine(
            "hf", model=model, batch_size=1, dtype="bfloat16", max_pixels=max_pixels
        )
        _timed(single, requests[:1])
        s_s, s_out = _timed(single, requests)
        del single
        torch.cuda.empty_cache()
        same = sum(b_out[k].outputs == s_out[k].outputs for k in s_out)
        print(f"hf batch {args.batch}: {b_s:.1f} s = {len(requests) / b_s:.2f} items/s")
        print(f"hf batch 1 (sequential generate): {s_s:.1f} s = {len(requests) / s_s:.2f} items/s")
        print(
            f"  batching speed-up: {s_s / b_s:.1f}x; identical greedy outputs: {same}/{len(s_out)} (bf16)"
        )

        if args.repro_items > 0:
            repro = get_engine("hf", model=model, reproducible=True, max_pixels=max_pixels)
            subset = requests[: args.repro_items]
            r1_s, r1_out = _timed(repro, subset)
            _, r2_out = _timed(repro, subset)
            del repro
            torch.cuda.empty_cache()
            same_repro = sum(r1_out[k].outputs == r2_out[k].outputs for k in r1_out)
            per_item_b1 = s_s / len(requests)
            print(
                f"hf reproducible (batch 1, fp32, TF32 off): {len(subset) / r1_s:.2f} items/s "
                f"({per_item_b1 * len(subset) / r1_s:.2f}x bf16 batch 1); identical outputs in "
                f"two runs: {same_repro}/{len(subset)}"
            )

        if not args.skip_serve:
            _bench_serve_cb(model, requests, s_s, args.serve_start_timeout)

        try:
            import vllm  # noqa: F401
        except ImportError:
            print("vllm not installed: vllm engine not measured")
        else:
            engine = get_engine(
                "vllm", model=model, gpu_memory_utilization=0.5, max_pixels=max_pixels
            )
            v_s, v_out = _timed(engine, requests)
            print(
                f"vllm engine: {v_s:.1f} s = {len(requests) / v_s:.2f} items/s; vs sequential: {s_s / v_s:.1f}x"
            )
    return 0


if __name__ == "__main__":
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
