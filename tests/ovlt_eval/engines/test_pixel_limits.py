"""Image pixel limits at evaluation: the base processor's, not the checkpoint's training budget.

The reference evaluates every model with the processor of Qwen/Qwen2.5-VL-7B-Instruct
(evaluation/eval_openvlthinker.py:346-349, :84-89; eval_qwen.py:358-359), whose
preprocessor_config.json says min_pixels 3136, max_pixels 12845056. The tiny model's saved
processor carries a small budget (16 x 28 x 28 px), as an `ovlt-train` checkpoint carries 262,144.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from ovlt_eval.engines import GenerationRequest, SamplingParams, get_engine
from ovlt_eval.engines.pixels import (
    BASE_MAX_PIXELS,
    BASE_MIN_PIXELS,
    data_url_within,
    fit_pixels,
    resolve_pixel_limits,
)
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import get_profile
from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS


def test_base_limits_are_the_qwen2_5_vl_7b_instruct_processor_config():
    # preprocessor_config.json of Qwen/Qwen2.5-VL-7B-Instruct; qwen_vl_utils MIN/MAX_PIXELS
    assert (BASE_MIN_PIXELS, BASE_MAX_PIXELS) == (3136, 12845056)
    limits = resolve_pixel_limits()
    assert (limits.min_pixels, limits.max_pixels, limits.source) == (3136, 12845056, "base")
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in limits.describe()["source"]


def test_user_limits_fill_in_the_other_bound_and_bad_values_are_one_line_errors():
    only_max = resolve_pixel_limits(max_pixels=1000)
    assert (only_max.min_pixels, only_max.max_pixels, only_max.source) == (1000, 1000, "user")
    only_min = resolve_pixel_limits(min_pixels=50_000)
    assert (only_min.min_pixels, only_min.max_pixels) == (50_000, BASE_MAX_PIXELS)
    for kwargs in ({"min_pixels": 0}, {"max_pixels": -3}, {"min_pixels": 9, "max_pixels": 8}):
        with pytest.raises(UserError) as err:
            resolve_pixel_limits(**kwargs)
        assert "\n" not in str(err.value) and "pixels" in str(err.value)


def test_fit_pixels_keeps_aspect_and_lands_inside_the_limits():
    limits = resolve_pixel_limits(min_pixels=10_000, max_pixels=40_000)
    assert fit_pixels(150, 100, limits) == (150, 100)  # inside: untouched
    w, h = fit_pixels(1000, 500, limits)
    assert w * h <= 40_000 and abs(w / h - 2) < 0.05
    w, h = fit_pixels(20, 10, limits)
    assert 10_000 <= w * h <= 40_000 and abs(w / h - 2) < 0.05


def test_data_url_within_resizes_only_outside_the_limits(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 100), (200, 30, 30)).save(path)

    def decoded(url):
        return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))

    assert data_url_within(str(path), None).endswith(base64.b64encode(path.read_bytes()).decode())
    small = decoded(data_url_within(str(path), resolve_pixel_limits(max_pixels=10_000)))
    assert small.width * small.height <= 10_000 and small.width == 4 * small.height
    big = decoded(data_url_within(str(path), resolve_pixel_limits(min_pixels=160_000)))
    assert big.width * big.height >= 159_000 and big.width > 400


@pytest.fixture(scope="module")
def base_engine(tiny_model_dir):
    return get_engine("hf", model=str(tiny_model_dir), batch_size=2)


def _request(item):
    return GenerationRequest(
        id=item["id"],
        messages=get_profile("openvlthinker").build_messages(
            item["question"], [item["image_path"]]
        ),
        sampling=SamplingParams(max_tokens=4),
    )


def _vision_tokens(engine, item) -> int:
    """Image tokens the processor makes of the item's image, through the engine's own path."""
    _, _, images, text = engine._prepare(_request(item))
    grid = engine.processor(text=[text], images=images, return_tensors="pt")["image_grid_thw"]
    merge = engine.processor.image_processor.merge_size
    return int(grid.prod()) // (merge * merge)


def test_hf_engine_evaluates_at_the_base_limits_not_the_checkpoints(
    base_engine, tiny_model_dir, mathvision_items
):
    saved = json.loads((tiny_model_dir / "processor_config.json").read_text())["image_processor"]
    assert saved["size"]["longest_edge"] == IMAGE_MAX_PIXELS  # the checkpoint's small budget
    pixels = base_engine.describe()["options"]["pixels"]
    assert (pixels["min_pixels"], pixels["max_pixels"]) == (3136, 12845056)
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in pixels["source"]
    assert pixels["checkpoint_processor"] == {"min_pixels": 3136, "max_pixels": IMAGE_MAX_PIXELS}

    item = mathvision_items[1]  # 362,664 px: far over the checkpoint's budget, under the base's
    width, height = Image.open(item["image_path"]).size
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    h, w = smart_resize(height, width, factor=28, min_pixels=3136, max_pixels=12845056)
    assert _vision_tokens(base_engine, item) == (h // 28) * (w // 28) > 400
    (result,) = base_engine.generate([_request(item)])
    assert result.status == "ok"


def test_hf_engine_user_limits_win(tiny_model_dir, mathvision_items):
    capped = get_engine("hf", model=str(tiny_model_dir), max_pixels=IMAGE_MAX_PIXELS)
    pixels = capped.describe()["options"]["pixels"]
    assert pixels["max_pixels"] == IMAGE_MAX_PIXELS and pixels["source"].startswith("user")
    assert _vision_tokens(capped, mathvision_items[1]) <= IMAGE_MAX_PIXELS // (28 * 28)


def test_reproducible_is_batch_one_in_float32_and_refuses_contradictions(tiny_model_dir):
    engine = get_engine("hf", model=str(tiny_model_dir), reproducible=True, max_pixels=12544)
    described = engine.describe()
    assert described["options"]["batch_size"] == 1 and described["options"]["reproducible"]
    assert described["dtype"] == "float32"
    for kwargs in ({"batch_size": 4}, {"dtype": "bfloat16"}):
        with pytest.raises(UserError, match="reproducible"):
            get_engine("hf", model=str(tiny_model_dir), reproducible=True, **kwargs)
