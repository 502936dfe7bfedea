"""The one OpenAI-compatible test server: a real HTTP server on loopback, configurable.

For tests, benches and the demo (standard library only; asyncio in one background thread).
`/v1/chat/completions` answers with, per choice:

- `replies="echo"` (default): `<think>echo seed=S i=I</think><answer>LAST USER TEXT</answer>`,
  so a test can check every answer belongs to its request;
- `replies="teacher"`: the demo's deterministic stand-in for a captioner / reasoner
  (`teacher_reply`): R1-like traces, some answers right and some wrong, so every data stage
  has work; a resumed build that asks again gets the same text;
- `replies=callable(prompt_text) -> str`: scripted answers (runs in a worker thread, so it may
  block; raising ConnectionAbortedError drops the connection, any other exception is a 400).

`/v1/models` lists `model` (so a client's preflight passes), `/health` says ok. Knobs: a fixed
`latency` per completion; `fail(prompt_text) -> HTTP status | None` (scripted faults); a
`fault_rate` of distinct requests (by a hash of the body) that first fail `faults_per_request`
times with one of `fault_kinds` ("500"; "429" with `Retry-After: 0`; "drop": the connection
closes unanswered; "slow": the answer comes after `slow_s`); `honor_n=False` (one choice
whatever `n`); `reject_fields` (422 on those request fields, as strict servers do); `chunked`
bodies; `keep_alive=False`. `stats` counts what happened; `prompts` and `stats.authorization`
record what clients sent.

Broken servers, for the client's hardening tests: `raw(prompt_text) -> (status, body) | None`
answers a completion with exactly that body (str or bytes; a third item sets the Content-Type,
a fourth is a dict of extra headers, e.g. a redirect's Location), e.g. `(200, '{"choices":
["abc"]}')` or an HTML page with status 200; a body that is an iterator of bytes goes out
chunked, as long as the iterator runs (an endless body); `models_raw` answers `/v1/models` so; `never_answer=True` (or a
callable of the prompt text) accepts the connection, reads the request and then holds the socket
without a byte of answer until the server stops, as a wedged server does.

    with OpenAIServer(latency=0.1) as server:
        server.base_url  # "http://127.0.0.1:PORT/v1"

    python -m ovlt_eval.testing.openai_server --replies teacher --port 0   # prints the URL
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

FAULT_KINDS = ("500", "429", "drop", "slow")
REPLIES = ("echo", "teacher")


@dataclass
class ServerStats:
    requests: int = 0  # chat completion attempts received
    held: int = 0  # completions never answered (`never_answer`)
    ok: int = 0
    faults: Counter = field(default_factory=Counter)
    max_in_flight: int = 0
    rejected_fields: int = 0
    authorization: set = field(default_factory=set)  # Authorization headers seen (tests of keys)
    connections: int = 0


class OpenAIServer:
    def __init__(
        self,
        *,
        replies: str | Callable[[str], str] = "echo",
        model: str = "fake-model",
        latency: float = 0.0,
        fail: Callable[[str], int | None] | None = None,
        fault_rate: float = 0.0,
        faults_per_request: int = 1,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        slow_s: float = 5.0,
        honor_n: bool = True,
        reject_fields: tuple[str, ...] = (),
        chunked: bool = False,
        keep_alive: bool = True,
        raw: Callable[[str], tuple | None] | None = None,
        models_raw: tuple | None = None,
        never_answer: bool | Callable[[str], bool] = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        unknown = set(fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if isinstance(replies, str) and replies not in REPLIES:
            raise ValueError(f"unknown replies {replies!r}; known: {REPLIES} or a callable")
        self.replies = replies
        self.model = model
        self.latency = latency
        self.fail = fail
        self.fault_rate = fault_rate
        self.faults_per_request = faults_per_request
        self.fault_kinds = tuple(fault_kinds)
        self.slow_s = slow_s
        self.honor_n = honor_n
        self.reject_fields = tuple(reject_fields)
        self.chunked = chunked  # answer with Transfer-Encoding: chunked instead of Content-Length
        self.keep_alive = keep_alive  # False: "Connection: close" and close after each answer
        self.raw = raw
        self.models_raw = models_raw
        self.never_answer = never_answer
        self.host = host
        self.port = port
        self.stats = ServerStats()
        self.prompts: list[str] = []  # prompt texts of the completions answered
        self._attempts: Counter = Counter()
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        # Scripted replies may block (a test gating requests): they get threads of their own,
        # as many as a thread-per-request server would give them.
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="openai-server-reply")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ----- lifecycle -----

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._serve, name="openai-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    shutdown = stop  # the name `http.server` servers use, which callers of `serve()` know

    async def _shutdown(self) -> None:
        self._server.close()
        current = asyncio.current_task()
        handlers = [t for t in asyncio.all_tasks() if t is not current]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._never = asyncio.Event()  # never set: what `never_answer` handlers wait on
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
                keep = await self._route(method, path.split("?")[0].rstrip("/"), body, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _route(self, method: str, path: str, body: bytes, writer) -> bool:
        if method == "GET" and path in ("/health", "/v1/health"):
            return await self._send(writer, 200, {"status": "ok"})
        if method == "GET" and path == "/v1/models" and self.models_raw is not None:
            return await self._send_raw(writer, *self.models_raw)
        if method == "GET" and path == "/v1/models":
            data = [{"id": self.model, "object": "model", "owned_by": "ovlt"}]
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
        messages = req.get("messages") or []
        text = prompt_text(messages)
        never = self.never_answer(text) if callable(self.never_answer) else self.never_answer
        if never:
            self.stats.held += 1
            # An event the server holds: a handler awaiting nothing referenced would be garbage
            # collected ("Task was destroyed but it is pending"), not cancelled by stop()
            await self._never.wait()
        raw = self.raw(text) if self.raw else None
        if raw is not None:
            return await self._send_raw(writer, *raw)
        status = self.fail(text) if self.fail else None
        if status:
            return await self._send(
                writer, status, {"error": {"message": f"scripted failure {status}"}}
            )
        n = int(req.get("n") or 1) if self.honor_n else 1
        try:
            contents = await self._replies(messages, text, n, req.get("seed"))
        except ConnectionAbortedError:
            writer.transport.abort()
            return False
        except Exception as err:  # a bug in a test's script: fail fast, not retried
            return await self._send(writer, 400, {"error": {"message": f"replies failed: {err!r}"}})
        self.prompts.append(text)
        choices = [
            {
                "index": i,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
            for i, content in enumerate(contents)
        ]
        prompt_tokens = len(text.split())
        completion_tokens = sum(len(c.split()) for c in contents)
        reply = {
            "id": key[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", self.model),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        self.stats.ok += 1
        return await self._send(writer, 200, reply)

    async def _replies(self, messages: list, text: str, n: int, seed) -> list[str]:
        if self.replies == "teacher":
            return [teacher_reply(messages, i, seed) for i in range(n)]
        if self.replies == "echo":
            last = last_user_text(messages)
            return [
                f"<think>echo seed={seed} i={i}</think><answer>{last}</answer>" for i in range(n)
            ]
        loop = asyncio.get_running_loop()
        return [await loop.run_in_executor(self._pool, self.replies, text) for _ in range(n)]

    async def _send(self, writer, status: int, payload: dict, headers: dict | None = None) -> bool:
        return await _write(
            writer, status, payload, headers, chunked=self.chunked, keep_alive=self.keep_alive
        )

    async def _send_raw(
        self,
        writer,
        status: int,
        body,
        content_type: str = "application/json",
        headers: dict | None = None,
    ) -> bool:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        streamed = not isinstance(body, str | bytes)
        data = b"" if streamed else body.encode() if isinstance(body, str) else body
        length = "Transfer-Encoding: chunked" if streamed else f"Content-Length: {len(data)}"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: {content_type}\r\n{length}\r\n{extra}"
            f"Connection: {'keep-alive' if self.keep_alive else 'close'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + data)
        await writer.drain()
        if streamed:  # until the iterator ends, or the client hangs up
            for chunk in body:
                if writer.is_closing():
                    return False
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return self.keep_alive

    def _fault_for(self, key: str, attempt: int) -> str | None:
        if not self.fault_rate or attempt > self.faults_per_request:
            return None
        draw = int(key[:8], 16) / 0xFFFFFFFF
        if draw >= self.fault_rate:
            return None
        return self.fault_kinds[(int(key[8:12], 16) + attempt) % len(self.fault_kinds)]


def serve(
    port: int = 0, latency: float = 0.0, model: str = "loopback", **options
) -> tuple[OpenAIServer, str]:
    """A started teacher-mode server (the demo's round-1 stand-in) and its URL; `.stop()` it."""
    server = OpenAIServer(
        replies=options.pop("replies", "teacher"),
        model=model,
        latency=latency,
        port=port,
        **options,
    ).start()
    return server, server.base_url


# ----- replies -----


def prompt_text(messages: list) -> str:
    """Every text part of every message, one per line (what scripted replies are asked)."""
    parts = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "\n".join(parts)


def last_user_text(messages: list) -> str:
    for message in reversed(messages):
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if p.get("type") == "text"]
            if texts:
                return texts[-1]
    return ""


FILLER = (
    "First I look at the figure and note the relevant quantities. Then I relate them to what "
    "the question asks, step by step, checking each value I read. "
).split()


def teacher_reply(messages: list, index: int, seed) -> str:
    """A deterministic function of (messages, choice index, seed): the data factory's cache,
    fingerprints and demo depend on these exact texts, so change them only on purpose."""
    blob = json.dumps(messages, sort_keys=True) + f"|{index}|{seed}"
    rng = random.Random(hashlib.sha256(blob.encode()).hexdigest())
    text = " ".join(
        p.get("text", "")
        for m in messages
        for p in (
            m.get("content")
            if isinstance(m.get("content"), list)
            else [{"text": m.get("content") or ""}]
        )
        if isinstance(p, dict)
    )
    if "detailed description" in text:
        return f"The image shows a simple figure with shapes, labels and numbers (view {rng.randint(0, 9)})."
    if "Choices:" in text:
        letters = [c for c in "ABCDE" if f"({c})" in text] or ["A"]
        answer = rng.choice(letters)
    else:
        answer = str(rng.randint(1, 9))
    n = rng.choice((20, 40, 80, 160, 700))  # a few traces exceed the 500-word limit
    body = " ".join(FILLER[i % len(FILLER)] for i in range(n))
    reflect = (
        " Wait, let me double-check the reading. It is consistent." if rng.random() < 0.5 else ""
    )
    # the OpenVLThinker reply format: a conclusion, then the answer tag the reward reads
    return (
        f"<think>\n{body}{reflect}\n</think>\nSo the final answer is \\boxed{{{answer}}}.\n"
        f"<answer>{answer}</answer>"
    )


# ----- the wire -----

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 422: "Unprocessable Entity"}
_REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


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
    parser.add_argument("--port", type=int, default=0, help="0: a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per completion")
    parser.add_argument("--replies", choices=REPLIES, default="teacher", help="default: teacher")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests faulted")
    parser.add_argument("--model", default="loopback", help="the served model id")
    parser.add_argument(
        "--never-answer", action="store_true", help="hold every completion, never answer"
    )
    args = parser.parse_args(argv)
    server = OpenAIServer(
        replies=args.replies,
        model=args.model,
        latency=args.latency,
        fault_rate=args.fault_rate,
        never_answer=args.never_answer,
        port=args.port,
    ).start()
    print(server.base_url, flush=True)  # the first line is the URL: scripts read it
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
