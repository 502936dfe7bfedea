"""GRPO on the SFT'd tiny model: verifier rewards are computed, logged, and move the weights."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from ovlt_train.cli import main
from tests.ovlt_train.conftest import REPO

GRPO_TEST_SETTINGS = [
    "bf16=false",
    "gradient_checkpointing=false",
    "learning_rate=1e-4",
    "num_generations=4",
    "rollout_batch_prompts=4",
    "update_batch_prompts=2",
    "per_device_batch_size=8",
    "max_completion_length=32",
    "image_max_pixels=3136",
    "image_min_pixels=3136",
    "reward.format_weight=0.5",
    # Hot sampling so the peaked SFT model's samples differ within a group (non-zero advantages),
    # and no weight decay, so any change in the weights comes from the GRPO loss.
    "temperature=2.0",
    "weight_decay=0",
    # The SFT'd tiny model never saw EasyR1's format suffix: under it, on an AVX2 machine, every
    # reply was word salad and every reward 0 (no learning signal). Prompts as SFT saw them.
    "format_prompt=null",
    "curriculum=[{config: grpo_medium, max_steps: 2}, {config: grpo_hard, max_steps: 2}]",
]


def test_grpo_curriculum_runs_logs_rewards_and_changes_weights(
    sft_run, train_data, tmp_path, capsys
):
    out = tmp_path / "grpo"
    argv = ["grpo", "--data", str(train_data["grpo_dir"]), "--model", str(sft_run["out"])]
    argv += [
        "--card",
        str(REPO / "cards/train/grpo.yaml"),
        "--curriculum",
        "medium,hard",
        "--out",
        str(out),
    ]
    for s in GRPO_TEST_SETTINGS:
        argv += ["--set", s]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().endswith(str(out / "grpo_hard"))
    stages = json.loads((out / "stages.json").read_text())
    assert [s["config"] for s in stages["stages"]] == ["grpo_medium", "grpo_hard"]

    medium = json.loads((out / "grpo_medium" / "ovlt_train.json").read_text())
    hard = json.loads((out / "grpo_hard" / "ovlt_train.json").read_text())
    assert medium["init_model"] == str(sft_run["out"]) and hard["init_model"] == str(
        out / "grpo_medium"
    )
    assert medium["global_steps"] == 2 and medium["resolved"]["use_vllm"] is False
    # 4 prompts x 4 samples per rollout, one optimiser step per 2 prompts x 4 samples
    assert medium["resolved"]["generation_batch_size"] == 16
    assert medium["resolved"]["steps_per_generation"] == 2
    logged = [e for e in medium["log_history"] if "rewards/accuracy/mean" in e]
    assert logged, medium["log_history"]
    first = logged[0]
    for key in (
        "reward",
        "reward_std",
        "rewards/format/mean",
        "completions/mean_length",
        "kl",
        "reward_detail/no_answer_tag",
    ):
        assert key in first, key
    # The SFT'd model answers in tags, so the verifier sees real answers, some right, some wrong.
    assert first["reward_detail/no_answer_tag"] < 0.5
    assert any(e["reward_std"] > 0 for e in logged)  # a learning signal, not all-equal rewards
    print(
        f"\nGRPO medium, step 1: reward {first['reward']:.3f}, accuracy {first['rewards/accuracy/mean']:.3f}, "
        f"format {first['rewards/format/mean']:.3f}, mean length {first['completions/mean_length']:.1f}"
    )

    before = load_file(sft_run["out"] / "model.safetensors")
    after = load_file(out / "grpo_hard" / "model.safetensors")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("language_model" in k or k.startswith("lm_head") for k in changed)
    # medium froze all of `visual`, merger included (EasyR1 fsdp_workers.py:224-226); hard
    # (vision trainable, as upstream) may move it
    mid = load_file(out / "grpo_medium" / "model.safetensors")
    visual = [k for k in before if ".visual." in f".{k}"]
    assert any("merger" in k for k in visual)
    assert all(torch.equal(before[k], mid[k]) for k in visual)
    assert medium["parameters"]["projector"] > 0

    # a second run finds both stages finished and redoes nothing
    mtime = (out / "grpo_hard" / "model.safetensors").stat().st_mtime
    assert main(argv) == 0
    assert (out / "grpo_hard" / "model.safetensors").stat().st_mtime == mtime


def test_grpo_config_maps_the_released_easyr1_recipe(monkeypatch):
    from ovlt_train.cards import GRPOCard, load_card
    from ovlt_train.grpo import build_grpo_config

    monkeypatch.setenv("WORLD_SIZE", "8")
    card = load_card(GRPOCard, REPO / "cards/train/grpo.yaml", ["bf16=false"])
    cfg = build_grpo_config(card, "/tmp/unused", card.curriculum[0])
    assert (cfg.learning_rate, cfg.weight_decay, cfg.beta, cfg.epsilon) == (1e-6, 1e-2, 1e-2, 0.2)
    # verl/workers/actor/config.py:83-84: clip_ratio_high 0.3, clip_ratio_dual 3.0
    assert (cfg.epsilon_high, cfg.delta) == (0.3, 3.0)
    assert (cfg.num_generations, cfg.temperature, cfg.max_completion_length) == (5, 1.0, 2048)
    assert cfg.generation_batch_size == 512 * 5
    # 128 prompts x 5 samples per update over 8 GPUs x 2 per device (EasyR1
    # micro_batch_size_per_device_for_update, config.yaml:28; dp_actor.py:231-234)
    assert cfg.per_device_train_batch_size == 2
    assert cfg.gradient_accumulation_steps == 40
    assert cfg.num_train_epochs == 5 and card.curriculum[1].epochs == 15
    assert cfg.loss_type == "bnpo" and cfg.scale_rewards == "group"


def test_grpo_bad_batch_shape_is_one_line(capsys, tmp_path):
    argv = [
        "grpo",
        "--data",
        str(tmp_path),
        "--model",
        str(tmp_path),
        "--card",
        str(REPO / "cards/train/grpo.yaml"),
    ]
    argv += ["--set", "rollout_batch_prompts=100", "--set", "update_batch_prompts=64"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must be a multiple of update_batch_prompts" in err[0]
