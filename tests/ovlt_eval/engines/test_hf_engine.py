"""The `hf` engine in-process on the tiny Qwen2.5-VL with MathVision images."""

from __future__ import annotations

import pytest

from ovlt_eval.engines import GenerationRequest, SamplingParams, get_engine
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import get_profile
from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS


def _requests(items, sampling=None, n=1):
    profile = get_profile("openvlthinker")
    return [
        GenerationRequest(
            id=item["id"],
            messages=profile.build_messages(item["question"], [item["image_path"]]),
            n=n,
            sampling=sampling or SamplingParams(max_tokens=24),
        )
        for item in items
    ]


@pytest.fixture(scope="module")
def engines(tiny_model_dir):
    # At the tiny checkpoint's own small pixel budget (the default, the base model's limits,
    # gives hundreds of image tokens per item: slow on a CPU, and tested in test_pixel_limits).
    return {
        bs: get_engine("hf", model=str(tiny_model_dir), batch_size=bs, max_pixels=IMAGE_MAX_PIXELS)
        for bs in (1, 4)
    }


def test_greedy_outputs_do_not_depend_on_batch_size_in_fp32_on_cpu(engines, mathvision_items):
    # Holds for fp32 on a CPU only: on a GPU in bf16, batch 16 vs 1 left 0-2 of 32 outputs
    # identical (bench/gpu_engines.py on an H200); see the hf engine's docstring.
    assert engines[1].describe()["dtype"] == "float32"
    # Items of different prompt lengths, so the batch of 4 has left padding.
    requests = _requests(mathvision_items[:8])
    by_batch = {bs: {r.id: r for r in engine.generate(requests)} for bs, engine in engines.items()}
    one, four = by_batch[1], by_batch[4]
    assert set(one) == set(four) == {r.id for r in requests}
    for rid in one:
        assert one[rid].status == "ok"
        assert one[rid].outputs == four[rid].outputs
        assert one[rid].completion_tokens == four[rid].completion_tokens
    # Not a vacuous equality: different items give different texts.
    assert len({r.outputs[0] for r in one.values()}) >= 3


def test_greedy_n_samples_and_stop_strings(engines, mathvision_items):
    (plain,) = engines[4].generate(_requests(mathvision_items[:1]))
    text = plain.outputs[0]
    assert len(text) > 4
    stop = text[2:4]
    (cut,) = engines[4].generate(
        _requests(mathvision_items[:1], sampling=SamplingParams(max_tokens=24, stop=(stop,)), n=2)
    )
    assert cut.outputs == (text[: text.find(stop)],) * 2
    assert cut.finish_reasons == ("stop", "stop")


def test_describe_names_model_dtype_and_batching(engines, tiny_model_dir):
    described = engines[4].describe()
    assert described["engine"] == "hf" and described["model"] == str(tiny_model_dir)
    assert described["dtype"] == "float32" and described["device"] == "cpu"
    assert described["options"]["batch_size"] == 4


def test_bad_model_path_is_a_one_line_user_error(tmp_path):
    with pytest.raises(UserError) as err:
        get_engine("hf", model=str(tmp_path / "no-such-checkpoint"))
    assert "\n" not in str(err.value) and "no-such-checkpoint" in str(err.value)


def test_missing_image_is_an_error_result(engines, tmp_path):
    request = GenerationRequest(
        id="gone",
        messages=get_profile("plain").build_messages("q?", [str(tmp_path / "missing.png")]),
    )
    (result,) = engines[1].generate([request])
    assert result.status == "error" and "missing.png" in result.error


def test_text_only_and_sampled_requests(engines):
    sampling = SamplingParams(max_tokens=12, temperature=1.0, top_p=1.0, top_k=0, seed=3)
    request = GenerationRequest(
        id="t", messages=get_profile("plain").build_messages("What is 2+2?"), n=3, sampling=sampling
    )
    (first,) = engines[1].generate([request])
    (again,) = engines[1].generate([request])
    assert first.status == "ok" and len(first.outputs) == 3
    assert first.outputs == again.outputs  # same seed, same batch: same samples
    assert "one seed per batch" in " ".join(engines[1].describe()["notes"])


def test_prompt_tokens_are_each_items_own_length_in_a_padded_batch(engines, mathvision_items):
    # In a batch of 4 the prompts are left-padded to the longest: each result must carry its
    # own length (what the processor makes of that item alone, image tokens included), not the
    # batch's width.
    engine = engines[4]
    requests = _requests(mathvision_items[:4], sampling=SamplingParams(max_tokens=2))
    results = {r.id: r for r in engine.generate(requests)}
    alone = {}
    for req in requests:
        _, _, images, text = engine._prepare(req)
        alone[req.id] = len(engine.processor(text=[text], images=images)["input_ids"][0])
    assert {rid: r.prompt_tokens for rid, r in results.items()} == alone
    assert len(set(alone.values())) > 1  # the batch really was padded
