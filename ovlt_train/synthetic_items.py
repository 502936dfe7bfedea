"""Small trl-format datasets drawn offline (PIL shapes + template reasoning): for tests, the demo
and `bench/gpu_train.py`, which must not import the test suite."""

from __future__ import annotations

import random
import re
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = ["red", "green", "blue", "orange"]


def draw_items(out_dir: Path, n: int, *, seed: int = 0, size: int = 56) -> list[dict]:
    """n counting items: `count` squares of one colour on white, gold = the count (1-3)."""
    rng = random.Random(seed)
    img_dir = out_dir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        count = rng.randint(1, 3)
        color = rng.choice(COLORS)
        img = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(img)
        for k in range(count):
            x = 4 + k * 17
            draw.rectangle([x, 20, x + 12, 32], fill=color)
        path = img_dir / f"item{i:03d}.png"
        img.save(path)
        items.append(
            {"id": f"item{i:03d}", "image": f"images/{path.name}", "count": count, "color": color}
        )
    return items


def question(item: dict) -> str:
    return f"How many {item['color']} squares are there?"


def reasoning(item: dict) -> str:
    c = item["count"]
    return f"<think> I count the {item['color']} squares: {c}. </think> There are {c}. <answer>{c}</answer>"


def sft_rows(items: list[dict]) -> list[dict]:
    return [
        {
            "id": it["id"],
            "messages": [
                {"role": "user", "content": question(it)},
                {"role": "assistant", "content": reasoning(it)},
            ],
            "images": [it["image"]],
        }
        for it in items
    ]


def grpo_rows(items: list[dict]) -> list[dict]:
    return [
        {
            "id": it["id"],
            "prompt": [{"role": "user", "content": question(it)}],
            "images": [it["image"]],
            "solution": str(it["count"]),
        }
        for it in items
    ]


ANSWER_AT_END = re.compile(r"<answer>.*?</answer>\s*$", re.DOTALL)


def greedy_texts(
    model_dir: Path, rows: list[dict], base_dir: Path, max_new_tokens: int = 40
) -> list[str]:
    """Greedy generations of the model (with its own saved processor) on the rows' prompts."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    conversations = []
    for row in rows:
        image = Image.open(base_dir / row["images"][0]).convert("RGB")
        text = row["messages"][0]["content"] if "messages" in row else row["prompt"][0]["content"]
        conversations.append(
            [
                {
                    "role": "user",
                    "content": [{"type": "image", "image": image}, {"type": "text", "text": text}],
                }
            ]
        )
    processor.tokenizer.padding_side = "left"
    inputs = processor.apply_chat_template(
        conversations,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        padding=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def answer_tag_share(texts: list[str]) -> float:
    return sum(bool(ANSWER_AT_END.search(t.strip())) for t in texts) / max(len(texts), 1)
