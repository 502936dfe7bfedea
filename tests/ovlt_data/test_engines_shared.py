"""One engine per distinct model (issue 9, item 6): from round 2 the reasoner and the policy
name the same checkpoint and must share one engine, not open two in-process vLLMs."""

import pytest

import ovlt_eval.engines as engines
from ovlt_data.artifact import read_manifest
from ovlt_data.build import build
from ovlt_data.cache import CallCache
from ovlt_data.card import ModelSpec
from ovlt_data.models import open_models
from ovlt_eval.errors import UserError
from ovlt_eval.testing.openai_server import serve

from .helpers import demo_card


@pytest.fixture(scope="module")
def other_server():
    """A second real server, serving another model."""
    server, url = serve(model="loopback-policy")
    yield url
    server.shutdown()


def _spec(model, url, **kw):
    return ModelSpec(engine="openai", model=model, options={"base_urls": [url]}, **kw)


def test_two_roles_naming_one_model_get_one_engine_object(loopback, other_server, tmp_path):
    specs = {
        "reasoner": _spec("loopback", loopback, sampling={"temperature": 0.6}),
        "policy": _spec("loopback", loopback, sampling={"temperature": 1.0}),
        "captioner": _spec("loopback-policy", other_server),
    }
    models = open_models(specs, CallCache(tmp_path / "c.sqlite"))
    assert models["reasoner"].engine() is models["policy"].engine()
    assert models["captioner"].engine() is not models["reasoner"].engine()
    assert models["reasoner"].engines.opened == 2  # two distinct models, two engines
    assert models["policy"].describe()["engine_shared_with"] == ["reasoner"]
    assert "engine_shared_with" not in models["captioner"].describe()


@pytest.mark.parametrize("distinct", [False, True])
def test_a_build_opens_one_engine_per_distinct_model(
    loopback, other_server, tmp_path, monkeypatch, distinct
):
    opened = []
    real = engines.get_engine

    def counting(name, **kw):  # the real engine, counted
        opened.append(kw["model"])
        return real(name, **kw)

    monkeypatch.setattr(engines, "get_engine", counting)
    card = demo_card(loopback, sft=4, grpo=4)  # captioner, reasoner, policy: one model
    if distinct:
        card["models"]["policy"]["model"] = "loopback-policy"
        card["models"]["policy"]["options"] = {"base_urls": [other_server]}
    d = build(card, out=tmp_path / "out")
    assert sorted(opened) == (["loopback", "loopback-policy"] if distinct else ["loopback"])
    shared = read_manifest(d)["models"]["reasoner"]["engine_shared_with"]
    assert shared == (["captioner"] if distinct else ["captioner", "policy"])


def test_one_in_process_model_with_two_option_sets_is_refused(tmp_path):
    a = ModelSpec(engine="vllm", model="ckpt", options={"gpu_memory_utilization": 0.45})
    b = ModelSpec(engine="vllm", model="ckpt", options={"gpu_memory_utilization": 0.9})
    with pytest.raises(UserError, match="models.reasoner and models.policy load ckpt"):
        open_models({"reasoner": a, "policy": b}, CallCache(tmp_path / "c.sqlite"))
    # nothing is started by opening the roles: engines start on the first uncached call
    models = open_models({"reasoner": a, "policy": a}, CallCache(tmp_path / "c.sqlite"))
    assert models["policy"].shared_with == ("reasoner",) and models["policy"].engines.opened == 0
