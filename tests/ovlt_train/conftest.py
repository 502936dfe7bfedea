"""Fixtures for ovlt_train: small trl-format datasets and one SFT checkpoint shared by tests."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ovlt_train.data import write_jsonl
from ovlt_train.synthetic_items import draw_items, grpo_rows, sft_rows

# The SFT recipe the tests use: the card's shape with CPU-sized numbers (fp32, tiny images,
# a learning rate a 1 MB random model needs). 32 items x 20 epochs / batch 8 = 80 steps.
REPO = Path(__file__).resolve().parents[2]

SFT_TEST_SETTINGS = [
    "bf16=false",
    "gradient_checkpointing=false",
    "learning_rate=3e-3",
    "warmup_ratio=0.05",
    "lr_scheduler_type=constant_with_warmup",
    "global_batch_size=8",
    "per_device_batch_size=8",
    "num_train_epochs=20",
    "max_length=256",
    "image_max_pixels=3136",
    "logging_steps=4",
]


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("train_data")
    items = draw_items(root, 32, seed=0)
    sft = sft_rows(items)
    write_jsonl(sft, root / "sft.jsonl")
    grpo_dir = root / "grpo"
    for config, part in (("grpo_medium", items[:16]), ("grpo_hard", items[16:])):
        # a --data folder (or a --data file's folder) holds its images: a path out of it is
        # refused, so each config keeps a copy of its own
        shutil.copytree(root / "images", grpo_dir / config / "images")
        rows = grpo_rows(part)
        write_jsonl(rows, grpo_dir / config / "train.jsonl")
    return {"root": root, "sft_rows": sft, "sft_file": root / "sft.jsonl", "grpo_dir": grpo_dir}


@pytest.fixture(scope="session")
def sft_run(train_data, tiny_model_dir, tmp_path_factory) -> dict:
    """`ovlt-train sft` through the CLI, once per session."""
    from ovlt_train.cli import main

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = tmp_path_factory.mktemp("sft") / "ckpt"
    argv = ["sft", "--data", str(train_data["sft_file"]), "--model", str(tiny_model_dir)]
    argv += ["--card", str(REPO / "ovlt_cards/train/sft.yaml"), "--out", str(out)]
    for s in SFT_TEST_SETTINGS:
        argv += ["--set", s]
    assert main(argv) == 0
    record = json.loads((out / "ovlt_train.json").read_text())
    return {"out": out, "record": record}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
