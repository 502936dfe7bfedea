"""The authors' released data as `ovlt-train` inputs: LLaMA-Factory sharegpt for SFT, EasyR1 for
GRPO, read from fixture files in each exact schema (released_fixtures.py) and trained one step on
the tiny Qwen2.5-VL. The Hub ids resolve through `datasets.load_dataset`, which the Hub tests
replace by a loader of the fixture that insists on the arguments a released set needs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import datasets
import pytest

from ovlt_data.released_formats import MATH_FORMAT_SUFFIX
from ovlt_eval.errors import UserError
from ovlt_train.cli import main
from ovlt_train.data import load_training_data, parse_spec, with_format_prompt
from tests.ovlt_train.conftest import REPO
from tests.ovlt_train.released_fixtures import (
    TRAIN_FILE,
    write_easyr1_parquet,
    write_llamafactory_json,
    write_llamafactory_parquet,
)

ONE_SFT_STEP = [
    "bf16=false",
    "gradient_checkpointing=false",
    "learning_rate=1e-3",
    "warmup_ratio=0",
    "global_batch_size=4",
    "per_device_batch_size=4",
    "max_steps=1",
    "max_length=256",
    "image_max_pixels=3136",
    "logging_steps=1",
]
ONE_GRPO_STEP = [
    "bf16=false",
    "gradient_checkpointing=false",
    "num_generations=2",
    "rollout_batch_prompts=2",
    "update_batch_prompts=2",
    "per_device_batch_size=4",
    "max_completion_length=8",
    "image_max_pixels=3136",
    "image_min_pixels=3136",
]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("released")
    return {
        "sharegpt_parquet": write_llamafactory_parquet(root),
        "sharegpt_json": write_llamafactory_json(root),
        "easyr1": write_easyr1_parquet(root),
    }


@pytest.fixture
def fake_hub(monkeypatch, released):
    """`datasets.load_dataset` for the two released ids, from the fixture parquet (the same rows
    stand for `train` and `test`, EasyR1's val_files); a call with a config or another split
    than the released sets have fails the test."""
    real = datasets.load_dataset
    files = {
        "ydeng9/OpenVLThinker-sft-iter3": released["sharegpt_parquet"] / TRAIN_FILE,
        "ydeng9/medium_grpo_only": released["easyr1"] / TRAIN_FILE,
    }
    calls = []

    def load(path, name=None, *args, split=None, revision=None, **kw):
        if path in files:
            calls.append((path, name, split, revision))
            assert name is None and split in ("train", "test"), (path, name, split)
            return real("parquet", data_files=str(files[path]), split="train")
        return real(path, name, *args, split=split, revision=revision, **kw)

    monkeypatch.setattr(datasets, "load_dataset", load)
    return calls


def _record(out: Path) -> dict:
    return json.loads((out / "ovlt_train.json").read_text())


def test_sharegpt_rows_become_typed_parts_with_the_image_in_place(released):
    ds = load_training_data(parse_spec(str(released["sharegpt_json"]), "sft"), "trl-sft")
    assert len(ds) == 8 and ds[0]["images"][0].size == (56, 56)
    user, assistant = ds[0]["messages"]
    assert [p["type"] for p in user["content"]] == ["image", "text"]
    assert "<image>" not in user["content"][1]["text"]
    assert assistant["role"] == "assistant" and "<answer>" in assistant["content"][0]["text"]


def test_easyr1_rows_become_prompt_and_solution_train_split_only(released):
    spec = parse_spec(str(released["easyr1"]))
    ds = load_training_data(spec, "trl-grpo")
    assert len(ds) == 8  # the test split (4 rows) is not trained on
    assert {"prompt", "solution", "images"} <= set(ds.column_names)
    assert "problem" not in ds.column_names and ds[0]["solution"] in {"1", "2", "3"}
    test = load_training_data(parse_spec(f"{released['easyr1']}@test"), "trl-grpo")
    assert len(test) == 4
    parts = with_format_prompt(ds, MATH_FORMAT_SUFFIX)[0]["prompt"][0]["content"]
    assert parts[0]["type"] == "image" and parts[-1]["text"].endswith(MATH_FORMAT_SUFFIX)


def test_a_row_whose_placeholders_miscount_its_images_is_dropped_not_fatal(tmp_path, caplog):
    from ovlt_train.synthetic_items import draw_items

    items = draw_items(tmp_path, 3)
    rows = [
        {
            "problem": ("<image>" * (2 if i == 1 else 1)) + "How many?",
            "answer": "1",
            "images": [it["image"]],
        }
        for i, it in enumerate(items)
    ]
    (tmp_path / "train.json").write_text(json.dumps(rows))
    ds = load_training_data(parse_spec(str(tmp_path / "train.json")), "trl-grpo")
    assert len(ds) == 2
    assert "1/3 rows dropped" in caplog.text and "2 <image> placeholder(s) for 1 image(s)" in (
        caplog.text
    )


def test_sft_one_step_from_released_sharegpt_hub_id(fake_hub, tiny_model_dir, tmp_path):
    out = tmp_path / "sft"
    argv = ["sft", "--data", "ydeng9/OpenVLThinker-sft-iter3", "--model", str(tiny_model_dir)]
    argv += ["--card", str(REPO / "cards/train/sft.yaml"), "--out", str(out)]
    for s in ONE_SFT_STEP:
        argv += ["--set", s]
    assert main(argv) == 0
    assert fake_hub == [("ydeng9/OpenVLThinker-sft-iter3", None, "train", None)]
    rec = _record(out)
    assert rec["global_steps"] == 1 and math.isfinite(rec["train_loss"]) and rec["train_loss"] > 0
    assert rec["data"]["source"] == "ydeng9/OpenVLThinker-sft-iter3"
    print(
        f"\nsft <- ydeng9/OpenVLThinker-sft-iter3 fixture: step {rec['global_steps']}, "
        f"loss {rec['train_loss']:.4f}"
    )


def test_sft_one_step_from_llamafactory_json_folder(released, tiny_model_dir, tmp_path):
    out = tmp_path / "sft"
    argv = ["sft", "--data", str(released["sharegpt_json"]), "--model", str(tiny_model_dir)]
    argv += ["--card", str(REPO / "cards/train/sft.yaml"), "--out", str(out)]
    for s in ONE_SFT_STEP:
        argv += ["--set", s]
    assert main(argv) == 0
    rec = _record(out)
    assert rec["global_steps"] == 1 and math.isfinite(rec["train_loss"]) and rec["train_loss"] > 0
    assert rec["n_examples"] == 8
    print(
        f"\nsft <- LLaMA-Factory json fixture: step {rec['global_steps']}, "
        f"loss {rec['train_loss']:.4f}"
    )


def test_grpo_one_step_from_released_easyr1_hub_id(fake_hub, tiny_model_dir, tmp_path):
    out = tmp_path / "grpo"
    argv = ["grpo", "--data", "ydeng9/medium_grpo_only", "--model", str(tiny_model_dir)]
    argv += ["--card", str(REPO / "cards/train/grpo.yaml"), "--out", str(out)]
    for s in [*ONE_GRPO_STEP, "curriculum=[{config: grpo_medium, max_steps: 1}]"]:
        argv += ["--set", s]
    assert main(argv) == 0
    assert fake_hub and fake_hub[0][:3] == ("ydeng9/medium_grpo_only", None, "train")
    rec = _record(out / "grpo_medium")  # the released medium set is the medium stage
    assert rec["global_steps"] == 1 and math.isfinite(rec["train_loss"])
    # in-training validation on the set's @test split, as EasyR1's val_files (config.yaml:3)
    assert fake_hub[-1][:3] == ("ydeng9/medium_grpo_only", None, "test")
    assert rec["in_training"]["validation"]["data"]["split"] == "test"
    assert sum("val/reward_score" in e for e in rec["log_history"]) == 2  # before, and at the end
    assert rec["n_prompts"] == 8 and rec["stage"]["config"] == "grpo_medium"
    # medium freezes all of `visual`, merger included (EasyR1 fsdp_workers.py:224-226)
    params = rec["parameters"]
    assert (
        params["projector"] > 0 and params["frozen"] >= params["vision_tower"] + params["projector"]
    )
    print(
        f"\ngrpo <- ydeng9/medium_grpo_only fixture: step {rec['global_steps']}, "
        f"loss {rec['train_loss']:.4f}"
    )


def test_grpo_on_a_configless_folder_needs_the_stage_named(released, tiny_model_dir, capsys):
    argv = ["grpo", "--data", str(released["easyr1"]), "--model", str(tiny_model_dir)]
    argv += ["--card", str(REPO / "cards/train/grpo.yaml"), "--out", "/nonexistent/x"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--curriculum medium" in err[0]


def test_hub_config_that_is_not_the_default_is_kept():
    spec = parse_spec("ydeng9/OpenVLThinker-sft-iter3", "sft")
    assert spec.config_is_default and spec.released_format == "llamafactory"
    assert not parse_spec("org/data@sft", "sft").config_is_default
    assert parse_spec("ydeng9/medium_grpo_only@test").split == "test"
    with pytest.raises(UserError, match="neither a local path nor a Hub id"):
        parse_spec("medium_grpo_only@train")
