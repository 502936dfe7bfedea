"""GRPO with colocated vLLM rollouts on the tiny Qwen2.5-VL (vLLM's CPU build; `make test-vllm`).

What trl 1.16 gets wrong on its own (each pinned here against trl's own behaviour, see
ovlt_train/vllm_rollouts.py): the rollout prompt is not the trained prompt (image tokens expanded
twice, trl#6294), pixel limits never reach vLLM, the encoder cache survives a weight sync, the
image token can be sampled, and the CPU backend cannot take trl's weight sync.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from PIL import Image

from ovlt_train.cli import main
from ovlt_train.vllm_rollouts import AlignedVLLMGeneration, align_rollouts, rollout_dtype
from tests.ovlt_train.conftest import REPO

# Deselected in the main environment (pyproject addopts); `make test-vllm` runs them.
pytestmark = pytest.mark.vllm

PIXELS = 3136  # 56 x 56: 4 patches of 28 x 28, one image token each after the 2x2 merge


def _image(seed: int, size=(112, 112)) -> Image.Image:
    # Larger than the pixel budget, so the trainer's processor shrinks it to 3136 pixels; vLLM
    # with the checkpoint's own limits would not.
    img = Image.new("RGB", size, (seed * 40 % 256, 90, 200 - seed * 30 % 200))
    for x in range(0, size[0], 7):
        img.putpixel((x, (x * seed) % size[1]), (255, 255, 255))
    return img


def _prompt(seed: int) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": _image(seed)},
                {"type": "text", "text": f"How many dots are there? ({seed})"},
            ],
        }
    ]


@pytest.fixture(scope="module")
def trainer(tiny_model_dir, tmp_path_factory):
    """A trl GRPOTrainer with colocated vLLM, built as `ovlt-train grpo` builds it."""
    pytest.importorskip("vllm")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from ovlt_train.model_io import load_model, load_processor

    processor = load_processor(str(tiny_model_dir), max_pixels=PIXELS, min_pixels=PIXELS)
    model = load_model(str(tiny_model_dir), dtype="float32", attn_implementation=None)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": "x"}], "solution": "1"}])
    config = GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("grpo_vllm")),
        use_cpu=True,
        bf16=False,
        use_vllm=True,
        vllm_mode="colocate",
        num_generations=2,
        per_device_train_batch_size=2,
        max_completion_length=8,
        report_to=[],
    )
    with rollout_dtype("float32"):
        t = GRPOTrainer(
            model=model,
            reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
            args=config,
            train_dataset=data,
            processing_class=processor,
        )
    trl_own = t.vllm_generation
    align_rollouts(t, processor)
    assert isinstance(t.vllm_generation, AlignedVLLMGeneration)
    return {"trainer": t, "trl_own": trl_own, "processor": processor}


@contextlib.contextmanager
def _as(trainer, which):
    """The rollout path under test: ours, or trl's own (its generate on the bare vLLM LLM)."""
    if which == "ovlt":
        yield trainer["trainer"].vllm_generation
        return
    own = trainer["trl_own"]
    aligned_llm = own.llm
    own.llm = aligned_llm._llm
    try:
        yield own
    finally:
        own.llm = aligned_llm


def _rollout(generation, trainer, seeds, n=1):
    prompt_ids, images, _ = trainer._tokenize_prompts([_prompt(s) for s in seeds])
    rolled, completions, logprobs, _ = generation.generate(prompt_ids, images, n)
    return prompt_ids, rolled, completions, logprobs


def _image_tokens(ids, token_id):
    return sum(1 for t in ids if t == token_id)


@pytest.mark.parametrize(
    "which",
    [
        pytest.param(
            "trl_own",
            marks=pytest.mark.xfail(
                strict=True,
                reason="trl 1.16 + vLLM 0.32 expand the image tokens twice (trl#6294)",
            ),
        ),
        "ovlt",
    ],
)
def test_rollout_prompt_ids_are_the_trained_prompt_ids(trainer, which):
    t = trainer["trainer"]
    image_token = t.model.config.image_token_id
    with _as(trainer, which) as generation:
        trained, rolled, _, _ = _rollout(generation, t, [1, 2])
    counts = [
        (_image_tokens(a, image_token), _image_tokens(b, image_token))
        for a, b in zip(trained, rolled, strict=True)
    ]
    print(f"\n{which}: image tokens (trainer, vLLM) per prompt: {counts}")
    assert counts[0][0] == 4  # the card's 3136-pixel budget: 56 x 56 -> 4 tokens
    assert [list(x) for x in rolled] == [list(x) for x in trained]


def test_a_weight_sync_changes_the_rollout_of_a_seen_image(trainer):
    """Greedy rollouts of one image prompt, before and after the vision tower alone changes:
    vLLM must see the new tower (weights synced, the image's cached embeddings dropped)."""
    import torch

    t = trainer["trainer"]
    generation = t.vllm_generation
    inner = generation._inner
    inner.temperature, inner.max_completion_length = 0.0, 8  # greedy: only the weights decide
    generation.sync_weights()
    _, _, before, lp_before = _rollout(generation, t, [3])
    _, _, again, lp_again = _rollout(generation, t, [3])
    assert (before, lp_before) == (again, lp_again)  # deterministic; the image's encoding is cached
    with torch.no_grad():
        for name, p in t.model.named_parameters():
            if "visual" in name:
                p.add_(torch.randn_like(p))
    generation.sync_weights()
    _, _, after, lp_after = _rollout(generation, t, [3])
    # The random model's greedy tokens may not move; the log-prob of its first token does.
    first = (lp_before[0][0][0], lp_after[0][0][0])
    print(f"\nfirst token log-prob before / after the vision tower changed: {first}")
    assert after != before or abs(first[0] - first[1]) > 1e-4


TRL_OWN = pytest.param(
    "trl_own",
    # not strict: sampling is random, and trl's own path may miss the pushed token on some CPUs
    marks=pytest.mark.xfail(reason="trl blocks the image token only in HF generate"),
)


@pytest.mark.parametrize("which", [TRL_OWN, "ovlt"])
def test_the_image_token_is_never_sampled(trainer, which):
    import torch

    t = trainer["trainer"]
    image_token = t.model.config.image_token_id
    inner = t.vllm_generation._inner
    inner.temperature, inner.max_completion_length = 1.0, 16
    with torch.no_grad():  # the image token tops the LM head: unblocked, it is sampled
        row = t.model.lm_head.weight[image_token]
        row.copy_(t.model.lm_head.weight.abs().max() * 50 * torch.sign(t.model.lm_head.weight[0]))
    t.vllm_generation.sync_weights()
    with _as(trainer, which) as generation:
        _, _, completions, _ = _rollout(generation, t, [4, 5])
    sampled = sum(c.count(image_token) for c in completions)
    print(f"\n{which}: image tokens sampled: {sampled}")
    assert sampled == 0


GRPO_VLLM_SETTINGS = [
    "use_vllm=on",  # YAML reads `on` as true: accepted
    "bf16=false",
    "gradient_checkpointing=false",
    "learning_rate=1e-4",
    "num_generations=4",
    "rollout_batch_prompts=4",
    "update_batch_prompts=2",
    "per_device_batch_size=8",
    "max_completion_length=16",
    f"image_max_pixels={PIXELS}",
    f"image_min_pixels={PIXELS}",
    "temperature=1.0",
    "top_p=1.0",  # vLLM's processed log-probs renormalise over the nucleus; the trainer's do not
    # On, so trl measures the trainer-vs-vLLM log-prob gap of every rollout token.
    "vllm_importance_sampling_correction=true",
    "curriculum=[{config: grpo_hard, max_steps: 2, freeze_vision_tower: false}]",
]


def test_grpo_hard_stage_with_vllm_rollouts_trains_the_vision_tower(
    train_data, tiny_model_dir, tmp_path
):
    out = tmp_path / "grpo"
    argv = ["grpo", "--data", str(train_data["grpo_dir"]), "--model", str(tiny_model_dir)]
    argv += ["--card", str(REPO / "cards/train/grpo.yaml"), "--curriculum", "hard"]
    argv += ["--out", str(out)]
    for s in GRPO_VLLM_SETTINGS:
        argv += ["--set", s]
    assert main(argv) == 0
    record = json.loads((out / "grpo_hard" / "ovlt_train.json").read_text())
    assert record["resolved"]["use_vllm"] is True
    assert record["global_steps"] == 2
    # the hard stage trains the vision tower: nothing is frozen
    assert record["parameters"]["frozen"] == 0 and record["parameters"]["vision_tower"] > 0
    logged = [e for e in record["log_history"] if "sampling/importance_sampling_ratio/mean" in e]
    assert logged, record["log_history"]  # one rollout of 4 prompts x 4 serves both steps
    for e in logged:
        print(
            f"\nstep {e.get('step')}: IS ratio mean {e['sampling/importance_sampling_ratio/mean']:.5f}, "
            f"logp gap mean {e['sampling/sampling_logp_difference/mean']:.2e}"
        )
        # Same prompt ids, same fp32 weights: vLLM's log-probs are the trainer's.
        assert abs(e["sampling/importance_sampling_ratio/mean"] - 1.0) < 0.01
        assert e["sampling/sampling_logp_difference/mean"] < 1e-3
