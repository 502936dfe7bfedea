"""A real OpenAI-compatible HTTP server on 127.0.0.1 (stdlib only) with scripted answers.

Tests give it a `responder(prompt_text) -> str`, a fixed per-request latency and optional
faults (`fail(prompt_text) -> HTTP status or None`). It records every prompt and the
Authorization headers it saw, so tests can check what the harness sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def prompt_text(body: dict) -> str:
    parts = []
    for msg in body.get("messages", []):
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "\n".join(parts)


class FakeOpenAI:
    def __init__(
        self,
        responder: Callable[[str], str],
        *,
        model: str = "fake-model",
        latency_s: float = 0.0,
        fail: Callable[[str], int | None] | None = None,
    ):
        self.responder = responder
        self.model = model
        self.latency_s = latency_s
        self.fail = fail
        self.prompts: list[str] = []
        self.auth_headers: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                    )
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.auth_headers.add(self.headers.get("Authorization", ""))
                text = prompt_text(body)
                if server.latency_s:
                    time.sleep(server.latency_s)
                status = server.fail(text) if server.fail else None
                if status:
                    self._send(status, {"error": {"message": f"scripted failure {status}"}})
                    return
                with server.lock:
                    server.prompts.append(text)
                try:
                    reply = server.responder(text)
                except ConnectionAbortedError:
                    raise
                except Exception as err:  # a bug in a test's script: fail fast, not retried
                    self._send(400, {"error": {"message": f"responder failed: {err!r}"}})
                    return
                self._send(
                    200,
                    {
                        "id": "cmpl-fake",
                        "object": "chat.completion",
                        "created": 0,
                        "model": server.model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": len(text.split()),
                            "completion_tokens": len(reply.split()),
                            "total_tokens": len(text.split()) + len(reply.split()),
                        },
                    },
                )

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client killed mid-request (the point of some tests) is not news

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
