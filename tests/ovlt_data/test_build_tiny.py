"""The demo card end to end with the tiny random-weight Qwen2.5-VL: behind the real
`transformers serve` on 127.0.0.1, and in process with the `hf` engine. Its outputs are random
text, so the verifier drops every SFT row (no correct sample) and GRPO rows land in `hard`:
what is checked is that every row is accounted for and that a rebuild calls no model."""

from ovlt_data.artifact import iter_config, read_manifest
from ovlt_data.build import build
from ovlt_data.schema import CONFIGS

from .helpers import demo_card


def _check(d, n_sft, n_grpo):
    m = read_manifest(d)
    ids = [r["id"] for c in CONFIGS for r in iter_config(d, c, ["id"])]
    assert len(ids) == len(set(ids)) == n_sft + n_grpo
    assert sum(m["cache"]["engine_requests"].values()) > 0
    for r in iter_config(d, "rejected"):
        assert r["reject_reason"] in (
            "no_correct_sample",
            "easy",
            "model_error",
            "empty_caption",
        ), r["reject_reason"]
        if r["reject_reason"] == "no_correct_sample":
            assert len(r["samples"]) == 2 and r["caption"]
    return m


def test_demo_with_transformers_serve(tiny_server, tmp_path):
    card = demo_card(tiny_server.base_url, tiny_server.model, sft=3, grpo=2, max_tokens=12)
    card["stages"] = [dict(s, k=2) if "k" in s else s for s in card["stages"]]
    d = build(card, out=tmp_path)
    m = _check(d, 3, 2)
    assert m["models"]["reasoner"]["model"] == tiny_server.model
    again = read_manifest(build(card, out=tmp_path))
    assert (
        again["fingerprint"] == m["fingerprint"]
        and sum(again["cache"]["engine_requests"].values()) == 0
    )


def test_demo_with_in_process_hf_engine(tiny_model_dir, tmp_path):
    card = demo_card(
        "",
        str(tiny_model_dir),
        engine="hf",
        options={"device": "cpu", "dtype": "float32", "batch_size": 4},
        sft=3,
        grpo=2,
        max_tokens=12,
    )
    card["stages"] = [dict(s, k=2) if "k" in s else s for s in card["stages"]]
    d = build(card, out=tmp_path)
    m = _check(d, 3, 2)
    again = read_manifest(build(card, out=tmp_path))
    assert (
        again["fingerprint"] == m["fingerprint"]
        and sum(again["cache"]["engine_requests"].values()) == 0
    )
