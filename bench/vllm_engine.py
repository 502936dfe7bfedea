"""The `vllm` engine vs the `hf` engine: items/s and identical greedy outputs, one model, one run.

The tiny random-weight Qwen2.5-VL (built on the fly, offline), fp32, the paper's near-greedy
sampling (greedy in both engines), the bundled MATH-Vision sample's 40 items (question + image,
`ovlt_eval.demo.SAMPLE`), both engines at the tiny checkpoint's pixel budget. Prints each
engine's start-up time and items/s, the vllm/hf ratio, and how many items got the identical
output text (and prompt length) from both. Its texts are random and mean nothing; the figures
are the machinery's. Run it in the vLLM environment (`make setup-vllm`):

    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python bench/vllm_engine.py [--new-tokens 64]

The hf engine runs first: vLLM's CPU backend lowers torch's thread count for the whole process
when it starts ("Reducing Torch threads ... for serving"); each engine's thread count is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

# runnable as `python bench/<name>.py` from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

from ovlt_eval.demo import SAMPLE
from ovlt_eval.engines import GenerationRequest, SamplingParams, get_engine
from ovlt_eval.profiles import get_profile
from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS, cached_tiny_qwen2_5_vl

REPO = Path(__file__).resolve().parents[1]


def _requests(n_items: int, new_tokens: int) -> list[GenerationRequest]:
    profile = get_profile("openvlthinker")
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    sampling = SamplingParams(max_tokens=new_tokens)  # near-greedy: greedy in both engines
    return [
        GenerationRequest(
            id=row["id"],
            messages=profile.build_messages(row["question"], [str(SAMPLE.parent / row["image"])]),
            sampling=sampling,
        )
        for row in rows[:n_items]
    ]


def _timed(engine, requests) -> tuple[float, dict]:
    start = time.perf_counter()
    results = {r.id: r for r in engine.generate(requests)}
    return time.perf_counter() - start, results


def _measure(name: str, build, requests) -> tuple[float, float, int, dict]:
    import torch

    start = time.perf_counter()
    engine = build()
    startup = time.perf_counter() - start
    _timed(engine, requests[:2])  # warm-up: first-call allocations, not the engine's rate
    seconds, results = _timed(engine, requests)
    errors = [r for r in results.values() if r.status != "ok"]
    if errors:
        raise SystemExit(f"{name}: {len(errors)} items failed, e.g. {errors[0].error}")
    return startup, seconds, torch.get_num_threads(), results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="the hf engine's batch size")
    parser.add_argument("--max-num-seqs", type=int, default=16, help="vLLM's batch limit")
    parser.add_argument("--model", help="a checkpoint directory (default: the tiny model)")
    args = parser.parse_args()
    model = args.model or str(cached_tiny_qwen2_5_vl(REPO / ".cache"))
    requests = _requests(args.items, args.new_tokens)
    pixels = {"min_pixels": IMAGE_MIN_PIXELS, "max_pixels": IMAGE_MAX_PIXELS}

    hf = _measure(
        "hf",
        lambda: get_engine(
            "hf", model=model, dtype="float32", device="cpu", batch_size=args.batch, **pixels
        ),
        requests,
    )
    vllm = _measure(
        "vllm",
        lambda: get_engine(
            "vllm",
            model=model,
            dtype="float32",
            enforce_eager=True,
            max_model_len=2048,
            max_num_seqs=args.max_num_seqs,
            max_num_batched_tokens=2048,
            **pixels,
        ),
        requests,
    )

    n = len(requests)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"{n} MATH-Vision sample items, {args.new_tokens} new tokens, greedy, fp32, "
        f"pixels {IMAGE_MIN_PIXELS}-{IMAGE_MAX_PIXELS}"
    )
    for name, (startup, seconds, threads, _), how in (
        ("hf", hf, f"batch {args.batch}"),
        ("vllm", vllm, f"max_num_seqs {args.max_num_seqs}, no chunked prefill"),
    ):
        print(
            f"{name:>5}: start-up {startup:6.1f} s, {n / seconds:7.2f} items/s "
            f"({seconds:.2f} s; {how}; torch threads {threads})"
        )
    print(f"ratio vllm/hf items/s: {(n / vllm[1]) / (n / hf[1]):.2f}x")
    hf_out, vllm_out = hf[3], vllm[3]
    same_text = sum(hf_out[r.id].outputs == vllm_out[r.id].outputs for r in requests)
    same_prompt = sum(hf_out[r.id].prompt_tokens == vllm_out[r.id].prompt_tokens for r in requests)
    print(f"identical prompt lengths (image tokens included): {same_prompt} of {n}")
    print(f"identical greedy outputs (hf vs vllm): {same_text} of {n}")
    # A text cut by max_tokens inside a multi-byte character ends in U+FFFD from transformers'
    # decode, where vLLM's detokenizer holds the bytes back. Counted apart, not hidden.
    cut_char = sum(
        hf_out[r.id].outputs != vllm_out[r.id].outputs
        and [o.rstrip("\ufffd") for o in hf_out[r.id].outputs]
        == [o.rstrip("\ufffd") for o in vllm_out[r.id].outputs]
        for r in requests
    )
    same_count = sum(
        hf_out[r.id].completion_tokens == vllm_out[r.id].completion_tokens for r in requests
    )
    print(f"  of the others, equal but for a trailing cut character (U+FFFD): {cut_char}")
    print(f"  equal completion token counts: {same_count} of {n}")
    for r in requests:
        a, b = hf_out[r.id].outputs[0], vllm_out[r.id].outputs[0]
        if a != b:
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            at = min(len(a), len(b)) if at is None else at
            print(f"  item {r.id}: from character {at}: hf {a[at:][:24]!r}, vllm {b[at:][:24]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
