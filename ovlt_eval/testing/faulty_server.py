"""A fast OpenAI-compatible server on loopback that can misbehave on purpose.

For tests and benches of the `openai` engine: `/v1/chat/completions` answers after a fixed
`latency` with text that echoes the request (so a test can check every answer belongs to its
request), `/v1/models` lists `model`, `/health` says ok. Faults are deterministic: a fraction
`fault_rate` of distinct requests (chosen by a hash of the body) first fail `faults_per_request`
times, each time with one of `fault_kinds`:

- "500": HTTP 500;  "429": HTTP 429 with `Retry-After: 0`;
- "drop": the connection is closed without an answer;
- "slow": the answer comes only after `slow_s` seconds (set it above the client's timeout).

Only chat completions are faulted; `/v1/models` always answers, so a client's preflight passes.
Standard library only (asyncio), one thread:

    with FaultyServer(latency=0.1) as server:
        server.base_url  # "http://127.0.0.1:PORT/v1"

    python -m ovlt_eval.testing.faulty_server --port 8011 --latency 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

FAULT_KINDS = ("500", "429", "drop", "slow")


@dataclass
class ServerStats:
    requests: int = 0  # chat completion attempts received
    ok: int = 0
    faults: Counter = field(default_factory=Counter)
    max_in_flight: int = 0
    rejected_fields: int = 0
    authorization: set = field(default_factory=set)  # Authorization headers seen (tests of keys)
    connections: int = 0


class FaultyServer:
    def __init__(
        self,
        *,
        model: str = "fake-model",
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults_per_request: int = 1,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        slow_s: float = 5.0,
        honor_n: bool = True,
        reject_fields: tuple[str, ...] = (),
        chunked: bool = False,
        keep_alive: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        unknown = set(fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        self.model = model
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults_per_request = faults_per_request
        self.fault_kinds = tuple(fault_kinds)
        self.slow_s = slow_s
        self.honor_n = honor_n
        self.reject_fields = tuple(reject_fields)
        self.chunked = chunked  # answer with Transfer-Encoding: chunked instead of Content-Length
        self.keep_alive = keep_alive  # False: "Connection: close" and close after each answer
        self.host = host
        self.port = port
        self.stats = ServerStats()
        self._attempts: Counter = Counter()
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ----- lifecycle -----

    def start(self) -> FaultyServer:
        self._thread = threading.Thread(target=self._serve, name="faulty-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("faulty server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        self._server.close()
        current = asyncio.current_task()
        handlers = [t for t in asyncio.all_tasks() if t is not current]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def __enter__(self) -> FaultyServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    # ----- HTTP -----

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                method, path, _ = request_line.decode("latin-1").split(" ", 2)
                headers = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
                if "authorization" in headers:
                    self.stats.authorization.add(headers["authorization"])
                keep = await self._route(method, path.split("?")[0], body, writer)
                if not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _route(self, method: str, path: str, body: bytes, writer) -> bool:
        if method == "GET" and path in ("/health", "/v1/health"):
            return await self._send(writer, 200, {"status": "ok"})
        if method == "GET" and path == "/v1/models":
            data = [{"id": self.model, "object": "model", "owned_by": "faulty-server"}]
            return await self._send(writer, 200, {"object": "list", "data": data})
        if method == "POST" and path == "/v1/chat/completions":
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
            try:
                return await self._chat(body, writer)
            finally:
                self._in_flight -= 1
        return await self._send(writer, 404, {"error": {"message": f"no route {method} {path}"}})

    async def _chat(self, body: bytes, writer) -> bool:
        self.stats.requests += 1
        key = hashlib.sha256(body).hexdigest()
        self._attempts[key] += 1
        fault = self._fault_for(key, self._attempts[key])
        if fault is not None:
            self.stats.faults[fault] += 1
            if fault == "drop":
                writer.transport.abort()
                return False
            if fault == "slow":
                await asyncio.sleep(self.slow_s)
            elif fault == "500":
                await asyncio.sleep(self.latency)
                return await self._send(writer, 500, {"error": {"message": "injected failure"}})
            elif fault == "429":
                return await self._send(
                    writer, 429, {"error": {"message": "injected rate limit"}}, {"Retry-After": "0"}
                )
        try:
            req = json.loads(body)
        except ValueError:
            return await self._send(writer, 400, {"error": {"message": "body is not JSON"}})
        bad = sorted(set(req) & set(self.reject_fields))
        if bad:
            self.stats.rejected_fields += 1
            return await self._send(
                writer, 422, {"detail": f"Unexpected fields in the request: {bad}"}
            )
        if self.latency:
            await asyncio.sleep(self.latency)
        n = int(req.get("n") or 1) if self.honor_n else 1
        text = _last_user_text(req.get("messages") or [])
        seed = req.get("seed")
        choices = [
            {
                "index": i,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": f"<think>echo seed={seed} i={i}</think><answer>{text}</answer>",
                },
            }
            for i in range(n)
        ]
        reply = {
            "id": key[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", self.model),
            "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": 7, "total_tokens": 8},
        }
        self.stats.ok += 1
        return await self._send(writer, 200, reply)

    async def _send(self, writer, status: int, payload: dict, headers: dict | None = None) -> bool:
        return await _write(
            writer, status, payload, headers, chunked=self.chunked, keep_alive=self.keep_alive
        )

    def _fault_for(self, key: str, attempt: int) -> str | None:
        if not self.fault_rate or attempt > self.faults_per_request:
            return None
        draw = int(key[:8], 16) / 0xFFFFFFFF
        if draw >= self.fault_rate:
            return None
        return self.fault_kinds[(int(key[8:12], 16) + attempt) % len(self.fault_kinds)]


def _last_user_text(messages: list) -> str:
    for message in reversed(messages):
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if p.get("type") == "text"]
            if texts:
                return texts[-1]
    return ""


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 422: "Unprocessable Entity"}
_REASONS |= {429: "Too Many Requests", 500: "Internal Server Error"}


async def _write(writer, status, payload, headers, *, chunked: bool, keep_alive: bool) -> bool:
    body = json.dumps(payload).encode()
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        "Content-Type: application/json",
    ]
    if chunked:  # two chunks, so a reader must join them
        half = len(body) // 2
        lines.append("Transfer-Encoding: chunked")
        body = (
            b"".join(
                b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]) if part
            )
            + b"0\r\n\r\n"
        )
    else:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
    return keep_alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--model", default="fake-model")
    args = parser.parse_args(argv)
    server = FaultyServer(
        model=args.model, latency=args.latency, fault_rate=args.fault_rate, port=args.port
    ).start()
    print(f"serving {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
