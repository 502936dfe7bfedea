"""Mixed precision as EasyR1 trains: fp32 weights and AdamW state, bf16 compute.

EasyR1 loads the actor in float32 (train/easyr1/verl/workers/fsdp_workers.py:184-185) and
computes in bf16 through FSDP's MixedPrecision (:235-239). ovlt loaded the weights in bf16, so
without DeepSpeed's master weights AdamW updated bf16 weights directly and, at GRPO's lr 1e-6,
the update rounded away. One AdamW step on the tiny model, with the loss under bf16 autocast as
the Trainer runs it with `bf16=True`, shows the difference.
"""

from __future__ import annotations

import pytest
import torch

from ovlt_train.cards import GRPOCard, SFTCard
from ovlt_train.model_io import load_training_model
from ovlt_train.precision import resolve_precision


def _one_adamw_step(model, lr: float) -> tuple[int, int]:
    """(elements changed, elements) after one AdamW step, over the weight elements with a
    gradient (a text-only batch reaches neither the vision tower nor unused embedding rows)."""
    torch.manual_seed(0)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    ids = torch.randint(0, model.config.get_text_config().vocab_size, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    reached = [
        p.grad != 0 if p.grad is not None else torch.zeros_like(p, dtype=bool) for p in params
    ]
    opt.step()
    changed = sum(
        int(((p.detach() != b) & r).sum()) for p, b, r in zip(params, before, reached, strict=True)
    )
    return changed, sum(int(r.sum()) for r in reached)


def test_grpo_step_at_lr_1e6_changes_the_weights(tiny_model_dir):
    card = GRPOCard()  # bf16 on, precision auto, no DeepSpeed: EasyR1's mixed precision
    model, precision = load_training_model(str(tiny_model_dir), card)
    assert precision.mode == "mixed"
    assert next(model.parameters()).dtype == torch.float32
    changed, total = _one_adamw_step(model, card.learning_rate)
    assert changed / total > 0.9, (changed, total)


def test_pure_bf16_adamw_leaves_them_unchanged(tiny_model_dir):
    """The old behaviour (`precision: bf16`): the same step rounds away in bf16 weights."""
    card = GRPOCard(precision="bf16")
    model, precision = load_training_model(str(tiny_model_dir), card)
    assert precision.mode == "bf16"
    assert next(model.parameters()).dtype == torch.bfloat16
    changed, total = _one_adamw_step(model, card.learning_rate)
    assert changed / total < 0.1, (changed, total)


@pytest.mark.parametrize(
    ("deepspeed", "setting", "bf16", "mode", "load"),
    [
        (False, "auto", True, "mixed", "float32"),
        (True, "auto", True, "deepspeed", "bfloat16"),  # ZeRO-3 keeps fp32 master weights
        (True, "mixed", True, "mixed", "float32"),
        (False, "bf16", True, "bf16", "bfloat16"),
        (False, "auto", False, "fp32", "float32"),
    ],
)
def test_resolution(deepspeed, setting, bf16, mode, load):
    for card in (SFTCard(precision=setting, bf16=bf16), GRPOCard(precision=setting, bf16=bf16)):
        p = resolve_precision(card, deepspeed=deepspeed)
        assert (p.mode, p.load_dtype) == (mode, load)
        assert p.save_dtype == ("float32" if not bf16 else "bfloat16")


def test_accelerate_deepspeed_launch_is_seen(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    assert resolve_precision(GRPOCard()).mode == "deepspeed"
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    assert resolve_precision(GRPOCard(deepspeed="cards/train/ds_zero3.json")).mode == "deepspeed"
    assert resolve_precision(GRPOCard()).mode == "mixed"


def test_print_config_shows_precision_and_micro_batch(capsys):
    from ovlt_train.cli import main

    assert main(["grpo", "--print-config", "--world-size", "8"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["precision"]["mode"] == "mixed"
    assert out["precision"]["load_dtype"] == "float32"
    assert out["micro_batch"].startswith("2 completions per device x 40 accumulation x 8")
    for stage in out["stages"]:
        assert stage["trl"]["per_device_train_batch_size"] == 2
        assert stage["trl"]["gradient_accumulation_steps"] == 40
    assert main(["sft", "--print-config", "--world-size", "8"]) == 0
    sft = json.loads(capsys.readouterr().out)
    assert sft["precision"]["mode"] == "mixed"
    assert sft["micro_batch"].startswith("2 per device x 4 accumulation x 8 processes = 64")
