"""The parts of the vLLM rollout fixes that need no vLLM (the rest: test_grpo_vllm.py)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from ovlt_train.cli import main
from ovlt_train.vllm_rollouts import collapse_image_runs, rollout_processor_kwargs
from tests.ovlt_train.conftest import REPO

CARD = str(REPO / "cards/train/grpo.yaml")
IMG = 151655


def test_each_run_of_image_tokens_becomes_one_placeholder():
    ids = [1, 2, IMG, IMG, IMG, IMG, 3, IMG, 4, IMG, IMG]
    assert collapse_image_runs(ids, IMG) == [1, 2, IMG, 3, IMG, 4, IMG]
    assert collapse_image_runs([5, 6], IMG) == [5, 6]


def test_rollouts_get_the_trainer_processors_pixel_budget(tiny_model_dir):
    from ovlt_train.model_io import load_processor

    processor = load_processor(str(tiny_model_dir), max_pixels=3136, min_pixels=3136)
    assert rollout_processor_kwargs(processor) == {
        "size": {"shortest_edge": 3136, "longest_edge": 3136}
    }


@pytest.mark.parametrize("value", ["off", "false", "no"])
def test_use_vllm_accepts_yaml_booleans(capsys, value):
    # YAML reads off/no/false as a boolean; the card must take it as "off", not refuse it
    assert main(["grpo", "--print-config", "--card", CARD, "--set", f"use_vllm={value}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["use_vllm"].startswith("card 'off'")
    assert all(s["trl"]["use_vllm"] is False for s in out["stages"])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm installed")
def test_use_vllm_on_without_vllm_is_one_line(capsys):
    assert main(["grpo", "--print-config", "--card", CARD, "--set", "use_vllm=on"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "use_vllm=on but vllm is not installed" in err, err
