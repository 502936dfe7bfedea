"""The openai engine's transport (aiohttp) against the loopback server: body framings,
keep-alive, and transport failures surfacing as `TransportError` (which the engine retries)."""

from __future__ import annotations

import asyncio
import json

import pytest

from ovlt_eval.engines import GenerationRequest, get_engine
from ovlt_eval.engines.transport import Transport, TransportError
from ovlt_eval.testing.openai_server import OpenAIServer

BODY = json.dumps(
    {"model": "fake-model", "messages": [{"role": "user", "content": "hello"}]}
).encode()


def _post_many(base_url: str, count: int, **options) -> list:
    async def go():
        transport = Transport(base_url, headers={}, **{"timeout": 5, **options})
        try:
            return [await transport.post("/chat/completions", BODY) for _ in range(count)]
        finally:
            await transport.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("keep_alive", [True, False])
def test_reads_both_framings_and_reuses_connections(chunked, keep_alive):
    with OpenAIServer(chunked=chunked, keep_alive=keep_alive) as server:
        responses = _post_many(server.base_url, 5)
        connections = server.stats.connections
    assert [r.status for r in responses] == [200] * 5
    assert all(
        r.json()["choices"][0]["message"]["content"].endswith("<answer>hello</answer>")
        for r in responses
    )
    assert connections == (1 if keep_alive else 5)
    if chunked:
        assert responses[0].headers["transfer-encoding"] == "chunked"


@pytest.mark.parametrize("kind", ["drop", "slow"])
def test_transport_failures_raise_transport_error(kind):
    with OpenAIServer(
        fault_rate=1.0, faults_per_request=1, fault_kinds=(kind,), slow_s=2
    ) as server:
        with pytest.raises(TransportError, match="dropped" if kind == "drop" else "timeout"):
            _post_many(server.base_url, 1, timeout=0.3)


def test_refused_connection_is_a_transport_error():
    with pytest.raises(TransportError, match="connect"):
        _post_many("http://127.0.0.1:9/v1", 1, timeout=1)


def test_http_statuses_are_responses_with_their_headers():
    with OpenAIServer(fault_rate=1.0, fault_kinds=("429",)) as server:
        (response,) = _post_many(server.base_url, 1)
    assert response.status == 429 and response.headers["retry-after"] == "0"


def test_engine_works_over_chunked_closing_connections():
    with OpenAIServer(
        chunked=True, keep_alive=False, fault_rate=0.5, fault_kinds=("500", "drop")
    ) as server:
        engine = get_engine(
            "openai",
            model=server.model,
            base_urls=[server.base_url],
            backoff_base=0.01,
            backoff_max=0.02,
        )
        requests = [
            GenerationRequest(id=str(i), messages=({"role": "user", "content": f"q{i}"},))
            for i in range(30)
        ]
        results = list(engine.generate(requests))
    assert sorted(int(r.id) for r in results) == list(range(30))
    assert all(
        r.status == "ok" and r.outputs[0].endswith(f"<answer>q{r.id}</answer>") for r in results
    )
