from __future__ import annotations

import base64
import importlib.util
import io

import pytest
from PIL import Image

from ovlt_eval.engines import engine_names, get_engine
from ovlt_eval.engines.images import load_pil, to_data_url
from ovlt_eval.errors import UserError


def test_unknown_engine_lists_the_known_ones():
    with pytest.raises(UserError) as err:
        get_engine("tgi", model="m")
    assert all(name in str(err.value) for name in engine_names())


def test_misspelled_option_is_a_user_error():
    with pytest.raises(UserError, match="concurency"):
        get_engine("openai", model="m", base_urls=["http://127.0.0.1:9/v1"], concurency=4)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm installed")
def test_vllm_engine_without_vllm_is_a_clear_user_error():
    with pytest.raises(UserError, match="GPU"):
        get_engine("vllm", model="m")


def test_data_url_keeps_file_bytes_and_resizes_to_budget(tmp_path):
    path = tmp_path / "img.png"
    Image.new("RGB", (400, 300), (10, 200, 30)).save(path)
    url = to_data_url(str(path))
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == path.read_bytes()

    small = to_data_url(str(path), max_pixels=100 * 100)
    decoded = Image.open(io.BytesIO(base64.b64decode(small.split(",", 1)[1])))
    assert decoded.width * decoded.height <= 100 * 100
    assert abs(decoded.width / decoded.height - 4 / 3) < 0.05
    assert load_pil(path.read_bytes(), max_pixels=100 * 100).size == decoded.size
