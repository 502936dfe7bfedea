"""Each export loads with `datasets`, and the trl exports train one step in trl on the tiny
Qwen2.5-VL (CPU): SFTTrainer on `trl-sft`, GRPOTrainer on `trl-grpo` with a verifier reward.

The exports are loaded with plain `datasets.load_dataset` and handed to trl as they are: no
reshaping in the test, so a format trl cannot read fails here."""

from __future__ import annotations

import json
import math
import zlib

import datasets
import pytest

from ovlt_data.artifact import iter_config
from ovlt_data.build import build
from ovlt_data.export import export_dataset

from .helpers import demo_card


@pytest.fixture(scope="module")
def version(loopback, tmp_path_factory):
    card = demo_card(loopback, sft=8, grpo=8)
    for st in card["stages"]:
        if st["stage"] == "difficulty":  # 0/4 -> hard, 1-2/4 -> medium: both configs get rows
            st.update(hard_at_most=0.0, easy_at_least=0.75)
    d = build(card, out=tmp_path_factory.mktemp("build"))
    assert next(iter_config(d, "sft"), None) is not None, "the demo build kept no SFT row"
    return d


def _load(kind: str, path, tmp_path):
    return datasets.load_dataset(
        kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
    )


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _changed(before, model) -> bool:
    import torch

    return any(
        not torch.equal(before[n], p.detach()) for n, p in model.named_parameters() if n in before
    )


def _common(tmp_path) -> dict:
    return {
        "output_dir": str(tmp_path / "run"),
        "max_steps": 1,
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-2,
        "use_cpu": True,
        "bf16": False,
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "dataloader_num_workers": 0,
        "seed": 0,
    }


def _tiny(tiny_model_dir):
    """The model, its processor, and a list that grows each time the vision tower runs: the
    images of the export must reach the model, not only its text."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    seen: list[int] = []
    model.model.visual.register_forward_hook(lambda mod, args, out: seen.append(1))
    return model, processor, seen


def test_llamafactory_and_easyr1_exports_load(version, tmp_path):
    n_sft = sum(1 for _ in iter_config(version, "sft", ["id"]))
    lf = export_dataset(version, "llamafactory", tmp_path / "lf")
    ((_, entry),) = json.loads(lf[1].read_text()).items()
    rows = _load("json", tmp_path / "lf" / entry["file_name"], tmp_path)
    assert len(rows) == n_sft
    for r in rows:
        assert r["messages"][0]["content"].count("<image>") == len(r["images"]) >= 1
        assert all((tmp_path / "lf" / p).is_file() for p in r["images"])
    for path in export_dataset(version, "easyr1", tmp_path / "easyr1"):
        ds = _load("parquet", path, tmp_path)
        assert len(ds) > 0 and ds[0]["problem"].count("<image>") == len(ds[0]["images"])
        assert ds[0]["images"][0].size == (224, 224) and ds[0]["answer"]
        # EasyR1 renders math_format.jinja itself (verl/utils/dataset.py:134-136): not here too
        assert all("You FIRST think" not in p for p in ds["problem"])


def test_trl_sft_export_trains_one_step(version, tiny_model_dir, tmp_path):
    from trl import SFTConfig, SFTTrainer

    (path,) = export_dataset(version, "trl-sft", tmp_path / "sft")
    ds = _load("parquet", path, tmp_path)
    assert ds[0]["messages"][1]["role"] == "assistant" and len(ds[0]["images"]) == 1
    model, processor, seen = _tiny(tiny_model_dir)
    before = _params(model)
    args = SFTConfig(**_common(tmp_path), max_length=None)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=processor)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    assert "pixel_values" in batch
    assert (batch["input_ids"] == model.config.image_token_id).any(dim=1).all()
    assert (batch["labels"] != -100).any()  # the assistant trace is trained on
    out = trainer.train()
    assert trainer.state.global_step == 1 and seen
    assert math.isfinite(out.training_loss) and out.training_loss > 0
    assert _changed(before, model)


def _verifier_reward(completions, solution, answer_type, choices, **_) -> list[float]:
    """1.0 when the ovlt_eval verifier accepts the completion's answer, else 0.0."""
    from ovlt_eval.grading import grade

    out = []
    for completion, gold, kind, ch in zip(completions, solution, answer_type, choices, strict=True):
        text = completion[-1]["content"] if isinstance(completion, list) else completion
        if isinstance(text, list):
            text = "".join(b.get("text") or "" for b in text)
        out.append(1.0 if grade(text, gold, kind, choices=ch or None).correct else 0.0)
    return out


def test_trl_grpo_export_trains_one_step(version, tiny_model_dir, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    paths = export_dataset(version, "trl-grpo", tmp_path / "grpo")
    assert paths
    ds = _load("parquet", paths[0], tmp_path)
    assert set(ds.column_names) >= {"prompt", "images", "solution", "answer_type", "choices"}
    # every prompt ends with EasyR1's format prompt (examples/format_prompt/math_format.jinja)
    from ovlt_data.released_formats import MATH_FORMAT_SUFFIX

    for prompt in ds["prompt"]:
        text = prompt[0]["content"][-1]["text"]
        assert text.endswith(MATH_FORMAT_SUFFIX) and text.count("You FIRST think") == 1
    model, processor, seen = _tiny(tiny_model_dir)
    before = _params(model)
    calls = []

    def reward(completions, **kw):
        scores = _verifier_reward(completions, **kw)
        calls.append(len(scores))
        # the tiny model writes random text, so every verifier reward is 0 and the advantages
        # vanish: a tiny term that differs between two different completions keeps the step's
        # gradient non-zero (lengths may tie; text checksums practically never do)
        return [
            s + 0.01 * (zlib.crc32(str(c).encode()) % 997) / 997
            for s, c in zip(scores, completions, strict=True)
        ]

    args = GRPOConfig(
        **_common(tmp_path),
        num_generations=2,
        max_completion_length=8,
        temperature=1.0,
        beta=0.0,
        remove_unused_columns=False,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=ds,
        processing_class=processor,
    )
    out = trainer.train()
    assert trainer.state.global_step == 1 and calls and calls[0] == 2 and seen
    assert math.isfinite(out.training_loss)
    assert _changed(before, model)
