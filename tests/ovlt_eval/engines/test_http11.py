"""The openai engine's transports against the loopback server: body framings, keep-alive,
and transport failures surfacing as `TransportError` (which the engine retries)."""

from __future__ import annotations

import asyncio
import json

import pytest

from ovlt_eval.engines import GenerationRequest, get_engine
from ovlt_eval.engines.http11 import HttpxPool, PlainHTTPPool, TransportError, make_pools
from ovlt_eval.testing.faulty_server import FaultyServer

BODY = json.dumps(
    {"model": "fake-model", "messages": [{"role": "user", "content": "hello"}]}
).encode()


def _post_many(pool, count: int) -> list:
    async def go():
        try:
            return [await pool.post("/chat/completions", BODY) for _ in range(count)]
        finally:
            await pool.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("keep_alive", [True, False])
def test_plain_pool_reads_both_framings_and_reuses_connections(chunked, keep_alive):
    with FaultyServer(chunked=chunked, keep_alive=keep_alive) as server:
        pool = PlainHTTPPool(server.base_url, headers={}, timeout=5, connect_timeout=5)
        responses = _post_many(pool, 5)
        connections = server.stats.connections
    assert [r.status for r in responses] == [200] * 5
    assert all(
        r.json()["choices"][0]["message"]["content"].endswith("<answer>hello</answer>")
        for r in responses
    )
    assert connections == (1 if keep_alive else 5)


def test_httpx_pool_speaks_the_same_interface():
    with FaultyServer(chunked=True) as server:
        responses = _post_many(
            HttpxPool(server.base_url, headers={}, timeout=5, connect_timeout=5, connections=4), 3
        )
    assert [r.status for r in responses] == [200] * 3
    assert responses[0].headers["transfer-encoding"] == "chunked"


@pytest.mark.parametrize("kind", ["drop", "slow"])
@pytest.mark.parametrize("pool_class", [PlainHTTPPool, HttpxPool])
def test_transport_failures_raise_transport_error(kind, pool_class):
    extra = {"connections": 2} if pool_class is HttpxPool else {}
    with FaultyServer(
        fault_rate=1.0, faults_per_request=1, fault_kinds=(kind,), slow_s=2
    ) as server:
        pool = pool_class(server.base_url, headers={}, timeout=0.3, connect_timeout=1, **extra)
        with pytest.raises(TransportError):
            _post_many(pool, 1)


def test_refused_connection_is_a_transport_error():
    pool = PlainHTTPPool("http://127.0.0.1:9/v1", headers={}, timeout=1, connect_timeout=1)
    with pytest.raises(TransportError, match="connect"):
        _post_many(pool, 1)


def test_https_urls_get_httpx_and_http_urls_the_plain_pool():
    assert isinstance(
        make_pools("http://127.0.0.1:8000/v1", headers={}, timeout=5, concurrency=64)[0],
        PlainHTTPPool,
    )
    https = make_pools("https://api.example.com/v1", headers={}, timeout=5, concurrency=64)
    assert all(isinstance(p, HttpxPool) for p in https) and len(https) == 8


def test_engine_works_over_chunked_closing_connections():
    with FaultyServer(
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
