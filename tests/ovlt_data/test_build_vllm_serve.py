"""The demo card's build (caption -> distill -> verify) against the real `vllm serve` (vLLM's
CPU build) with the tiny random-weight Qwen2.5-VL, the server shared with the eval test
(`ovlt_eval.testing.vllm_server.shared_server`). Its outputs are random text: what is checked is
that every row is accounted for, the models' calls went to vLLM and a rebuild calls none."""

from __future__ import annotations

import pytest

from ovlt_data.artifact import iter_config, read_manifest
from ovlt_data.build import build
from ovlt_data.schema import CONFIGS

from .helpers import demo_card

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def vllm_server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("vllm")
    from ovlt_eval.testing.vllm_server import shared_server

    return shared_server(tiny_model_dir, tmp_path_factory.mktemp("vllm_serve"))


def test_demo_card_builds_against_vllm_serve(vllm_server, tmp_path):
    card = demo_card(vllm_server.base_url, vllm_server.model, sft=3, grpo=2, max_tokens=12)
    card["stages"] = [dict(s, k=2) if "k" in s else s for s in card["stages"]]
    assert [s["stage"] for s in card["stages"]][:3] == ["caption", "distill", "verify"]
    d = build(card, out=tmp_path)
    m = read_manifest(d)
    ids = [r["id"] for c in CONFIGS for r in iter_config(d, c, ["id"])]
    assert len(ids) == len(set(ids)) == 3 + 2  # every source row ends in exactly one config
    requests = m["cache"]["engine_requests"]
    assert requests and sum(requests.values()) > 0, requests
    rejected = list(iter_config(d, "rejected"))
    # No model error: vLLM answered every caption and distill call.
    assert all(r["reject_reason"] != "model_error" for r in rejected), rejected
    for r in rejected:
        if r["reject_reason"] == "no_correct_sample":
            assert len(r["samples"]) == 2 and r["caption"]  # k = 2 samples, on a caption
    assert m["models"]["reasoner"]["model"] == vllm_server.model

    again = read_manifest(build(card, out=tmp_path))
    assert again["fingerprint"] == m["fingerprint"]
    assert sum(again["cache"]["engine_requests"].values()) == 0
