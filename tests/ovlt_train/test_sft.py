"""SFT on the tiny Qwen2.5-VL: the answer format is learnt; checkpoints load back plainly."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from ovlt_train.cli import main
from ovlt_train.synthetic_items import answer_tag_share, greedy_texts
from tests.ovlt_train.conftest import REPO, SFT_TEST_SETTINGS


def test_sft_learns_the_answer_format(sft_run, train_data, tiny_model_dir):
    rows, base = train_data["sft_rows"], train_data["root"]
    before = answer_tag_share(greedy_texts(tiny_model_dir, rows, base))
    after_texts = greedy_texts(sft_run["out"], rows, base)
    after = answer_tag_share(after_texts)
    curve = sft_run["record"]["loss_curve"]
    print(f"\nSFT loss curve: {[round(x, 3) for x in curve]}")
    print(f"answer-tag share: before {before:.0%}, after {after:.0%}; e.g. {after_texts[0]!r}")
    assert len(curve) >= 5
    assert curve[-1] < curve[0] / 5
    assert before <= 0.1
    assert after >= 0.9


def test_sft_freezes_vision_and_trains_language_model(sft_run, tiny_model_dir):
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(sft_run["out"] / "model.safetensors")
    vision = [k for k in before if ".visual." in f".{k}"]
    language = [k for k in before if "language_model" in k or k.startswith("lm_head")]
    assert vision and language
    assert all(torch.equal(before[k], after[k]) for k in vision)  # tower and merger frozen
    assert any(not torch.equal(before[k], after[k]) for k in language)
    params = sft_run["record"]["parameters"]
    assert params["vision_tower"] > 0 and params["projector"] > 0


def test_sft_checkpoint_loads_with_plain_from_pretrained(sft_run, tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    out = sft_run["out"]
    processor = AutoProcessor.from_pretrained(out)
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    base_template = AutoProcessor.from_pretrained(tiny_model_dir).chat_template
    assert processor.chat_template == base_template  # the training template never leaks
    assert (
        processor.image_processor.size["longest_edge"] == 3136
    )  # the pixel budget it was trained at
    record = sft_run["record"]
    assert record["resolved"]["gradient_accumulation_steps"] == 1
    assert record["lengths"]["cut_images"] == 0 and record["lengths"]["max_through_images"] > 4


def test_max_length_that_cuts_image_tokens_is_an_error_before_training(
    train_data, tiny_model_dir, tmp_path, capsys
):
    argv = ["sft", "--data", str(train_data["sft_file"]), "--model", str(tiny_model_dir)]
    argv += ["--card", str(REPO / "ovlt_cards/train/sft.yaml"), "--out", str(tmp_path / "x")]
    for s in SFT_TEST_SETTINGS:
        argv += ["--set", s]
    # 16 image tokens at 12544 px: the prompt through the image needs more than 20 tokens.
    argv += ["--set", "max_length=20", "--set", "image_max_pixels=12544"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max_length=20 would cut the image tokens of 32/32 examples" in err[0]
    assert not (tmp_path / "x" / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("learnin_rate=1e-5", "field learnin_rate: unknown field"),
        ("learning_rate=-1", "field learning_rate:"),
        ("preset=papers", "field preset:"),
        ("global_batch_size=7", "global batch 7 is not a multiple of per-device batch 2"),
    ],
)
def test_bad_card_values_are_one_line(
    setting, needle, train_data, tiny_model_dir, tmp_path, capsys
):
    argv = ["sft", "--data", str(train_data["sft_file"]), "--model", str(tiny_model_dir)]
    argv += [
        "--card",
        str(REPO / "ovlt_cards/train/sft.yaml"),
        "--out",
        str(tmp_path / "x"),
        "--set",
        setting,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_bad_data_and_model_are_one_line(train_data, tiny_model_dir, tmp_path, capsys):
    card = str(REPO / "ovlt_cards/train/sft.yaml")
    grpo_file = train_data["grpo_dir"] / "grpo_medium" / "train.jsonl"
    cases = [
        (
            ["--data", str(grpo_file), "--model", str(tiny_model_dir)],
            "not trl-sft data (missing column(s) messages",
        ),
        (
            ["--data", str(tmp_path / "nope"), "--model", str(tiny_model_dir)],
            "neither a local path nor a Hub id",
        ),
        (["--data", str(train_data["sft_file"]), "--model", str(tmp_path)], "no config.json"),
    ]
    for args, needle in cases:
        assert main(["sft", *args, "--card", card, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err


def test_presets_resolve_paper_and_released_values():
    from ovlt_train.cards import SFTCard, load_card

    # the default is the recipe of the released checkpoints (train/llama-factory/sft.yaml)
    released = load_card(SFTCard, REPO / "ovlt_cards/train/sft.yaml")
    paper = load_card(SFTCard, REPO / "ovlt_cards/train/sft.yaml", ["preset=paper"])
    assert released.preset == "released"
    assert paper.resolved("learning_rate") == 5e-7 and paper.resolved("global_batch_size") == 32
    assert released.resolved("learning_rate") == 5e-6 and released.resolved("warmup_ratio") == 0.15
    assert released.resolved("global_batch_size") == 64 and released.resolved("max_length") == 2048
    pinned = load_card(
        SFTCard, REPO / "ovlt_cards/train/sft.yaml", ["preset=released", "learning_rate=1e-6"]
    )
    assert pinned.resolved("learning_rate") == 1e-6
    assert json.loads(paper.model_dump_json())["image_max_pixels"] == 262_144


def test_loss_covers_the_assistant_turn_only(train_data, tiny_model_dir, tmp_path):
    """The batch SFTTrainer builds: labels are the assistant's reply and its end-of-turn token."""
    from trl import SFTTrainer

    from ovlt_train.cards import SFTCard, load_card
    from ovlt_train.data import load_training_data, parse_spec
    from ovlt_train.model_io import freeze_modules, load_model, load_processor
    from ovlt_train.sft import build_sft_config

    card = load_card(SFTCard, REPO / "ovlt_cards/train/sft.yaml", SFT_TEST_SETTINGS)
    processor = load_processor(str(tiny_model_dir), max_pixels=card.image_max_pixels)
    dataset = load_training_data(parse_spec(str(train_data["sft_file"])), "trl-sft")
    model = load_model(str(tiny_model_dir))
    freeze_modules(model, vision_tower=True, projector=True)
    trainer = SFTTrainer(
        model=model,
        args=build_sft_config(card, tmp_path),
        train_dataset=dataset,
        processing_class=processor,
    )
    batch = trainer.data_collator([dict(dataset[0]), dict(dataset[1])])
    for row in range(2):
        labels = batch["labels"][row]
        learnt = processor.tokenizer.decode(batch["input_ids"][row][labels != -100])
        assert learnt == dataset[row]["messages"][1]["content"] + "<|im_end|>\n"
    assert batch["image_grid_thw"].tolist() == [
        [1, 4, 4],
        [1, 4, 4],
    ]  # 3136 px → 2x2 merged = 4 tokens
