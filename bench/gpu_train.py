"""GPU training figures: a random-weight ~1B Qwen2.5-VL, 10 SFT steps and 3 GRPO steps.

    python bench/gpu_train.py [--out /tmp/gpu_train] [--sft-steps 10] [--grpo-steps 3]

Prints the device, per-step times, tokens/s and peak GPU memory for each phase. The model has
Qwen2.5-VL's architecture at about 1B parameters with random weights and the tiny offline
tokenizer (nothing is downloaded), so the figures are about throughput, not quality. For
context only: EasyR1 publishes its own reward/step baselines for real checkpoints; these runs
are not comparable to them. Exits 0 with a message when no CUDA device is present.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_model(out: Path, tiny: bool = False) -> Path:
    """The tiny builder's tokenizer/processor with a ~1B-parameter Qwen2.5-VL config."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from ovlt_eval.testing.tiny_model import build_tiny_qwen2_5_vl

    build_tiny_qwen2_5_vl(out)  # processor, tokenizer, chat template
    small = json.loads((out / "config.json").read_text())
    text = small["text_config"]
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": text["vocab_size"],
            "hidden_size": 2048,
            "intermediate_size": 5632,
            "num_hidden_layers": 22,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
            "max_position_embeddings": 8192,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": [16, 24, 24],
            },
            "bos_token_id": text.get("bos_token_id"),
            "eos_token_id": text.get("eos_token_id"),
            "pad_token_id": text.get("pad_token_id"),
            "tie_word_embeddings": False,
        },
        vision_config={
            "depth": 8,
            "hidden_size": 640,
            "intermediate_size": 1706,
            "num_heads": 10,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "out_hidden_size": 2048,
            "fullatt_block_indexes": [3, 7],
        },
        image_token_id=small["image_token_id"],
        video_token_id=small["video_token_id"],
        vision_start_token_id=small["vision_start_token_id"],
        vision_end_token_id=small["vision_end_token_id"],
        tie_word_embeddings=False,
    )
    if tiny:  # --cpu-smoke: the same config code path, the tiny weights
        with torch.device("meta"):
            n = sum(p.numel() for p in Qwen2_5_VLForConditionalGeneration(config).parameters())
        print(
            f"(the GPU model would have {n / 1e9:.2f} B parameters; the smoke run keeps the tiny one)"
        )
        return out
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    print(f"model: random Qwen2.5-VL, {n / 1e9:.2f} B parameters")
    return out


def make_data(root: Path, n: int) -> tuple[Path, Path]:
    from ovlt_train.data import write_jsonl
    from ovlt_train.synthetic_items import draw_items, grpo_rows, sft_rows

    items = draw_items(root, n, size=448)
    rows = sft_rows(items)
    for r in rows:  # longer answers, as reasoning traces are
        r["messages"][1]["content"] = r["messages"][1]["content"].replace(
            "<think>", "<think> " + "Let me look at the figure and count carefully. " * 20
        )
    write_jsonl(rows, root / "sft.jsonl")
    g = grpo_rows(items)
    for r in g:
        r["images"] = [f"../../{p}" for p in r["images"]]
    write_jsonl(g, root / "grpo" / "grpo_medium" / "train.jsonl")
    return root / "sft.jsonl", root / "grpo"


class StepTimer:
    def __init__(self):
        import transformers

        class CB(transformers.TrainerCallback):
            def __init__(self, outer):
                self.outer = outer

            def on_step_begin(self, args, state, control, **kw):
                self.outer.t0 = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                self.outer.times.append(time.perf_counter() - self.outer.t0)

        self.times: list[float] = []
        self.callback = CB(self)


def phase(name: str, fn) -> None:
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    timer = StepTimer()
    t0 = time.perf_counter()
    record = fn(timer.callback)
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    tokens = record.get("tokens")
    steps = timer.times
    print(f"\n== {name}: {len(steps)} steps, wall {wall:.1f}s, peak GPU memory {peak:.1f} GiB")
    print("   step times (s): " + ", ".join(f"{t:.2f}" for t in steps))
    if steps:
        warm = steps[1:] or steps
        print(f"   mean step (after the first): {sum(warm) / len(warm):.2f}s")
    if tokens:
        print(f"   tokens: {tokens:,}  →  {tokens / sum(steps):,.0f} tokens/s over step time")
    for key, value in record.items():
        if key != "tokens":
            print(f"   {key}: {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--sft-steps", type=int, default=10)
    parser.add_argument("--grpo-steps", type=int, default=3)
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="tiny model on the CPU: checks the script, measures nothing",
    )
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("gpu_train: torch is not installed; nothing to measure")
        return 0
    if not torch.cuda.is_available() and not args.cpu_smoke:
        print("gpu_train: no CUDA device here; run this on a GPU machine (nothing measured)")
        return 0
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        print(f"device: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    else:
        print("device: CPU (--cpu-smoke: tiny model, the figures mean nothing)")
    root = Path(args.out or tempfile.mkdtemp(prefix="gpu_train_"))
    model_dir = build_model(root / "model", tiny=args.cpu_smoke)
    smoke = (
        ["bf16=false", "gradient_checkpointing=false", "image_max_pixels=3136"]
        if args.cpu_smoke
        else []
    )
    sft_file, grpo_dir = make_data(root / "data", 64)

    from trl import GRPOTrainer, SFTTrainer

    from ovlt_train.grpo import run_grpo
    from ovlt_train.sft import run_sft

    def with_callback(cls, cb):
        original = cls.__init__

        def init(self, *a, **kw):
            original(self, *a, **kw)
            self.add_callback(cb)

        cls.__init__ = init
        return original

    def sft(cb):
        original = with_callback(SFTTrainer, cb)
        try:
            out = run_sft(
                data=str(sft_file),
                model=str(model_dir),
                card_path=REPO / "ovlt_cards/train/sft.yaml",
                overrides=[
                    "preset=released",
                    "global_batch_size=8",
                    "per_device_batch_size=8",
                    f"max_steps={args.sft_steps}",
                    "logging_steps=1",
                    "attn_implementation=sdpa",
                    *smoke,
                ],
                out_dir=root / "sft",
            )
        finally:
            SFTTrainer.__init__ = original
        rec = json.loads((out / "ovlt_train.json").read_text())
        return {"loss": [round(x, 3) for x in rec["loss_curve"]], "tokens": _tokens(rec)}

    def grpo(cb):
        original = with_callback(GRPOTrainer, cb)
        try:
            out = run_grpo(
                data=f"{grpo_dir}@grpo_medium",
                model=str(root / "sft"),
                card_path=REPO / "ovlt_cards/train/grpo.yaml",
                overrides=[
                    "rollout_batch_prompts=8",
                    "update_batch_prompts=8",
                    "per_device_batch_size=8",
                    "max_completion_length=512",
                    "use_vllm=auto",
                    "attn_implementation=sdpa",
                    "image_min_pixels=3136",
                    f"curriculum=[{{config: grpo_medium, max_steps: {args.grpo_steps}}}]",
                    *smoke,
                    *(["max_completion_length=16"] if args.cpu_smoke else []),
                ],
                out_dir=root / "grpo",
            )
        finally:
            GRPOTrainer.__init__ = original
        rec = json.loads((out / "ovlt_train.json").read_text())
        lengths = [
            e.get("completions/mean_length")
            for e in rec["log_history"]
            if "completions/mean_length" in e
        ]
        completions = 8 * 5
        tokens = int(sum(lengths) * completions) if lengths else None
        return {
            "tokens": tokens,
            "reward": rec["reward_curve"],
            "use_vllm": rec["resolved"]["use_vllm"],
            "mean completion length": lengths,
        }

    phase("SFT", sft)
    phase("GRPO", grpo)
    return 0


def _tokens(rec) -> int | None:
    seen = [e.get("num_tokens") for e in rec.get("log_history", []) if e.get("num_tokens")]
    return int(seen[-1]) if seen else None


if __name__ == "__main__":
    from ovlt_eval.errors import run_script

    sys.exit(run_script(main))
