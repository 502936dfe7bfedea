"""The GRPO objective as EasyR1 ran it, and `--print-config`.

EasyR1's policy loss (train/easyr1/verl/trainer/core_algos.py:331-353) with the actor defaults
clip_ratio_low 0.2, clip_ratio_high 0.3, clip_ratio_dual 3.0 (verl/workers/actor/config.py:82-84)
is rebuilt here from its formula and compared with the loss trl's GRPOTrainer computes on the tiny
Qwen2.5-VL under the config `ovlt-train grpo` builds from cards/train/grpo.yaml."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ovlt_data.released_formats import MATH_FORMAT_SUFFIX, render_format_prompt, split_placeholders
from ovlt_train.cli import main
from tests.ovlt_train.conftest import REPO

CARD = REPO / "cards/train/grpo.yaml"


def verl_policy_loss(logp, old_logp, adv, low=0.2, high=0.3, dual=3.0):
    """core_algos.py:331-349 (token-mean over an all-ones mask)."""
    neg_kl = logp - old_logp
    ratio = torch.exp(neg_kl)
    clipped = torch.exp(torch.clamp(neg_kl, math.log(1 - low), math.log(1 + high)))
    loss1, loss2, loss3 = -adv * ratio, -adv * clipped, -adv * dual
    higher = torch.max(loss1, loss2)
    lower = torch.min(higher, loss3)
    return torch.where(adv < 0, lower, higher).mean()


def _trainer(tiny_model_dir, tmp_path, overrides):
    from datasets import Dataset
    from trl import GRPOTrainer

    from ovlt_train.cards import GRPOCard, load_card
    from ovlt_train.grpo import build_grpo_config
    from ovlt_train.model_io import load_model, load_processor
    from ovlt_train.rewards import build_reward_funcs

    settings = [
        "bf16=false",
        "gradient_checkpointing=false",
        "beta=0",  # the policy term alone (EasyR1's KL is a separate loss term)
        "num_generations=2",
        "rollout_batch_prompts=2",
        "update_batch_prompts=2",
        "per_device_batch_size=4",
        *overrides,
    ]
    card = load_card(GRPOCard, CARD, settings)
    config = build_grpo_config(card, tmp_path / "run", card.curriculum[0])
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": "hi"}], "solution": "1"}])
    trainer = GRPOTrainer(
        model=load_model(str(tiny_model_dir)),
        reward_funcs=build_reward_funcs(card.reward)[0],
        args=config,
        train_dataset=data,
        processing_class=load_processor(str(tiny_model_dir)),
    )
    trainer.model.eval()  # eval mode: no gradient-accumulation scaling of the returned loss
    return trainer


def _loss_at_ratios(trainer, ratios: torch.Tensor, advantages: torch.Tensor):
    torch.manual_seed(0)
    vocab = trainer.model.config.get_text_config().vocab_size
    prompt_ids = torch.randint(0, vocab, (2, 4))
    completion_ids = torch.randint(0, vocab, (2, ratios.shape[1]))
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": completion_ids,
        "completion_mask": torch.ones_like(completion_ids),
        "advantages": advantages,
    }
    with torch.no_grad():
        logp = trainer._get_per_token_logps_and_entropies(
            trainer.model,
            torch.cat([prompt_ids, completion_ids], 1),
            torch.ones(2, 4 + ratios.shape[1], dtype=torch.long),
            ratios.shape[1],
        )[0]
    inputs["old_per_token_logps"] = logp - torch.log(ratios)  # so that new / old = ratios
    with torch.no_grad():
        trl_loss = trainer._compute_loss(trainer.model, inputs)
    return float(trl_loss), float(
        verl_policy_loss(logp, inputs["old_per_token_logps"], advantages[:, None])
    )


def test_card_maps_easyr1_clip_ratios_to_trl(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, [])
    args = trainer.args
    assert (args.epsilon, args.epsilon_high, args.delta) == (0.2, 0.3, 3.0)
    assert (trainer.epsilon_low, trainer.epsilon_high) == (0.2, 0.3)


def test_dual_clip_caps_the_loss_of_negative_advantages_as_verl_does(tiny_model_dir, tmp_path):
    # ratios 5 (beyond the dual clip), 2 (between the clips), 0.5 (below 1 - 0.2), per token
    ratios = torch.tensor([[5.0, 2.0, 0.5], [5.0, 2.0, 0.5]])
    advantages = torch.tensor([-1.0, 1.0])
    trl_loss, verl_loss = _loss_at_ratios(
        _trainer(tiny_model_dir, tmp_path, []), ratios, advantages
    )
    # A<0: min(max(r, clip r), 3) = 3, 2, 0.8 ; A>0: -min(r, clip r) = -1.3, -1.3, -0.5
    assert verl_loss == pytest.approx((3 + 2 + 0.8 - 1.3 - 1.3 - 0.5) / 6, abs=1e-5)
    assert trl_loss == pytest.approx(verl_loss, abs=1e-5)
    # without the dual clip (delta: null) trl's loss keeps the uncapped 5 — not EasyR1's objective
    no_dual, _ = _loss_at_ratios(
        _trainer(tiny_model_dir, tmp_path, ["delta=null"]), ratios, advantages
    )
    assert no_dual == pytest.approx((5 + 2 + 0.8 - 1.3 - 1.3 - 0.5) / 6, abs=1e-5)
    assert no_dual != pytest.approx(verl_loss, abs=1e-3)


def test_a_delta_that_cannot_act_as_the_dual_clip_is_one_line(capsys):
    assert main(["grpo", "--print-config", "--card", str(CARD), "--set", "delta=1.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must exceed 1 + epsilon_high" in err[0]


def _printed(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_grpo_print_config_is_the_resolved_trl_config(capsys):
    out = _printed(capsys, ["grpo", "--print-config", "--world-size", "8", "--card", str(CARD)])
    medium, hard = out["stages"]
    assert out["trl_class"] == "trl.GRPOConfig" and out["world_size"] == 8
    for stage in (medium, hard):
        trl = stage["trl"]
        assert (trl["epsilon"], trl["epsilon_high"], trl["delta"]) == (0.2, 0.3, 3.0)
        assert (trl["learning_rate"], trl["beta"], trl["loss_type"]) == (1e-6, 0.01, "bnpo")
        assert trl["generation_batch_size"] == 2560 and trl["gradient_accumulation_steps"] == 40
        assert trl["steps_per_generation"] == 160  # 2560 / (2 per device x 8 GPUs)
        assert stage["format_prompt"] == MATH_FORMAT_SUFFIX
        # trl 1.16 defaults both to true; EasyR1 has neither (cards/train/grpo.yaml says where)
        assert trl["use_bias_correction_kl"] is False
        assert trl["vllm_importance_sampling_correction"] is False
    assert medium["trl"]["num_train_epochs"] == 5 and hard["trl"]["num_train_epochs"] == 15
    assert medium["frozen"] == {"vision_tower": True, "projector": True}
    assert hard["frozen"] == {"vision_tower": False, "projector": False}
    # --data / --curriculum pick the stages as a run would
    one = _printed(
        capsys,
        ["grpo", "--print-config", "--card", str(CARD), "--data", "ydeng9/OpenVLThinker-grpo-hard"],
    )
    assert [s["stage"]["config"] for s in one["stages"]] == ["grpo_hard"]


def test_sft_print_config_defaults_to_the_released_recipe(capsys):
    card = str(REPO / "cards/train/sft.yaml")
    out = _printed(capsys, ["sft", "--print-config", "--world-size", "8", "--card", card])
    trl = out["trl"]
    assert out["preset"] == "released" and out["trl_class"] == "trl.SFTConfig"
    assert (trl["learning_rate"], trl["warmup_steps"], trl["max_length"]) == (5e-6, 0.15, 2048)
    # 64 = 2 per device x 4 accumulation x 8 GPUs (train/llama-factory/sft.yaml:30-31)
    assert trl["per_device_train_batch_size"] == 2 and trl["gradient_accumulation_steps"] == 4
    paper = _printed(
        capsys,
        ["sft", "--print-config", "--world-size", "8", "--card", card, "--set", "preset=paper"],
    )
    assert (paper["trl"]["learning_rate"], paper["trl"]["gradient_accumulation_steps"]) == (5e-7, 2)


JINJA = "{{ content | trim }} You FIRST think about the reasoning process as an internal monologue and then provide the final answer.\n"  # math_format.jinja


@pytest.mark.parametrize(
    "problem",
    ["<image>How many?", "<image>\nHow many?  \n", "Look: <image> how many?", "Which one?<image>"],
)
def test_format_prompt_matches_easyr1_render_then_split(problem):
    """dataset.py:134-146: render the jinja on the problem, then split at `<image>`; ovlt splits
    first and appends the suffix to the prompt (so a card can switch it off) — same parts."""
    from datasets import Dataset
    from jinja2 import Template

    from ovlt_train.data import with_format_prompt

    rendered = Template(JINJA.strip()).render(content=problem)
    easyr1 = split_placeholders(rendered)
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": split_placeholders(problem)}]}])
    ours = with_format_prompt(ds, MATH_FORMAT_SUFFIX)[0]["prompt"][0]["content"]
    ours = [{k: v for k, v in p.items() if v is not None} for p in ours]
    assert ours == easyr1
    # applied once: a prompt that carries it (the trl-grpo export) is not doubled
    again = with_format_prompt(
        Dataset.from_list([{"prompt": [{"role": "user", "content": ours}]}]), MATH_FORMAT_SUFFIX
    )
    assert [
        {k: v for k, v in p.items() if v is not None} for p in again[0]["prompt"][0]["content"]
    ] == easyr1
    assert render_format_prompt(rendered) == rendered.strip()
