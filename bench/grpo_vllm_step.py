"""One GRPO step with colocated vLLM rollouts vs transformers generate, same tiny model and data.

    .venv-vllm/bin/python bench/grpo_vllm_step.py [--steps 3] [--completion 64]

Runs `ovlt-train grpo` (the hard stage, vision tower trained) once with `use_vllm=off` and once
with `use_vllm=on`, each in its own process, and prints per-step seconds (the first step of the
vLLM run includes the first weight sync), start-up seconds (model load, and vLLM's engine), and
the ratio HF / vLLM of the median step. Also prints trl's trainer-vs-vLLM log-prob gap and
importance-sampling ratio of every vLLM step (1.0 when the rollout prompt is the trained one).
Needs vLLM (`make setup-vllm` on a CPU machine). The tiny model's weights are random: the
figures are about the machinery's speed, not about learning.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_run(mode: str, root: Path, steps: int, completion: int) -> dict:
    import transformers
    from trl import GRPOTrainer

    from ovlt_eval.testing.tiny_model import cached_tiny_qwen2_5_vl
    from ovlt_train.data import write_jsonl
    from ovlt_train.grpo import run_grpo
    from ovlt_train.synthetic_items import draw_items, grpo_rows

    model = cached_tiny_qwen2_5_vl(REPO / ".cache")
    data = root / "data"
    items = draw_items(data, 16, seed=0)
    rows = grpo_rows(items)
    for r in rows:  # image paths are relative to the jsonl's folder
        r["images"] = [f"../{p}" for p in r["images"]]
    write_jsonl(rows, data / "grpo_hard" / "train.jsonl")
    times: list[float] = []

    class StepTimer(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t0)

    original = GRPOTrainer.__init__
    generate = GRPOTrainer._generate_single_turn
    gen_times: list[float] = []

    def init(self, *a, **kw):
        original(self, *a, **kw)
        self.add_callback(StepTimer())

    def timed_generate(self, *a, **kw):  # the rollout itself (vLLM: weight sync included)
        t = time.perf_counter()
        try:
            return generate(self, *a, **kw)
        finally:
            gen_times.append(time.perf_counter() - t)

    GRPOTrainer.__init__ = init
    GRPOTrainer._generate_single_turn = timed_generate
    t0 = time.perf_counter()
    out = run_grpo(
        data=f"{data}@grpo_hard",
        model=str(model),
        card_path=REPO / "ovlt_cards/train/grpo.yaml",
        overrides=[
            f"use_vllm={mode}",
            "bf16=false",
            "gradient_checkpointing=false",
            "num_generations=4",
            "rollout_batch_prompts=4",
            "update_batch_prompts=4",
            "per_device_batch_size=16",
            f"max_completion_length={completion}",
            "image_max_pixels=3136",
            "image_min_pixels=3136",
            # trl's trainer log-probs ignore top_p and vLLM's processed ones renormalise over the
            # nucleus: with top_p 1 trl's IS ratio measures only rollout-vs-trainer agreement.
            "top_p=1.0",
            "vllm_importance_sampling_correction=true",
            f"curriculum=[{{config: grpo_hard, max_steps: {steps}, freeze_vision_tower: false}}]",
        ],
        out_dir=root / "grpo",
        progress=False,
    )
    total = time.perf_counter() - t0
    rec = json.loads((out / "ovlt_train.json").read_text())
    logs = rec["log_history"]
    return {
        "mode": mode,
        "use_vllm": rec["resolved"]["use_vllm"],
        "steps_s": [round(t, 3) for t in times],
        "rollout_s": [round(t, 3) for t in gen_times],
        "total_s": round(total, 1),
        "startup_s": round(total - sum(times), 1),
        "mean_length": [e.get("completions/mean_length") for e in logs if "reward" in e],
        "is_ratio_mean": [
            e["sampling/importance_sampling_ratio/mean"]
            for e in logs
            if "sampling/importance_sampling_ratio/mean" in e
        ],
        "logp_gap_mean": [
            e["sampling/sampling_logp_difference/mean"]
            for e in logs
            if "sampling/sampling_logp_difference/mean" in e
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--completion", type=int, default=64)
    ap.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        res = one_run(args.one, Path(args.root), args.steps, args.completion)
        print("RESULT " + json.dumps(res))
        return 0
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        print("grpo_vllm_step: vLLM is not installed here; run it with .venv-vllm/bin/python")
        return 0
    results = {}
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    for mode in ("off", "on"):
        with tempfile.TemporaryDirectory(prefix=f"grpo_{mode}_") as tmp:
            cmd = [sys.executable, __file__, "--one", mode, "--root", tmp]
            cmd += ["--steps", str(args.steps), "--completion", str(args.completion)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
                print(f"use_vllm={mode}: failed (rc {proc.returncode}): {tail}")
                return 1
            results[mode] = json.loads(line[0][len("RESULT ") :])
    for mode, r in results.items():
        label = "vLLM rollouts" if mode == "on" else "HF generate"
        print(
            f"{label:14s} steps {r['steps_s']} s (rollouts {r['rollout_s']} s), start-up "
            f"{r['startup_s']} s, total {r['total_s']} s, mean completion length {r['mean_length']}"
        )
    on = results["on"]
    print(f"vLLM IS ratio mean per step {on['is_ratio_mean']}, logp gap mean {on['logp_gap_mean']}")
    hf_med = statistics.median(results["off"]["steps_s"][1:] or results["off"]["steps_s"])
    vl_med = statistics.median(on["steps_s"][1:] or on["steps_s"])
    print(
        f"median step (after the first): HF {hf_med:.2f} s, vLLM {vl_med:.2f} s, HF/vLLM x{hf_med / vl_med:.2f}"
    )
    hf_gen = statistics.median(results["off"]["rollout_s"][1:] or results["off"]["rollout_s"])
    vl_gen = statistics.median(on["rollout_s"][1:] or on["rollout_s"])
    print(
        f"median rollout (after the first): HF generate {hf_gen:.2f} s, vLLM {vl_gen:.2f} s, "
        f"HF/vLLM x{hf_gen / vl_gen:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
