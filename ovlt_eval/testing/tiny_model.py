"""Build a tiny random-weight Qwen2.5-VL that loads offline like a real checkpoint.

The architecture, processor, chat template and special tokens are Qwen2.5-VL's; only the
sizes are tiny (about 1 MB of weights) and the BPE tokenizer is trained here on a small
embedded corpus, so nothing is downloaded. Its outputs are random text: any score it gets
means nothing. It exists so engines, servers and runs can be tested for real on a CPU.

    python -m ovlt_eval.testing.tiny_model OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

# Bump when anything below changes what is written; caches key on it.
BUILDER_VERSION = "2"

# The chat template Qwen2.5-VL-*-Instruct ships (chat_template.json), verbatim.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2.5's special tokens in their real order (ids differ: the vocabulary is tiny).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Not special in Qwen2.5 (they are plain text there), but single tokens here so reasoning
# traces stay short; kept non-special so decoding with skip_special_tokens keeps them.
REASONING_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")

VOCAB_SIZE = 1024
IMAGE_MIN_PIXELS = 4 * 28 * 28
IMAGE_MAX_PIXELS = 16 * 28 * 28  # at most 16 image tokens after the 2x2 merge

_CORPUS = """\
The image shows a triangle ABC with a right angle at C. Find the length of the hypotenuse.
Question: What is the value of x in the figure? Choices: (A) 3 (B) 4 (C) 5 (D) 6 (E) 7
Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.
Solve the problem step by step. First, the area of the circle is pi times the radius squared.
The bar chart shows the number of students in each class. How many students are there in total?
A square has a side of length 12 cm. What is its perimeter? The perimeter is 4 times 12, which is 48.
Let me think about this. The angle sum of a triangle is 180 degrees, so the third angle is 70 degrees.
Therefore, the answer is 42. The final answer is \\boxed{42}. So the correct option is B.
<think> The table lists prices. Adding them gives 3.50 + 2.25 = 5.75 dollars. </think>
<answer> 5.75 </answer>
Wait, let me check again: 7 times 8 is 56, and 56 minus 14 is 42. Yes, the result is correct.
Consider the function f(x) = 2x + 3. When x = 4, f(x) = 11. The graph crosses the y-axis at 3.
In the diagram, lines AB and CD are parallel, and the transversal makes an angle of 45 degrees.
Which of the following shapes has the largest area? Compare the rectangle, the circle and the square.
What fraction of the grid is shaded? There are 16 cells and 6 are shaded, so the fraction is 3/8.
Cube, cylinder, cone, sphere; red, green, blue, yellow; left, right, top, bottom; clock, ruler.
"""


def _corpus_lines() -> list[str]:
    lines = _CORPUS.splitlines()
    # Numbers and arithmetic so digits, decimals and operators all get merges.
    lines += [
        f"{a} + {b} = {a + b}, {a} * {b} = {a * b}, {a}/{b} = {a / b:.2f}"
        for a in range(1, 40)
        for b in (3, 7, 12)
    ]
    return lines * 3


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    # As Qwen2: digits split one by one, then byte-level BPE.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(SPECIAL_TOKENS) - len(REASONING_TOKENS),
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus_lines(), trainer=trainer)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    tok.add_tokens(list(REASONING_TOKENS))
    return tok


def _hf_tokenizer():
    from transformers import PreTrainedTokenizerFast

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=32768,
        padding_side="left",
        chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
    )
    return hf_tok


# Shapes: "tiny" for tests (~1 MB); "1b" (~1B parameters, for GPU benches) keeps the tiny
# tokenizer, so nearly all parameters sit in the transformer layers and the vision tower.
SIZES: dict[str, dict] = {
    "tiny": {
        "text": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2},
        "heads": (4, 2),  # head_dim 32: CPU vLLM builds need >= 32
        "mrope_section": [4, 6, 6],  # sums to head_dim / 2, as [16, 24, 24] for 128
        "vision": {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2},
        "fullatt_block_indexes": [1],
        "max_pixels": IMAGE_MAX_PIXELS,
    },
    "1b": {
        "text": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 20},
        "heads": (12, 2),  # head_dim 128, as Qwen2.5-VL
        "mrope_section": [16, 24, 24],
        "vision": {"depth": 8, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16},
        "fullatt_block_indexes": [3, 7],
        "max_pixels": 256 * 28 * 28,
    },
}


def build_tiny_qwen2_5_vl(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a loadable tiny Qwen2.5-VL checkpoint (model, processor, tokenizer) to `out_dir`."""
    return build_random_qwen2_5_vl(out_dir, seed=seed, size="tiny")


def cached_tiny_qwen2_5_vl(cache_dir: str | Path, *, announce: bool = False) -> Path:
    """The tiny model under `cache_dir`, built there first unless a finished copy exists.

    Built beside the target and renamed into place, so concurrent builders never see a
    half-written model; the loser of a race drops its (identical) copy.
    """
    cache = Path(cache_dir)
    target = cache / f"tiny_qwen2_5_vl-v{BUILDER_VERSION}"
    if (target / "ovlt_tiny_model.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    if announce:
        print(f"building the tiny random-weight Qwen2.5-VL into {target} …", flush=True)
    staging = Path(tempfile.mkdtemp(prefix="tiny_build_", dir=cache))
    build_tiny_qwen2_5_vl(staging, seed=0)
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_random_qwen2_5_vl(
    out_dir: str | Path,
    *,
    seed: int = 0,
    size: str = "tiny",
    dtype: str = "float32",
    device: str = "cpu",
) -> Path:
    """A random-weight Qwen2.5-VL of one of `SIZES`, saved like a real checkpoint."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    shape = SIZES[size]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _hf_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS + REASONING_TOKENS}
    assert len(tokenizer) <= VOCAB_SIZE, len(tokenizer)

    text_hidden = shape["text"]["hidden_size"]
    heads, kv_heads = shape["heads"]
    config = Qwen2_5_VLConfig(
        text_config={
            **shape["text"],
            "vocab_size": VOCAB_SIZE,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": shape["mrope_section"],
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            **shape["vision"],
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "out_hidden_size": text_hidden,
            "fullatt_block_indexes": shape["fullatt_block_indexes"],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(config)
    model = model.to(getattr(torch, dtype)).eval()
    # Random init gives near-uniform logits; a wider spread makes greedy decoding decisive,
    # so tiny numeric differences (batching, padding) cannot flip a token by accident.
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, 0.5)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        # Qwen2.5-VL-Instruct's own defaults (near-greedy), with no repetition penalty.
        do_sample=True,
        temperature=0.1,
        top_p=0.001,
        top_k=1,
        repetition_penalty=1.0,
        # Random weights would emit structural tokens (<|box_start|>, <|image_pad|>, ...) that a
        # trained model never writes; servers and decoders treat those inconsistently, which
        # would make engine comparisons test the noise. The end tokens stay allowed.
        suppress_tokens=[
            ids[t] for t in SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")
        ],
    )
    model.save_pretrained(out, safe_serialization=True)

    size = {"shortest_edge": IMAGE_MIN_PIXELS, "longest_edge": shape["max_pixels"]}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        video_processor=Qwen2VLVideoProcessor(size=size),
        tokenizer=tokenizer,
        chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    (out / "ovlt_tiny_model.json").write_text(
        json.dumps(
            {
                "builder_version": BUILDER_VERSION,
                "seed": seed,
                "size": size,
                "note": "random weights",
            }
        )
        + "\n"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ovlt_eval.testing.tiny_model",
        description="Build a tiny random-weight Qwen2.5-VL (offline, a few MB). Its outputs mean nothing.",
    )
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = parser.parse_args(argv)
    path = build_random_qwen2_5_vl(args.out_dir, seed=args.seed, size=args.size, dtype=args.dtype)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
