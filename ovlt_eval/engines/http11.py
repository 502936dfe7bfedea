"""Transports for the `openai` engine: POST a JSON body, get (status, headers, body) back.

- `PlainHTTPPool`: a small keep-alive HTTP/1.1 client on asyncio streams for `http://` URLs
  (local vLLM / SGLang / `transformers serve`, where requests are many and the client's CPU per
  request bounds throughput: ~0.1 ms here against ~0.9 ms for a general-purpose client).
  It speaks exactly what those servers answer: Content-Length or chunked bodies, keep-alive,
  `Connection: close`. No proxies, no redirects, no compression.
- `HttpxPool`: `httpx2` (the HTTP client the `openai` SDK uses) for `https://` URLs: TLS,
  proxies from the environment, HTTP quirks of hosted APIs.

Both raise `TransportError` for anything below HTTP (refused, dropped, timed out), which the
engine retries; HTTP statuses come back as responses.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class TransportError(Exception):
    """The request got no HTTP answer: connection refused or dropped, or a timeout."""


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


class PlainHTTPPool:
    """Keep-alive connections to one `http://host:port/prefix` origin."""

    def __init__(
        self, base_url: str, *, headers: dict[str, str], timeout: float, connect_timeout: float
    ):
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"PlainHTTPPool needs an http:// URL, got {base_url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        host_header = self.host if self.port == 80 else f"{self.host}:{self.port}"
        fixed = {
            "Host": host_header,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        fixed.update(headers)
        self._header_block = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes) -> Response:
        conn = self._take_idle()
        if conn is None:
            try:
                conn = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.connect_timeout
                )
            except asyncio.TimeoutError:
                raise TransportError(f"connect timeout after {self.connect_timeout:g} s") from None
            except OSError as err:
                raise TransportError(f"connect failed: {err.strerror or err}") from None
        reader, writer = conn
        head = f"POST {self.prefix}{path} HTTP/1.1\r\n{self._header_block}Content-Length: {len(body)}\r\n\r\n"
        try:
            response, reusable = await asyncio.wait_for(
                _exchange(reader, writer, head.encode("latin-1") + body), self.timeout
            )
        except asyncio.TimeoutError:
            writer.close()
            raise TransportError(f"read timeout after {self.timeout:g} s") from None
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            writer.close()
            raise TransportError(f"connection dropped ({type(err).__name__})") from None
        except BaseException:  # cancelled mid-request: the connection's state is unknown
            writer.close()
            raise
        if reusable:
            self._idle.append(conn)
        else:
            writer.close()
        return response

    def _take_idle(self):
        # A server may have closed an idle connection (keep-alive timeout); skip those.
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _exchange(reader, writer, request: bytes) -> tuple[Response, bool]:
    writer.write(request)
    await writer.drain()
    return await _read_response(reader)


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    while True:
        status_line = await reader.readline()
        if not status_line:
            raise asyncio.IncompleteReadError(b"", None)
        version, status_text = _parse_status(status_line)
        headers = await _read_headers(reader)
        if not 100 <= int(status_text) < 200:  # skip interim 1xx answers
            break
    status = int(status_text)
    reusable = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif status in (204, 304):
        body = b""
    else:  # delimited by the end of the connection
        body = await reader.read()
        reusable = False
    return Response(status=status, headers=headers, body=body), reusable


def _parse_status(line: bytes) -> tuple[str, str]:
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"bad status line {line[:80]!r}")
    return parts[0], parts[1]


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size_line = await reader.readline()
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            await _read_headers(reader)  # trailers, then the blank line
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)  # CRLF after each chunk


class HttpxPool:
    """`httpx2` behind the same interface, for https:// (TLS, proxies)."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str],
        timeout: float,
        connect_timeout: float,
        connections: int,
    ):
        import httpx2

        self._httpx2 = httpx2
        self.base_url = base_url.rstrip("/")
        self._client = httpx2.AsyncClient(
            headers={"Content-Type": "application/json", **headers},
            timeout=httpx2.Timeout(timeout, connect=connect_timeout),
            limits=httpx2.Limits(
                max_connections=connections, max_keepalive_connections=connections
            ),
            verify=ssl_context(),  # shared: loading the CA bundle costs ~50 ms per client
        )

    async def post(self, path: str, body: bytes) -> Response:
        try:
            resp = await self._client.post(f"{self.base_url}{path}", content=body)
        except self._httpx2.TransportError as err:
            raise TransportError(
                f"{type(err).__name__}: {' '.join(str(err).split()) or 'no detail'}"
            ) from None
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return Response(status=resp.status_code, headers=headers, body=resp.content)

    async def aclose(self) -> None:
        await self._client.aclose()


@functools.cache
def ssl_context():
    import ssl

    return ssl.create_default_context()


def make_pools(base_url: str, *, headers: dict[str, str], timeout: float, concurrency: int) -> list:
    """Transports for one base URL. httpx2's pool bookkeeping grows with waiting requests x
    connections, so https gets several small pools; plain http needs one."""
    connect_timeout = min(timeout, 30.0)
    if urlsplit(base_url).scheme == "http":
        return [
            PlainHTTPPool(
                base_url, headers=headers, timeout=timeout, connect_timeout=connect_timeout
            )
        ]
    shards = max(1, -(-concurrency // 8))
    per_pool = -(-concurrency // shards)
    return [
        HttpxPool(
            base_url,
            headers=headers,
            timeout=timeout,
            connect_timeout=connect_timeout,
            connections=per_pool,
        )
        for _ in range(shards)
    ]
