"""`vllm serve` (vLLM's CPU build, the tiny Qwen2.5-VL) as the real server behind
`--engine openai`: an end-to-end `ovlt-eval run` on the bundled MATH-Vision sample. The server is
shared with the data factory's test against it (`ovlt_eval.testing.vllm_server.shared_server`)."""

from __future__ import annotations

import json

import pytest

from ovlt_eval.demo import SAMPLE
from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def vllm_server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("vllm")
    from ovlt_eval.testing.vllm_server import shared_server

    return shared_server(tiny_model_dir, tmp_path_factory.mktemp("vllm_serve"))


def _hf_prompt_tokens(model_dir, messages) -> int:
    """The prompt's length as transformers builds it with the checkpoint's own processor (what
    the server uses: its limits are the tiny model's 3,136-12,544 pixels)."""
    from transformers import AutoProcessor

    from ovlt_eval.engines.images import load_pil

    processor = AutoProcessor.from_pretrained(model_dir)
    size = processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS)
    (message,) = messages
    parts = message["content"]
    chat = [{"role": "user", "content": [{"type": "image"} if "image" in p else p for p in parts]}]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    images = [load_pil(p["image"]) for p in parts if "image" in p]
    return len(processor(text=[text], images=images)["input_ids"][0])


def test_ovlt_eval_run_against_vllm_serve(vllm_server, tiny_model_dir, tmp_path):
    from ovlt_eval.cli import main

    out = tmp_path / "run"
    argv = [
        "run", "--model", vllm_server.model, "--engine", "openai",
        "--base-url", vllm_server.base_url, "--bench", "mathvision", "--data", str(SAMPLE),
        "--limit", "6", "--max-tokens", "8", "--n", "2", "--temperature", "0.8",
        "--top-p", "1.0", "--top-k", "0", "--out", str(out), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["status"] != "error" for r in records)
    assert all(len(r["extra_samples"]) == 1 for r in records)  # n = 2, one call each
    assert all(isinstance(r["tokens"], int) or r["tokens"] is None for r in records)

    # The server's usage.prompt_tokens is recorded per item, and is what transformers' own
    # processor makes of the same prompt and image at the checkpoint's pixel limits.
    from ovlt_eval.benchmarks import get_benchmark
    from ovlt_eval.profiles import get_profile

    items = {it.id: it for it in get_benchmark("mathvision").load("testmini", str(SAMPLE))}
    profile = get_profile("openvlthinker")  # the run's default profile
    for rec in records:
        expected = _hf_prompt_tokens(tiny_model_dir, profile.messages_for(items[rec["id"]]))
        assert rec["prompt_tokens"] == expected, rec["id"]

    card = json.loads((out / "eval_card.json").read_text())
    # vLLM honours n, top_k and repetition_penalty: nothing had to be worked around.
    assert card["engine"]["server_notes"] == []
    assert card["status"] == "complete"
