"""The `openai` engine's HTTP: `aiohttp` for `http://` and `https://` alike.

aiohttp (the client vLLM's own serving benchmark uses) keeps the client's CPU per request
low (~0.5 ms here, with the engine's own work; httpx2 measured ~1.3–1.7 ms), which matters only
on the loopback benches (`bench/engine_concurrency.py`, ~1,000 req/s) — a real server answers
10–100 req/s. One session per base URL keeps connections alive; `https://` also reads proxies
from the environment (`HTTPS_PROXY`, `NO_PROXY`), `http://` (a local server) does not.

`Transport.post` returns a `Response` for every HTTP answer and raises `TransportError` for
anything below HTTP (refused, dropped, timed out), which the engine retries.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class TransportError(Exception):
    """The request got no HTTP answer: connection refused or dropped, or a timeout."""


class ReplyTooLarge(TransportError):
    """The answer's body ran past MAX_REPLY_BYTES; reading stopped there."""


# A chat completion is text: even n=64 samples of 32k tokens stay below a few MiB. A server
# that sends more (a 200 MB `content`, an endless chunked body) is cut off here, not held in
# memory until the request timeout.
MAX_REPLY_BYTES = 64 << 20


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Transport:
    """Keep-alive connections to one base URL (`http(s)://host:port/prefix`).

    Create and use it on one running event loop (aiohttp binds its session to the loop)."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str],
        timeout: float,
        connect_timeout: float | None = None,
        connections: int = 64,
    ):
        import aiohttp

        self._aiohttp = aiohttp
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        connect_timeout = min(timeout, 30.0) if connect_timeout is None else connect_timeout
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ssl=ssl_context()),
            headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
            timeout=aiohttp.ClientTimeout(total=timeout, connect=connect_timeout),
            trust_env=urlsplit(self.base_url).scheme == "https",
        )

    async def post(self, path: str, body: bytes, *, timeout: float | None = None) -> Response:
        """`timeout`: this request's limit in seconds, connect to last byte (None: the
        session's)."""
        return await self._call("POST", path, body, timeout)

    async def get(self, path: str) -> Response:
        return await self._call("GET", path, None, None)

    async def _call(
        self, method: str, path: str, body: bytes | None, timeout: float | None
    ) -> Response:
        aiohttp = self._aiohttp
        limit = self.timeout if timeout is None else timeout
        extra = {} if timeout is None else {"timeout": _client_timeout(aiohttp, timeout)}
        try:
            # Redirects are not followed: a 307 would carry the prompt and its images to
            # whatever host the server names; the 3xx comes back to the engine, which says so.
            async with self._session.request(
                method, f"{self.base_url}{path}", data=body, allow_redirects=False, **extra
            ) as resp:
                content = await _read_capped(resp, MAX_REPLY_BYTES)
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return Response(status=resp.status, headers=headers, body=content)
        except ReplyTooLarge:
            raise
        except TimeoutError:
            raise TransportError(f"timeout after {limit:g} s") from None
        except aiohttp.ClientConnectorError as err:
            # Says host and port only: never the headers (the API key).
            raise TransportError(f"connect failed: {err.os_error.strerror or err}") from None
        except (aiohttp.ClientError, OSError) as err:
            raise TransportError(f"connection dropped ({type(err).__name__})") from None

    async def aclose(self) -> None:
        await self._session.close()


async def _read_capped(resp, limit: int) -> bytes:
    """The body, or ReplyTooLarge once it passes `limit` bytes (announced or received)."""
    if resp.content_length is not None and resp.content_length > limit:
        resp.close()
        raise ReplyTooLarge(f"reply body of {resp.content_length} bytes is over {limit >> 20} MiB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            resp.close()
            raise ReplyTooLarge(f"reply body is over {limit >> 20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=64)
def _client_timeout(aiohttp, seconds: float):
    # `total` bounds the whole exchange, so a server that accepts and then never answers (or
    # trickles its body) ends in a TransportError after `seconds`, never waits forever.
    return aiohttp.ClientTimeout(total=seconds, connect=min(seconds, 30.0))


@functools.cache
def ssl_context():
    # Shared: loading the CA bundle costs ~50 ms per session.
    import ssl

    return ssl.create_default_context()
