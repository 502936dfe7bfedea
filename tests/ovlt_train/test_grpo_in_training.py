"""EasyR1's in-training checkpoints and validation on a GRPO stage of the tiny model.

EasyR1 counts a step per rollout batch (ray_trainer.py:476-478), validates before training, every
`val_freq` steps and at the end (:470-472, :594-602, :617-624) with temperature 0.5 and n 1
(config.yaml:60-62), scoring with the reward function (`val/reward_score`, :310-323), and saves
`global_step_<n>/` every `save_freq` steps (:400, :604-606). Here: 2 prompts per rollout and 1
per optimiser step, so a rollout step is 2 trl steps; 4 trl steps = rollout steps 1 and 2.
"""

from __future__ import annotations

import json

import pytest
import torch

from ovlt_eval.errors import UserError
from ovlt_train.cards import LoopCard
from ovlt_train.cli import main
from ovlt_train.loop import generator_checkpoint
from tests.ovlt_train.conftest import REPO
from tests.ovlt_train.test_grpo import GRPO_TEST_SETTINGS


def test_stage_saves_step_checkpoints_and_validates(sft_run, train_data, tmp_path):
    out = tmp_path / "grpo"
    argv = [
        "grpo",
        "--data",
        f"{train_data['grpo_dir']}@grpo_medium",
        "--model",
        str(sft_run["out"]),
    ]
    argv += ["--card", str(REPO / "ovlt_cards/train/grpo.yaml"), "--out", str(out)]
    settings = [s for s in GRPO_TEST_SETTINGS if not s.startswith("curriculum=")]
    settings += [
        "curriculum=[{config: grpo_medium, max_steps: 4}]",
        "num_generations=2",  # small rollouts: 2 prompts x 2 samples, one prompt per step
        "rollout_batch_prompts=2",
        "update_batch_prompts=1",
        "per_device_batch_size=2",
        "checkpoints.save_steps=1",
        "validation.eval_steps=1",
        f"validation.data={train_data['grpo_dir']}@grpo_hard",
        "validation.max_items=4",
        "validation.batch_size=4",
    ]
    for s in settings:
        argv += ["--set", s]
    argv.append("--no-progress")
    assert main(argv) == 0
    stage = out / "grpo_medium"
    record = json.loads((stage / "ovlt_train.json").read_text())
    assert record["global_steps"] == 4
    assert record["in_training"]["optimizer_steps_per_rollout_step"] == 2
    assert record["in_training"]["validation"]["items"] == 4
    assert record["in_training"]["validation"]["temperature"] == 0.5
    assert record["precision"]["mode"] == "fp32"  # bf16=false in the test settings

    # validation: before training (step 0) and after each rollout step (trl steps 2 and 4)
    log = [json.loads(line) for line in (stage / "train_log.jsonl").read_text().splitlines()]
    val = [e for e in log if "val/reward_score" in e]
    assert [(e["step"], e["rollout_step"]) for e in val] == [(0, 0), (2, 1), (4, 2)]
    for e in val:
        assert e["val/items"] == 4
        assert 0.0 <= e["val/accuracy_reward"] <= 1.0
        assert e["val/reward_score"] == pytest.approx(
            e["val/accuracy_reward"] + 0.5 * e["val/format_reward"]
        )
    assert sum(1 for e in record["log_history"] if "val/reward_score" in e) == 3

    # a loadable checkpoint per rollout step, its record naming the step
    from transformers import AutoModelForImageTextToText, AutoProcessor

    for n in (1, 2):
        ckpt = stage / f"global_step_{n}"
        rec = json.loads((ckpt / "ovlt_train.json").read_text())
        assert rec["checkpoint"] == {"rollout_step": n, "optimizer_step": 2 * n, "final": False}
        AutoModelForImageTextToText.from_pretrained(ckpt)
        AutoProcessor.from_pretrained(ckpt)
        step_log = (ckpt / "train_log.jsonl").read_text()
        assert f'"rollout_step": {n}' in step_log  # the log as it stood at that step
    # the loop's generate_from resolves to the step folder
    assert generator_checkpoint(str(stage), "step2", "r1.grpo_medium") == str(
        stage / "global_step_2"
    )
    with pytest.raises(UserError, match="saved no global_step_30 .* global_step_1, global_step_2"):
        generator_checkpoint(str(stage), "step30", "r1.grpo_medium")
    assert generator_checkpoint(str(stage), "final", "r1.grpo_medium") == str(stage)


def test_mixed_precision_weights_are_saved_as_bf16(tiny_model_dir, tmp_path):
    """fp32 training weights are written as bf16 (EasyR1 model_merger.py:128-183) without
    touching the weights training goes on with."""
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText, Trainer, TrainingArguments

    from ovlt_train.model_io import save_weights

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32)
    args = TrainingArguments(output_dir=str(tmp_path / "t"), report_to=[], use_cpu=True)
    trainer = Trainer(model=model, args=args)
    save_weights(trainer, tmp_path / "ckpt", "bfloat16")
    saved = load_file(next((tmp_path / "ckpt").glob("*.safetensors")))
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["dtype"] == "bfloat16"
    assert next(model.parameters()).dtype == torch.float32
    assert str(model.config.dtype).endswith("float32")


def test_generate_from_must_name_final_or_a_step():
    LoopCard(base_model="m", generate_from={3: "step30"})
    assert LoopCard(base_model="m", generate_from={3: "step30"}).generate_from_for(2) == "final"
    with pytest.raises(ValueError, match="generate_from 'step-30'"):
        LoopCard(base_model="m", generate_from={3: "step-30"})


def test_loop_dry_run_shows_which_checkpoint_writes_each_round(capsys):
    assert main(["loop", "--card", str(REPO / "ovlt_cards/loop.yaml"), "--dry-run"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["r2.data"].endswith("from r1.grpo_hard (final): <r1.grpo_hard>")
    assert lines["r3.data"].endswith("from r2.grpo_hard (step30): <r2.grpo_hard>/global_step_30")
