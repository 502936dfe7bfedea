"""`--data` specs and the trl-format loader."""

from __future__ import annotations

import pytest

from ovlt_eval.errors import UserError
from ovlt_train.data import load_training_data, parse_spec, write_jsonl


@pytest.mark.parametrize(
    ("text", "source", "revision", "config"),
    [
        ("org/data", "org/data", None, None),
        ("org/data@sft", "org/data", None, "sft"),
        ("org/data@grpo_medium", "org/data", None, "grpo_medium"),
        ("org/data@round2", "org/data", "round2", None),
        ("org/data@round2:grpo_hard", "org/data", "round2", "grpo_hard"),
        ("org/data@:sft", "org/data", None, "sft"),
    ],
)
def test_parse_spec(text, source, revision, config):
    spec = parse_spec(text)
    assert (spec.source, spec.revision, spec.config) == (source, revision, config)


def test_parse_spec_rejects_what_is_neither_path_nor_hub_id(tmp_path):
    with pytest.raises(UserError, match="neither a local path nor a Hub id"):
        parse_spec(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="neither"):
        parse_spec("justaname")


def test_local_configs_and_image_paths(train_data):
    grpo = load_training_data(parse_spec(f"{train_data['grpo_dir']}@grpo_hard"), "trl-grpo")
    assert len(grpo) == 16 and grpo[0]["images"][0].size == (56, 56)  # decoded lazily to PIL
    assert grpo[0]["prompt"][0]["role"] == "user" and grpo[0]["solution"] in {"1", "2", "3"}
    with pytest.raises(UserError, match="has no config 'grpo_easy'"):
        load_training_data(parse_spec(f"{train_data['grpo_dir']}@grpo_easy"), "trl-grpo")


def test_missing_image_is_one_clear_error(tmp_path):
    rows = [
        {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            "images": ["nope.png"],
        }
    ]
    path = write_jsonl(rows, tmp_path / "d.jsonl")
    with pytest.raises(UserError, match="image nope.png: image not found"):
        load_training_data(parse_spec(str(path)), "trl-sft")


def test_an_image_that_is_a_fifo_or_a_device_is_one_clear_error(tmp_path, monkeypatch):
    """Decoding a FIFO would block forever, /dev/zero would never end: refused by stat."""
    import os

    # an absolute path outside the data folder needs the opt-in (image_rows.py); with it,
    # the file must still be regular
    monkeypatch.setenv("OVLT_ALLOW_ABSOLUTE_IMAGES", "1")
    os.mkfifo(tmp_path / "pipe.png")
    for image in ("pipe.png", "/dev/zero"):
        rows = [
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                ],
                "images": [image],
            }
        ]
        path = write_jsonl(rows, tmp_path / "d.jsonl")
        with pytest.raises(UserError, match=f"image {image}: image path is not a regular file"):
            load_training_data(parse_spec(str(path)), "trl-sft")
