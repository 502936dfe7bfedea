"""The `openai` engine against real servers on loopback: `transformers serve` with the tiny
Qwen2.5-VL, and the fault-injecting fake server for retries, load sharing and sampling fields."""

from __future__ import annotations

import json
import socket

import pytest

from ovlt_eval.engines import GenerationRequest, SamplingParams, get_engine
from ovlt_eval.errors import UserError
from ovlt_eval.profiles import get_profile
from ovlt_eval.testing.openai_server import FAULT_KINDS, OpenAIServer


def _text_requests(n_requests: int, n: int = 1, seed: int | None = 0) -> list[GenerationRequest]:
    sampling = SamplingParams(max_tokens=8, seed=seed)
    return [
        GenerationRequest(
            id=f"r{i}",
            messages=({"role": "user", "content": [{"type": "text", "text": f"question {i}"}]},),
            n=n,
            sampling=sampling,
        )
        for i in range(n_requests)
    ]


def _engine(server: OpenAIServer, **options):
    options = {"model": server.model, "base_urls": [server.base_url], **options}
    return get_engine("openai", **options)


# ----- the real server: transformers serve + tiny Qwen2.5-VL + MathVision images -----


def test_tiny_server_answers_image_requests(tiny_server, mathvision_items):
    profile = get_profile("openvlthinker")
    items = mathvision_items[:4]
    requests = [
        GenerationRequest(
            id=item["id"],
            messages=profile.build_messages(item["question"], [item["image_path"]]),
            n=2,
            sampling=SamplingParams(max_tokens=12),
        )
        for item in items
    ]
    engine = get_engine("openai", model=tiny_server.model, base_urls=tiny_server.base_url)
    results = {r.id: r for r in engine.generate(requests)}

    assert set(results) == {item["id"] for item in items}
    for result in results.values():
        assert result.status == "ok", result.error
        assert len(result.outputs) == 2 and all(isinstance(o, str) and o for o in result.outputs)
        assert all(r == "length" for r in result.finish_reasons)
    notes = " ".join(engine.describe()["server_notes"])
    # transformers serve answers 422 to top_k/repetition_penalty and ignores n: both recorded.
    assert "top_k" in notes and "ignored n" in notes


def test_openai_engine_matches_in_process_hf_engine(tiny_server, tiny_model_dir, mathvision_items):
    # The same greedy model behind the server and in-process gives the same text. The server
    # resizes with the checkpoint's own processor budget; the hf engine uses the base model's
    # unless told otherwise, so it is told the checkpoint's here.
    from ovlt_eval.testing.tiny_model import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS

    profile = get_profile("qwen")
    requests = [
        GenerationRequest(
            id=item["id"],
            messages=profile.build_messages(item["question"], [item["image_path"]]),
            sampling=SamplingParams(max_tokens=16),
        )
        for item in mathvision_items[4:7]
    ]
    served = get_engine("openai", model=tiny_server.model, base_urls=tiny_server.base_url)
    local = get_engine(
        "hf",
        model=str(tiny_model_dir),
        batch_size=3,
        min_pixels=IMAGE_MIN_PIXELS,
        max_pixels=IMAGE_MAX_PIXELS,
    )
    via_server = {r.id: r for r in served.generate(requests)}
    in_process = {r.id: r for r in local.generate(requests)}
    assert {k: r.outputs for k, r in via_server.items()} == {
        k: r.outputs for k, r in in_process.items()
    }
    # The server's `usage.prompt_tokens` is recorded, and counts what the hf engine counts.
    assert {k: r.prompt_tokens for k, r in via_server.items()} == {
        k: r.prompt_tokens for k, r in in_process.items()
    }
    assert all(isinstance(r.prompt_tokens, int) for r in via_server.values())


# ----- faults, retries, load sharing (fast fake backend) -----


def test_faults_are_retried_and_nothing_is_lost():
    with OpenAIServer(fault_rate=0.6, faults_per_request=2, slow_s=3.0) as server:
        engine = _engine(server, timeout=0.5, backoff_base=0.01, backoff_max=0.05, concurrency=16)
        requests = _text_requests(60, n=2)
        results = list(engine.generate(requests))

    assert sorted(r.id for r in results) == sorted(r.id for r in requests)  # none lost or doubled
    for result in results:
        assert result.status == "ok", result.error
        i = result.id[1:]
        # Each answer belongs to its own request; n samples carry seeds seed+0 / in one call.
        assert all(f"<answer>question {i}</answer>" in o for o in result.outputs)
        assert len(result.outputs) == 2
    assert set(server.stats.faults) == set(FAULT_KINDS)
    assert engine.describe()["stats"]["retries"] == sum(server.stats.faults.values())


def test_a_request_that_keeps_failing_becomes_an_error_result():
    with OpenAIServer(fault_rate=1.0, faults_per_request=100, fault_kinds=("500",)) as server:
        engine = _engine(server, max_retries=2, backoff_base=0.01, backoff_max=0.02)
        results = list(engine.generate(_text_requests(5)))
    assert len(results) == 5
    assert all(r.status == "error" and r.outputs == () for r in results)
    assert all("gave up after 3 attempts" in r.error and "HTTP 500" in r.error for r in results)
    assert server.stats.requests == 15


def test_concurrency_is_bounded():
    with OpenAIServer(latency=0.05) as server:
        engine = _engine(server, concurrency=8)
        results = list(engine.generate(_text_requests(48)))
    assert len(results) == 48 and all(r.status == "ok" for r in results)
    assert 2 <= server.stats.max_in_flight <= 8


def test_several_base_urls_share_the_load():
    with OpenAIServer(latency=0.02) as a, OpenAIServer(latency=0.02) as b:
        engine = get_engine(
            "openai", model=a.model, base_urls=[a.base_url, b.base_url], concurrency=8
        )
        results = list(engine.generate(_text_requests(40)))
    assert all(r.status == "ok" for r in results)
    assert a.stats.ok + b.stats.ok == 40
    assert a.stats.ok >= 10 and b.stats.ok >= 10


def test_n_is_sent_when_honoured_and_emulated_with_seeds_when_ignored():
    with OpenAIServer() as server:
        engine = _engine(server)
        results = list(engine.generate(_text_requests(3, n=3, seed=7)))
        assert server.stats.requests == 3  # one call per request
    assert all(len(r.outputs) == 3 for r in results)

    with OpenAIServer(honor_n=False) as server:
        engine = _engine(server)
        results = list(engine.generate(_text_requests(3, n=3, seed=7)))
    for result in results:
        assert [o.split("seed=")[1].split()[0] for o in result.outputs] == ["7", "8", "9"]
    assert "ignored n" in " ".join(engine.describe()["server_notes"])


def test_rejected_extra_sampling_fields_are_dropped_and_recorded():
    with OpenAIServer(reject_fields=("top_k", "repetition_penalty")) as server:
        engine = _engine(server)
        results = list(engine.generate(_text_requests(4)))
    assert all(r.status == "ok" for r in results)
    assert server.stats.rejected_fields >= 1
    assert any("top_k" in note for note in engine.describe()["server_notes"])


def test_unreadable_image_is_an_error_result_not_a_crash(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with OpenAIServer() as server:
        engine = _engine(server, max_pixels=256 * 256)
        request = GenerationRequest(
            id="x", messages=({"role": "user", "content": [{"type": "image", "image": str(bad)}]},)
        )
        (result,) = list(engine.generate([request]))
    assert result.status == "error" and result.error.startswith("image:")


# ----- user errors and secrets -----


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint_is_a_one_line_user_error():
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(UserError) as err:
        get_engine("openai", model="m", base_urls=[url])
    message = str(err.value)
    assert "\n" not in message and url in message and "cannot reach" in message


def test_unknown_model_and_missing_url_are_user_errors():
    with OpenAIServer() as server:
        with pytest.raises(UserError, match="not served"):
            get_engine("openai", model="no-such-model", base_urls=[server.base_url])
    with pytest.raises(UserError, match="--base-url"):
        get_engine("openai", model="m")


def test_api_key_is_used_but_never_described(monkeypatch):
    secret = "sk-ovlt-test-7d1c0ffee"
    monkeypatch.setenv("OVLT_TEST_API_KEY", secret)
    with OpenAIServer() as server:
        engine = _engine(server, api_key_env="OVLT_TEST_API_KEY")
        results = list(engine.generate(_text_requests(2)))
    assert all(r.status == "ok" for r in results)
    assert f"Bearer {secret}" in server.stats.authorization  # the key was sent
    described = json.dumps(engine.describe())
    assert secret not in described and secret not in repr(engine)
    assert "OVLT_TEST_API_KEY" in described  # the variable's name is fine to record


def test_named_key_variable_that_is_unset_is_a_user_error(monkeypatch):
    monkeypatch.delenv("OVLT_UNSET_KEY", raising=False)
    with pytest.raises(UserError, match="OVLT_UNSET_KEY"):
        get_engine(
            "openai", model="m", base_urls=["http://127.0.0.1:9/v1"], api_key_env="OVLT_UNSET_KEY"
        )


def test_stopping_early_cancels_what_is_in_flight():
    # A consumer that stops (Ctrl-C, a crash downstream) must not leave the run going on.
    import time

    with OpenAIServer(latency=0.2) as server:
        engine = _engine(server, concurrency=4)
        start = time.monotonic()
        results = engine.generate(_text_requests(200))
        first = [next(results), next(results)]
        results.close()
        elapsed = time.monotonic() - start
        time.sleep(0.3)
        seen = server.stats.requests
    assert all(r.status == "ok" for r in first)
    assert elapsed < 5 and seen < 20
