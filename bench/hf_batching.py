"""The `hf` engine on the CPU: batch 16 vs batch 1, greedy, on the tiny Qwen2.5-VL.

64 MathVision testmini items (question + image, from ../shared/benchmarks/mathvision), 64 new
tokens each, the paper's near-greedy sampling (which the engine runs as greedy). Prints both
rates, the ratio (target >= 3x) and whether the greedy outputs are identical item by item.
The tiny model is built on the fly (seconds, offline); its texts are random and mean nothing.

    OMP_NUM_THREADS=2 python bench/hf_batching.py [--items 64] [--new-tokens 64] [--batch 16]
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
import tempfile
import time
from pathlib import Path

from ovlt_eval.engines import GenerationRequest, SamplingParams, get_engine
from ovlt_eval.errors import UserError, at_least
from ovlt_eval.profiles import get_profile
from ovlt_eval.testing.tiny_model import build_tiny_qwen2_5_vl

MATHVISION = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "mathvision"


def _requests(n_items: int, new_tokens: int) -> list[GenerationRequest]:
    profile = get_profile("openvlthinker")
    if not (MATHVISION / "testmini.jsonl").is_file():
        raise UserError(f"needs MathVision testmini (testmini.jsonl + images/) under {MATHVISION}")
    rows = [json.loads(line) for line in open(MATHVISION / "testmini.jsonl")][:n_items]
    sampling = SamplingParams(max_tokens=new_tokens)
    return [
        GenerationRequest(
            id=row["id"],
            messages=profile.build_messages(row["question"], [str(MATHVISION / row["image"])]),
            sampling=sampling,
        )
        for row in rows
    ]


def _timed(engine, requests) -> tuple[float, dict]:
    start = time.perf_counter()
    results = {r.id: r for r in engine.generate(requests)}
    return time.perf_counter() - start, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=at_least(1), default=64)
    parser.add_argument("--new-tokens", type=at_least(1), default=64)
    parser.add_argument("--batch", type=at_least(1), default=16)
    parser.add_argument("--model", help="a checkpoint directory (default: build the tiny model)")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_qwen2_5_vl(Path(tmp) / "tiny"))
        requests = _requests(args.items, args.new_tokens)
        print(
            f"device: cpu ({platform.machine()}, {os.cpu_count()} CPUs, torch threads "
            f"{torch.get_num_threads()}), torch {torch.__version__}"
        )
        print(f"model: {model if args.model else 'tiny random Qwen2.5-VL (fp32)'}")
        print(
            f"workload: {len(requests)} MathVision items with images, {args.new_tokens} new tokens, greedy"
        )
        batched = get_engine("hf", model=model, batch_size=args.batch, device="cpu")
        single = get_engine("hf", model=model, batch_size=1, device="cpu")
        _timed(batched, requests[:2])  # warm-up
        b_s, b_out = _timed(batched, requests)
        s_s, s_out = _timed(single, requests)

    ok = all(r.status == "ok" for r in [*b_out.values(), *s_out.values()])
    tokens = sum(sum(r.completion_tokens) for r in b_out.values())
    same = sum(b_out[k].outputs == s_out[k].outputs for k in s_out)
    print(
        f"batch {args.batch}: {b_s:.2f} s = {len(requests) / b_s:.2f} items/s, {tokens / b_s:.0f} tokens/s"
    )
    print(f"batch 1: {s_s:.2f} s = {len(requests) / s_s:.2f} items/s, {tokens / s_s:.0f} tokens/s")
    ratio = s_s / b_s
    print(
        f"speed-up: {ratio:.1f}x ({'meets' if ratio >= 3 else 'BELOW'} the 3x target); all ok: {ok}"
    )
    print(
        f"identical greedy outputs: {same}/{len(s_out)} items ({'yes' if same == len(s_out) else 'NO'})"
    )
    return 0


if __name__ == "__main__":
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
